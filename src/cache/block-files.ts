/**
 * On-disk layout of the block cache (used by block-cache.ts; no state of its own).
 *
 *   <dir>/objfs-cache.json                      control file: {format, blockSize}
 *   <dir>/lock                                  owner process (dir-lock.ts)
 *   <dir>/tmp/<random>                          blocks being written (removed at open)
 *   <dir>/blocks/<hh>/<keyHash>/<etagHash>-<index>-<crc>
 *
 * - keyHash: sha256 hex (64 chars) of the object key; <hh> is its first two characters, so no
 *   directory holds more than ~1/256 of the objects. Keys are never used raw as names (they can
 *   be long and contain any character).
 * - etagHash: first 32 hex characters of sha256(ETag). Blocks of different versions of an object
 *   live side by side in the key's directory; the in-memory index decides which one is valid.
 * - index: the block number (byte offset / blockSize), decimal.
 * - crc: CRC-32 of the block's bytes, 8 hex characters. A file is only ever created by renaming
 *   a complete temp file into place, so after a process crash every named file is whole; after a
 *   power loss (no fsync) a file could still be short or zeroed, and the CRC checked on every
 *   read turns that into a miss instead of wrong data.
 * - the file holds exactly the block's bytes, so the sum of file sizes is what the cache accounts.
 *
 * scanBlocks() rebuilds the list of complete blocks at open and removes everything else it finds
 * under blocks/ (names that do not parse, empty files, empty directories, duplicates).
 */
import { createHash } from 'node:crypto';
import { readdir, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import * as zlib from 'node:zlib';

export const CONTROL_FILE = 'objfs-cache.json';
export const CACHE_FORMAT = 1;
export const BLOCKS_DIR = 'blocks';
export const TMP_DIR = 'tmp';

const KEY_HASH_RE = /^[0-9a-f]{64}$/;
const HH_RE = /^[0-9a-f]{2}$/;
const BLOCK_NAME_RE = /^([0-9a-f]{32})-(0|[1-9][0-9]{0,14})-([0-9a-f]{8})$/;

export const hashKey = (key: string): string => createHash('sha256').update(key, 'utf8').digest('hex');
export const hashEtag = (etag: string): string => createHash('sha256').update(etag, 'utf8').digest('hex').slice(0, 32);

export const keyDirOf = (root: string, keyHash: string): string => join(root, BLOCKS_DIR, keyHash.slice(0, 2), keyHash);
export const blockFileName = (etagHash: string, index: number, crc: number): string =>
  `${etagHash}-${index}-${crc.toString(16).padStart(8, '0')}`;

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

export interface ScannedBlock {
  keyHash: string;
  etagHash: string;
  index: number;
  crc: number;
  size: number;
  mtimeMs: number;
}

export interface ScanResult {
  blocks: ScannedBlock[];
  /** Files and directories removed because they were not complete blocks. */
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

/** Walk <root>/blocks: return the complete blocks, remove everything else. */
export async function scanBlocks(root: string): Promise<ScanResult> {
  const out: ScanResult = { blocks: [], removed: 0 };
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
      await scanKeyDir(keyPath, kh, out);
    }
  }
  return out;
}

async function scanKeyDir(keyPath: string, keyHash: string, out: ScanResult): Promise<void> {
  let names: string[];
  try {
    names = await readdir(keyPath);
  } catch {
    await removePath(keyPath);
    out.removed++;
    return;
  }
  const seen = new Set<string>();
  await Promise.all(
    names.map(async (name) => {
      const path = join(keyPath, name);
      const m = BLOCK_NAME_RE.exec(name);
      const st = await stat(path).catch(() => undefined);
      const id = m ? `${m[1]}-${m[2]}` : '';
      if (!m || !st || !st.isFile() || st.size === 0 || seen.has(id)) {
        await removePath(path);
        out.removed++;
        return;
      }
      seen.add(id);
      out.blocks.push({ keyHash, etagHash: m[1]!, index: Number(m[2]), crc: parseInt(m[3]!, 16), size: st.size, mtimeMs: st.mtimeMs });
    }),
  );
  if (seen.size === 0) await rmdir(keyPath).catch(() => undefined);
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
