/**
 * The contract between the native addon (native/objfs_fuse.c) and TypeScript. The addon is
 * mechanism only: it owns the libfuse3 low-level session and its threads, copies each request into
 * a job, and hands jobs to JS on the main thread; JS answers later through the reply functions.
 *
 * Data passing, chosen for speed (no object allocation per request):
 * - Before each dispatch() call the addon writes the request's numeric arguments into `args`
 *   (a Float64Array(32) given at mount). dispatch() must read them synchronously.
 * - Reply functions that carry attributes read them from `out` (a Float64Array(32) given at mount),
 *   which JS fills synchronously right before the call.
 * Inode numbers, handles and sizes are doubles: exact up to 2^53.
 *
 * Request ids: every request that needs a reply gets an id (> 0) that is unique for the session's
 * life (slot + generation). Exactly one reply per id: the first reply wins, later replies to the
 * same id return false and do nothing. If dispatch() throws, the addon replies EIO itself. When
 * the session ends, every request still unanswered is replied EIO before the session is freed.
 *
 * Threads: libfuse worker threads never wait on JS. Reply functions are called on the JS thread
 * and write to /dev/fuse directly. notify* functions run on the libuv threadpool (libfuse warns
 * that notifications sent from a request handler can deadlock) and return a promise.
 */

/** Operation codes passed as the first argument of dispatch(). */
export const Op = {
  INIT: 1, // connection ready (mount usable). id = 0. args[4]=proto major, [5]=minor, [6]=capable, [7]=want
  DESTROY: 2, // session loop ended (unmounted). id = 0. args[4]=0 normal end, else -errno
  LOOKUP: 3, // name
  FORGET: 4, // id = 0 (already answered natively). args[4]=nlookup
  FORGET_MULTI: 5, // id = 0. data = Float64 pairs [ino, nlookup]...; args[4]=count
  GETATTR: 6, // args[4]=fh or -1
  SETATTR: 7, // args[4]=to_set, [5]=mode, [6]=uid, [7]=gid, [8]=size, [9]=atime s, [10]=atime ns, [11]=mtime s, [12]=mtime ns, [13]=fh or -1
  READLINK: 8,
  MKNOD: 9, // name, args[4]=mode, [5]=rdev, [6]=umask
  MKDIR: 10, // name, args[4]=mode, [6]=umask
  UNLINK: 11, // name
  RMDIR: 12, // name
  SYMLINK: 13, // name = link name, name2 = target
  RENAME: 14, // name, name2 = new name, args[4]=newparent, [5]=flags
  LINK: 15, // args[0]=ino, [4]=newparent, name = new name
  OPEN: 16, // args[4]=open flags
  READ: 17, // args[4]=fh, [5]=size, [6]=offset
  WRITE: 18, // args[4]=fh, [5]=offset, [6]=fi flags, data = Buffer (a copy, JS may keep it)
  FLUSH: 19, // args[4]=fh
  RELEASE: 20, // args[4]=fh, [5]=flags
  FSYNC: 21, // args[4]=fh, [5]=datasync
  OPENDIR: 22, // args[4]=flags
  READDIR: 23, // args[4]=fh, [5]=size, [6]=offset
  RELEASEDIR: 24, // args[4]=fh
  FSYNCDIR: 25, // args[4]=fh, [5]=datasync
  STATFS: 26,
  SETXATTR: 27, // name = attr name, data = value, args[4]=flags
  GETXATTR: 28, // name = attr name, args[4]=size
  LISTXATTR: 29, // args[4]=size
  REMOVEXATTR: 30, // name = attr name
  CREATE: 31, // name, args[4]=mode, [5]=open flags, [6]=umask
  READDIRPLUS: 32, // args[4]=fh, [5]=size, [6]=offset
  INTERRUPT: 33, // id = the interrupted request's id (may arrive before or after its job)
  FALLOCATE: 34, // args[4]=fh, [5]=mode, [6]=offset, [7]=length
} as const;
export type OpCode = (typeof Op)[keyof typeof Op];

/** Layout of `args` common to every request: [0]=ino (or parent), [1]=uid, [2]=gid, [3]=pid. */
export const ARG = { INO: 0, UID: 1, GID: 2, PID: 3, A: 4 } as const;

/**
 * Layout of an entry/attr record in `out` (and of each record in readdir entry arrays).
 * [0]=ino, [1]=generation, [2]=entry timeout s, [3]=attr timeout s, [4]=mode, [5]=nlink,
 * [6]=uid, [7]=gid, [8]=rdev, [9]=size, [10]=blksize, [11]=blocks (512 B units),
 * [12]=atime s, [13]=atime ns, [14]=mtime s, [15]=mtime ns, [16]=ctime s, [17]=ctime ns.
 */
export const REC = {
  INO: 0, GEN: 1, ENTRY_TIMEOUT: 2, ATTR_TIMEOUT: 3, MODE: 4, NLINK: 5, UID: 6, GID: 7, RDEV: 8,
  SIZE: 9, BLKSIZE: 10, BLOCKS: 11, ATIME: 12, ATIME_NS: 13, MTIME: 14, MTIME_NS: 15, CTIME: 16, CTIME_NS: 17,
} as const;
export const REC_LEN = 18;

