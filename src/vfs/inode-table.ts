/**
 * The inode table: which objects the kernel currently knows, by inode number and by path.
 *
 * Ownership and lifetime rules:
 * - An Inode lives while the kernel holds lookups on it (nlookup > 0), while a handle is open on
 *   it, or while it holds data not yet in the store (`local`, or a staged version to upload). forget() drops it when all three end.
 * - Inode numbers are stable for a path during a mount: `inoByPath` remembers the number of every
 *   path ever seen (it follows renames, and is dropped on unlink/rmdir), so a path looked up again
 *   after a forget gets the same number. Numbers are never reused, so generation is always 0.
 * - Paths are store keys without a trailing slash; the root is ''. All mutation happens on the JS
 *   thread; async VFS operations re-check inode state after each await.
 */
import type { Attr, Timespec } from './types.js';
import type { Kind } from './meta-codec.js';
import type { StagedFile } from '../write/staged-file.js';

export const ROOT_INO = 1;

export class Inode {
  nlookup = 0;
  openCount = 0;
  /** Data or metadata exists only here, not yet in the store (new file before its first upload). */
  local = false;
  /** When the attributes were last confirmed against the store (ms, Date.now()). */
  fetchedAt = 0;
  /** Whether mode/uid/gid/xattrs came from the object's metadata (a listing does not carry it). */
  metaKnown = false;
  /** ETag of the stored object (files, symlinks) or of the directory marker. */
  etag: string | undefined;
  /** Directory: a `path/` marker object exists. */
  hasMarker = false;
  /** Raw user metadata as stored (kept so unknown keys survive rewrites). */
  metadata: Record<string, string> = {};
  xattrs: Map<string, Buffer> = new Map();
  symlinkTarget: string | undefined;
  /** Set once unlinked/rmdir'ed while still referenced: no longer reachable by path. */
  removed = false;
  /** Staged (locally changed) content while the file is being written. */
  data: StagedFile | undefined;
  /** ETag whose content the kernel page cache holds for this inode (decides keep_cache at open). */
  cachedEtag: string | undefined;

  constructor(
    readonly ino: number,
    public path: string,
    public kind: Kind,
    public attr: Attr,
  ) {}

  get name(): string {
    const i = this.path.lastIndexOf('/');
    return i < 0 ? this.path : this.path.slice(i + 1);
  }

  /** Store key of the object: the path for files/symlinks, `path/` for a directory marker. */
  get key(): string {
    return this.kind === 'dir' ? (this.path === '' ? '' : this.path + '/') : this.path;
  }

  touchMtime(t: Timespec): void {
    this.attr.mtime = t;
    this.attr.ctime = t;
  }
}

export const parentPath = (path: string): string => {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
};

export const joinPath = (dir: string, name: string): string => (dir === '' ? name : `${dir}/${name}`);

export class InodeTable {
  private nextIno = ROOT_INO + 1;
  private readonly byIno = new Map<number, Inode>();
  private readonly byPath = new Map<string, Inode>();
  private readonly inoByPath = new Map<string, number>();

  constructor(root: Inode) {
    this.byIno.set(root.ino, root);
    this.byPath.set('', root);
    this.inoByPath.set('', root.ino);
  }

  get size(): number {
    return this.byIno.size;
  }

  get(ino: number): Inode | undefined {
    return this.byIno.get(ino);
  }

  getByPath(path: string): Inode | undefined {
    return this.byPath.get(path);
  }

  /** The number a path has (or will get) during this mount. */
  inoFor(path: string): number {
    let ino = this.inoByPath.get(path);
    if (ino === undefined) {
      ino = this.nextIno++;
      this.inoByPath.set(path, ino);
    }
    return ino;
  }

  /** Insert a new live inode for a path (replacing a stale one of another kind). */
  add(path: string, kind: Kind, attr: Omit<Attr, 'ino'>): Inode {
    const old = this.byPath.get(path);
    let ino = this.inoFor(path);
    if (old && old.kind !== kind) {
      // The object at this path changed type (file replaced by a directory by another client):
      // give it a fresh number so the kernel does not mix the two.
      this.detach(old);
      ino = this.nextIno++;
      this.inoByPath.set(path, ino);
    }
    const inode = new Inode(ino, path, kind, { ...attr, ino });
    this.byIno.set(ino, inode);
    this.byPath.set(path, inode);
    return inode;
  }

  /** The path no longer names this inode (unlink, rmdir, replaced by rename). It stays reachable by number until forgotten. */
  detach(inode: Inode): void {
    if (this.byPath.get(inode.path) === inode) this.byPath.delete(inode.path);
    if (this.inoByPath.get(inode.path) === inode.ino) this.inoByPath.delete(inode.path);
    inode.removed = true;
    this.maybeDrop(inode);
  }

  /** Forget path numbers under a removed path (e.g. after rmdir) that no live inode uses. */
  forgetPath(path: string): void {
    if (!this.byPath.has(path)) this.inoByPath.delete(path);
  }

  /** Move an inode and everything below it to a new path (rename). */
  move(inode: Inode, to: string): void {
    const from = inode.path;
    const moves: [Inode, string][] = [];
    if (inode.kind === 'dir' && from !== '') {
      const prefix = from + '/';
      for (const [p, n] of this.byPath) if (p.startsWith(prefix)) moves.push([n, to + p.slice(from.length)]);
      const numbered: [string, number][] = [];
      for (const [p, ino] of this.inoByPath) if (p.startsWith(prefix)) numbered.push([p, ino]);
      for (const [p, ino] of numbered) {
        this.inoByPath.delete(p);
        this.inoByPath.set(to + p.slice(from.length), ino);
      }
    }
    moves.push([inode, to]);
    for (const [n] of moves) if (this.byPath.get(n.path) === n) this.byPath.delete(n.path);
    this.inoByPath.delete(from);
    for (const [n, p] of moves) {
      n.path = p;
      this.byPath.set(p, n);
    }
    this.inoByPath.set(to, inode.ino);
  }

  /** Live inodes whose path is directly inside `dir` (for merging local entries into listings). */
  *childrenOf(dir: string): Iterable<Inode> {
    const prefix = dir === '' ? '' : dir + '/';
    for (const [p, n] of this.byPath) {
      if (p === '' || !p.startsWith(prefix)) continue;
      if (p.indexOf('/', prefix.length) >= 0) continue;
      yield n;
    }
  }

  /** Drop the inode if nothing references it any more. */
  maybeDrop(inode: Inode): void {
    if (inode.ino === ROOT_INO) return;
    if (inode.nlookup > 0 || inode.openCount > 0) return;
    if ((inode.local || inode.data?.needsUpload) && !inode.removed) return; // a pending version keeps it
    if (this.byIno.get(inode.ino) === inode) this.byIno.delete(inode.ino);
    if (this.byPath.get(inode.path) === inode) this.byPath.delete(inode.path);
  }

  forget(ino: number, n: number): void {
    const inode = this.byIno.get(ino);
    if (!inode) return;
    inode.nlookup = Math.max(0, inode.nlookup - n);
    this.maybeDrop(inode);
  }
}
