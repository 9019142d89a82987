/**
 * Types shared by the VFS and the FUSE adapter. The VFS speaks inodes and handles, never paths
 * from the kernel; the adapter turns FUSE requests into these calls and results into replies.
 */
export interface Timespec {
  s: number;
  ns: number;
}

export interface Attr {
  ino: number;
  mode: number; // type bits + permission bits
  nlink: number;
  uid: number;
  gid: number;
  size: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
}

export interface Entry {
  attr: Attr;
  /** Seconds the kernel may cache the name -> inode mapping / the attributes. */
  entryTimeout: number;
  attrTimeout: number;
}

/** Who asks, and a signal that fires when the kernel interrupts the request. */
export interface RequestContext {
  uid: number;
  gid: number;
  pid: number;
  readonly signal: AbortSignal | undefined;
}

export interface OpenResult {
  fh: number;
  directIo: boolean;
  keepCache: boolean;
}

export interface DirEntry {
  name: string;
  ino: number;
  mode: number;
  /** Present for readdirplus. */
  entry?: Entry;
}

export interface SetAttrChanges {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  atime?: Timespec | 'now';
  mtime?: Timespec | 'now';
}

export interface StatFs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  namemax: number;
}

export type MaybePromise<T> = T | Promise<T>;
