/**
 * Spool: where the write-back journal keeps small versions whole — record and bytes in one frame
 * of an append-only segment file, instead of a `<id>.json` and a `<id>.data` per version.
 *
 * Why: a small file closed in a deferred sync mode (idle, exit, fsync) must survive `kill -9`
 * before close() returns, i.e. be in the page cache of a local file. As two files per version,
 * 1,000 small files cost 2,000 file creations, renames and closes through the libuv pool, and on
 * an ext4 without a journal (this machine's root) each creation scans the inodes deleted in the
 * last minutes (find_inode_bit -> recently_deleted): half of the time of 1,000 x 16 KiB files in
 * idle mode went there (2.3-3.3 s to the last close with the cache on ext4, 1.6-1.75 s with it on
 * tmpfs). A frame is one writev(2) on the JS thread into a file that already exists.
 *
 *   <journal>/spool/<n>.log      segments, n = 8 hex digits, appended in increasing n
 *
 * Frame (little endian): magic u32 'OBJS', kind u8 (1 version, 2 dropped), 3 zero bytes,
 * header length u32, data length u32, CRC-32 u32 of header and data, then the header (JSON: the
 * PendingRecord for a version, {"id"} for a drop) and the data (the version's bytes, [0, size)).
 *
 * Meaning: read in segment order and offset order, a version frame makes its id live with that
 * record and those bytes (a later frame of the same id replaces it: a rewrite after a rename), a
 * drop frame ends it. A frame that runs past the end of the file is the tail of an append cut
 * short by a crash (kill -9 inside writev: the kernel may stop between pages), whose close()
 * therefore never returned: ignored, logged at info. A frame that is complete but fails its
 * marker or CRC is damage: reported as a problem, and the rest of that segment is ignored.
 *
 * Space: each segment counts its live frames. Segments are deleted oldest first, and only while
 * the oldest has no live frame (so a drop is never deleted before the version it ends). When the
 * current segment passes SEGMENT_MAX a new one starts, and the live frames of the oldest segment
 * are appended again to the new one (a version waiting long, in exit mode, must not pin all the
 * later segments): at most about two segments' worth of dead bytes, whatever the load.
 *
 * Durability: like Journal.write without `durable`: no fsync. A frame survives the death of the
 * process once append() returned (it is in the page cache), not a power cut; fsync() on a file in
 * the mount uploads it, which is the durable copy.
 *
 * I/O is synchronous, on the caller's (JS) thread: frames are at most MAX_VERSION_BYTES plus a
 * record, written to the page cache; a round trip through the libuv pool costs more than that.
 *
 * Ownership: one Spool per Journal, which serialises the operations on each id; the Spool itself
 * has no concurrency (synchronous methods). load() must run before the first append (it reads
 * what a previous process left, then the Journal turns those into ordinary records and calls
 * clear()).
 */
