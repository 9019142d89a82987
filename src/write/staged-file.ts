/**
 * StagedFile: the local, writable copy of one file while it is changed, kept as a sparse data
 * file in the write-back journal's directory (`<journal>/<id>.data`).
 *
 * Design: staging is lazy. A file that is written without O_TRUNC is not downloaded; the data
 * file starts as a hole of the object's size and two RangeSets say which bytes are there
 * (`present`: fetched from the base object or written) and which differ from the base (`dirty`).
 * Reads of bytes that are not present fetch them from the base object (ranged GET pinned with
 * If-Match, rounded out to 1 MiB) into the data file. The uploader reuses the base's unchanged
 * ranges server-side (UploadPartCopy), so an edit of 1 MiB in a 1 GiB object moves a few MiB.
 * Bytes a truncate cut off and that come back by growing the file are zeros and dirty, never
 * base bytes, so `dirty` ∪ base[0, min(size, base.size)) always describes the current version.
 *
 * Versions and the journal: `journaled` says a 'closed' record describing exactly these bytes is
 * in the journal (written at close in the deferred sync modes, or before an upload). Changing a
 * journaled file would change bytes a crash recovery is about to upload, so the first change
 * after that copies the data file to a new id first (copy-on-write of a closed version); the old
 * record is kept in `supersedes` and removed only once the new version is journaled or uploaded.
 *
 * Writes go through the page cache. (Until 2026-11-22 large 4 KiB-aligned writes went through a
 * second, O_DIRECT descriptor. Two findings ended that: a program's 1 MiB write() from malloc'd
 * memory reaches us as 1 MiB - 16 and 16 bytes, so it almost never applied; and when it was made
 * to apply, a 1 GiB write through a mount was slower (median 215 vs 291 MB/s, interleaved runs):
 * each FUSE write then waits for the disk. The figures that had favoured it were taken while
 * MinIO's tmpfs had filled memory with its trash, when page-cache writes meant reclaim.)
 *
 * Small new versions in memory: a version that starts empty (a created file, O_TRUNC) keeps its
 * bytes in a Buffer instead of a data file while it stays within spool.MAX_VERSION_BYTES and the
 * process-wide MEMORY_TOTAL; journaling it then writes record and bytes as one spool frame
 * (journal.ts writeWithData), and once it is journaled and its last handle closed, the memory
 * copy is dropped: the bytes are read back from the spool when needed. A version that grows past
 * the limits moves to a data file ("spills") and carries on as any other. Creating no file per
 * small version is what makes 1,000 small files in idle mode cheap (spool.ts says how much).
 *
 * Locking: `mutex` serialises everything that touches the data file or the range sets (reads of
 * missing bytes, writes, truncates, clones, uploads). Callers take it; methods assume it is held.
 */
import { copyFile, open, unlink, type FileHandle } from 'node:fs/promises';
import { MAX_VERSION_BYTES } from './spool.js';
import { Mutex } from '../util/mutex.js';
import { writeAll } from '../util/write-all.js';
import type { ObjectStore } from '../store/object-store.js';
import { RangeSet } from './range-set.js';
import type { BaseVersion, PendingRecord, Span } from './types.js';
import type { Journal } from './journal.js';
import type { StreamingUpload } from './uploader.js';

/** Bytes of all in-memory versions of this process at most (beyond: new data files). */
const MEMORY_TOTAL = 64 * 1024 * 1024;
let memoryInUse = 0;

const FILL_ALIGN = 1024 * 1024;
const FILL_CHUNK = 8 * 1024 * 1024;

