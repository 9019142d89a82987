/**
 * ObjectReader: the read side of the local store -- what object (if any) a key names, its info,
 * and opening it so that the bytes and the info come from one inode. Used by LocalStore (head,
 * get, copy sources, conditions), list.ts (info of listed entries) and multipart.ts (part copy
 * sources). Stateless apart from the layout; takes no locks (readers never wait for writers: a
 * rename swaps whole inodes, and a descriptor keeps reading the inode it opened).
 */
import { constants as fsc, type BigIntStats } from 'node:fs';
import { lstat, open, readdir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreError } from '../../errors/store-error.js';
import type { ObjectInfo } from '../object-store.js';
import { EMPTY_ETAG } from '../memory/s3-rules.js';
import { errnoCode, mapFsError } from './fs-util.js';
import type { Layout, LocalKey } from './paths.js';
import { derivedEtag, findVersion } from './sidecar.js';

/** An object opened for reading: `fh` is undefined for a directory marker (no bytes). */
export interface OpenObject {
  info: ObjectInfo;
  fh: FileHandle | undefined;
}

export function notFound(key: string): StoreError {
  return new StoreError('NotFound', `${key}: no such object`, { key });
}

export class ObjectReader {
  constructor(readonly layout: Layout) {}

  /**
   * Is a directory on the way to k a symlink? Keys are only looked up through real directories,
   * so a symlink placed in the bucket cannot lead reads or writes outside the root. (Listing never
   * follows symlinks either.) Costs one lstat per ancestor; stops at the first missing one.
   */
  async symlinkedAncestor(k: LocalKey): Promise<boolean> {
    let dir = this.layout.root;
    // Ancestors only: the last segment (the file, or the marker's own directory) is checked by
    // the caller with lstat / O_NOFOLLOW.
    for (let i = 0; i < k.segments.length - 1; i++) {
      dir = join(dir, k.segments[i]!);
      try {
        if ((await lstat(dir)).isSymbolicLink()) return true;
      } catch {
        return false; // missing (or unreadable): nothing below it can be reached either
      }
    }
    return false;
  }

  /** Info (with metadata) of the object at k, or undefined when there is none. */
  async statObject(k: LocalKey): Promise<ObjectInfo | undefined> {
    if (await this.symlinkedAncestor(k)) return undefined;
    const path = this.layout.dataPath(k);
    let st: BigIntStats;
    try {
      st = await lstat(path, { bigint: true });
    } catch (e) {
      const code = errnoCode(e);
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw mapFsError(e, k.key, 'stat');
    }
    if (k.marker) return st.isDirectory() ? this.markerInfo(k.key, path, st, undefined) : undefined;
    return st.isFile() ? this.fileInfo(k.key, st) : undefined;
  }

  /** Info of a regular file whose stat is `st`. */
  async fileInfo(key: string, st: BigIntStats): Promise<ObjectInfo> {
    const v = await findVersion(this.layout.sidecarPath(key), key, st);
    const info: ObjectInfo = {
      key,
      size: Number(st.size),
      etag: v?.etag ?? derivedEtag(st),
      lastModified: new Date(Number(st.mtimeNs / 1_000_000n)),
      metadata: { ...(v?.metadata ?? {}) },
    };
    if (v?.contentType !== undefined) info.contentType = v.contentType;
    return info;
  }

  /**
   * Info of the marker "key" (ending in '/') held by the directory `path` with stat `st`, or
   * undefined when the directory is not a marker. `empty`: whether the directory is known to be
   * empty (undefined: find out).
   */
  async markerInfo(key: string, path: string, st: BigIntStats, empty: boolean | undefined): Promise<ObjectInfo | undefined> {
    const v = await findVersion(this.layout.sidecarPath(key), key, st);
    if (v !== undefined) {
      const info: ObjectInfo = { key, size: 0, etag: v.etag, lastModified: new Date(v.createdMs), metadata: { ...v.metadata } };
      if (v.contentType !== undefined) info.contentType = v.contentType;
      return info;
    }
    if (empty === undefined) {
      try {
        empty = (await readdir(path)).length === 0;
      } catch (e) {
        const code = errnoCode(e);
        if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
        throw mapFsError(e, key, 'readdir');
      }
    }
    if (!empty) return undefined;
    return { key, size: 0, etag: EMPTY_ETAG, lastModified: new Date(Number(st.mtimeNs / 1_000_000n)), metadata: {} };
  }

  /** Open the object at k for reading; NotFound when there is none. The caller closes `fh`. */
  async openObject(k: LocalKey): Promise<OpenObject> {
    if (k.marker) {
      const info = await this.statObject(k);
      if (info === undefined) throw notFound(k.key);
      return { info, fh: undefined };
    }
    if (await this.symlinkedAncestor(k)) throw notFound(k.key);
    let fh: FileHandle;
    try {
      fh = await open(this.layout.dataPath(k), fsc.O_RDONLY | fsc.O_NOFOLLOW);
    } catch (e) {
      const code = errnoCode(e);
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' || code === 'EISDIR') throw notFound(k.key);
      throw mapFsError(e, k.key, 'open');
    }
    try {
      const st = await fh.stat({ bigint: true });
      if (!st.isFile()) throw notFound(k.key);
      return { info: await this.fileInfo(k.key, st), fh };
    } catch (e) {
      await fh.close();
      throw mapFsError(e, k.key, 'open');
    }
  }

}
