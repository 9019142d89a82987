/**
 * Vfs: POSIX semantics over an ObjectStore, by inode and handle. The FUSE adapter calls it; tests
 * call it directly (no FUSE in the loop). It owns the inode table, the open handles and the staged
 * file data; the store is injected and is the only thing it talks to.
 *
 * Consistency model (docs/SEMANTICS.md): attributes and names are cached for `metadataTtlMs`
 * (default 1 s); misses are cached as negative entries for the same time. open() re-checks a file
 * whose attributes are older than the TTL (close-to-open). Reads of an unchanged file are pinned
 * to the ETag seen at open. Writes are staged locally (WritePath) and reach the store when the
 * sync policy says (default: at close, which returns the upload's error; fsync always uploads).
 *
 * Directories: a directory is a marker object `dir/` or implicit (keys below it). An implicit
 * directory that this mount empties (unlink, rmdir, rename away) would vanish from the store before
 * its rmdir, so it is kept here (`local`) until rmdir, until a listing shows keys below it again,
 * or until the mount ends (keepDirs). A directory rename goes through renamePrefix
 * (src/write/dir-rename.ts): journaled first, so the next mount finishes one that a crash or a
 * store error interrupted.
 *
 * Concurrency: everything runs on the JS thread; an operation may interleave with others at each
 * await, so after an await it re-reads table state instead of trusting what it saw before.
 * Each file's staged data has its own mutex (src/write/staged-file.ts); namespace changes are not
 * locked against each other (like the store itself, last writer wins), except rename, which holds
 * the source file's data mutex so an upload cannot land at the old key afterwards.
 */
import { setMaxListeners } from 'node:events';
import { constants as fsc } from 'node:fs';
import type { Logger } from '../util/logger.js';
import type { ObjectInfo, ObjectStore } from '../store/object-store.js';
import { isStoreError } from '../errors/store-error.js';
import { fsError } from '../errors/fs-error.js';
import { Inode, InodeTable, ROOT_INO, joinPath, parentPath } from './inode-table.js';
import { Namespace, NAME_MAX, validName, type PathStat } from './namespace.js';
import { WritePath, type FlushProgress } from './write-path.js';
import { DirListings } from './dir-listings.js';
import { mapLimit } from '../util/limiter.js';
import type { Journal } from '../write/journal.js';
import { renamePrefix } from '../write/dir-rename.js';
import type { ConflictPolicy, SyncPolicy } from '../write/types.js';
import {
  S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, decodeMeta, encodeMeta, kindOfMode, nowTimespec, timespecFromDate, typeBits,
  type Defaults, type Kind,
} from './meta-codec.js';
import type { Attr, DirEntry, Entry, MaybePromise, OpenResult, RequestContext, SetAttrChanges, StatFs, Timespec } from './types.js';
import type { BlockCache } from '../cache/block-cache.js';
import { readThrough } from '../cache/cached-reader.js';
import { MemoryBudget } from '../read/memory-budget.js';
import { Prefetcher } from '../read/prefetcher.js';

export interface VfsOptions {
  store: ObjectStore;
  log: Logger;
  /** The write-back journal: staged files and the records of versions not yet in the store. */
  journal: Journal;
  /** When written data goes to the store (default close). */
  sync?: SyncPolicy;
  /** What to do when the object changed in the store since our copy started (default keep-both). */
  conflict?: ConflictPolicy;
  /** Parts of one file uploaded in parallel (default 8). */
  uploadConcurrency?: number;
  /** Only this sub-path (relative to the root, no leading slash) is writable; everything else is EROFS. */
  writablePath?: string;
  readOnly: boolean;
  metadataTtlMs: number;
  defaults: Defaults;
  /** HEAD objects whose metadata is unknown when a directory is opened (exact modes, symlinks). */
  headOnReaddir: boolean;
  /** Disk cache of object blocks (reads go through it); none: reads go to the store. */
  blockCache?: BlockCache;
  /** Read-ahead memory shared by all open files (default 64 MiB). */
  readBudget?: MemoryBudget;
  /** false: every xattr call is ENOSYS, so the kernel stops sending them (default true). */
  xattrs?: boolean;
  /**
   * Write-only handles of a file this open creates or truncates bypass the kernel page cache
   * (FOPEN_DIRECT_IO): the written bytes are copied once, into objfs, instead of into the page
   * cache first (default true; off with the kernel writeback cache, which needs the page cache).
   */
  directWrites?: boolean;
}

const O_ACCMODE = 3;
/** Shared, stack-less: an absent attribute is the common case (ACL and SELinux probes). */
const NO_XATTR = Object.freeze(Object.assign(fsError('ENODATA'), { stack: 'FsError: ENODATA' }));
const NO_XATTR_SUPPORT = Object.freeze(Object.assign(fsError('ENOSYS'), { stack: 'FsError: ENOSYS' }));
const RENAME_NOREPLACE = 1;
const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;
const HEAD_CONCURRENCY = 32;
/** The how-many-th lookup in a directory that must ask the store lists the directory instead. */
const LIST_AFTER_LOOKUPS = 3;
/** Directories larger than this many listing pages (1,000 names each) are not listed for lookups. */
const LOOKUP_LIST_MAX_PAGES = 10;
/** S3's limit on user metadata (keys + values, UTF-8); applied to every store so semantics match. */
export const METADATA_LIMIT = 2048;
/** The only extended-attribute namespace kept (as object metadata); others are ENODATA/EOPNOTSUPP. */
export const USER_XATTR_PREFIX = 'user.';
/** Room kept for the `objfs-version` tag every upload adds (src/write/publish.ts). */
const VERSION_TAG_ROOM = 64;

function metadataSize(md: Record<string, string>): number {
  let n = 0;
  for (const [k, v] of Object.entries(md)) n += Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}
/** Keys copied at once by a directory rename. */
const COPY_CONCURRENCY = 16;
/**
 * Abort listeners a request's signal may carry during a fan-out (HEADs of a listing, copies of a
 * directory rename): each store call in flight adds one or two, and Node warns above 10
 * (MaxListenersExceededWarning). Still bounded, so a real leak is reported.
 */
