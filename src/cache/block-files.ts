/**
 * On-disk layout of the block cache (used by block-cache.ts; no state of its own).
 *
 *   <dir>/objfs-cache.json                      control file: {format, blockSize}
 *   <dir>/lock                                  owner process (dir-lock.ts)
 *   <dir>/tmp/<random>                          runs being written (removed at open)
 *   <dir>/blocks/<hh>/<keyHash>/<etagHash>-<first>-<crc>[.<crc>...]
 *
 * - A file holds a *run*: 1 to MAX_RUN_BLOCKS consecutive blocks of one object version (blocks
 *   fetched by one GET are written together: one file to create, rename and later unlink instead
 *   of one per block). Block k of the run is block first+k of the object, at byte offset
 *   k * blockSize of the file. Every block is blockSize bytes except possibly the object's last,
 *   which can only be the run's last, so the block sizes follow from the file size.
 * - keyHash: sha256 hex (64 chars) of the object key; <hh> is its first two characters, so no
 *   directory holds more than ~1/256 of the objects. Keys are never used raw as names (they can
 *   be long and contain any character).
 * - etagHash: first 32 hex characters of sha256(ETag). Runs of different versions of an object
 *   live side by side in the key's directory; the in-memory index decides which one is valid.
 * - first: the number of the run's first block (byte offset / blockSize), decimal.
 * - crc: the CRC-32 of each block's bytes, in order, 8 hex characters each, separated by dots
 *   (the name stays under 150 bytes with 8 blocks). A file is only ever created by renaming a
 *   complete temp file into place, so after a process crash every named file is whole; after a
 *   power loss (no fsync) a file could still be short or zeroed: a size that does not fit the
 *   number of CRCs is removed at open, and the per-block CRC, checked on reads, turns the rest
 *   into a miss instead of wrong data.
 * - the file holds exactly the run's bytes, so the sum of file sizes is what the cache accounts.
 *
 * scanRuns() rebuilds the list of complete runs at open and removes everything else it finds
 * under blocks/ (names that do not parse, sizes that do not match the CRC count, empty
 * directories, and runs overlapping a newer run of the same version, which only a file whose
 * unlink failed can leave behind).
 */
