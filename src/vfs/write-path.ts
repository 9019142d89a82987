/**
 * WritePath: the VFS side of writing — which inode has a staged copy, when that copy goes to the
 * bucket (the sync policy), and what the inode looks like afterwards. The bytes themselves are
 * src/write/staged-file.ts; the transfer and conflict rules are src/write/publish.ts.
 *
 * Sync policies (--sync):
 *   close   flush (close) uploads and returns the upload's error. A new file written strictly
 *           sequentially streams to the bucket as a multipart upload while it is written.
 *   fsync   only fsync() and unmount upload; close() journals the version.
 *   idle=N  close() journals; the upload runs N seconds after the last write (also for a file
 *           that is still open); failures are retried with backoff.
 *   exit    close() journals; file contents leave the machine at unmount or SIGTERM only.
 * fsync() always uploads, whatever the policy: when it returns 0 the version is in the bucket.
 *
 * Journal: every version that must still reach the bucket has a 'closed' record (written at
 * close in the deferred modes, and in close mode when an upload fails), so a crash of objfs
 * loses nothing a close() acknowledged; the next mount uploads them (src/write/recovery.ts).
 * Unlink drops the records; rename rewrites them under the new key.
 *
 * Ownership and locking: `n.data` (the StagedFile) belongs to the inode; every operation on it
 * runs under its mutex. `active` holds every inode with staged data, so pending uploads are found
 * at unmount even after the kernel forgot the inode. Timers (idle mode) are per staged file. All
 * on the JS thread; after each await the inode is re-checked (it may have been renamed or removed).
 */
import { fsError } from '../errors/fs-error.js';
import type { ObjectStore } from '../store/object-store.js';
import type { Logger } from '../util/logger.js';
import type { Journal } from '../write/journal.js';
import { ConflictError, publish, VERSION_TAG, type Published } from '../write/publish.js';
import { StreamingUpload } from '../write/uploader.js';
import { isStoreError } from '../errors/store-error.js';
import { StagedFile } from '../write/staged-file.js';
import type { ConflictPolicy, SyncPolicy } from '../write/types.js';
import type { Inode } from './inode-table.js';
import { Limiter, mapLimit } from '../util/limiter.js';
import type { MemoryBudget } from '../read/memory-budget.js';

export interface WritePathOptions {
  store: ObjectStore;
  log: Logger;
  journal: Journal;
  sync: SyncPolicy;
  conflict: ConflictPolicy;
  /** Parts of one file uploaded in parallel. */
  concurrency: number;
  /** The object metadata an inode's attributes encode to. */
  metadataFor(n: Inode): Record<string, string>;
  /** The block cache's copy of a key is obsolete. */
  dropCached(key: string): void;
  /** Shared budget for file data held in memory: a streaming upload keeps written bytes in it. */
  memory?: MemoryBudget | undefined;
}

export interface FlushProgress {
  (done: number, total: number, path: string): void;
}

const IDLE_RETRY_MAX_MS = 60_000;
/** Streaming starts once a new file has this much (smaller files are one PUT at close). */
const STREAM_MIN = 8 * 1024 * 1024;
/** Files up to this size are fetched whole at their first in-place change. */
const FILL_SMALL = 8 * 1024 * 1024;

/** Metadata for a streamed object: no times (Last-Modified stands for them), our version tag. */
function streamingMetadata(md: Record<string, string>, id: string): Record<string, string> {
  const { mtime: _m, atime: _a, ...rest } = md;
  return { ...rest, [VERSION_TAG]: id };
}

function sameMetadata(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}
/** Files uploaded at once by flushAll and by idle timers. */
const FLUSH_CONCURRENCY = 16;

export class WritePath {
  private readonly active = new Set<Inode>();
  private readonly creating = new Map<Inode, Promise<StagedFile>>();
  private readonly timers = new Map<StagedFile, { timer: NodeJS.Timeout; retryMs: number }>();
  private seq = 0;
  private readonly background = new Limiter(FLUSH_CONCURRENCY);

  constructor(private readonly o: WritePathOptions) {}

  /** Number of staged files whose content is not in the bucket yet. */
  get pending(): number {
    let k = 0;
    for (const n of this.active) if (n.data?.needsUpload) k++;
    return k;
  }