/** Statfs layout in `out`: [0]=bsize, [1]=frsize, [2]=blocks, [3]=bfree, [4]=bavail, [5]=files, [6]=ffree, [7]=favail, [8]=namemax. */

/** Bits of the open-reply flags. */
export const OpenFlag = { DIRECT_IO: 1, KEEP_CACHE: 2, NONSEEKABLE: 4, CACHE_READDIR: 8 } as const;

/** Bits of SETATTR to_set (libfuse FUSE_SET_ATTR_*). */
export const SetAttr = {
  MODE: 1, UID: 2, GID: 4, SIZE: 8, ATIME: 16, MTIME: 32, ATIME_NOW: 128, MTIME_NOW: 256, CTIME: 1024,
} as const;

export interface MountOptions {
  mountpoint: string;
  fsname: string; // "objfs" or e.g. "objfs:file:///srv/b" (shown in /proc/mounts)
  subtype: string; // "objfs" -> type fuse.objfs
  allowOther: boolean;
  defaultPermissions: boolean;
  readOnly: boolean;
  writebackCache: boolean;
  /** Negotiated max write / max read in bytes (1 MiB). */
  maxWrite: number;
  maxRead: number;
  /** libfuse worker threads (fuse_loop_config max_threads). */
  maxThreads: number;
  /** libfuse debug output on stderr. */
  debug: boolean;
  /** -o auto_unmount: fusermount3 unmounts if this process dies (no stale mount after kill -9). */
  autoUnmount: boolean;
  /**
   * When set, getxattr of a name that does not start with this prefix is answered ENODATA by the
   * addon itself (no JS round trip). The Vfs keeps only user.* attributes, and `ls -l` asks every
   * file for security.selinux: 10,000 files cost ~0.3 s of round trips otherwise.
   */
  xattrOnly?: string;
}

export type Dispatch = (op: OpCode, id: number, name: string | undefined, name2: string | undefined, data: Buffer | undefined) => void;

export interface NativeSession {
  /** Reply an error (errno > 0) or success without data (errno = 0). Returns false if the id was already answered / unknown. */
  replyErr(id: number, errno: number): boolean;
  /** fuse_reply_entry from `out` (ino 0 = negative entry cached for the entry timeout). */
  replyEntry(id: number): boolean;
  /** fuse_reply_attr from `out` (attr timeout at REC.ATTR_TIMEOUT). */
  replyAttr(id: number): boolean;
  replyOpen(id: number, fh: number, openFlags: number): boolean;
  /** fuse_reply_create: entry from `out`, plus the handle. */
  replyCreate(id: number, fh: number, openFlags: number): boolean;
  /** fuse_reply_buf with buf[offset, offset+length) (whole buffer by default). Used by read, getxattr, listxattr. */
  replyBuf(id: number, buf: Buffer, offset?: number, length?: number): boolean;
  replyWrite(id: number, count: number): boolean;
  replyReadlink(id: number, target: string): boolean;
  /** fuse_reply_statfs from `out` (statfs layout). */
  replyStatfs(id: number): boolean;
  replyXattrSize(id: number, size: number): boolean;
  /**
   * Fill a directory page of at most `size` bytes with names[i] and records[i*REC_LEN..] (entry i
   * gets d_off = firstOffset + i + 1), reply it, and return how many entries fitted (>= 0).
   * plus=false: fuse_add_direntry (uses ino and mode only); plus=true: fuse_add_direntry_plus.
   * Returns -1 if the id was already answered.
   */
  replyDir(id: number, size: number, firstOffset: number, names: string[], records: Float64Array, plus: boolean): number;

  /** fuse_lowlevel_notify_inval_inode (off, len; len 0 = whole). Resolves 0 or -errno. Runs off the JS thread. */
  notifyInvalInode(ino: number, off: number, len: number): Promise<number>;
  /** fuse_lowlevel_notify_inval_entry. Resolves 0 or -errno. */
  notifyInvalEntry(parent: number, name: string): Promise<number>;
  /** fuse_lowlevel_notify_delete. Resolves 0 or -errno. */
  notifyDelete(parent: number, child: number, name: string): Promise<number>;

  /** Ask the session to end: fuse_session_exit + unmount (lazy). DESTROY is dispatched when the loop has ended. Idempotent. */
  unmount(): void;
  /** Number of requests dispatched and not yet answered (for tests and status). */
  pending(): number;
}

export interface NativeAddon {
  /**
   * Create the session, mount it and start the loop thread. Throws an Error whose message names
   * the cause (mountpoint missing, permission, no /dev/fuse, fusermount3 failure) with nothing
   * left mounted. INIT is dispatched once the kernel connection is ready.
   */
  mount(opts: MountOptions, dispatch: Dispatch, args: Float64Array, out: Float64Array): NativeSession;
  /** libfuse version string, e.g. "3.14.0". */
  libfuseVersion(): string;
  /**
   * A Buffer of `size` bytes (uninitialised) over 4096-aligned memory, freed when collected: what
   * O_DIRECT writes need (the block cache's few write buffers; not one per request).
   */
  alignedBuffer(size: number): Buffer;
}