const FAN_OUT_LISTENERS = 4 * Math.max(COPY_CONCURRENCY, HEAD_CONCURRENCY);

/** Raise the listener limit of a request's signal before many store calls share it. */
function fanOutSignal(signal: AbortSignal | undefined): AbortSignal | undefined {
  if (signal) setMaxListeners(FAN_OUT_LISTENERS, signal);
  return signal;
}

interface Handle {
  ino: number;
  flags: number;
  /** ETag of the object at open: reads of unstaged data are pinned to it. */
  etag: string | undefined;
  /** Size of that version. */
  size: number;
  /** Read-ahead stream of this handle, made at its first read of stored data. */
  reader?: Prefetcher;
  /** Releases the cache pin taken at open (blocks of open files are never evicted). */
  unpin?: () => void;
}

interface DirHandle {
  ino: number;
  entries: DirEntry[];
}

export class Vfs {
  private readonly store: ObjectStore;
  private readonly log: Logger;
  private readonly ns: Namespace;
  private readonly table: InodeTable;
  private readonly handles = new Map<number, Handle>();
  private readonly dirHandles = new Map<number, DirHandle>();
  private readonly negative = new Map<string, number>();
  private readonly ttlS: number;
  private nextFh = 1;
  private readonly budget: MemoryBudget;
  private readonly writes: WritePath;
  private readonly listings: DirListings;
  /** Lookups per directory that asked the store, within the TTL (listedForLookups). */
  private readonly lookupsIn = new Map<string, { count: number; until: number }>();
  /** Listings started for lookups, by directory: later lookups there wait for them. */
  private readonly lookupListings = new Map<string, Promise<void>>();
  private readonly writableRoot: string | undefined;
  /** Times of directories that have no marker object (stable for the mount). */
  private readonly mountTime = nowTimespec();

  constructor(private readonly opts: VfsOptions) {
    this.store = opts.store;
    this.log = opts.log;
    this.ns = new Namespace(opts.store, opts.log);
    this.ttlS = opts.metadataTtlMs / 1000;
    this.budget = opts.readBudget ?? new MemoryBudget(64 * 1024 * 1024);
    const now = nowTimespec();
    const root = new Inode(ROOT_INO, '', 'dir', {
      ino: ROOT_INO, mode: S_IFDIR | opts.defaults.dirMode, nlink: 2, uid: opts.defaults.uid, gid: opts.defaults.gid,
      size: 4096, atime: now, mtime: now, ctime: now,
    });
    root.metaKnown = true;
    root.nlookup = 1;
    this.table = new InodeTable(root);
    this.listings = new DirListings(opts.metadataTtlMs);
    this.writableRoot = opts.writablePath?.split('/').filter((s) => s !== '' && s !== '.').join('/');
    this.writes = new WritePath({
      store: opts.store, log: opts.log, journal: opts.journal, sync: opts.sync ?? { kind: 'close' },
      conflict: opts.conflict ?? 'keep-both', concurrency: opts.uploadConcurrency ?? 8,
      metadataFor: (n) => encodeMeta(n.metadata, this.posixMeta(n)),
      dropCached: (key) => this.dropCached(key), memory: this.budget,
    });
  }

  /** Staged versions not yet in the store. */
  get pendingUploads(): number {
    return this.writes.pending;
  }

  /** Seconds the kernel may cache a negative lookup. */
  get negativeTimeout(): number {
    return this.ttlS;
  }

  get openHandles(): number {
    return this.handles.size;
  }

  // ---------------------------------------------------------------- helpers

  private inode(ino: number): Inode {
    const n = this.table.get(ino);
    if (!n) throw fsError('ENOENT', `unknown inode ${ino}`);
    return n;
  }

  private dir(ino: number): Inode {
    const n = this.inode(ino);
    if (n.kind !== 'dir') throw fsError('ENOTDIR');
    return n;
  }

  /** Changes are allowed at `path` (read-only mounts and paths outside --writable-path: EROFS). */
  private writable(path?: string): void {
    if (this.opts.readOnly) throw fsError('EROFS');
    const w = this.writableRoot;
    if (w === undefined || w === '' || path === undefined) return;
    if (path !== w && !path.startsWith(w + '/')) throw fsError('EROFS', `${path || '/'} is outside the writable path ${w}`);
  }

  private checkName(name: string): void {
    if (Buffer.byteLength(name) > NAME_MAX) throw fsError('ENAMETOOLONG');
    if (!validName(name)) throw fsError('EINVAL', `invalid name ${JSON.stringify(name)}`);
  }

  private fresh(n: Inode): boolean {
    return Date.now() - n.fetchedAt < this.opts.metadataTtlMs;
  }

  /**
   * Attributes that may be answered without asking the store: local state, or fresh attributes
   * that came from the object's metadata — or, when listings are trusted (--no-readdir-head, the
   * S3 default), fresh attributes from a listing (mode/owner then are the defaults until the TTL
   * expires and a HEAD reads the metadata).
   */
  private trusted(n: Inode): boolean {
    return this.pinned(n) || (this.fresh(n) && (n.metaKnown || !this.opts.headOnReaddir));
  }

  /** State that exists only here and must not be replaced by what the store says. */
  private pinned(n: Inode): boolean {
    return n.local || (n.data?.needsUpload ?? false) || n.ino === ROOT_INO;
  }

  private entry(n: Inode): Entry {
    return { attr: n.attr, entryTimeout: this.ttlS, attrTimeout: this.ttlS };
  }

  private newAttr(kind: Kind, perm: number, uid: number, gid: number, size: number, t: Timespec): Omit<Attr, 'ino'> {
    return { mode: typeBits(kind) | (perm & 0o7777), nlink: kind === 'dir' ? 2 : 1, uid, gid, size, atime: t, mtime: t, ctime: t };
  }