  /** The inode's staged copy, created (lazily: nothing is downloaded) if it has none. */
  private async stagedFor(n: Inode, empty: boolean): Promise<StagedFile> {
    if (n.data) return n.data;
    let p = this.creating.get(n);
    if (!p) {
      this.o.store.prepareWrites?.();
      const base = !n.local && n.etag !== undefined ? { etag: n.etag, size: n.attr.size } : undefined;
      p = StagedFile.create(this.o.journal, n.path, base, empty || n.local);
      this.creating.set(n, p);
      p.finally(() => this.creating.delete(n)).catch(() => undefined);
    }
    const sf = await p;
    if (!n.data) {
      n.data = sf;
      this.active.add(n);
    } else if (n.data !== sf) await sf.discard();
    return n.data;
  }

  /**
   * Run `fn` on the staged copy under its mutex; `modify`: it is about to change the bytes. A copy
   * dropped while we waited for its mutex (its last handle closed after an upload) is not used:
   * a fresh one is staged instead.
   */
  private async withStaged<T>(n: Inode, empty: boolean, modify: boolean, fn: (sf: StagedFile) => Promise<T>): Promise<T> {
    for (;;) {
      const sf = await this.stagedFor(n, empty);
      const r = await sf.mutex.run(async () => {
        if (n.data !== sf) return { stale: true as const };
        if (modify) await sf.detachFromJournal(empty);
        return { stale: false as const, value: await fn(sf) };
      });
      if (!r.stale) return r.value;
    }
  }

  // ------------------------------------------------------------- changes

  /** A file created here (or opened with O_TRUNC): staged empty, to be uploaded even if never written. */
  async stageEmpty(n: Inode): Promise<void> {
    await this.withStaged(n, true, true, async (sf) => {
      if (sf.size !== 0) await sf.truncate(0);
      sf.metadataChanged();
    });
    this.touched(n);
  }

  async write(n: Inode, buf: Buffer, offset: number, append: boolean): Promise<number> {
    const count = await this.withStaged(n, false, true, async (sf) => {
      const off = append ? sf.size : offset;
      const sequential = off === sf.size;
      await this.fillSmallLocked(sf);
      const k = await sf.write(buf, off);
      await this.streamLocked(n, sf, sequential, buf, off);
      return k;
    });
    n.attr.size = n.data?.size ?? n.attr.size;
    this.touched(n);
    return count;
  }

  async truncate(n: Inode, size: number): Promise<void> {
    await this.withStaged(n, size === 0, true, async (sf) => {
      if (size !== sf.size) await this.stopStreamLocked(sf);
      if (size > 0) await this.fillSmallLocked(sf);
      await sf.truncate(size);
    });
    n.attr.size = size;
    this.touched(n);
  }

  /** Read from the staged copy; undefined when there is none (any more): read the object instead. */
  async read(n: Inode, size: number, offset: number, signal?: AbortSignal): Promise<Buffer | undefined> {
    const sf = n.data;
    if (!sf) return undefined;
    return sf.mutex.run(() => (n.data === sf ? sf.read(this.o.store, size, offset, signal) : undefined));
  }

  /** Attributes of a file with a staged copy changed (chmod, chown, utimens, xattrs): they go up with it. */
  async metadataChanged(n: Inode): Promise<void> {
    const sf = n.data;
    if (!sf) return;
    await sf.mutex.run(async () => {
      sf.metadataChanged();
      if (sf.journaled) await this.journalLocked(n, sf, true);
    });
    this.touched(n);
  }

  /**
   * A small file (up to FILL_SMALL) being changed in place is fetched whole at its first change:
   * its upload is one PUT of every byte anyway, and a version that is complete locally can still
   * be kept (keep-both) or forced (overwrite) after someone else replaced the object. Large files
   * stay lazy (only the ranges needed, the rest copied server-side). Caller holds the mutex.
   */
  private async fillSmallLocked(sf: StagedFile): Promise<void> {
    if (sf.base && sf.base.size <= FILL_SMALL && !sf.complete) await sf.fillAll(this.o.store);
  }

