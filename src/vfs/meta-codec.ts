/**
 * How POSIX attributes live in object user metadata. Compatible with s3fs: `mode` (decimal
 * st_mode including the type bits), `uid`, `gid`, `mtime` / `atime` (decimal seconds, with a
 * nanosecond fraction when not whole), `xattr` (URL-encoded JSON {name: base64(value)}). Symlinks
 * are objects whose content is the target and whose `mode` has S_IFLNK, as s3fs stores them.
 * Objects without metadata (written by other tools) get the mount's default owner and modes, and
 * their mtime from the object's Last-Modified.
 */
import { constants } from 'node:fs';
import type { Timespec } from './types.js';

export const S_IFMT = constants.S_IFMT;
export const S_IFREG = constants.S_IFREG;
export const S_IFDIR = constants.S_IFDIR;
export const S_IFLNK = constants.S_IFLNK;

export type Kind = 'file' | 'dir' | 'symlink';

export interface Defaults {
  uid: number;
  gid: number;
  fileMode: number; // permission bits
  dirMode: number;
}

export interface PosixMeta {
  mode?: number; // full st_mode if present
  uid?: number;
  gid?: number;
  mtime?: Timespec;
  atime?: Timespec;
  xattrs?: Map<string, Buffer>;
}

function parseIntField(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d+$/.test(v.trim())) return undefined;
  const n = Number(v.trim());
  return Number.isSafeInteger(n) ? n : undefined;
}

export function parseTime(v: string | undefined): Timespec | undefined {
  if (v === undefined) return undefined;
  const m = /^\s*(-?\d+)(?:\.(\d{1,9}))?\s*$/.exec(v);
  if (!m) return undefined;
  const s = Number(m[1]);
  const ns = m[2] ? Number(m[2].padEnd(9, '0')) : 0;
  return Number.isSafeInteger(s) ? { s, ns } : undefined;
}

export function formatTime(t: Timespec): string {
  return t.ns === 0 ? String(t.s) : `${t.s}.${String(t.ns).padStart(9, '0')}`;
}

export function decodeMeta(md: Record<string, string> | undefined): PosixMeta {
  if (!md) return {};
  const out: PosixMeta = {};
  const mode = parseIntField(md['mode']);
  if (mode !== undefined) out.mode = mode;
  const uid = parseIntField(md['uid']);
  if (uid !== undefined) out.uid = uid;
  const gid = parseIntField(md['gid']);
  if (gid !== undefined) out.gid = gid;
  const mtime = parseTime(md['mtime']);
  if (mtime) out.mtime = mtime;
  const atime = parseTime(md['atime']);
  if (atime) out.atime = atime;
  const x = md['xattr'];
  if (x) {
    try {
      const obj = JSON.parse(decodeURIComponent(x)) as Record<string, string>;
      out.xattrs = new Map(Object.entries(obj).map(([k, v]) => [k, Buffer.from(String(v), 'base64')]));
    } catch {
      // unreadable xattr blob from another tool: ignore it rather than fail the file
    }
  }
  return out;
}

/** Merge POSIX attributes into a metadata record (other keys are kept as they were). */
export function encodeMeta(base: Record<string, string> | undefined, m: PosixMeta): Record<string, string> {
  const out: Record<string, string> = { ...(base ?? {}) };
  if (m.mode !== undefined) out['mode'] = String(m.mode);
  if (m.uid !== undefined) out['uid'] = String(m.uid);
  if (m.gid !== undefined) out['gid'] = String(m.gid);
  if (m.mtime) out['mtime'] = formatTime(m.mtime);
  if (m.atime) out['atime'] = formatTime(m.atime);
  if (m.xattrs !== undefined) {
    if (m.xattrs.size === 0) delete out['xattr'];
    else {
      const obj: Record<string, string> = {};
      for (const [k, v] of m.xattrs) obj[k] = v.toString('base64');
      out['xattr'] = encodeURIComponent(JSON.stringify(obj));
    }
  }
  return out;
}

export function kindOfMode(mode: number): Kind | undefined {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return 'file';
    case S_IFDIR:
      return 'dir';
    case S_IFLNK:
      return 'symlink';
    default:
      return undefined;
  }
}

export function typeBits(kind: Kind): number {
  return kind === 'file' ? S_IFREG : kind === 'dir' ? S_IFDIR : S_IFLNK;
}

export const timespecFromDate = (d: Date): Timespec => {
  const ms = d.getTime();
  const s = Math.floor(ms / 1000);
  return { s, ns: (ms - s * 1000) * 1_000_000 };
};

export const nowTimespec = (): Timespec => {
  const ms = Date.now();
  const s = Math.floor(ms / 1000);
  return { s, ns: (ms - s * 1000) * 1_000_000 };
};