  /** Build or refresh the inode for `path` from what the store says. */
  private apply(path: string, st: Exclude<PathStat, undefined>): Inode {
    const d = this.opts.defaults;
    const info: ObjectInfo | undefined = st.kind === 'dir' ? st.marker : st.info;
    const meta = decodeMeta(info?.metadata);
    let kind: Kind = st.kind;
    if (kind === 'file' && meta.mode !== undefined && kindOfMode(meta.mode) === 'symlink') kind = 'symlink';
    const perm = meta.mode !== undefined ? meta.mode & 0o7777 : kind === 'dir' ? d.dirMode : kind === 'symlink' ? 0o777 : d.fileMode;
    const mtime = meta.mtime ?? (info ? timespecFromDate(info.lastModified) : this.mountTime);
    let n = this.table.getByPath(path);
    if (n && n.kind === kind && this.pinned(n)) return n;
    const attr = this.newAttr(kind, perm, meta.uid ?? d.uid, meta.gid ?? d.gid, kind === 'dir' ? 4096 : (info?.size ?? 0), mtime);
    if (meta.atime) attr.atime = meta.atime;
    if (n && n.kind === kind) {
      if (n.etag !== info?.etag) n.symlinkTarget = undefined;
      Object.assign(n.attr, attr);
    } else n = this.table.add(path, kind, attr);
    n.etag = info?.etag;
    n.hasMarker = st.kind === 'dir' && st.marker !== undefined;
    n.metadata = { ...(info?.metadata ?? {}) };
    n.xattrs = meta.xattrs ?? new Map();
    n.metaKnown = st.kind === 'dir' ? true : info?.metadata !== undefined;
    n.fetchedAt = Date.now();
    this.negative.delete(path);
    this.createdName(path);
    return n;
  }

  /**
   * Refresh from a listing entry, which carries no user metadata. Known metadata is kept while
   * the object's ETag is unchanged. A directory seen as a common prefix may or may not have a
   * marker with metadata: a known directory inode is kept; a new one is marked metaKnown=false
   * so its marker is read (refreshDirMeta) before its attributes are trusted.
   */
  private applyListed(path: string, kind: 'file' | 'dir', info: ObjectInfo | undefined): Inode {
    const n = this.table.getByPath(path);
    if (n && this.pinned(n)) return n;
    if (n && kind === 'dir' && n.kind === 'dir' && (info === undefined || n.etag === info.etag)) {
      n.fetchedAt = Date.now();
      return n;
    }
    if (n && kind === 'file' && n.metaKnown && n.etag === info?.etag && (n.kind === 'file' || n.kind === 'symlink')) {
      n.fetchedAt = Date.now();
      return n;
    }
    const st: Exclude<PathStat, undefined> = kind === 'dir' ? { kind: 'dir', marker: info } : { kind: 'file', info: info as ObjectInfo };
    const m = this.apply(path, st);
    if (kind === 'dir') m.metaKnown = false; // the marker (if any) has not been read
    return m;
  }

  /** Read a directory's marker (if any) for its mode/owner/times. */
  private async refreshDirMeta(n: Inode, signal?: AbortSignal): Promise<void> {
    const marker = await this.store.head(n.path + '/', signal).catch((e: unknown) => {
      if (isStoreError(e, 'NotFound')) return undefined;
      throw e;
    });
    if (this.table.getByPath(n.path) !== n || this.pinned(n)) return;
    this.apply(n.path, { kind: 'dir', marker });
  }

  /** Make sure mode/uid/gid/xattrs come from the object (HEAD when only the listing was seen). */
  private async ensureMeta(n: Inode, signal?: AbortSignal): Promise<void> {
    if (n.metaKnown) return;
    if (n.kind === 'dir' && n.local && n.ino !== ROOT_INO) return this.readKeptMarker(n, signal);
    if (this.pinned(n)) return;
    await this.refresh(n, signal);
  }

  /**
   * A kept directory (keepDirs) seen only in a listing: whether it has a marker is unknown. A
   * marker makes the directory exist in the store, so it is no longer kept and its attributes
   * come from the marker; without one the defaults it shows are right.
   */
  private async readKeptMarker(n: Inode, signal?: AbortSignal): Promise<void> {
    const marker = await this.store.head(n.key, signal).catch((e: unknown) => {
      if (isStoreError(e, 'NotFound')) return undefined;
      throw e;
    });
    if (this.table.getByPath(n.path) !== n || !n.local || n.metaKnown) return;
    if (marker === undefined) {
      n.metaKnown = true;
      return;
    }
    n.local = false;
    this.apply(n.path, { kind: 'dir', marker });
  }

  private async refresh(n: Inode, signal?: AbortSignal): Promise<Inode> {
    const st = await this.ns.stat(n.path, signal);
    if (!st) {
      if (n.openCount > 0) return n; // deleted elsewhere while open: keep serving what we have
      this.table.detach(n);
      throw fsError('ENOENT');
    }
    return this.apply(n.path, st);
  }

  /** The inode at `path`, from the table if fresh, else from the store; undefined if absent. */
  private async resolve(path: string, signal?: AbortSignal): Promise<Inode | undefined> {
    const n = this.table.getByPath(path);
    if (n && this.trusted(n)) return n;
    const neg = this.negative.get(path);
    if (!n && neg !== undefined && neg > Date.now()) return undefined;
    const dir = parentPath(path);
    // a listing made for this directory's lookups may answer this one (listedForLookups)
    const m = (await this.listedForLookups(dir)) ? this.table.getByPath(path) : n;
    if (m && this.trusted(m)) return m;
    if (!m && this.listings.has(dir, path.slice(dir === '' ? 0 : dir.length + 1)) === false) {
      this.negative.set(path, Date.now() + this.opts.metadataTtlMs);
      return undefined; // the directory's fresh listing does not have it
    }
    const st = await this.ns.stat(path, signal);
    const now = this.table.getByPath(path);
    if (now && this.pinned(now)) return now; // created here while we asked
    if (!st) {
      if (now) this.table.detach(now);
      this.negative.set(path, Date.now() + this.opts.metadataTtlMs);
      if (!this.listings.fresh(dir)) this.captureListing(dir); // the next misses here cost nothing
      return undefined;
    }
    return this.apply(path, st);
  }