  /**
   * Streaming (sync policy close): a new file written from start to end goes up as a multipart
   * upload while it is written; parts leave as soon as they are complete. The object's metadata
   * is fixed when the upload starts, so it is created without mtime/atime (the object's
   * Last-Modified, i.e. the close, stands for them); if mode, owner or xattrs change before the
   * end, a server-side copy corrects the metadata after completion. Anything but an append
   * gives streaming up for this version (the file is then uploaded whole at close). The written
   * bytes are offered to the upload, which sends complete parts from memory when the budget lets
   * it keep them (uploader.ts). Caller holds the mutex.
   */
  private async streamLocked(n: Inode, sf: StagedFile, sequential: boolean, data: Buffer, offset: number): Promise<void> {
    if (this.o.sync.kind !== 'close' || sf.base || sf.streamBroken) return;
    if (!sequential) return this.stopStreamLocked(sf);
    if (!sf.stream) {
      if (sf.size < STREAM_MIN) return; // small files: one PUT at close
      const metadata = streamingMetadata(this.o.metadataFor(n), sf.id);
      sf.streamMetadata = metadata;
      sf.stream = new StreamingUpload({
        store: this.o.store, key: n.path, dataPath: sf.path, metadata, concurrency: this.o.concurrency, memory: this.o.memory,
        onUploadId: async (id) => {
          sf.uploadId = id;
          if (id) await this.o.journal.write(sf.record(n.path, metadata, 'open', ++this.seq, id));
        },
      });
    }
    sf.stream.offer(data, offset);
    sf.stream.written(sf.size);
    if (sf.stream.error) await this.stopStreamLocked(sf);
  }

  /** Give up streaming this version (it is uploaded whole later). Caller holds the mutex. */
  private async stopStreamLocked(sf: StagedFile): Promise<void> {
    const st = sf.stream;
    sf.streamBroken = true;
    sf.stream = undefined;
    if (st) await st.abort().catch((e: unknown) => this.o.log.debug({ err: e }, 'abort of a streaming upload failed'));
  }

  private touched(n: Inode): void {
    const sf = n.data;
    if (!sf) return;
    if (this.o.sync.kind === 'idle') this.schedule(n, sf, this.o.sync.seconds * 1000);
  }

  // ------------------------------------------------------------- sync points

  /** close(): upload (close policy) or journal the version (other policies). */
  async flush(n: Inode, signal?: AbortSignal): Promise<void> {
    const sf = n.data;
    if (!sf || !sf.needsUpload || n.removed) return;
    if (this.o.sync.kind === 'close') return this.upload(n, signal);
    await sf.mutex.run(() => this.journalLocked(n, sf, false));
  }

  /** fsync(): the version is in the bucket when this returns. */
  async fsync(n: Inode, signal?: AbortSignal): Promise<void> {
    if (n.data?.needsUpload && !n.removed) await this.upload(n, signal);
  }

  /** A path-level truncate (no open file): a sync point like close. */
  async afterPathChange(n: Inode, signal?: AbortSignal): Promise<void> {
    await this.flush(n, signal);
    await this.released(n);
  }

  /** The last handle of the inode closed. */
  async released(n: Inode): Promise<void> {
    const sf = n.data;
    if (!sf || n.openCount > 0) return;
    if (sf.needsUpload && !n.removed && this.o.sync.kind === 'close') {
      try {
        await this.upload(n);
      } catch (e) {
        this.o.log.error({ key: n.path, err: e }, 'upload at release failed; the version stays journaled and is retried at unmount and at the next mount');
      }
    }
    await sf.mutex.run(async () => {
      if (n.data !== sf || n.openCount > 0) return; // reopened meanwhile
      if (!sf.needsUpload || n.removed) return this.drop(n, sf);
      await this.journalLocked(n, sf, false);
      await sf.close(); // keep file descriptors bounded while many versions wait
    });
  }

