/**
 * The one place where errors become errno values. Every FUSE reply that fails goes through
 * toErrno(). FsError carries its errno; StoreError codes map exhaustively; anything else is a bug
 * or an unexpected failure: EIO, and the caller logs it with its cause (see `unexpected`).
 */
import { Errno } from './errno.js';
import { FsError } from './fs-error.js';
import { StoreError, type StoreErrorCode } from './store-error.js';

export function storeCodeToErrno(code: StoreErrorCode): number {
  switch (code) {
    case 'NotFound':
      return Errno.ENOENT;
    case 'NoSuchBucket':
      return Errno.EIO;
    case 'AccessDenied':
      return Errno.EACCES;
    case 'PreconditionFailed':
      return Errno.EIO;
    case 'InvalidKey':
      return Errno.EINVAL;
    case 'InvalidArgument':
      return Errno.EINVAL;
    case 'NoSuchUpload':
      return Errno.EIO;
    case 'QuotaExceeded':
      return Errno.ENOSPC;
    case 'TooLarge':
      return Errno.EFBIG;
    case 'Throttled':
    case 'Timeout':
    case 'Network':
    case 'Server':
      return Errno.EIO;
    case 'NotSupported':
      return Errno.EOPNOTSUPP;
    case 'Aborted':
      return Errno.EINTR;
    case 'Unknown':
      return Errno.EIO;
  }
}

export interface ErrnoResult {
  errno: number;
  /** true when the error was not a typed FsError/StoreError: log it at error level with its stack. */
  unexpected: boolean;
}

export function toErrno(err: unknown): ErrnoResult {
  if (err instanceof FsError) return { errno: err.errno, unexpected: false };
  if (err instanceof StoreError) return { errno: storeCodeToErrno(err.code), unexpected: false };
  if (err instanceof Error && err.name === 'AbortError') return { errno: Errno.EINTR, unexpected: false };
  return { errno: Errno.EIO, unexpected: true };
}
