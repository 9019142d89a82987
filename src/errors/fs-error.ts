/**
 * FsError: a POSIX-level failure decided by the VFS itself (ENOENT from a lookup, ENOTEMPTY from
 * rmdir, EROFS on a read-only mount). It carries the errno directly; `cause` keeps what led to it.
 * Store failures are StoreError (store-error.ts); only to-errno.ts turns either into a number.
 */
import { Errno, type ErrnoName } from './errno.js';

export class FsError extends Error {
  readonly errno: number;
  readonly code: ErrnoName;
  constructor(code: ErrnoName, message?: string, options?: { cause?: unknown }) {
    super(message ?? code, options);
    this.name = 'FsError';
    this.code = code;
    this.errno = Errno[code];
  }
}

export const fsError = (code: ErrnoName, message?: string, cause?: unknown): FsError =>
  new FsError(code, message, cause === undefined ? undefined : { cause });
