/**
 * LocalStore: a local directory acting as a bucket (file:///abs/path), human-browsable: object
 * "a/b/c" is the file <root>/a/b/c, prefixes are directories, and what the library needs beyond
 * plain files lives in the reserved <root>/.objfs tree. Layout and key rules: paths.ts; sidecar
 * records and ETag rules: sidecar.ts; reads (info, open): reader.ts; listing: list.ts;
 * multipart: multipart.ts.
 *
 * Writes (put, copy, completeMultipart) are atomic: the body goes to a temp file under
 * .objfs/tmp (fsync'd when `durable`), the sidecar record for the new inode is written, then the
 * temp file is renamed over the key (or link(2)ed for ifNoneMatch, which fails with EEXIST when
 * anything -- even another process -- created the key first). Readers open the file once and use
 * that descriptor for the bytes and the fstat that selects the sidecar version, so they see the
 * old or the new object, never a mix, and an ETag that belongs to the bytes they read.
 *
 * Directory markers ("a/b/"): the directory <root>/a/b plus a "marker" sidecar version bound to
 * the directory's inode. An empty directory without a record (made by hand) also counts as a
 * marker, so every directory in the tree is visible as a prefix. A marker body must be empty.
 * Deleting the last key under a directory removes the empty directories up to the root, except
 * those with a marker record. Keys that collide with the tree's shape ("a" when "a/x" exists, and
 * the reverse) are InvalidKey on write and simply absent (NotFound) on read. Symlinks, fifos and
 * other special files are not objects, and keys are never resolved through a symlinked directory
 * (reads: NotFound, writes: InvalidKey), so a symlink in the bucket cannot lead outside the root.
 *
 * Locking / ownership: `keyLocks` serialises every write and delete of one key within this
 * process, which makes ifMatch / ifNoneMatch atomic with the write here; across processes only
 * ifNoneMatch is atomic (link(2)), ifMatch is check-then-rename. A write or delete that removes or
 * checks an ancestor directory takes that directory's marker key lock ("a/b/") while holding its
 * own, always from the deepest ancestor up, and a marker write takes only its own key, so locks
 * are always acquired deeper-first and cannot deadlock. Reads take no lock. Multipart uploads are
 * serialised per upload id inside multipart.ts.
 */