export class StagedFile {
  readonly mutex = new Mutex();
  id: string;
  private fh: FileHandle | undefined;
  private opening: Promise<FileHandle> | undefined;
  /** The object version this copy started from (absent: a new file). */
  base: BaseVersion | undefined;
  /** Key the base object lives at (follows renames, which copy it server-side). */
  baseKey: string;
  size: number;
  present: RangeSet;
  dirty: RangeSet;
  /** Content or metadata differs from the store. */
  needsUpload: boolean;
  /** A 'closed' journal record describes exactly this content. */
  journaled = false;
  /** Records of older versions of this file that this one replaces. */
  supersedes: string[] = [];
  /** A new file written sequentially is uploaded while it is written (sync policy close). */
  stream: StreamingUpload | undefined;
  /** The metadata the streaming upload was created with (compared at the end). */
  streamMetadata: Record<string, string> | undefined;
  /** Streaming was given up for this version (a non-sequential change, a rename). */
  streamBroken = false;
  /** A multipart upload in progress for this version (journaled so recovery can abort it). */
  uploadId: string | undefined;
  changedAt = Date.now();
  /** The bytes are in memory (`mem`) or, once journaled, in the journal's spool: no data file. */
  private memBacked = false;
  /** In-memory bytes [0, size) (capacity may be larger; bytes past size are zeros). */
  private mem: Buffer | undefined;
  /** The bytes of this memory-backed version are the spool's (journaled via writeWithData). */
  spooled = false;

  private constructor(private readonly journal: Journal, id: string, baseKey: string, base: BaseVersion | undefined, size: number, present: RangeSet, dirty: RangeSet, needsUpload: boolean) {
    this.id = id;
    this.baseKey = baseKey;
    this.base = base;
    this.size = size;
    this.present = present;
    this.dirty = dirty;
    this.needsUpload = needsUpload;
  }

  get path(): string {
    return this.journal.dataPath(this.id);
  }

  /**
   * A new staged copy. `empty`: the new version starts empty (O_TRUNC, create, truncate to 0),
   * so nothing of the base is needed; otherwise the data file is a hole of the base's size.
   */
  static async create(journal: Journal, baseKey: string, base: BaseVersion | undefined, empty: boolean): Promise<StagedFile> {
    const id = journal.newId();
    if (empty) {
      const sf = new StagedFile(journal, id, baseKey, base, 0, new RangeSet(), new RangeSet(), true);
      sf.memBacked = true;
      return sf;
    }
    await journal.adoptSpare(journal.dataPath(id)); // an existing inode if there is one (journal.ts)
    const fh = await open(journal.dataPath(id), 'w+', 0o600);
    const size = empty || !base ? 0 : base.size;
    try {
      if (size > 0) await fh.truncate(size);
    } catch (e) {
      await fh.close().catch(() => undefined);
      await unlink(journal.dataPath(id)).catch(() => undefined);
      throw e;
    }
    const sf = new StagedFile(journal, id, baseKey, base, size, new RangeSet(), new RangeSet(), empty || !base);
    sf.fh = fh;
    return sf;
  }

  /** The staged copy a journal record describes (crash recovery). */
  static async fromRecord(journal: Journal, rec: PendingRecord): Promise<StagedFile> {
    const fh = await open(journal.dataPath(rec.id), 'r+');
    const sf = new StagedFile(journal, rec.id, rec.key, rec.base, rec.size, RangeSet.fromSpans(rec.present), RangeSet.fromSpans(rec.dirty), true);
    sf.fh = fh;
    sf.journaled = true;
    sf.changedAt = rec.changedAt;
    return sf;
  }

  /** The open data file; reopened on demand after close() (pending versions do not hold descriptors). */
  private async file(): Promise<FileHandle> {
    if (this.memBacked) await this.spill();
    if (this.fh) return this.fh;
    this.opening ??= open(this.path, 'r+').finally(() => (this.opening = undefined));
    const fh = await this.opening;
    this.fh ??= fh;
    return this.fh;
  }

  /** Memory-backed (no data file): journal it with writeWithData(record, bytes()). */
  get inMemory(): boolean {
    return this.memBacked;
  }

  /** The bytes of a memory-backed version; undefined when it has a data file. */
  bytes(): Buffer | undefined {
    if (!this.memBacked) return undefined;
    if (this.spooled) return this.journal.readSpooled(this.id);
    return this.mem ? this.mem.subarray(0, this.size) : Buffer.alloc(0);
  }