import { closeSync, mkdirSync, openSync, readdirSync, readSync, unlinkSync, writevSync, fstatSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from '../cache/block-files.js';
import type { PendingRecord } from './types.js';

/** Largest version kept in the spool (larger ones get a data file of their own). */
export const MAX_VERSION_BYTES = 1024 * 1024;
const SEGMENT_MAX = 16 * 1024 * 1024;
const MAGIC = 0x534a424f; // 'OBJS' read as little endian
const HEAD = 20;
const KIND_VERSION = 1;
const KIND_DROP = 2;

interface Segment {
  path: string;
  fd: number | undefined;
  size: number;
  live: number;
  /** Full: appends go to a newer segment. */
  sealed: boolean;
}

interface Live {
  seg: Segment;
  dataOff: number;
  len: number;
  rec: PendingRecord;
}

export interface SpoolEntry {
  rec: unknown;
  data: Buffer;
}

export interface SpoolLoad {
  /** The live versions, oldest frame first; `rec` is unvalidated JSON (the journal checks it). */
  entries: SpoolEntry[];
  /** One line per segment that holds a damaged frame (not just a torn tail): data may be lost. */
  problems: string[];
  /** Those segments' paths (the caller keeps them somewhere before clear()). */
  damaged: string[];
  /** One line per segment whose last frame was cut short by a crash (nothing acknowledged is lost). */
  torn: string[];
}

export class Spool {
  private readonly segments: Segment[] = [];
  private readonly live = new Map<string, Live>();
  private nextN = 0;
  private rotating = false;

  /** `dir` is created at the first append. */
  constructor(readonly dir: string) {
    for (const name of listDir(dir)) {
      const m = /^([0-9a-f]{8})\.log$/.exec(name);
      if (m) this.nextN = Math.max(this.nextN, parseInt(m[1]!, 16) + 1);
    }
  }

  has(id: string): boolean {
    return this.live.has(id);
  }

  /** Segment files present (for tests). */
  get segmentCount(): number {
    return this.segments.length;
  }

  /** Read every segment a previous process left. Does not change them. */
  load(): SpoolLoad {
    const out: SpoolLoad = { entries: [], problems: [], torn: [], damaged: [] };
    const found = new Map<string, SpoolEntry>();
    for (const name of listDir(this.dir).sort()) {
      const m = /^([0-9a-f]{8})\.log$/.exec(name);
      if (!m) continue;
      const path = join(this.dir, name);
      this.segments.push({ path, fd: undefined, size: 0, live: 0, sealed: true });
      const fd = openSync(path, 'r');
      try {
        const size = fstatSync(fd).size;
        let off = 0;
        while (off < size) {
          const f = readFrame(fd, off, size);
          if (typeof f === 'string') {
            if (f === TORN) out.torn.push(`${path}: the last frame ends past the end of the file (byte ${off} of ${size}): an append cut short by the crash, whose close() never returned; ignored`);
            else {
              out.problems.push(`${path}: ${f} at byte ${off} of ${size}; the rest of the segment is ignored`);
              out.damaged.push(path);
            }
            break;
          }
          if (f.kind === KIND_VERSION) {
            const id = (f.header as { id?: unknown }).id;
            if (typeof id === 'string') {
              found.delete(id); // keep insertion order = order of the newest frame
              found.set(id, { rec: f.header, data: f.data });
            }
          } else {
            const id = (f.header as { id?: unknown }).id;
            if (typeof id === 'string') found.delete(id);
          }
          off = f.end;
        }
      } finally {
        closeSync(fd);
      }
    }
    out.entries = [...found.values()];
    return out;
  }

  /** Delete every segment (after load() and the journal has the entries elsewhere; moved ones are fine). */
  clear(): void {
    for (const s of this.segments) {
      if (s.fd !== undefined) closeSync(s.fd);
      try {
        unlinkSync(s.path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    this.segments.length = 0;
    this.live.clear();
  }

  /** Append a version (a new id, or a rewrite of a live one). `data` is [0, rec.size). */
  append(rec: PendingRecord, data: Buffer): void {
    if (data.length !== rec.size) throw new Error(`spool: ${rec.id}: ${data.length} bytes for a version of ${rec.size}`);
    const seg = this.current();
    const dataOff = this.write(seg, KIND_VERSION, rec, data);
    const old = this.live.get(rec.id);
    this.live.set(rec.id, { seg, dataOff, len: data.length, rec });
    seg.live++;
    if (old) this.dead(old.seg);
    this.rotateIfFull();
  }

  /** Rewrite a live version's record (its bytes stay the same). */
  rewrite(rec: PendingRecord): void {
    this.append(rec, this.read(rec.id));
  }

  /** End a live version. No-op for an id that is not live. */
  drop(id: string): void {
    const l = this.live.get(id);
    if (!l) return;
    this.write(this.current(), KIND_DROP, { id }, undefined);
    this.live.delete(id);
    this.dead(l.seg);
  }

  /** Bytes [start, end) of a live version (default: all of them). */
  read(id: string, start = 0, end?: number): Buffer {
    const l = this.live.get(id);
    if (!l) throw new Error(`spool: ${id} is not a live version`);
    const hi = Math.min(end ?? l.len, l.len);
    const len = Math.max(0, hi - start);
    const buf = Buffer.allocUnsafe(len);
    const fd = this.fdOf(l.seg);
    for (let done = 0; done < len; ) {
      const k = readSync(fd, buf, done, len - done, l.dataOff + start + done);
      if (k <= 0) throw new Error(`spool: ${l.seg.path} ends before the bytes of ${id}`);
      done += k;
    }
    return buf;
  }

  /** The record of a live version. */
  record(id: string): PendingRecord | undefined {
    return this.live.get(id)?.rec;
  }

  close(): void {
    for (const s of this.segments) {
      if (s.fd !== undefined) closeSync(s.fd);
      s.fd = undefined;
    }
  }

  // -------------------------------------------------------------------------------------------

  private current(): Segment {
    const last = this.segments[this.segments.length - 1];
    if (last && !last.sealed) return last;
    if (this.segments.length === 0) mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const n = this.nextN++;
    const path = join(this.dir, `${n.toString(16).padStart(8, '0')}.log`);
    const seg: Segment = { path, fd: openSync(path, 'wx+', 0o600), size: 0, live: 0, sealed: false };
    this.segments.push(seg);
    return seg;
  }

  private fdOf(seg: Segment): number {
    seg.fd ??= openSync(seg.path, 'r+');
    return seg.fd;
  }

  /** Write one frame at the end of `seg`; returns the offset of its data. */
  private write(seg: Segment, kind: number, header: object, data: Buffer | undefined): number {
    const h = Buffer.from(JSON.stringify(header));
    const d = data ?? Buffer.alloc(0);
    const head = Buffer.alloc(HEAD);
    head.writeUInt32LE(MAGIC, 0);
    head.writeUInt8(kind, 4);
    head.writeUInt32LE(h.length, 8);
    head.writeUInt32LE(d.length, 12);
    head.writeUInt32LE(crc32(d, crc32(h)), 16);
    const total = HEAD + h.length + d.length;
    const fd = this.fdOf(seg);
    let done = 0;
    let bufs = [head, h, d];
    while (done < total) {
      const k = writevSync(fd, bufs, seg.size + done);
      done += k;
      if (done < total) bufs = [Buffer.concat([head, h, d]).subarray(done)];
    }
    const dataOff = seg.size + HEAD + h.length;
    seg.size += total;
    return dataOff;
  }

  private dead(seg: Segment): void {
    seg.live--;
    this.trim();
  }

  /** Delete the oldest segments while they hold nothing live (never the current one). */
  private trim(): void {
    while (this.segments.length > 1 && this.segments[0]!.live === 0) {
      const s = this.segments.shift()!;
      if (s.fd !== undefined) closeSync(s.fd);
      unlinkSync(s.path);
    }
  }

  /** Start a new segment when the current one is full, and move the oldest one's live versions to it. */
  private rotateIfFull(): void {
    const cur = this.segments[this.segments.length - 1]!;
    if (cur.size < SEGMENT_MAX || this.rotating) return;
    this.rotating = true;
    try {
      cur.sealed = true;
      const oldest = this.segments[0]!;
      for (const [id, l] of [...this.live]) if (l.seg === oldest) this.append(l.rec, this.read(id));
      this.trim();
    } finally {
      this.rotating = false;
    }
  }
}

/** Names in `dir`; none when it does not exist. */
function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** readFrame's answer when the frame runs past the end of the file: the torn tail of a crash. */
const TORN = 'a frame cut short';

type Frame = { kind: number; header: unknown; data: Buffer; end: number };

function readExact(fd: number, len: number, pos: number): Buffer | undefined {
  const buf = Buffer.allocUnsafe(len);
  for (let done = 0; done < len; ) {
    const k = readSync(fd, buf, done, len - done, pos + done);
    if (k <= 0) return undefined;
    done += k;
  }
  return buf;
}

/** The frame at `off`, or why there is none. */
function readFrame(fd: number, off: number, size: number): Frame | string {
  if (size - off < HEAD) return TORN;
  const head = readExact(fd, HEAD, off);
  if (!head) return TORN;
  if (head.readUInt32LE(0) !== MAGIC) return 'no frame marker';
  const kind = head.readUInt8(4);
  const hl = head.readUInt32LE(8);
  const dl = head.readUInt32LE(12);
  if ((kind !== KIND_VERSION && kind !== KIND_DROP) || hl > 1024 * 1024 || dl > MAX_VERSION_BYTES) return 'a bad frame header';
  if (off + HEAD + hl + dl > size) return TORN;
  const body = readExact(fd, hl + dl, off + HEAD);
  if (!body) return TORN;
  if (crc32(body) !== head.readUInt32LE(16)) return 'a frame whose checksum does not match';
  let header: unknown;
  try {
    header = JSON.parse(body.subarray(0, hl).toString('utf8'));
  } catch {
    return 'a frame whose record is not JSON';
  }
  return { kind, header, data: Buffer.from(body.subarray(hl)), end: off + HEAD + hl + dl };
}