  /** Upload the staged version now (under its mutex) and make the inode show it. */
  async upload(n: Inode, signal?: AbortSignal): Promise<void> {
    const sf = n.data;
    if (!sf) return;
    await sf.mutex.run(async () => {
      if (!sf.needsUpload || n.removed || n.data !== sf) return;
      this.cancelTimer(sf);
      // Deferred modes journal at close already. In close mode the record is written only if the
      // upload fails (close() has not returned, so a crash meanwhile owes nothing): one PUT per
      // small file, no journal traffic.
      if (this.o.sync.kind !== 'close') await this.journalLocked(n, sf, false);
      const key = n.path;
      const metadata = this.o.metadataFor(n);
      let res;
      try {
        res = (await this.finishStreamLocked(n, sf, key, metadata)) ??
          (await publish(sf, key, metadata, { store: this.o.store, log: this.o.log, conflict: this.o.conflict, concurrency: this.o.concurrency, ...(signal ? { signal } : {}) }));
      } catch (e) {
        await this.journalLocked(n, sf, false).catch((je: unknown) => this.o.log.error({ key, err: je }, 'could not journal a version whose upload failed'));
        if (e instanceof ConflictError) {
          const where = await this.o.journal.setAside(sf.id, e.message).catch(() => this.o.journal.dataPath(sf.id));
          this.o.log.error({ key, keptIn: where }, `${e.message}; our version is kept in ${where}`);
          await this.forget(n, sf);
          throw fsError('EIO', `${e.message}; our version is kept in ${where}`, e);
        }
        throw e;
      }
      this.o.dropCached(key);
      if (res.conflictKey) {
        // Ours went up under another name; the inode shows the bucket's version from now on.
        await this.o.journal.remove(sf.id);
        await this.forget(n, sf);
        return;
      }
      sf.markUploaded(key, res.etag);
      n.etag = res.etag;
      n.cachedEtag = res.etag;
      n.metadata = metadata;
      n.local = false;
      n.metaKnown = true;
      n.fetchedAt = Date.now();
      n.attr.size = sf.size;
      if (sf.journaled) {
        sf.unspool(); // the inode keeps these bytes; the journal forgets the id
        await this.o.journal.remove(sf.id, { keepData: true });
      }
      sf.journaled = false;
      for (const id of sf.supersedes.splice(0)) await this.o.journal.remove(id);
      if (n.openCount === 0) await this.drop(n, sf); // uploaded after its last close (idle, unmount)
    });
  }

  /**
   * Complete a streaming upload; undefined when there is none or it cannot be used (then the
   * caller uploads the version whole, with the conflict policy). Caller holds the mutex.
   */
  private async finishStreamLocked(n: Inode, sf: StagedFile, key: string, metadata: Record<string, string>): Promise<Published | undefined> {
    const st = sf.stream;
    if (!st || sf.streamBroken || key !== st.key) {
      if (st) await this.stopStreamLocked(sf);
      return undefined;
    }
    sf.stream = undefined;
    sf.streamBroken = true; // one attempt per version
    try {
      let { etag } = await st.finish(sf.size, { ifNoneMatch: '*' });
      const wanted = streamingMetadata(metadata, sf.id);
      if (!sameMetadata(wanted, sf.streamMetadata ?? {})) {
        ({ etag } = await this.o.store.copy(key, key, { metadata: { ...metadata, [VERSION_TAG]: sf.id }, sourceIfMatch: etag }));
      }
      return { key, etag };
    } catch (e) {
      if (isStoreError(e, 'PreconditionFailed')) return undefined; // someone created it meanwhile: the conflict policy decides
      throw e;
    }
  }

  /** Write the record that makes this version survive a crash. Caller holds the mutex. */
  private async journalLocked(n: Inode, sf: StagedFile, rewrite: boolean): Promise<void> {
    if (!sf.needsUpload || (sf.journaled && !rewrite)) return;
    const rec = sf.record(n.path, this.o.metadataFor(n), 'closed', ++this.seq);
    if (sf.inMemory && !sf.spooled) {
      await this.o.journal.writeWithData(rec, sf.bytes()!);
      sf.spooled = true;
    } else await this.o.journal.write(rec);
    sf.journaled = true;
    const old = sf.supersedes.splice(0);
    for (const id of old) await this.o.journal.remove(id);
  }

  // ------------------------------------------------------------- namespace

  /**
   * Rename a file: `move` runs under the staged copy's mutex (no upload can land at the old key
   * meanwhile) and returns the ETag of the object it copied to the new key, if it copied one.
   * Pending records then follow the inode to its new key.
   */
  async renaming(n: Inode, move: () => Promise<string | undefined>): Promise<void> {
    const sf = n.data;
    if (!sf) {
      await move();
      return;
    }
    await sf.mutex.run(async () => {
      await this.stopStreamLocked(sf); // its multipart upload is for the old key
      const etag = await move();
      if (etag !== undefined) sf.rebase(n.path, etag);
      if (sf.journaled) await this.journalLocked(n, sf, true);
    });
  }