  /**
   * Names looked up one by one in one directory (`cat dir/*`, a compiler opening sources, `cp` of
   * listed names) cost a HEAD and a 1-key LIST each. From the LIST_AFTER_LOOKUPS-th such lookup in
   * a directory within the TTL, the directory is listed once instead (if it fits in
   * LOOKUP_LIST_MAX_PAGES pages) and its children are refreshed from the listing, as opendir
   * does: the lookups waiting for it, and those after it, are answered from the inode table (1
   * request per 1,000 names instead of 2 per name). True when such a listing ran or was in
   * flight; the caller then looks in the table again. Off with --readdir-head (attributes must
   * then come from each object's metadata anyway).
   */
  private async listedForLookups(dir: string): Promise<boolean> {
    if (this.opts.headOnReaddir) return false;
    const inflight = this.lookupListings.get(dir);
    if (inflight) {
      await inflight;
      return true;
    }
    if (this.listings.fresh(dir)) return false;
    const now = Date.now();
    let c = this.lookupsIn.get(dir);
    if (!c || c.until <= now) {
      if (this.lookupsIn.size >= 1024) for (const [k, v] of this.lookupsIn) if (v.until <= now) this.lookupsIn.delete(k);
      c = { count: 0, until: now + this.opts.metadataTtlMs };
      this.lookupsIn.set(dir, c);
    }
    if (++c.count < LIST_AFTER_LOOKUPS) return false;
    const d = this.table.getByPath(dir);
    if (!d || d.kind !== 'dir') return false;
    const counter = c;
    const p = this.listChildren(d, undefined, LOOKUP_LIST_MAX_PAGES).then(
      (children) => {
        if (!children) counter.count = -Infinity; // too large to list for lookups: not again this TTL
      },
      (e: unknown) => {
        counter.count = -Infinity;
        this.log.debug({ dir, err: e }, 'listing a directory for its lookups failed');
      },
    );
    this.lookupListings.set(dir, p);
    try {
      await p;
    } finally {
      this.lookupListings.delete(dir);
    }
    return true;
  }

  /** List `dir` in the background so later misses in it are answered from the listing. */
  private captureListing(dir: string): void {
    const done = this.listings.begin(dir);
    this.ns.list(dir).then(
      (l) => done([...l.dirs, ...l.files.keys()]),
      () => done(undefined),
    );
  }

  /** This mount made `path` exist (so a cached listing of its directory must say so). */
  private createdName(path: string): void {
    const dir = parentPath(path);
    this.listings.created(dir, path.slice(dir === '' ? 0 : dir.length + 1));
  }

  private async mustNotExist(path: string, signal?: AbortSignal): Promise<void> {
    if (await this.resolve(path, signal)) throw fsError('EEXIST');
  }

  private posixMeta(n: Inode) {
    return { mode: n.attr.mode, uid: n.attr.uid, gid: n.attr.gid, mtime: n.attr.mtime, atime: n.attr.atime, xattrs: n.xattrs };
  }

  /** Persist attribute changes of an object that is in the store and has no pending upload. */
  private async persistMeta(n: Inode, signal?: AbortSignal): Promise<void> {
    if (n.ino === ROOT_INO) return; // the root has no object
    if (n.kind !== 'dir' && this.pinned(n)) return this.writes.metadataChanged(n); // goes up with the pending version
    const metadata = encodeMeta(n.metadata, this.posixMeta(n));
    if (n.kind === 'dir') {
      const { etag } = await this.store.put(n.key, Buffer.alloc(0), { metadata, signal });
      n.hasMarker = true;
      n.local = false; // a kept directory now exists in the store
      n.etag = etag;
    } else {
      const { etag } = await this.store.copy(n.key, n.key, { metadata, ...(n.etag ? { sourceIfMatch: n.etag } : {}), signal });
      n.etag = etag;
      n.cachedEtag = etag; // same bytes: the kernel's cached pages stay valid
      n.data?.rebase(n.path, etag);
    }
    n.metadata = metadata;
    n.fetchedAt = Date.now();
  }

  /** Give the disk cache's blocks of a key back early (they are keyed by ETag, so never stale). */
  private dropCached(key: string): void {
    void this.opts.blockCache?.invalidate(key).catch((e: unknown) => this.log.debug({ key, err: e }, 'cache invalidate failed'));
  }

  // ---------------------------------------------------------------- lookup & attributes

  lookup(ctx: RequestContext, parentIno: number, name: string): MaybePromise<Entry> {
    const parent = this.dir(parentIno);
    if (Buffer.byteLength(name) > NAME_MAX) throw fsError('ENAMETOOLONG');
    if (!validName(name)) throw fsError('ENOENT');
    const path = joinPath(parent.path, name);
    const n = this.table.getByPath(path);
    if (n && this.trusted(n)) {
      n.nlookup++;
      return this.entry(n);
    }
    return this.resolve(path, ctx.signal).then((m) => {
      if (!m) throw fsError('ENOENT');
      m.nlookup++;
      return this.entry(m);
    });
  }

  forget(ino: number, nlookup: number): void {
    this.table.forget(ino, nlookup);
  }

  getattr(ctx: RequestContext, ino: number): MaybePromise<Entry> {
    const n = this.inode(ino);
    if (n.removed || this.trusted(n)) return this.entry(n);
    return this.refresh(n, ctx.signal).then((m) => this.entry(m));
  }

  async setattr(ctx: RequestContext, ino: number, ch: SetAttrChanges, fh?: number): Promise<Entry> {
    let n = this.inode(ino);
    this.writable(n.path);
    await this.ensureMeta(n, ctx.signal);
    n = this.inode(ino);
    const now = nowTimespec();
    if (ch.size !== undefined) {
      if (n.kind === 'dir') throw fsError('EISDIR');
      if (n.kind === 'symlink') throw fsError('EINVAL');
      await this.writes.truncate(n, ch.size);
      n.touchMtime(now);
    }
    let metaChanged = false;
    if (ch.mode !== undefined) {
      n.attr.mode = (n.attr.mode & S_IFMT) | (ch.mode & 0o7777);
      metaChanged = true;
    }
    if (ch.uid !== undefined && ch.uid !== 0xffffffff) {
      n.attr.uid = ch.uid;
      metaChanged = true;
    }
    if (ch.gid !== undefined && ch.gid !== 0xffffffff) {
      n.attr.gid = ch.gid;
      metaChanged = true;
    }
    if (ch.atime !== undefined) {
      n.attr.atime = ch.atime === 'now' ? now : ch.atime;
      metaChanged = true;
    }
    if (ch.mtime !== undefined) {
      n.attr.mtime = ch.mtime === 'now' ? now : ch.mtime;
      metaChanged = true;
    }
    if (metaChanged) n.attr.ctime = now;
    if (metaChanged) await this.persistMeta(n, ctx.signal);
    if (ch.size !== undefined && fh === undefined) await this.writes.afterPathChange(n, ctx.signal);
    return this.entry(n);
  }

