/**
 * Sidecar records of the local store: what a plain file cannot carry (ETag, user metadata,
 * content type, directory markers), kept in <root>/.objfs/meta/<hh>/<sha256(key)>.json:
 *
 *   { "v": 1, "key": "a/b/c", "versions": [ Version, ... ] }      (at most 2 versions)
 *   Version = { kind: "file" | "marker", etag, size, mtimeNs, ino, metadata, contentType?, createdMs }
 *
 * A version describes one inode: it applies only while the file at the key has exactly that
 * (ino, size, mtimeNs) -- for a marker, while the directory has that ino. A writer prepends the
 * version of the inode it is about to rename into place and keeps the previous first version, so
 * the record is written BEFORE the rename and readers see a matching version both before the
 * rename (old inode) and after it (new inode): the ETag never flips to a derived value during a
 * write, and a crash between the two steps loses nothing.
 *
 * A file with no matching version (placed by hand, changed by hand, or its write crashed) is still
 * an object: its ETag is derived from (size, mtimeNs, ino) as "stat-<md5 hex of those>" -- it
 * changes when the file changes, and it can never equal a content MD5 ETag -- with no user
 * metadata and no content type.
 *
 * Records are replaced atomically (temp file + rename). Concurrency: the caller holds the key's
 * lock for read-modify-write within this process; across processes the worst case is a lost
 * version, which only degrades that object's ETag to the derived form (never a wrong ETag, because
 * a version only applies to its own inode).
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { dirname } from 'node:path';
import { errnoCode, mapFsError } from './fs-util.js';

export interface SidecarVersion {
  kind: 'file' | 'marker';
  etag: string;
  size: number;
  /** Decimal string of the bigint nanosecond mtime ('0' for markers). */
  mtimeNs: string;
  /** Decimal string of the inode number. */
  ino: string;
  metadata: Record<string, string>;
  contentType?: string;
  /** Write time; the lastModified of a marker. */
  createdMs: number;
}

interface SidecarFile {
  v: 1;
  key: string;
  versions: SidecarVersion[];
}

/** The ETag of a file without a matching sidecar version. */
export function derivedEtag(st: BigIntStats): string {
  const h = createHash('md5').update(`${st.size}:${st.mtimeNs}:${st.ino}`).digest('hex');
  return `"stat-${h}"`;
}

/** Does this version describe the inode `st` (a file for kind "file", a directory for "marker")? */
export function versionMatches(v: SidecarVersion, st: BigIntStats): boolean {
  if (v.ino !== st.ino.toString()) return false;
  if (v.kind === 'marker') return st.isDirectory();
  return st.isFile() && v.size === Number(st.size) && v.mtimeNs === st.mtimeNs.toString();
}

/** Read the versions of a key's record; a missing or unreadable record is an empty list. */
export async function readVersions(path: string, key: string): Promise<SidecarVersion[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw mapFsError(e, key, 'read sidecar of');
  }
  try {
    const parsed = JSON.parse(text) as Partial<SidecarFile>;
    if (parsed.v !== 1 || parsed.key !== key || !Array.isArray(parsed.versions)) return [];
    return parsed.versions.filter(isVersion);
  } catch {
    return []; // A torn or foreign file: the object falls back to its derived ETag.
  }
}

/** The version that applies to `st`, if any. */
export async function findVersion(path: string, key: string, st: BigIntStats): Promise<SidecarVersion | undefined> {
  const versions = await readVersions(path, key);
  return versions.find((v) => versionMatches(v, st));
}

/**
 * Write the record of `key` with `version` first, keeping the previous first version (if still
 * different) second. `tmpPath` is a fresh temp file name on the same file system.
 */
export async function writeVersion(
  path: string,
  tmpPath: string,
  key: string,
  version: SidecarVersion,
  durable: boolean,
  keepPrevious: boolean,
): Promise<void> {
  const previous = keepPrevious ? ((await readVersions(path, key))[0] ?? undefined) : undefined;
  const versions = [version];
  if (previous !== undefined && previous.ino !== version.ino) versions.push(previous);
  const record: SidecarFile = { v: 1, key, versions };
  try {
    let fh;
    try {
      fh = await open(tmpPath, 'wx');
    } catch (e) {
      if (errnoCode(e) !== 'ENOENT') throw e;
      await mkdir(dirname(tmpPath), { recursive: true });
      fh = await open(tmpPath, 'wx');
    }
    try {
      await fh.writeFile(JSON.stringify(record), 'utf8');
      if (durable) await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(tmpPath, path);
    } catch (e) {
      if (errnoCode(e) !== 'ENOENT') throw e;
      await mkdir(dirname(path), { recursive: true });
      await rename(tmpPath, path);
    }
  } catch (e) {
    await unlink(tmpPath).catch(() => undefined);
    throw mapFsError(e, key, 'write sidecar of');
  }
}

/** Remove a key's record (missing is fine). */
export async function removeSidecar(path: string, key: string): Promise<void> {
  try {
    await unlink(path);
  } catch (e) {
    if (errnoCode(e) !== 'ENOENT') throw mapFsError(e, key, 'remove sidecar of');
  }
}

function isVersion(v: unknown): v is SidecarVersion {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return (
    (o.kind === 'file' || o.kind === 'marker') &&
    typeof o.etag === 'string' &&
    typeof o.size === 'number' &&
    typeof o.mtimeNs === 'string' &&
    typeof o.ino === 'string' &&
    typeof o.metadata === 'object' &&
    o.metadata !== null &&
    typeof o.createdMs === 'number'
  );
}
