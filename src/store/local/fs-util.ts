/**
 * File-system helpers of the local store: the one fs-error -> StoreError mapping, streaming
 * range copies that hash as they go (bodies are never read whole into memory), fsync of files and
 * directories, and mkdir/rmdir helpers that turn file-vs-directory conflicts into InvalidKey.
 * Stateless; every function takes what it needs.
 */
import type { Hash } from 'node:crypto';
import { mkdir, open, rmdir, type FileHandle } from 'node:fs/promises';
import { writeAll } from '../../util/write-all.js';
import { StoreError } from '../../errors/store-error.js';
import { abortedError, checkAborted } from '../memory/s3-rules.js';

/** Chunk size of streaming copies. */
export const COPY_CHUNK = 1024 * 1024;

export const errnoCode = (e: unknown): string | undefined =>
  typeof e === 'object' && e !== null ? ((e as NodeJS.ErrnoException).code ?? undefined) : undefined;

/** Map a node:fs error to a StoreError (StoreErrors pass through). */
export function mapFsError(e: unknown, key: string | undefined, what: string): StoreError {
  if (e instanceof StoreError) return e;
  const code = errnoCode(e);
  const msg = `${what}${key === undefined ? '' : ` ${JSON.stringify(key)}`}: ${(e as Error)?.message ?? String(e)}`;
  const opts = { key, cause: e };
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return new StoreError('NotFound', msg, opts);
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new StoreError('AccessDenied', msg, opts);
    case 'ENOSPC':
    case 'EDQUOT':
      return new StoreError('QuotaExceeded', msg, opts);
    case 'ENAMETOOLONG':
      return new StoreError('InvalidKey', msg, opts);
    case 'EFBIG':
      return new StoreError('TooLarge', msg, opts);
    case 'ABORT_ERR':
      return abortedError(key, e);
    default:
      if ((e as Error)?.name === 'AbortError') return abortedError(key, e);
      return new StoreError('Unknown', msg, opts);
  }
}

/**
 * Copy `length` bytes of `src` from `srcPos` to `dst` at `dstPos`, in chunks, updating `hash`.
 * A source shorter than asked is InvalidArgument (the caller's slice is wrong or the file shrank).
 */
export async function copyRange(
  src: FileHandle,
  srcPos: number,
  length: number,
  dst: FileHandle,
  dstPos: number,
  hash: Hash | undefined,
  signal: AbortSignal | undefined,
  key: string,
): Promise<void> {
  if (length === 0) return;
  const buf = Buffer.allocUnsafe(Math.min(COPY_CHUNK, length));
  let done = 0;
  while (done < length) {
    checkAborted(signal, key);
    const want = Math.min(buf.length, length - done);
    const { bytesRead } = await src.read(buf, 0, want, srcPos + done);
    if (bytesRead === 0) {
      throw new StoreError('InvalidArgument', `${key}: source ended after ${done} of ${length} bytes`, { key });
    }
    const chunk = buf.subarray(0, bytesRead);
    hash?.update(chunk);
    await writeAll(dst, chunk, dstPos + done);
    done += bytesRead;
  }
}

/** fsync a directory so a rename/link/unlink in it is durable. Errors are ignored (best effort). */
export async function fsyncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // Some file systems refuse fsync on directories; durability of the rename is then theirs.
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/**
 * mkdir -p of the directories of a key. A component that exists as a file is a file-vs-directory
 * conflict: InvalidKey naming the key. Returns the first directory created (undefined if none).
 */
export async function mkdirsForKey(dir: string, key: string): Promise<string | undefined> {
  try {
    return await mkdir(dir, { recursive: true });
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'EEXIST' || code === 'ENOTDIR') {
      throw new StoreError('InvalidKey', `key ${JSON.stringify(key)} needs a directory where the bucket has a file (${dir})`, {
        key,
        cause: e,
      });
    }
    throw mapFsError(e, key, 'mkdir');
  }
}

/** rmdir that reports whether the directory is gone (removed now or already missing). */
export async function tryRmdir(dir: string): Promise<'removed' | 'missing' | 'kept'> {
  try {
    await rmdir(dir);
    return 'removed';
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ENOENT') return 'missing';
    if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR' || code === 'EBUSY') return 'kept';
    throw e;
  }
}