  async readlink(ctx: RequestContext, ino: number): Promise<string> {
    const n = this.inode(ino);
    if (n.kind !== 'symlink') throw fsError('EINVAL');
    if (n.symlinkTarget === undefined) {
      const { body } = await this.store.get(n.path, { signal: ctx.signal });
      n.symlinkTarget = body.toString('utf8');
    }
    return n.symlinkTarget;
  }

  // ---------------------------------------------------------------- namespace changes

  async mknod(ctx: RequestContext, parentIno: number, name: string, mode: number): Promise<Entry> {
    if ((mode & S_IFMT) !== S_IFREG && (mode & S_IFMT) !== 0) throw fsError('EPERM', 'only regular files, directories and symlinks are supported');
    const r = await this.create(ctx, parentIno, name, mode, fsc.O_WRONLY | fsc.O_EXCL);
    await this.release(r.open.fh);
    return r.entry;
  }

  async mkdir(ctx: RequestContext, parentIno: number, name: string, mode: number): Promise<Entry> {
    const parent = this.dir(parentIno);
    this.checkName(name);
    const path = joinPath(parent.path, name);
    this.writable(path);
    await this.mustNotExist(path, ctx.signal);
    const attr = this.newAttr('dir', mode, ctx.uid, ctx.gid, 4096, nowTimespec());
    const metadata = encodeMeta(undefined, { mode: attr.mode, uid: attr.uid, gid: attr.gid, mtime: attr.mtime });
    const { etag } = await this.store.put(path + '/', Buffer.alloc(0), { metadata, ifNoneMatch: '*', signal: ctx.signal }).catch((e: unknown) => {
      if (isStoreError(e, 'PreconditionFailed')) throw fsError('EEXIST');
      throw e;
    });
    const n = this.table.add(path, 'dir', attr);
    Object.assign(n, { etag, hasMarker: true, metadata, metaKnown: true, fetchedAt: Date.now(), removed: false });
    this.negative.delete(path);
    this.createdName(path);
    n.nlookup++;
    return this.entry(n);
  }

  async symlink(ctx: RequestContext, parentIno: number, name: string, target: string): Promise<Entry> {
    const parent = this.dir(parentIno);
    this.checkName(name);
    const path = joinPath(parent.path, name);
    this.writable(path);
    await this.mustNotExist(path, ctx.signal);
    const body = Buffer.from(target, 'utf8');
    const attr = this.newAttr('symlink', 0o777, ctx.uid, ctx.gid, body.length, nowTimespec());
    const metadata = encodeMeta(undefined, { mode: S_IFLNK | 0o777, uid: attr.uid, gid: attr.gid, mtime: attr.mtime });
    const { etag } = await this.store.put(path, body, { metadata, signal: ctx.signal });
    const n = this.table.add(path, 'symlink', attr);
    Object.assign(n, { etag, metadata, metaKnown: true, fetchedAt: Date.now(), symlinkTarget: target, removed: false });
    this.negative.delete(path);
    this.createdName(path);
    n.nlookup++;
    return this.entry(n);
  }

  link(): never {
    throw fsError('EPERM', 'hard links are not supported');
  }

  async unlink(ctx: RequestContext, parentIno: number, name: string): Promise<void> {
    const parent = this.dir(parentIno);
    const path = joinPath(parent.path, name);
    this.writable(path);
    const n = await this.resolve(path, ctx.signal);
    if (!n) throw fsError('ENOENT');
    if (n.kind === 'dir') throw fsError('EISDIR');
    await this.writes.removed(n); // waits for an upload in flight; nothing of it is uploaded after this
    if (!n.local) await this.store.delete(n.path, ctx.signal);
    this.dropCached(n.path);
    this.removed(n, path);
    this.keepDirs(parent);
  }

  private removed(n: Inode, path: string): void {
    this.table.detach(n);
    this.negative.set(path, Date.now() + this.opts.metadataTtlMs);
  }

  /**
   * This mount removed an entry from `dir` (unlink, rmdir, rename away). A directory without a
   * marker object exists in the store only through the keys below it: after its last one it would
   * be gone before its rmdir (`rm -r` failed with ENOENT). POSIX keeps a directory until rmdir, so
   * it and its ancestors up to the first one with a marker are kept here (`local`: pinned in the
   * table, answered without asking the store) until rmdir, until a listing shows keys below it
   * again (opendir), or until the mount ends. No request: other clients do not see an emptied
   * implicit directory, since no object represents it.
   */
  private keepDirs(dir: Inode): void {
    for (let d: Inode | undefined = dir; d && d.kind === 'dir' && d.ino !== ROOT_INO && !d.hasMarker && !d.removed; ) {
      d.local = true;
      d = this.table.getByPath(parentPath(d.path));
    }
  }

  async rmdir(ctx: RequestContext, parentIno: number, name: string): Promise<void> {
    const parent = this.dir(parentIno);
    const path = joinPath(parent.path, name);
    this.writable(path);
    const known = this.table.getByPath(path);
    // A directory this mount knows that the store no longer shows was emptied (and so, when
    // implicit, removed) by another client: it is empty, and rmdir removes what is left of it.
    const n = (await this.resolve(path, ctx.signal)) ?? (known?.kind === 'dir' ? known : undefined);
    if (!n) throw fsError('ENOENT');
    if (n.kind !== 'dir') throw fsError('ENOTDIR');
    await this.mustBeEmpty(n, ctx.signal);
    await this.store.delete(path + '/', ctx.signal); // deleting a missing key is fine on every store (store contract)
    this.listings.forget(path);
    n.local = false;
    this.removed(n, path);
    this.keepDirs(parent);
  }