  /** A directory was renamed to `dir`: staged files under it follow (their base objects were copied with it). */
  async movedUnder(dir: string): Promise<void> {
    for (const n of this.active) {
      const sf = n.data;
      if (!sf || !n.path.startsWith(dir + '/')) continue;
      await sf.mutex.run(async () => {
        if (sf.base) sf.rebase(n.path, sf.base.etag);
        if (sf.journaled) await this.journalLocked(n, sf, true);
      });
    }
  }

  /** The file was unlinked (or replaced by a rename): nothing of it may be uploaded any more. */
  async removed(n: Inode): Promise<void> {
    const sf = n.data;
    if (!sf) return;
    this.cancelTimer(sf);
    if (n.openCount > 0) {
      // Still readable through open handles; its records go now so a crash cannot resurrect it.
      await sf.mutex.run(async () => {
        await this.stopStreamLocked(sf); // a streamed upload must not complete (nor stay open on the server)
        sf.unspool();
        for (const id of [sf.id, ...sf.supersedes.splice(0)]) await this.o.journal.remove(id, { keepData: id === sf.id });
        sf.journaled = false;
        sf.needsUpload = false;
      });
      return;
    }
    await sf.mutex.run(() => this.drop(n, sf));
  }

  /** Forget the staged copy and delete its files. Caller holds its mutex. */
  private async drop(n: Inode, sf: StagedFile): Promise<void> {
    this.cancelTimer(sf);
    if (n.data === sf) n.data = undefined; // first: nothing new may reach it once we await
    this.active.delete(n);
    if (sf.stream) await this.stopStreamLocked(sf);
    for (const id of sf.supersedes.splice(0)) await this.o.journal.remove(id);
    await sf.close();
    if (sf.journaled) await this.o.journal.remove(sf.id);
    else await sf.discard();
  }

  /** The staged copy no longer stands for the inode (conflict): the store's version is shown. */
  private async forget(n: Inode, sf: StagedFile): Promise<void> {
    this.cancelTimer(sf);
    await sf.close();
    if (n.data === sf) n.data = undefined;
    this.active.delete(n);
    n.local = false;
    n.etag = undefined;
    n.fetchedAt = 0;
    n.metaKnown = false;
  }

  // ------------------------------------------------------------- idle timers

  private schedule(n: Inode, sf: StagedFile, ms: number, retryMs = 1000): void {
    this.cancelTimer(sf);
    const timer = setTimeout(() => {
      this.timers.delete(sf);
      if (n.data !== sf || !sf.needsUpload || n.removed) return;
      this.background.run(() => this.upload(n)).catch((e: unknown) => {
        const next = Math.min(retryMs * 2, IDLE_RETRY_MAX_MS);
        this.o.log.warn({ key: n.path, err: e, retryInMs: retryMs }, 'idle upload failed; will retry');
        if (n.data === sf && sf.needsUpload && !n.removed) this.schedule(n, sf, retryMs, next);
      });
    }, ms);
    timer.unref();
    this.timers.set(sf, { timer, retryMs });
  }

  private cancelTimer(sf: StagedFile): void {
    const t = this.timers.get(sf);
    if (t) clearTimeout(t.timer);
    this.timers.delete(sf);
  }

  // ------------------------------------------------------------- shutdown

  /**
   * Upload every pending version (unmount, SIGTERM). Returns the paths that could not be
   * uploaded; their versions stay journaled for the next mount.
   */
  async flushAll(progress?: FlushProgress): Promise<string[]> {
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    const todo = [...this.active].filter((n) => n.data?.needsUpload && !n.removed);
    const failed: string[] = [];
    let done = 0;
    await mapLimit(todo, FLUSH_CONCURRENCY, async (n) => {
      try {
        await this.upload(n);
      } catch (e) {
        this.o.log.error({ key: n.path, err: e }, 'upload at unmount failed; the version stays journaled for the next mount');
        failed.push(n.path);
      }
      progress?.(++done, todo.length, n.path);
    });
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    return failed;
  }
}
