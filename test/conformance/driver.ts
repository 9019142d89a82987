/**
 * PosixDriver: the path-level view of a filesystem the conformance suite runs against. Two
 * implementations exist: vfs-driver.ts (the Vfs in this process over the memory store, no FUSE)
 * and mount-driver.ts (a real mount of a file:// bucket served by a child objfs process).
 * The suite (cases.ts) must only use this interface, so both runs test the same promises.
 *
 * Paths are absolute within the filesystem ("/a/b"). Failures throw an Error whose `code` is
 * the errno name ("ENOENT", "ENOTEMPTY", ...), exactly like node:fs errors.
 */
export interface DriverStat {
  ino: number;
  mode: number; // includes the type bits (S_IFREG, S_IFDIR, S_IFLNK)
  size: number;
  nlink: number;
  uid: number;
  gid: number;
  atimeNs: bigint;
  mtimeNs: bigint;
}

export interface DriverFile {
  pread(length: number, position: number): Promise<Buffer>;
  pwrite(data: Buffer, position: number): Promise<number>;
  ftruncate(size: number): Promise<void>;
  fsync(): Promise<void>;
  fstat(): Promise<DriverStat>;
  close(): Promise<void>;
}

export type RenameFlag = 'noreplace' | 'exchange';

export interface PosixDriver {
  /** What this driver runs against, for test names ("vfs+memory", "mount+file"). */
  readonly name: string;
  /** True when a remount/reopen check is possible (persisted state survives `remount`). */
  readonly canRemount: boolean;
  /** Drop every in-memory state and start again over the same store (unmount + mount). */
  remount(): Promise<void>;

  stat(path: string): Promise<DriverStat>;
  lstat(path: string): Promise<DriverStat>;
  readdir(path: string): Promise<string[]>; // without '.' and '..', any order
  mkdir(path: string, mode?: number): Promise<void>;
  rmdir(path: string): Promise<void>;
  unlink(path: string): Promise<void>;
  rename(from: string, to: string, flag?: RenameFlag): Promise<void>;
  symlink(target: string, path: string): Promise<void>;
  readlink(path: string): Promise<string>;
  link(existing: string, newPath: string): Promise<void>;
  mkfifo(path: string, mode?: number): Promise<void>;
  writeFile(path: string, data: Buffer | string, mode?: number): Promise<void>;
  readFile(path: string): Promise<Buffer>;
  appendFile(path: string, data: Buffer | string): Promise<void>;
  truncate(path: string, size: number): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
  chown(path: string, uid: number, gid: number): Promise<void>;
  /** Set atime and mtime in nanoseconds since the epoch. */
  utimes(path: string, atimeNs: bigint, mtimeNs: bigint): Promise<void>;
  setxattr(path: string, name: string, value: Buffer, flag?: 'create' | 'replace'): Promise<void>;
  getxattr(path: string, name: string): Promise<Buffer>;
  listxattr(path: string): Promise<string[]>;
  removexattr(path: string, name: string): Promise<void>;
  statfs(path: string): Promise<{ bsize: number; blocks: number; namemax: number }>;
  /** flags: node-style string ('r', 'r+', 'w', 'wx', 'a', ...). */
  open(path: string, flags: string, mode?: number): Promise<DriverFile>;
}