  private async mustBeEmpty(n: Inode, signal?: AbortSignal): Promise<void> {
    for (const c of this.table.childrenOf(n.path)) if (!c.removed && c.local) throw fsError('ENOTEMPTY');
    if (await this.ns.hasChildren(n.path, signal)) throw fsError('ENOTEMPTY');
  }

  async rename(ctx: RequestContext, parentIno: number, name: string, newParentIno: number, newName: string, flags: number): Promise<void> {
    if (flags & ~RENAME_NOREPLACE) throw fsError('EINVAL', 'only RENAME_NOREPLACE is supported');
    const fromDir = this.dir(parentIno);
    const from = joinPath(fromDir.path, name);
    const toDir = this.dir(newParentIno);
    this.checkName(newName);
    const to = joinPath(toDir.path, newName);
    this.writable(from);
    this.writable(to);
    const src = await this.resolve(from, ctx.signal);
    if (!src) throw fsError('ENOENT');
    if (from === to) return;
    if (src.kind === 'dir' && (to + '/').startsWith(from + '/')) throw fsError('EINVAL');
    const dst = await this.resolve(to, ctx.signal);
    if (dst) {
      if (flags & RENAME_NOREPLACE) throw fsError('EEXIST');
      if (src.kind === 'dir' && dst.kind !== 'dir') throw fsError('ENOTDIR');
      if (src.kind !== 'dir' && dst.kind === 'dir') throw fsError('EISDIR');
      if (dst.kind === 'dir') {
        await this.mustBeEmpty(dst, ctx.signal);
        await this.store.delete(to + '/', ctx.signal);
      } else if (dst !== src) await this.writes.removed(dst); // its pending version must never land over ours
    }
    if (src.kind === 'dir') await this.renameDir(src, to, ctx.signal);
    else await this.renameFile(src, to, (flags & RENAME_NOREPLACE) !== 0, ctx.signal);
    if (dst && dst !== src) this.table.detach(dst);
    this.negative.delete(to);
    this.createdName(to);
    this.negative.set(from, Date.now() + this.opts.metadataTtlMs);
    if (toDir.path !== fromDir.path && !toDir.path.startsWith(fromDir.path + '/')) this.keepDirs(fromDir);
  }

  private async renameFile(src: Inode, to: string, noReplace: boolean, signal?: AbortSignal): Promise<void> {
    await this.writes.renaming(src, async () => {
      let copied: string | undefined;
      if (!src.local) {
        const { etag } = await this.store.copy(src.path, to, {
          ...(src.etag ? { sourceIfMatch: src.etag } : {}),
          ...(noReplace ? { ifNoneMatch: '*' as const } : {}),
          signal,
        }).catch((e: unknown) => {
          if (noReplace && isStoreError(e, 'PreconditionFailed')) throw fsError('EEXIST');
          throw e;
        });
        await this.store.delete(src.path, signal);
        this.dropCached(src.path);
        src.etag = etag;
        copied = etag;
      }
      this.table.move(src, to);
      return copied;
    });
  }

  /**
   * Move every key under `src/` (its marker included) to `to/`: renamePrefix journals the rename
   * durably, copies, then deletes the sources. If it fails or objfs dies midway, the record stays
   * in the journal and the next mount finishes the rename (src/write/recovery.ts); the error is
   * returned now. Renames of 1,000 keys or more log their progress every 10%.
   */
  private async renameDir(src: Inode, to: string, signal?: AbortSignal): Promise<void> {
    if (src.ino === ROOT_INO || src.path === '' || to === '') throw fsError('EBUSY', 'the root directory cannot be renamed');
    this.listings.forget(src.path);
    this.listings.forget(to);
    await renamePrefix({
      store: this.store, journal: this.opts.journal, from: src.path, to, log: this.log, concurrency: COPY_CONCURRENCY,
      ...(signal ? { signal: fanOutSignal(signal) } : {}),
    }).catch((e: unknown) => {
      this.log.warn({ from: src.path, to, err: e }, 'directory rename interrupted by an error; the next mount finishes it');
      throw e;
    });
    this.listings.forget(src.path);
    this.listings.forget(to);
    this.table.move(src, to);
    await this.writes.movedUnder(to);
  }

  // ---------------------------------------------------------------- files

  async open(ctx: RequestContext, ino: number, flags: number): Promise<OpenResult> {
    let n = this.inode(ino);
    if (n.kind === 'dir') throw fsError('EISDIR');
    const acc = flags & O_ACCMODE;
    const trunc = (flags & fsc.O_TRUNC) !== 0 && acc !== fsc.O_RDONLY;
    if (acc !== fsc.O_RDONLY || trunc) this.writable(n.path);
    if (!this.pinned(n) && !n.removed && !this.fresh(n)) n = await this.refresh(n, ctx.signal); // close-to-open
    if (trunc) {
      await this.writes.stageEmpty(n);
      n.attr.size = 0;
      n.touchMtime(nowTimespec());
    }
    return this.addHandle(n, flags, trunc);
  }

  /** `fresh`: this open created the file or truncated it to zero. */
  private addHandle(n: Inode, flags: number, fresh: boolean): OpenResult {
    const fh = this.nextFh++;
    const h: Handle = { ino: n.ino, flags, etag: n.etag, size: n.attr.size };
    if (!n.local && n.etag && this.opts.blockCache) h.unpin = this.opts.blockCache.pin(n.path, n.etag);
    this.handles.set(fh, h);
    n.openCount++;
    const keepCache = n.cachedEtag !== undefined && n.cachedEtag === n.etag;
    if (!n.local) n.cachedEtag = n.etag;
    // A new file written through a write-only handle: nothing can be read through it and the
    // page cache has nothing of it yet, so its writes skip the page cache (see directWrites).
    const directIo = fresh && (flags & O_ACCMODE) === fsc.O_WRONLY && this.opts.directWrites !== false;
    return { fh, directIo, keepCache };
  }