import { constants as fsc, type BigIntStats } from 'node:fs';
import { access, link, lstat, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { StoreError } from '../../errors/store-error.js';
import type {
  CompletedPart,
  CopyOptions,
  DeleteManyResult,
  GetOptions,
  GetResult,
  ListOptions,
  ListPage,
  MultipartOptions,
  ObjectInfo,
  ObjectStore,
  PutBody,
  PutOptions,
  WriteConditions,
} from '../object-store.js';
import {
  EMPTY_ETAG,
  S3_LIMITS,
  checkAborted,
  checkWriteConditions,
  copyMetadata,
  etagMatches,
  quoteEtag,
  resolveRange,
} from '../memory/s3-rules.js';
import { copyRange, errnoCode, fsyncDir, mapFsError, mkdirsForKey, tryRmdir } from './fs-util.js';
import { writeAll } from '../../util/write-all.js';
import { KeyedMutex } from './key-lock.js';
import { listLocal } from './list.js';
import { ObjectReader, notFound } from './reader.js';
import { LocalUploads } from './multipart.js';
import { Layout, parseLocalKey, type LocalKey } from './paths.js';
import { findVersion, removeSidecar, writeVersion, type SidecarVersion } from './sidecar.js';

export interface LocalStoreOptions {
  /** fsync temp files, sidecars and directories before a write returns (default true). */
  durable?: boolean;
}

/** A finished temp file: its path, the MD5 hex of its bytes and its size. */
export interface TempFile {
  path: string;
  md5: string;
  size: number;
}

/** What a write stores besides the bytes. */
export interface WriteFields {
  etag: string;
  metadata: Record<string, string>;
  contentType: string | undefined;
}

const MAX_PLACE_ATTEMPTS = 8;

export class LocalStore implements ObjectStore {
  readonly description: string;
  readonly limits = S3_LIMITS;
  readonly root: string;
  readonly layout: Layout;
  readonly durable: boolean;
  readonly reader: ObjectReader;
  private readonly keyLocks = new KeyedMutex();
  private readonly uploads: LocalUploads;

  constructor(root: string, opts: LocalStoreOptions = {}) {
    if (!isAbsolute(root)) throw new StoreError('InvalidArgument', `the root of a local store must be an absolute path, not ${JSON.stringify(root)}`);
    this.root = resolve(root);
    this.layout = new Layout(this.root);
    this.reader = new ObjectReader(this.layout);
    this.durable = opts.durable ?? true;
    this.description = `file://${this.root}`;
    this.uploads = new LocalUploads(this);
  }

  async check(signal?: AbortSignal): Promise<void> {
    checkAborted(signal);
    let st;
    try {
      st = await stat(this.root);
    } catch (e) {
      const code = errnoCode(e);
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        throw new StoreError('NoSuchBucket', `${this.description}: the root directory ${this.root} does not exist`, { cause: e });
      }
      if (code === 'EACCES' || code === 'EPERM') {
        throw new StoreError('AccessDenied', `${this.description}: permission denied on ${this.root}`, { cause: e });
      }
      throw mapFsError(e, undefined, `${this.description}: stat ${this.root}`);
    }
    if (!st.isDirectory()) throw new StoreError('NoSuchBucket', `${this.description}: ${this.root} is not a directory`);
    try {
      await access(this.root, fsc.R_OK | fsc.X_OK);
    } catch (e) {
      throw mapFsError(e, undefined, `${this.description}: cannot read ${this.root}`);
    }
    const reserved = await lstat(this.layout.reservedDir).catch(() => undefined);
    if (reserved !== undefined && !reserved.isDirectory()) {
      throw new StoreError('InvalidArgument', `${this.description}: ${this.layout.reservedDir} is not a directory; objfs reserves that name`);
    }
  }

  async list(opts: ListOptions): Promise<ListPage> {
    checkAborted(opts.signal);
    return listLocal(this.reader, opts);
  }

  async head(key: string, signal?: AbortSignal): Promise<ObjectInfo> {
    checkAborted(signal, key);
    const k = parseLocalKey(key);
    const info = await this.reader.statObject(k);
    if (info === undefined) throw notFound(key);
    return info;
  }

  async get(key: string, opts: GetOptions = {}): Promise<GetResult> {
    checkAborted(opts.signal, key);
    const k = parseLocalKey(key);
    const obj = await this.reader.openObject(k);
    try {
      const { info } = obj;
      if (opts.ifMatch !== undefined && !etagMatches(info.etag, opts.ifMatch)) {
        throw new StoreError('PreconditionFailed', `${key}: ifMatch ${opts.ifMatch} but the ETag is ${info.etag}`, { key });
      }
      const { start, end } = resolveRange(opts.range, info.size, key);
      const length = end - start + 1;
      const body = Buffer.alloc(Math.max(0, length));
      let done = 0;
      while (obj.fh !== undefined && done < length) {
        checkAborted(opts.signal, key);
        const { bytesRead } = await obj.fh.read(body, done, length - done, start + done);
        if (bytesRead === 0) break; // truncated by hand while we read: return what exists
        done += bytesRead;
      }
      return { body: done === length ? body : body.subarray(0, done), info };
    } catch (e) {
      throw mapFsError(e, key, 'read');
    } finally {
      await obj.fh?.close();
    }
  }

  async put(key: string, body: PutBody, opts: PutOptions = {}): Promise<{ etag: string }> {
    checkAborted(opts.signal, key);
    const k = parseLocalKey(key);
    const metadata = copyMetadata(opts.metadata, key);
    const size = body.length;
    if (size > this.limits.maxPartSize) throw new StoreError('TooLarge', `${key}: body of ${size} bytes exceeds ${this.limits.maxPartSize}`, { key });
    if (k.marker) {
      if (size !== 0) throw markerBodyError(key);
      return this.putMarker(k, metadata, opts.contentType, opts, opts.signal);
    }
    const tmp = await this.writeTemp(body, key, opts.signal);
    try {
      return await this.commitFile(k, tmp, { etag: quoteEtag(tmp.md5), metadata, contentType: opts.contentType }, opts, opts.signal);
    } finally {
      await unlinkQuiet(tmp.path);
    }
  }

  async copy(sourceKey: string, destKey: string, opts: CopyOptions = {}): Promise<{ etag: string }> {
    checkAborted(opts.signal, destKey);
    const ks = parseLocalKey(sourceKey);
    const kd = parseLocalKey(destKey);
    const newMetadata = opts.metadata === undefined ? undefined : copyMetadata(opts.metadata, destKey);
    const src = await this.reader.openObject(ks);
    let tmp: TempFile;
    let metadata: Record<string, string>;
    let contentType: string | undefined;
    try {
      if (opts.sourceIfMatch !== undefined && !etagMatches(src.info.etag, opts.sourceIfMatch)) {
        throw new StoreError('PreconditionFailed', `${sourceKey}: sourceIfMatch ${opts.sourceIfMatch} but the ETag is ${src.info.etag}`, {
          key: sourceKey,
        });
      }
      metadata = newMetadata ?? { ...(src.info.metadata ?? {}) };
      contentType = opts.contentType ?? src.info.contentType;
      if (kd.marker) {
        if (src.info.size !== 0) throw markerBodyError(destKey);
        return await this.putMarker(kd, metadata, contentType, opts, opts.signal);
      }
      tmp = await this.writeTempFrom(src.fh, 0, src.info.size, destKey, opts.signal);
    } finally {
      await src.fh?.close();
    }
    try {
      return await this.commitFile(kd, tmp, { etag: quoteEtag(tmp.md5), metadata, contentType }, opts, opts.signal);
    } finally {
      await unlinkQuiet(tmp.path);
    }
  }

  async delete(key: string, signal?: AbortSignal): Promise<void> {
    checkAborted(signal, key);
    const k = parseLocalKey(key);
    await this.keyLocks.run(key, async () => {
      if (await this.reader.symlinkedAncestor(k)) return; // not an object of this bucket
      const path = this.layout.dataPath(k);
      if (k.marker) {
        await removeSidecar(this.layout.sidecarPath(key), key);
        let gone: 'removed' | 'missing' | 'kept';
        try {
          gone = await tryRmdir(path);
        } catch (e) {
          throw mapFsError(e, key, 'delete');
        }
        if (gone === 'removed') {
          if (this.durable) await fsyncDir(dirname(path));
          await this.cleanupDirs(k.segments.slice(0, -1));
        }
        return;
      }
      let st: BigIntStats;
      try {
        st = await lstat(path, { bigint: true });
      } catch (e) {
        const code = errnoCode(e);
        if (code === 'ENOENT' || code === 'ENOTDIR') return; // idempotent, like S3
        throw mapFsError(e, key, 'delete');
      }
      if (!st.isFile()) return; // a directory or special file is not this object
      try {
        await unlink(path);
      } catch (e) {
        if (errnoCode(e) !== 'ENOENT') throw mapFsError(e, key, 'delete');
      }
      await removeSidecar(this.layout.sidecarPath(key), key);
      if (this.durable) await fsyncDir(dirname(path));
      await this.cleanupDirs(k.segments.slice(0, -1));
    });
  }

  async deleteMany(keys: string[], signal?: AbortSignal): Promise<DeleteManyResult> {
    const result: DeleteManyResult = { deleted: [], errors: [] };
    const outcomes = new Array<Error | undefined>(keys.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < keys.length; i = next++) {
        try {
          await this.delete(keys[i]!, signal);
        } catch (e) {
          outcomes[i] = e as Error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(8, keys.length) }, worker));
    keys.forEach((key, i) => {
      const err = outcomes[i];
      if (err === undefined) result.deleted.push(key);
      else result.errors.push({ key, error: err });
    });
    return result;
  }

  createMultipart(key: string, opts: MultipartOptions = {}): Promise<{ uploadId: string }> {
    return this.uploads.create(key, opts);
  }

  uploadPart(key: string, uploadId: string, partNumber: number, body: PutBody, signal?: AbortSignal): Promise<CompletedPart> {
    return this.uploads.uploadPart(key, uploadId, partNumber, body, signal);
  }

  uploadPartCopy(
    key: string,
    uploadId: string,
    partNumber: number,
    source: { key: string; range?: { start: number; end: number }; ifMatch?: string },
    signal?: AbortSignal,
  ): Promise<CompletedPart> {
    return this.uploads.uploadPartCopy(key, uploadId, partNumber, source, signal);
  }

  completeMultipart(
    key: string,
    uploadId: string,
    parts: CompletedPart[],
    conditions: WriteConditions & { signal?: AbortSignal } = {},
  ): Promise<{ etag: string }> {
    return this.uploads.complete(key, uploadId, parts, conditions);
  }

  abortMultipart(key: string, uploadId: string, signal?: AbortSignal): Promise<void> {
    return this.uploads.abort(key, uploadId, signal);
  }

  async close(): Promise<void> {
    // No descriptors or timers outlive an operation.
  }

  // ---------------------------------------------------------------------------------------------
  // Internals shared with list.ts and multipart.ts.

  /** Write a put body into a fresh temp file (streaming FileSlices), hashing it. */
  async writeTemp(body: PutBody, key: string, signal: AbortSignal | undefined): Promise<TempFile> {
    if (Buffer.isBuffer(body)) {
      return this.withTemp(key, 'put', async (fh) => {
        await writeAll(fh, body, 0);
        return { md5: createHash('md5').update(body).digest('hex'), size: body.length };
      });
    }
    if (!Number.isSafeInteger(body.start) || !Number.isSafeInteger(body.length) || body.start < 0 || body.length < 0) {
      throw new StoreError('InvalidArgument', `${key}: invalid file slice ${body.start}+${body.length}`, { key });
    }
    let src: FileHandle;
    try {
      src = await open(body.path, 'r');
    } catch (e) {
      throw new StoreError(errnoCode(e) === 'ENOENT' ? 'InvalidArgument' : mapFsError(e, key, '').code, `${key}: cannot read body file ${body.path}: ${(e as Error).message}`, {
        key,
        cause: e,
      });
    }
    try {
      return await this.writeTempFrom(src, body.start, body.length, key, signal);
    } finally {
      await src.close();
    }
  }

  /** Copy `length` bytes of `src` from `start` into a fresh temp file, hashing them. */
  writeTempFrom(src: FileHandle | undefined, start: number, length: number, key: string, signal: AbortSignal | undefined): Promise<TempFile> {
    return this.withTemp(key, 'put', async (fh) => {
      const hash = createHash('md5');
      if (src !== undefined) await copyRange(src, start, length, fh, 0, hash, signal, key);
      else if (length !== 0) throw new StoreError('InvalidArgument', `${key}: no source bytes`, { key });
      return { md5: hash.digest('hex'), size: length };
    });
  }

  /**
   * Create a temp file, let `fill` write it, fsync (when durable) and close it. On failure the
   * temp file is removed. Creates .objfs/tmp on first use.
   */
  async withTemp(key: string, tag: string, fill: (fh: FileHandle) => Promise<{ md5: string; size: number }>): Promise<TempFile> {
    const path = this.layout.tmpPath(tag);
    let fh: FileHandle;
    try {
      fh = await open(path, 'wx');
    } catch (e) {
      if (errnoCode(e) !== 'ENOENT') throw mapFsError(e, key, 'create temp file for');
      try {
        await mkdirsForKey(this.layout.tmpDir, key);
        fh = await open(path, 'wx');
      } catch (e2) {
        throw mapFsError(e2, key, 'create temp file for');
      }
    }
    try {
      const r = await fill(fh);
      if (this.durable) await fh.sync();
      await fh.close();
      return { path, ...r };
    } catch (e) {
      await fh.close().catch(() => undefined);
      await unlinkQuiet(path);
      throw mapFsError(e, key, 'write');
    }
  }

  /**
   * Put a finished temp file in place at k (a file key) under the key's lock: evaluate the
   * conditions, write the sidecar version for the temp file's inode, then rename (or link, for
   * ifNoneMatch) it over the key. The caller removes the temp path afterwards in every case.
   */
  commitFile(k: LocalKey, tmp: TempFile, fields: WriteFields, cond: WriteConditions, signal: AbortSignal | undefined): Promise<{ etag: string }> {
    return this.keyLocks.run(k.key, async () => {
      checkAborted(signal, k.key);
      if (cond.ifMatch !== undefined || cond.ifNoneMatch !== undefined) {
        checkWriteConditions(k.key, (await this.reader.statObject(k))?.etag, cond);
      }
      if (await this.reader.symlinkedAncestor(k)) throw symlinkError(k.key);
      const path = this.layout.dataPath(k);
      let st: BigIntStats;
      try {
        st = await stat(tmp.path, { bigint: true });
      } catch (e) {
        throw mapFsError(e, k.key, 'stat temp file of');
      }
      const version: SidecarVersion = {
        kind: 'file',
        etag: fields.etag,
        size: Number(st.size),
        mtimeNs: st.mtimeNs.toString(),
        ino: st.ino.toString(),
        metadata: fields.metadata,
        createdMs: Date.now(),
      };
      if (fields.contentType !== undefined) version.contentType = fields.contentType;
      await writeVersion(this.layout.sidecarPath(k.key), this.layout.tmpPath('meta'), k.key, version, this.durable, true);
      await this.place(k, tmp.path, path, cond.ifNoneMatch !== undefined);
      return { etag: fields.etag };
    });
  }

  /** rename/link the temp file to `path`, creating parent directories; retries if a concurrent delete removes them. */
  private async place(k: LocalKey, tmpPath: string, path: string, exclusive: boolean): Promise<void> {
    const parent = dirname(path);
    let created: string | undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        if (exclusive) await link(tmpPath, path);
        else await rename(tmpPath, path);
        if (this.durable) await fsyncDir(parent);
        return;
      } catch (e) {
        const code = errnoCode(e);
        if (code === 'ENOENT' && k.segments.length > 1 && attempt < MAX_PLACE_ATTEMPTS) {
          // The parent directory is missing (first key under it, or a concurrent delete removed
          // it): create it and try again.
          const c = await mkdirsForKey(parent, k.key);
          created ??= c;
          continue;
        }
        if (created !== undefined) await this.removeCreatedDirs(created, parent);
        if (code === 'EEXIST' && exclusive) {
          const isDir = await lstat(path).then((s) => s.isDirectory(), () => false);
          if (!isDir) throw new StoreError('PreconditionFailed', `${k.key}: ifNoneMatch '*' but the object exists`, { key: k.key });
        }
        if (code === 'EEXIST' || code === 'EISDIR' || code === 'ENOTEMPTY') throw isDirectoryError(k.key, e);
        if (code === 'ENOTDIR') throw fileInTheWay(k.key, e);
        throw mapFsError(e, k.key, 'rename into place');
      }
    }
  }

  /** Write (or rewrite) the marker record of directory key k ("a/b/"), creating the directory. */
  putMarker(
    k: LocalKey,
    metadata: Record<string, string>,
    contentType: string | undefined,
    cond: WriteConditions,
    signal: AbortSignal | undefined,
  ): Promise<{ etag: string }> {
    return this.keyLocks.run(k.key, async () => {
      checkAborted(signal, k.key);
      if (cond.ifMatch !== undefined || cond.ifNoneMatch !== undefined) {
        checkWriteConditions(k.key, (await this.reader.statObject(k))?.etag, cond);
      }
      if (await this.reader.symlinkedAncestor(k)) throw symlinkError(k.key);
      const dir = this.layout.dataPath(k);
      for (let attempt = 1; ; attempt++) {
        const created = await mkdirsForKey(dir, k.key);
        const st = await lstat(dir, { bigint: true }).catch((e: unknown) => {
          throw mapFsError(e, k.key, 'stat');
        });
        if (!st.isDirectory()) throw fileInTheWay(k.key, undefined);
        const version: SidecarVersion = {
          kind: 'marker',
          etag: EMPTY_ETAG,
          size: 0,
          mtimeNs: '0',
          ino: st.ino.toString(),
          metadata,
          createdMs: Date.now(),
        };
        if (contentType !== undefined) version.contentType = contentType;
        await writeVersion(this.layout.sidecarPath(k.key), this.layout.tmpPath('meta'), k.key, version, this.durable, false);
        // A concurrent cleanup in another process may have removed the directory meanwhile.
        const again = await lstat(dir, { bigint: true }).catch(() => undefined);
        if (again?.ino === st.ino || attempt >= MAX_PLACE_ATTEMPTS) {
          if (this.durable && created !== undefined) await fsyncDir(dirname(created));
          return { etag: EMPTY_ETAG };
        }
      }
    });
  }

  /** Remove empty directories from `segments` (a directory key) up to the root, stopping at a marker record. */
  async cleanupDirs(segments: string[]): Promise<void> {
    for (let n = segments.length; n > 0; n--) {
      const dirSegs = segments.slice(0, n);
      const markerKey = `${dirSegs.join('/')}/`;
      const dir = join(this.root, ...dirSegs);
      const goOn = await this.keyLocks.run(markerKey, async () => {
        try {
          return await this.removeIfUnmarked(dir, markerKey);
        } catch {
          return false; // cleanup is best effort; the object operation already succeeded
        }
      });
      if (!goOn) return;
    }
  }

  private async removeIfUnmarked(dir: string, markerKey: string): Promise<boolean> {
    const st = await lstat(dir, { bigint: true }).catch(() => undefined);
    if (st === undefined) return true;
    if (!st.isDirectory()) return false;
    if ((await findVersion(this.layout.sidecarPath(markerKey), markerKey, st)) !== undefined) return false;
    const r = await tryRmdir(dir).catch(() => 'kept' as const);
    if (r === 'kept') return false;
    await removeSidecar(this.layout.sidecarPath(markerKey), markerKey).catch(() => undefined);
    if (this.durable) await fsyncDir(dirname(dir));
    return true;
  }

  /** After a failed write: remove the directories this write created (deepest first, only if empty). */
  private async removeCreatedDirs(created: string, deepest: string): Promise<void> {
    for (let d = deepest; d.length >= created.length && d.startsWith(this.root) && d !== this.root; d = dirname(d)) {
      if ((await tryRmdir(d).catch(() => 'kept' as const)) === 'kept') return;
    }
  }

}

function markerBodyError(key: string): StoreError {
  return new StoreError('InvalidKey', `key ${JSON.stringify(key)} ends in '/' and is a directory in a file:// bucket: its body must be empty`, { key });
}

function isDirectoryError(key: string, cause: unknown): StoreError {
  return new StoreError('InvalidKey', `key ${JSON.stringify(key)} is a directory in the file:// bucket (other keys start with "${key}/")`, {
    key,
    cause,
  });
}

function fileInTheWay(key: string, cause: unknown): StoreError {
  return new StoreError('InvalidKey', `key ${JSON.stringify(key)} needs a directory where the file:// bucket has a file`, { key, cause });
}

function symlinkError(key: string): StoreError {
  return new StoreError('InvalidKey', `key ${JSON.stringify(key)} leads through a symlink in the file:// bucket; objfs does not follow symlinks`, { key });
}

async function unlinkQuiet(path: string): Promise<void> {
  await unlink(path).catch(() => undefined);
}