  /** Take the bytes back from the spool into memory (before the journal forgets this id but the file lives on). */
  unspool(): void {
    if (!this.memBacked || !this.spooled) return;
    const b = this.journal.readSpooled(this.id);
    this.setMem(b);
    this.spooled = false;
  }

  private setMem(b: Buffer | undefined): void {
    memoryInUse += (b?.length ?? 0) - (this.mem?.length ?? 0);
    this.mem = b;
  }

  /** Room for [0, end) in memory; false: the version must go to a data file. */
  private growMem(end: number): boolean {
    const cap = this.mem?.length ?? 0;
    if (end <= cap) return true;
    if (end > MAX_VERSION_BYTES) return false;
    const next = Math.min(MAX_VERSION_BYTES, Math.max(end, cap * 2, 16 * 1024));
    if (memoryInUse + next - cap > MEMORY_TOTAL) return false;
    const b = Buffer.alloc(next);
    if (this.mem) this.mem.copy(b, 0, 0, this.size);
    this.setMem(b);
    return true;
  }

  /** Move a memory-backed version into a data file of its own (it outgrew memory). */
  private async spill(): Promise<void> {
    if (!this.memBacked) return;
    if (this.spooled) throw new Error(`staged ${this.id}: a journaled version cannot change (detachFromJournal first)`);
    await this.journal.adoptSpare(this.path);
    const fh = await open(this.path, 'w+', 0o600);
    try {
      if (this.size > 0) await writeAll(fh, this.mem!.subarray(0, this.size), 0);
    } catch (e) {
      await fh.close().catch(() => undefined);
      await unlink(this.path).catch(() => undefined);
      throw e;
    }
    this.fh = fh;
    this.memBacked = false;
    this.setMem(undefined);
  }

  /** The record that describes this version. */
  record(key: string, metadata: Record<string, string>, state: PendingRecord['state'], seq: number, uploadId?: string): PendingRecord {
    return {
      type: 'upload', id: this.id, key, state, ...(this.base ? { base: { ...this.base } } : {}), size: this.size, metadata,
      dirty: this.dirty.spans(), present: this.present.spans(), ...((uploadId ?? this.uploadId) ? { uploadId: uploadId ?? this.uploadId } : {}), seq, changedAt: this.changedAt,
    };
  }

  /** Bytes of [start, end) that must come from the base object and are not here yet. */
  private missing(start: number, end: number): Span[] {
    if (!this.base) return [];
    const limit = Math.min(end, this.size, this.base.size);
    if (start >= limit) return [];
    return this.present.missing(start, limit);
  }

  /** Make [start, end) present, fetching base bytes (pinned to the base ETag) as needed. */
  async fill(store: ObjectStore, start: number, end: number, signal?: AbortSignal): Promise<void> {
    const base = this.base;
    if (!base) return;
    const lo = Math.floor(start / FILL_ALIGN) * FILL_ALIGN;
    const hi = Math.ceil(end / FILL_ALIGN) * FILL_ALIGN;
    for (const [s, e] of this.missing(lo, hi)) {
      for (let off = s; off < e; off += FILL_CHUNK) {
        const last = Math.min(e, off + FILL_CHUNK);
        const { body } = await store.get(this.baseKey, { range: { start: off, end: last - 1 }, ifMatch: base.etag, ...(signal ? { signal } : {}) });
        if (body.length !== last - off) throw new Error(`short read of ${this.baseKey} [${off}, ${last}): ${body.length} bytes`);
        await writeAll(await this.file(), body, off);
        this.present.add(off, last);
      }
    }
  }

  /** Fetch every base byte the current version still uses (before uploading it without the base). */
  async fillAll(store: ObjectStore, signal?: AbortSignal): Promise<void> {
    await this.fill(store, 0, this.size, signal);
  }

  get complete(): boolean {
    return this.missing(0, this.size).length === 0;
  }