  async create(ctx: RequestContext, parentIno: number, name: string, mode: number, flags: number): Promise<{ entry: Entry; open: OpenResult }> {
    const parent = this.dir(parentIno);
    this.checkName(name);
    const path = joinPath(parent.path, name);
    this.writable(path);
    const existing = await this.resolve(path, ctx.signal);
    if (existing) {
      if (flags & fsc.O_EXCL) throw fsError('EEXIST');
      if (existing.kind === 'dir') throw fsError('EISDIR');
      existing.nlookup++;
      return { entry: this.entry(existing), open: await this.open(ctx, existing.ino, flags) };
    }
    const attr = this.newAttr('file', mode, ctx.uid, ctx.gid, 0, nowTimespec());
    const n = this.table.add(path, 'file', attr);
    Object.assign(n, { local: true, metaKnown: true, fetchedAt: Date.now(), removed: false, etag: undefined, metadata: {} });
    n.xattrs = new Map();
    await this.writes.stageEmpty(n);
    this.negative.delete(path);
    this.createdName(path);
    n.nlookup++;
    return { entry: this.entry(n), open: this.addHandle(n, flags, true) };
  }

  private handle(fh: number): Handle {
    const h = this.handles.get(fh);
    if (!h) throw fsError('EBADF');
    return h;
  }

  async read(ctx: RequestContext, fh: number, size: number, offset: number): Promise<Buffer> {
    const h = this.handle(fh);
    const n = this.inode(h.ino);
    if (n.data) {
      const staged = await this.writes.read(n, size, offset, ctx.signal);
      if (staged) return staged;
    }
    if (offset >= h.size || size === 0) return Buffer.alloc(0);
    try {
      return await this.reader(h, n).read(offset, size, ctx.signal);
    } catch (e) {
      if (isStoreError(e, 'PreconditionFailed')) {
        this.log.warn({ key: n.path, etag: h.etag }, 'object changed since it was opened; reopen the file to read the new version');
        throw fsError('EIO', 'object changed since open', e);
      }
      throw e;
    }
  }

  /** The handle's read-ahead stream over the object version seen at open, read through the block cache. */
  private reader(h: Handle, n: Inode): Prefetcher {
    if (h.reader) return h.reader;
    const cache = this.opts.blockCache;
    const etag = h.etag ?? '';
    const size = h.size;
    h.reader = new Prefetcher({
      size,
      budget: this.budget,
      alignment: cache?.blockSize ?? 1,
      log: this.log,
      fetch: (start, end, signal) => readThrough({ cache, store: this.store, key: n.path, etag, size, start, end, signal }),
      ...(cache && etag ? { isLocal: (start: number, end: number) => cache.hasRange(n.path, etag, start, end) } : {}),
    });
    return h.reader;
  }

  /** `buf` may be kept (not copied) until a streaming upload sent it: the caller must not change it afterwards. */
  async write(ctx: RequestContext, fh: number, buf: Buffer, offset: number): Promise<number> {
    const h = this.handle(fh);
    if ((h.flags & O_ACCMODE) === fsc.O_RDONLY) throw fsError('EBADF');
    const n = this.inode(h.ino);
    this.writable(n.path);
    const count = await this.writes.write(n, buf, offset, (h.flags & fsc.O_APPEND) !== 0);
    n.touchMtime(nowTimespec());
    return count;
  }

  async flush(ctx: RequestContext, fh: number): Promise<void> {
    await this.writes.flush(this.inode(this.handle(fh).ino), ctx.signal);
  }

  async fsync(ctx: RequestContext, fh: number): Promise<void> {
    await this.writes.fsync(this.inode(this.handle(fh).ino), ctx.signal);
  }

  async release(fh: number): Promise<void> {
    const h = this.handles.get(fh);
    if (!h) return;
    this.handles.delete(fh);
    h.reader?.close();
    h.unpin?.();
    const n = this.table.get(h.ino);
    if (!n) return;
    n.openCount--;
    if (n.openCount === 0) await this.writes.released(n);
    this.table.maybeDrop(n);
  }

  fallocate(): never {
    throw fsError('EOPNOTSUPP');
  }

  // ---------------------------------------------------------------- directories

