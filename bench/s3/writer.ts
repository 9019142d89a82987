/**
 * Child process of the S3 write benchmark that writes through a mount, so the benchmark itself
 * never blocks on a filesystem (the parent kills it on timeout). Prints one JSON line on stdout.
 * Times are process.hrtime (CLOCK_MONOTONIC, the same clock as the parent's nowSec()), so the
 * parent can relate "close returned" to "the object is in the bucket".
 *
 *   node writer.js seq FILE SIZE SEED          open(O_WRONLY|O_CREAT|O_TRUNC), write()s of 1 MiB, close
 *   node writer.js small DIR N SIZE SEED       mkdir -p DIR (not timed), then N x (create, one write, close)
 *   node writer.js edit FILE OFF LEN SEED      open(O_RDWR) without O_TRUNC, one pwrite of LEN at OFF, close
 *
 * The bytes come from pattern.ts: file/stream offset `o` gets pattern(SEED, o); small file i is
 * pattern(SEED, i * SIZE, SIZE).
 */
import fs from 'node:fs';
import path from 'node:path';
import { MiB } from './common.js';
import { pattern, smallName } from './pattern.js';

const now = (): number => Number(process.hrtime.bigint()) / 1e9;

function writeAll(fd: number, buf: Buffer, pos: number | null): void {
  for (let done = 0; done < buf.length; ) {
    const n = fs.writeSync(fd, buf, done, buf.length - done, pos === null ? null : pos + done);
    if (n <= 0) throw new Error(`write returned ${n}`);
    done += n;
  }
}

function seq(file: string, size: number, seed: string): object {
  const buf = Buffer.allocUnsafe(MiB);
  pattern(seed, 0, 0); // build the base before the clock starts
  const t0 = now();
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o644);
  let tWritten = 0;
  try {
    for (let off = 0; off < size; off += MiB) {
      const n = Math.min(MiB, size - off);
      writeAll(fd, pattern(seed, off, n, buf.subarray(0, n)), null);
    }
    tWritten = now();
  } finally {
    fs.closeSync(fd);
  }
  return { t0, tWritten, tClose: now(), bytes: size };
}

function small(dir: string, n: number, size: number, seed: string): object {
  fs.mkdirSync(dir, { recursive: true });
  const bodies = Array.from({ length: n }, (_, i) => pattern(seed, i * size, size));
  const t0 = now();
  for (let i = 0; i < n; i++) {
    const fd = fs.openSync(path.join(dir, smallName(i)), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o644);
    try {
      writeAll(fd, bodies[i]!, null);
    } finally {
      fs.closeSync(fd);
    }
  }
  return { t0, tClose: now(), files: n };
}

function edit(file: string, off: number, len: number, seed: string): object {
  const buf = pattern(seed, off, len);
  const t0 = now();
  const fd = fs.openSync(file, fs.constants.O_RDWR);
  let tOpen = 0;
  let tWritten = 0;
  try {
    tOpen = now();
    writeAll(fd, buf, off);
    tWritten = now();
  } finally {
    fs.closeSync(fd);
  }
  return { t0, tOpen, tWritten, tClose: now(), bytes: len };
}

const isMain = process.argv[1] !== undefined && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname);
if (isMain) {
  const [cmd, target, ...rest] = process.argv.slice(2);
  try {
    if (!target) throw new Error('usage: writer.js seq|small|edit FILE|DIR ...');
    let out: object;
    if (cmd === 'seq') out = seq(target, Number(rest[0]), rest[1] ?? 'seq');
    else if (cmd === 'small') out = small(target, Number(rest[0]), Number(rest[1]), rest[2] ?? 'small');
    else if (cmd === 'edit') out = edit(target, Number(rest[0]), Number(rest[1]), rest[2] ?? 'edit');
    else throw new Error(`unknown command ${cmd}`);
    process.stdout.write(JSON.stringify(out) + '\n');
  } catch (e) {
    process.stderr.write(`writer: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
}
