/**
 * POSIX errno numbers used by objfs, taken from the running platform (os.constants) so they
 * always match what the kernel expects. Values are positive; the FUSE layer sends them as-is.
 */
import { constants } from 'node:os';

const E = constants.errno;

export const Errno = {
  EPERM: E.EPERM,
  ENOENT: E.ENOENT,
  EIO: E.EIO,
  EBADF: E.EBADF,
  EAGAIN: E.EAGAIN,
  EACCES: E.EACCES,
  EBUSY: E.EBUSY,
  EEXIST: E.EEXIST,
  EXDEV: E.EXDEV,
  ENOTDIR: E.ENOTDIR,
  EISDIR: E.EISDIR,
  EINVAL: E.EINVAL,
  EFBIG: E.EFBIG,
  ENOSPC: E.ENOSPC,
  EROFS: E.EROFS,
  EMLINK: E.EMLINK,
  ERANGE: E.ERANGE,
  ENAMETOOLONG: E.ENAMETOOLONG,
  ENOSYS: E.ENOSYS,
  ENOTEMPTY: E.ENOTEMPTY,
  ENODATA: E.ENODATA,
  EOPNOTSUPP: E.EOPNOTSUPP, // before ENOTSUP (same value on Linux): errnoName() prefers it
  ENOTSUP: E.ENOTSUP,
  ETIMEDOUT: E.ETIMEDOUT,
  EINTR: E.EINTR,
  ENOTCONN: E.ENOTCONN,
  E2BIG: E.E2BIG,
} as const;

export type ErrnoName = keyof typeof Errno;

/** Name of an errno value, for logs ("ENOENT"); "E?<n>" when unknown. */
export function errnoName(n: number): string {
  for (const [k, v] of Object.entries(Errno)) if (v === n) return k;
  return `E?${n}`;
}