import { createHash } from 'node:crypto';
import { readdir, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import * as zlib from 'node:zlib';

export const CONTROL_FILE = 'objfs-cache.json';
/** 1: one file per block. 2: runs of blocks (this layout). A change empties the cache at open. */
export const CACHE_FORMAT = 2;
export const BLOCKS_DIR = 'blocks';
export const TMP_DIR = 'tmp';
/** Most blocks in one run file (one 8 MiB GET of 1 MiB blocks); longer puts are split. */
export const MAX_RUN_BLOCKS = 8;

const KEY_HASH_RE = /^[0-9a-f]{64}$/;
const HH_RE = /^[0-9a-f]{2}$/;
const RUN_NAME_RE = new RegExp(`^([0-9a-f]{32})-(0|[1-9][0-9]{0,14})-([0-9a-f]{8}(?:\\.[0-9a-f]{8}){0,${MAX_RUN_BLOCKS - 1}})$`);

export const hashKey = (key: string): string => createHash('sha256').update(key, 'utf8').digest('hex');
export const hashEtag = (etag: string): string => createHash('sha256').update(etag, 'utf8').digest('hex').slice(0, 32);

export const keyDirOf = (root: string, keyHash: string): string => join(root, BLOCKS_DIR, keyHash.slice(0, 2), keyHash);
/** The name of the run file of blocks first.. of a version, from the CRC-32 of each block. */
export const runFileName = (etagHash: string, first: number, crcs: readonly number[]): string =>
  `${etagHash}-${first}-${crcs.map((c) => c.toString(16).padStart(8, '0')).join('.')}`;

/** CRC-32 (zlib's, native since Node 20.15; a table-driven fallback before that); `value` continues a previous one. */
export const crc32: (data: Buffer, value?: number) => number =
  typeof (zlib as { crc32?: unknown }).crc32 === 'function' ? (data, value = 0) => zlib.crc32(data, value) : tableCrc32(makeCrcTable());

function makeCrcTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

function tableCrc32(table: Uint32Array): (data: Buffer, value?: number) => number {
  return (data, value = 0) => {
    let c = (value ^ 0xffffffff) >>> 0;
    for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
}

export interface ScannedRun {
  keyHash: string;
  etagHash: string;
  /** Index of the run's first block. */
  first: number;
  /** CRC-32 of each block, in order (from the name). */
  crcs: number[];
  /** File size: (crcs.length - 1) * blockSize < size <= crcs.length * blockSize. */
  size: number;
  mtimeMs: number;
}

export interface ScanResult {
  runs: ScannedRun[];
  /** Files and directories removed because they were not complete runs. */
  removed: number;
}

const errCode = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code;

async function listDir(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (e) {
    if (errCode(e) === 'ENOENT') return [];
    throw e;
  }
}

/** Remove a file or directory tree; missing is fine. */
export async function removePath(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}

/** Walk <root>/blocks: return the complete runs, remove everything else. */
export async function scanRuns(root: string, blockSize: number): Promise<ScanResult> {
  const out: ScanResult = { runs: [], removed: 0 };
  const base = join(root, BLOCKS_DIR);
  for (const hh of await listDir(base)) {
    const hhPath = join(base, hh);
    if (!HH_RE.test(hh)) {
      await removePath(hhPath);
      out.removed++;
      continue;
    }
    const keyDirs = await listDir(hhPath).catch(async () => {
      await removePath(hhPath); // a file where a directory belongs
      out.removed++;
      return [];
    });
    for (const kh of keyDirs) {
      const keyPath = join(hhPath, kh);
      if (!KEY_HASH_RE.test(kh) || !kh.startsWith(hh)) {
        await removePath(keyPath);
        out.removed++;
        continue;
      }
      await scanKeyDir(keyPath, kh, blockSize, out);
    }
  }
  return out;
}

/** A run name parsed, or undefined when `name` is not one. */
export function parseRunName(name: string): { etagHash: string; first: number; crcs: number[] } | undefined {
  const m = RUN_NAME_RE.exec(name);
  if (!m) return undefined;
  const crcs = m[3]!.split('.').map((h) => parseInt(h, 16));
  const first = Number(m[2]);
  if (!Number.isSafeInteger(first + crcs.length - 1)) return undefined;
  return { etagHash: m[1]!, first, crcs };
}

async function scanKeyDir(keyPath: string, keyHash: string, blockSize: number, out: ScanResult): Promise<void> {
  let names: string[];
  try {
    names = await readdir(keyPath);
  } catch {
    await removePath(keyPath);
    out.removed++;
    return;
  }
  const found: (ScannedRun & { path: string })[] = [];
  await Promise.all(
    names.map(async (name) => {
      const path = join(keyPath, name);
      const p = parseRunName(name);
      const st = await stat(path).catch(() => undefined);
      const n = p?.crcs.length ?? 0;
      if (!p || !st || !st.isFile() || !(st.size > (n - 1) * blockSize && st.size <= n * blockSize)) {
        await removePath(path);
        out.removed++;
        return;
      }
      found.push({ keyHash, etagHash: p.etagHash, first: p.first, crcs: p.crcs, size: st.size, mtimeMs: st.mtimeMs, path });
    }),
  );
  // Runs of one version must not overlap (the index holds a block once): keep the newest.
  found.sort((a, b) => b.mtimeMs - a.mtimeMs || a.path.localeCompare(b.path));
  const kept = new Map<string, Set<number>>();
  for (const r of found) {
    let taken = kept.get(r.etagHash);
    if (taken === undefined) kept.set(r.etagHash, (taken = new Set()));
    const indexes = r.crcs.map((_, k) => r.first + k);
    if (indexes.some((i) => taken.has(i))) {
      await removePath(r.path);
      out.removed++;
      continue;
    }
    for (const i of indexes) taken.add(i);
    const { path: _path, ...run } = r;
    out.runs.push(run);
  }
  if (kept.size === 0) await rmdir(keyPath).catch(() => undefined);
}

/** unlink that treats a missing file as done. */
export async function unlinkIfExists(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (e) {
    if (errCode(e) !== 'ENOENT') throw e;
  }
}

export { errCode };
