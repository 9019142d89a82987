/**
 * Helpers of the block cache tests: temp directories, a synchronous walk that sums the bytes the
 * cache has on disk, deterministic block contents, a seeded PRNG, a logger that records lines and
 * a counting aligned allocator.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { loadNative } from '../../src/fuse/native.js';
import { mulberry32 } from '../../src/util/prng.js';

export function tempDir(prefix = 'objfs-cache-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Bytes of the regular files under <dir>/blocks and then <dir>/tmp, read synchronously so no
 * cache decision happens during the walk (file I/O already in the threadpool still may: unlinks
 * only shrink the total, writes stay inside reservations made before the walk, and renames go
 * from tmp/ to blocks/, which is walked first, so no file is counted twice).
 */
export function diskBytes(dir: string): { bytes: number; files: number } {
  const out = { bytes: 0, files: 0 };
  const walk = (p: string): void => {
    let names: string[];
    try {
      names = readdirSync(p);
    } catch {
      return; // removed during the walk
    }
    for (const n of names) {
      const c = join(p, n);
      let st;
      try {
        st = statSync(c);
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(c);
      else if (st.isFile()) {
        out.bytes += st.size;
        out.files++;
      }
    }
  };
  walk(join(dir, 'blocks'));
  walk(join(dir, 'tmp'));
  return out;
}

/** Names of the files under <dir>/<sub> (recursive, relative). */
export function listFiles(dir: string, sub: string): string[] {
  const out: string[] = [];
  const walk = (p: string, rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(p);
    } catch {
      return;
    }
    for (const n of names) {
      const st = statSync(join(p, n));
      if (st.isDirectory()) walk(join(p, n), `${rel}${n}/`);
      else out.push(`${rel}${n}`);
    }
  };
  walk(join(dir, sub), '');
  return out;
}

/** Deterministic bytes for (key, index): the same in every process. */
export function blockData(key: string, index: number, length: number, version = 0): Buffer {
  let x = createHash('sha256').update(`${key}\0${index}\0${version}`).digest().readUInt32LE(0) || 1;
  const buf = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf[i] = x & 0xff;
  }
  return buf;
}

export const prng = mulberry32;

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

/** A pino logger whose lines are parsed into `lines`. */
export function captureLogger(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as LogLine);
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

export const WARN = 40;

/** Give pino's stream a turn so every logged line is in `lines`. */
export const flushLog = (): Promise<void> => new Promise((r) => setImmediate(r));

/** The addon's aligned allocator (for O_DIRECT cache writes), counting how many buffers it gave. */
export function countingAlignedAlloc(): { alloc: (size: number) => Buffer; readonly count: number } {
  let count = 0;
  return {
    alloc: (size) => {
      count++;
      return loadNative().alignedBuffer(size);
    },
    get count() {
      return count;
    },
  };
}