  async read(store: ObjectStore, size: number, offset: number, signal?: AbortSignal): Promise<Buffer> {
    if (offset >= this.size || size === 0) return Buffer.alloc(0);
    const len = Math.min(size, this.size - offset);
    if (this.memBacked) {
      if (this.spooled) return this.journal.readSpooled(this.id, offset, offset + len);
      return Buffer.from(this.mem!.subarray(offset, offset + len));
    }
    if (this.missing(offset, offset + len).length > 0) await this.fill(store, offset, offset + len, signal);
    const buf = Buffer.allocUnsafe(len);
    let done = 0;
    const fh = await this.file();
    while (done < len) {
      const { bytesRead } = await fh.read(buf, done, len - done, offset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    if (done < len) buf.fill(0, done);
    return buf;
  }

  async write(data: Buffer, offset: number): Promise<number> {
    const end = offset + data.length;
    if (this.memBacked && !this.spooled && this.growMem(end)) {
      if (data.length > 0) data.copy(this.mem!, offset);
    }
    else await writeAll(await this.file(), data, offset);
    if (offset > this.size) this.markNew(this.size, offset); // the hole between is zeros
    this.present.add(offset, end);
    this.dirty.add(offset, end);
    this.size = Math.max(this.size, end);
    this.changed();
    return data.length;
  }

  async truncate(size: number): Promise<void> {
    if (this.memBacked && !this.spooled && this.growMem(size)) {
      if (size < this.size) this.mem?.fill(0, size, Math.min(this.size, this.mem.length)); // bytes past size stay zeros
    } else await (await this.file()).truncate(size);
    if (size < this.size) {
      this.present.truncate(size);
      this.dirty.truncate(size);
    } else if (size > this.size) this.markNew(this.size, size);
    this.size = size;
    this.changed();
  }

  /** Bytes that exist only because the file grew: zeros, never base bytes. */
  private markNew(start: number, end: number): void {
    if (end <= start) return;
    this.present.add(start, end);
    this.dirty.add(start, end);
  }

  /** Metadata (mode, owner, times, xattrs) changed: the object must be rewritten. */
  metadataChanged(): void {
    this.changed();
  }

  private changed(): void {
    this.needsUpload = true;
    this.changedAt = Date.now();
  }

  /**
   * Before changing a journaled version: move to a new id, so the journaled bytes stay as
   * recorded until this new version replaces them. The old id goes to `supersedes`. `empty`: the
   * new version starts empty (O_TRUNC, truncate to 0), so nothing is copied; the caller then
   * truncates to 0, which resets the ranges.
   */
  async detachFromJournal(empty = false): Promise<void> {
    if (!this.journaled) return;
    const newId = this.journal.newId();
    if (this.memBacked) {
      const b = empty ? undefined : this.bytes();
      this.spooled = false;
      this.setMem(b ? Buffer.from(b) : undefined); // a copy: the journaled bytes stay as recorded
      this.supersedes.push(this.id);
      this.id = newId;
      this.journaled = false;
      return;
    }
    if (!empty) await copyFile(this.path, this.journal.dataPath(newId));
    const fh = await open(this.journal.dataPath(newId), empty ? 'w+' : 'r+', 0o600);
    await this.fh?.close().catch(() => undefined);
    this.supersedes.push(this.id);
    this.id = newId;
    this.fh = fh;
    this.journaled = false;
  }

  /** The store now holds this version as `etag`: it becomes the base of later changes. */
  markUploaded(key: string, etag: string): void {
    this.base = { etag, size: this.size };
    this.baseKey = key;
    this.dirty = new RangeSet();
    this.needsUpload = false;
  }

  /** The object was copied to another key (rename): later fills read it there. */
  rebase(key: string, etag: string): void {
    this.baseKey = key;
    if (this.base) this.base = { ...this.base, etag };
  }

  /** Close the data file, keeping it (it is journaled and must survive). */
  async close(): Promise<void> {
    if (this.memBacked && this.spooled) this.setMem(undefined); // the spool has the bytes
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close().catch(() => undefined);
  }

  /** Close and delete the data file. */
  async discard(): Promise<void> {
    if (this.memBacked) {
      this.setMem(undefined);
      return;
    }
    await this.close();
    await unlink(this.path).catch(() => undefined);
  }
}