  async opendir(ctx: RequestContext, ino: number): Promise<number> {
    const d = this.dir(ino);
    const cached = this.cachedChildren(d);
    const asked = (cached && this.listings.askedAt(d.path)) || Date.now();
    const children = cached ?? (await this.listChildren(d, ctx.signal));
    const seen = new Set(children);
    // Besides the listing: what only this mount has (pinned), and what this mount learned or
    // uploaded since the listing was asked for (fetchedAt >= asked): a LIST answered before an
    // upload of ours landed does not show it, and without this files vanished from `ls` and
    // `rm -r` while a batch was being uploaded (rm -r then failed with ENOTEMPTY and left them
    // in the bucket).
    for (const c of this.table.childrenOf(d.path)) {
      if (!seen.has(c) && !c.removed && (this.pinned(c) || c.fetchedAt >= asked)) children.push(c);
    }
    if (this.opts.headOnReaddir) {
      const unknown = children.filter((c) => !c.metaKnown && !this.pinned(c));
      if (unknown.length > 1) fanOutSignal(ctx.signal);
      await mapLimit(unknown, HEAD_CONCURRENCY, async (c) => {
        try {
          if (c.kind === 'dir') await this.refreshDirMeta(c, ctx.signal);
          else await this.refresh(c, ctx.signal);
        } catch (e) {
          this.log.debug({ key: c.path, err: e }, 'head during readdir failed');
        }
      });
    }
    const parent = d.path === '' ? d : (this.table.getByPath(d.path.slice(0, Math.max(0, d.path.lastIndexOf('/')))) ?? d);
    const entries: DirEntry[] = [
      { name: '.', ino: d.ino, mode: d.attr.mode },
      { name: '..', ino: parent.ino, mode: parent.attr.mode },
    ];
    const live = children
      .map((c) => this.table.getByPath(c.path) ?? c)
      .filter((c) => !c.removed)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const c of live) entries.push({ name: c.name, ino: c.ino, mode: c.attr.mode });
    const fh = this.nextFh++;
    this.dirHandles.set(fh, { ino, entries });
    return fh;
  }

  /**
   * List the directory in the store (every page, or undefined past `maxPages`) and refresh its
   * children from the listing.
   */
  private async listChildren(d: Inode, signal?: AbortSignal): Promise<Inode[]>;
  private async listChildren(d: Inode, signal: AbortSignal | undefined, maxPages: number): Promise<Inode[] | undefined>;
  private async listChildren(d: Inode, signal?: AbortSignal, maxPages = Infinity): Promise<Inode[] | undefined> {
    const done = this.listings.begin(d.path);
    const listing = await this.ns.listUpTo(d.path, maxPages, signal).catch((e: unknown) => {
      done(undefined);
      throw e;
    });
    if (!listing) {
      done(undefined);
      return undefined;
    }
    done([...listing.dirs, ...listing.files.keys()]);
    const children: Inode[] = [];
    for (const name of listing.dirs) children.push(this.applyListed(joinPath(d.path, name), 'dir', listing.markers.get(name)));
    for (const [name, info] of listing.files) children.push(this.applyListed(joinPath(d.path, name), 'file', info));
    if (d.local && d.ino !== ROOT_INO && children.length > 0) {
      d.local = false; // a kept directory has keys below it again: the store shows it
      d.fetchedAt = Date.now();
    }
    return children;
  }

  /**
   * The children from the directory's listing of less than a metadata TTL ago, without asking the
   * store again (`ls -l` right after `ls`, or a tool that opens a directory twice). Only when
   * every listed name still resolves to an inode in the table whose attributes may be trusted
   * (fresh or local): a name whose inode the kernel forgot, that was removed or renamed away
   * here, or whose attributes are older than the TTL sends the request to the store as before.
   * Names this mount created are in the listing (DirListings.created). Off with --readdir-head.
   */
  private cachedChildren(d: Inode): Inode[] | undefined {
    if (this.opts.headOnReaddir) return undefined;
    const names = this.listings.names(d.path);
    if (!names) return undefined;
    const children: Inode[] = [];
    for (const name of names) {
      const c = this.table.getByPath(joinPath(d.path, name));
      if (!c || c.removed || !this.trusted(c)) return undefined;
      children.push(c);
    }
    return children;
  }

  /**
   * At most `limit` entries from `offset` on. With plus, each carries its Entry; call
   * acceptDirPlus with those the kernel took.
   */
  readdir(fh: number, offset: number, plus: boolean, limit = Infinity): DirEntry[] {
    const h = this.dirHandles.get(fh);
    if (!h) throw fsError('EBADF');
    const page = h.entries.slice(offset, offset + limit);
    if (!plus) return page;
    return page.map((e) => {
      const n = this.table.get(e.ino);
      return n ? { ...e, entry: this.entry(n) } : e;
    });
  }

  /** The kernel took these readdirplus entries: each holds a lookup now ('.' and '..' excepted). */
  acceptDirPlus(entries: DirEntry[]): void {
    for (const e of entries) {
      if (e.name === '.' || e.name === '..') continue;
      const n = this.table.get(e.ino);
      if (n) n.nlookup++;
    }
  }

  releasedir(fh: number): void {
    this.dirHandles.delete(fh);
  }

  statfs(): StatFs {
    const blocks = 2 ** 40 / 4096;
    return { bsize: 4096, frsize: 4096, blocks, bfree: blocks, bavail: blocks, files: 2 ** 32, ffree: 2 ** 32, favail: 2 ** 32, namemax: NAME_MAX };
  }

  // ---------------------------------------------------------------- xattrs (user.* only)

  async setxattr(ctx: RequestContext, ino: number, name: string, value: Buffer, flags: number): Promise<void> {
    this.xattrsOn();
    this.writable();
    if (!name.startsWith(USER_XATTR_PREFIX)) throw fsError('EOPNOTSUPP', 'only user.* extended attributes are supported');
    const n = this.inode(ino);
    this.writable(n.path);
    await this.ensureMeta(n, ctx.signal);
    const has = n.xattrs.has(name);
    if (flags & XATTR_CREATE && has) throw fsError('EEXIST');
    if (flags & XATTR_REPLACE && !has) throw fsError('ENODATA');
    const next = new Map(n.xattrs).set(name, Buffer.from(value));
    if (metadataSize(encodeMeta(n.metadata, { ...this.posixMeta(n), xattrs: next })) > METADATA_LIMIT - VERSION_TAG_ROOM)
      throw fsError('ENOSPC', `extended attributes of ${n.path} would exceed the ${METADATA_LIMIT}-byte metadata limit`);
    n.xattrs = next;
    n.attr.ctime = nowTimespec();
    await this.persistMeta(n, ctx.signal);
  }

  /** With xattrs off: ENOSYS, which libfuse's kernel side remembers for the whole mount. */
  private xattrsOn(): void {
    if (this.opts.xattrs === false) throw NO_XATTR_SUPPORT;
  }

  /** Synchronous for names outside user.* and for known metadata: `ls -l` asks for ACLs of every file. */
  getxattr(ctx: RequestContext, ino: number, name: string): MaybePromise<Buffer> {
    this.xattrsOn();
    const n = this.inode(ino);
    if (!name.startsWith(USER_XATTR_PREFIX)) throw NO_XATTR;
    const get = (): Buffer => {
      const v = n.xattrs.get(name);
      if (!v) throw NO_XATTR;
      return v;
    };
    if (n.metaKnown || (this.pinned(n) && !(n.kind === 'dir' && n.local))) return get();
    return this.ensureMeta(n, ctx.signal).then(get);
  }

  async listxattr(ctx: RequestContext, ino: number): Promise<string[]> {
    this.xattrsOn();
    const n = this.inode(ino);
    await this.ensureMeta(n, ctx.signal);
    return [...n.xattrs.keys()];
  }

  async removexattr(ctx: RequestContext, ino: number, name: string): Promise<void> {
    this.xattrsOn();
    this.writable();
    const n = this.inode(ino);
    this.writable(n.path);
    if (!name.startsWith(USER_XATTR_PREFIX)) throw fsError('ENODATA');
    await this.ensureMeta(n, ctx.signal);
    if (!n.xattrs.delete(name)) throw fsError('ENODATA');
    await this.persistMeta(n, ctx.signal);
  }

  // ---------------------------------------------------------------- shutdown

  /** Upload every pending version (unmount, SIGTERM). Returns the paths that could not be uploaded. */
  flushAll(progress?: FlushProgress): Promise<string[]> {
    return this.writes.flushAll(progress);
  }
}

export { S_IFDIR, S_IFREG, S_IFLNK };
