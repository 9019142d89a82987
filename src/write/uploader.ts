/**
 * The upload engine of the write path.
 *
 * runUpload(job) uploads one staged version of a file (types.ts: the staged sparse data file,
 * its dirty and present ranges, its base version) following planUpload (upload-plan.ts):
 *   'put'        store.put of the whole data file (read into memory up to 1 MiB: one read, no
 *                stat and no stream, which made 1,000 small uploads ~15% faster; a FileSlice
 *                streamed by the store above that);
 *   'copy-self'  store.copy(baseKey -> key) pinned to the base's ETag, with the new metadata;
 *   'multipart'  createMultipart, then the parts with at most `concurrency` in flight: local
 *                parts are uploadPart of a FileSlice of the data file, base parts are
 *                uploadPartCopy of the base pinned with If-Match; then completeMultipart with the
 *                job's conditions (If-Match base ETag / If-None-Match * / none).
 * Bytes of a local part (or of a put) that are not `present` in the data file are first made
 * present through job.fill(spans) -- e.g. a ranged GET of the base pinned to its ETag. fill is
 * called part by part (so early parts upload while later ones are filled), never concurrently with
 * itself, and only with spans that are not present and not already filled.
 * Any failure aborts the multipart upload (best effort, even after the caller's signal fired) and
 * rethrows the ORIGINAL error: a PreconditionFailed (the object or the base changed) comes out as
 * such, for the caller's conflict policy.
 *
 * StreamingUpload uploads a NEW file while it is being written sequentially: written(upTo) says
 * bytes [0, upTo) of the data file are final, and every complete ladder part (part-sizes.ts)
 * below that starts uploading in the background; finish(size, conditions) uploads the tail and
 * completes. The multipart upload is created only when the first full part exists, so a small
 * file (no part started, size <= smallFileThreshold) is a single PUT at finish and never starts
 * one. At most `concurrency` parts are in flight and none are queued beyond that: parts that are
 * ready but have no slot start when a slot frees, at the next written(), or at finish().
 * A failed part fails the whole streaming upload: the multipart upload is aborted at once and
 * finish() rejects with the part's error; the data file is untouched, so the caller can fall back
 * to runUpload. The caller must not change bytes below upTo after written(upTo) (a rewrite or a
 * truncate below it means: abort() and upload the file with runUpload instead).
 * Parts from memory: the caller may also offer(data, offset) each write's bytes as they go into
 * the data file. While offers are contiguous and the shared MemoryBudget grants their bytes
 * (tryReserve: never waits, read-ahead is not starved), they are kept, and a part whose bytes are
 * all held goes up as a FileSlice carrying them (`buffers`): the S3 store sends those instead of
 * reading the file back (perf: reading parts back was ~20% of all CPU of a 1 GiB write through a
 * mount). The file stays the truth: retries and stores that ignore `buffers` read it. Anything
 * else (a gap, no budget) drops what is held and those parts read the file. Offered Buffers are
 * kept, not copied: the caller must not change them afterwards. Held bytes are released when
 * their part settles, or at finish/abort.
 *
 * Ownership / concurrency: the job's data file belongs to the caller, who must keep it unchanged
 * (at least `size` bytes long; holes read as zeros) until the returned promise settles. Each
 * runUpload call and each StreamingUpload owns its MultipartSession (multipart-session.ts); the
 * store may be shared. Single JS thread: no locks; concurrency is bounded by counting.
 */
import { StoreError } from '../errors/store-error.js';
import type { MemoryBudget } from '../read/memory-budget.js';
import { readRange } from '../util/read-range.js';
import type { ObjectStore, PutBody, WriteConditions } from '../store/object-store.js';
import { MultipartSession } from './multipart-session.js';
import { partSizeFor, splitRange, type PartRange, type StoreLimits } from './part-sizes.js';
import { RangeSet } from './range-set.js';
import type { BaseVersion, PlannedPart, Span } from './types.js';
import { DEFAULT_SMALL_FILE_THRESHOLD, localBytes, planUpload } from './upload-plan.js';

export interface UploadJob {
  store: ObjectStore;
  /** Destination key. */
  key: string;
  /** Key of the base object, the source of copied parts (default: key). */
  baseKey?: string | undefined;
  /** The version the staged copy started from (absent: a new file, everything is local). */
  base?: BaseVersion | undefined;
  /** The staged sparse file holding the new version's bytes at their offsets. */
  dataPath: string;
  /** The version's bytes [0, size) in memory instead (a small version with no data file; see staged-file.ts). */
  data?: Buffer | undefined;
  size: number;
  /** Bytes that differ from the base. */
  dirty: readonly Span[];
  /** Bytes present in dataPath. */
  present: readonly Span[];
  metadata: Record<string, string>;
  contentType?: string | undefined;
  /** Conditions of the final write (put / copy / complete). */
  conditions: WriteConditions;
  /** Make these bytes present in dataPath (never called concurrently with itself). */
  fill(spans: Span[], signal?: AbortSignal): Promise<void>;
  /** Parts in flight at most (>= 1). */
  concurrency: number;
  signal?: AbortSignal | undefined;
  /** Called after createMultipart with the id, and with undefined once completed or aborted. */
  onUploadId?(uploadId: string | undefined): void | Promise<void>;
  /** Bytes of the data file sent so far / to send in all (copied bytes are not counted). */
  onProgress?(sentBytes: number, totalBytes: number): void;
  smallFileThreshold?: number | undefined;
}

export async function runUpload(job: UploadJob): Promise<{ etag: string }> {
  const { store, key, base, size } = job;
  const baseKey = job.baseKey ?? key;
  checkAborted(job.signal, key);
  const plan = planUpload({ size, dirty: job.dirty, base, limits: store.limits, smallFileThreshold: job.smallFileThreshold });
  const present = RangeSet.fromSpans(job.present);
  const total = localBytes(plan);
  let sent = 0;
  const progress = (n: number): void => {
    sent += n;
    job.onProgress?.(sent, total);
  };
  let fillChain: Promise<void> = Promise.resolve();
  /** Make [start, end) present (serialised fill calls). */
  const ensurePresent = (start: number, end: number, signal: AbortSignal | undefined): Promise<void> => {
    const run = async (): Promise<void> => {
      const missing = present.missing(start, end);
      if (missing.length === 0) return;
      checkAborted(signal, key);
      await job.fill(missing, signal);
      present.addAll(missing);
    };
    const p = fillChain.then(run);
    fillChain = p.catch(() => undefined);
    return p;
  };

  if (plan.kind === 'put') {
    await ensurePresent(0, size, job.signal);
    const { etag } = await store.put(key, job.data ?? (await putBody(job.dataPath, size)), {
      metadata: job.metadata,
      ...optional(job.contentType, job.signal),
      ...job.conditions,
    });
    progress(size);
    return { etag };
  }
  if (plan.kind === 'copy-self') {
    return store.copy(baseKey, key, {
      metadata: job.metadata,
      ...optional(job.contentType, job.signal),
      sourceIfMatch: base!.etag,
      ...job.conditions,
    });
  }

  const session = new MultipartSession({ store, key, metadata: job.metadata, contentType: job.contentType, signal: job.signal, onUploadId: job.onUploadId });
  const uploadPart = (p: PlannedPart) => async (uploadId: string, signal: AbortSignal) => {
    if (p.from === 'base') {
      return store.uploadPartCopy(key, uploadId, p.partNumber, { key: baseKey, range: { start: p.start, end: p.end - 1 }, ifMatch: base!.etag }, signal);
    }
    await ensurePresent(p.start, p.end, signal);
    const body = job.data ? job.data.subarray(p.start, p.end) : slice(job.dataPath, p.start, p.end - p.start);
    const done = await store.uploadPart(key, uploadId, p.partNumber, body, signal);
    progress(p.end - p.start);
    return done;
  };
  try {
    await session.ensure();
    const concurrency = Math.max(1, Math.floor(job.concurrency) || 1);
    for (const p of plan.parts) {
      await session.whenBelow(concurrency);
      if (session.failure) break;
      void session.run(p.partNumber, uploadPart(p));
    }
    return await session.complete(job.conditions);
  } catch (e) {
    session.fail(e);
    await session.abort();
    throw session.failure!.error;
  }
}

export interface StreamingUploadOptions {
  store: ObjectStore;
  key: string;
  /** The data file being written; bytes [0, upTo) are final after written(upTo). */
  dataPath: string;
  metadata: Record<string, string>;
  contentType?: string | undefined;
  /** Part size limits (default: the store's). */
  limits?: StoreLimits | undefined;
  /** Parts in flight at most (>= 1). */
  concurrency: number;
  onUploadId?(uploadId: string | undefined): void | Promise<void>;
  /** At finish, a file of at most this size that started no part is one PUT (default 8 MiB). */
  smallFileThreshold?: number | undefined;
  /** Cancels the whole upload (parts, creation, completion). */
  signal?: AbortSignal | undefined;
  /** Budget for bytes held by offer() (absent: offers are ignored, parts read the file). */
  memory?: MemoryBudget | undefined;
}

export class StreamingUpload {
  /** Offered bytes [memStart, memEnd) of the data file, in order, all reserved in o.memory; memEnd < 0: none (restart at the next offer). */
  private mem: Buffer[] = [];
  private memStart = 0;
  private memEnd = -1;
  private readonly session: MultipartSession;
  private readonly limits: StoreLimits;
  private readonly concurrency: number;
  private state: 'open' | 'finishing' | 'done' | 'aborted' = 'open';
  /** Bytes [0, assigned) belong to parts 1..nextPart-1 (started or done). */
  private assigned = 0;
  private nextPart = 1;
  private writtenUpTo = 0;

  constructor(private readonly o: StreamingUploadOptions) {
    this.limits = o.limits ?? o.store.limits;
    this.concurrency = Math.max(1, Math.floor(o.concurrency) || 1);
    this.session = new MultipartSession({ store: o.store, key: o.key, metadata: o.metadata, contentType: o.contentType, signal: o.signal, onUploadId: o.onUploadId });
  }

  /** The destination key. */
  get key(): string {
    return this.o.key;
  }

  /** A multipart upload was started (at least one full part was written). */
  get multipart(): boolean {
    return this.session.started;
  }

  /** Bytes handed to parts so far (uploaded or in flight). */
  get uploadedUpTo(): number {
    return this.assigned;
  }

  /** The first failure, if a part (or the creation) failed; finish() will reject with it. */
  get error(): unknown {
    return this.session.failure?.error;
  }

  /** Bytes [0, upTo) of the data file are final: start the complete parts below upTo. */
  written(upTo: number): void {
    if (upTo > this.writtenUpTo) this.writtenUpTo = upTo;
    this.pump();
  }

  /** The bytes of a write at `offset`, as they went into the data file (see the module comment). */
  offer(data: Buffer, offset: number): void {
    const budget = this.o.memory;
    if (!budget || this.state !== 'open' || data.length === 0) return;
    if (offset !== this.memEnd) {
      this.dropMem();
      this.memStart = this.memEnd = offset;
    }
    if (!budget.tryReserve(data.length)) {
      this.dropMem();
      return;
    }
    this.mem.push(data);
    this.memEnd += data.length;
  }

  /** Resolves when no part is in flight (back-pressure). Never rejects; see `error`. */
  wait(): Promise<void> {
    return this.session.settle();
  }

  /** Upload the rest and complete (or one PUT for a small file). Rejects after aborting on any failure. */
  async finish(size: number, conditions: WriteConditions): Promise<{ etag: string }> {
    const { store, key } = this.o;
    if (this.state !== 'open') throw new StoreError(this.state === 'aborted' ? 'Aborted' : 'InvalidArgument', `${key}: streaming upload already ${this.state}`, { key });
    this.state = 'finishing';
    try {
      if (this.session.failure) throw this.session.failure.error;
      if (!Number.isSafeInteger(size) || size < this.assigned) {
        throw new StoreError('InvalidArgument', `${key}: final size ${size} is below the ${this.assigned} bytes already uploaded`, { key });
      }
      const threshold = Math.min(this.o.smallFileThreshold ?? DEFAULT_SMALL_FILE_THRESHOLD, this.limits.maxPartSize);
      if (!this.session.started && size <= threshold) {
        checkAborted(this.o.signal, key);
        this.dropMem();
        const r = await store.put(key, await putBody(this.o.dataPath, size), {
          metadata: this.o.metadata,
          ...optional(this.o.contentType, this.o.signal),
          ...conditions,
        });
        this.state = 'done';
        return r;
      }
      const tail = splitRange(this.assigned, size, this.nextPart, this.limits);
      if (this.nextPart - 1 + tail.length > this.limits.maxParts) {
        throw new StoreError('TooLarge', `${key}: ${size} bytes need more than ${this.limits.maxParts} parts`, { key });
      }
      for (const p of tail) {
        await this.session.whenBelow(this.concurrency);
        if (this.session.failure) break;
        this.start(p);
      }
      this.dropMem();
      const r = await this.session.complete(conditions);
      this.state = 'done';
      return r;
    } catch (e) {
      this.dropMem();
      this.session.fail(e);
      this.state = 'aborted';
      await this.session.abort();
      throw this.session.failure!.error;
    }
  }

  /** Cancel: stop the parts, abort the multipart upload if any (idempotent). */
  async abort(): Promise<void> {
    if (this.state === 'done') return;
    this.state = 'aborted';
    this.dropMem();
    await this.session.abort();
  }

  // ---------------------------------------------------------------------------------------------

  private pump(): void {
    while (this.state === 'open' && !this.session.failure && this.session.active < this.concurrency && this.nextPart <= this.limits.maxParts) {
      const size = partSizeFor(this.nextPart, this.limits);
      if (this.assigned + size > this.writtenUpTo) return;
      this.start({ partNumber: this.nextPart, start: this.assigned, end: this.assigned + size });
    }
  }

  private start(p: PartRange): void {
    this.assigned = p.end;
    this.nextPart = p.partNumber + 1;
    const { store, key, dataPath } = this.o;
    const held = this.takeMem(p.start, p.end);
    const body: PutBody = held ? { path: dataPath, start: p.start, length: p.end - p.start, buffers: held } : slice(dataPath, p.start, p.end - p.start);
    void this.session
      .run(p.partNumber, (uploadId, signal) => store.uploadPart(key, uploadId, p.partNumber, body, signal))
      .then(() => {
        if (held) this.o.memory!.release(p.end - p.start);
        // A failed part ends the upload now (finish() will report the error).
        if (this.session.failure && this.state === 'open') void this.session.abort();
        else this.pump();
      });
  }

  /**
   * The held bytes [start, end) as Buffers (their reservation moves to the caller, who releases
   * end - start when the part settles), or undefined when they are not all held. Either way
   * nothing below `end` stays held.
   */
  private takeMem(start: number, end: number): Buffer[] | undefined {
    this.trimMem(start);
    if (this.memEnd < 0 || this.memStart !== start || this.memEnd < end) {
      this.trimMem(end);
      return undefined;
    }
    const out: Buffer[] = [];
    let need = end - start;
    while (need > 0) {
      const b = this.mem[0]!;
      if (b.length <= need) {
        out.push(b);
        this.mem.shift();
        need -= b.length;
      } else {
        out.push(b.subarray(0, need));
        this.mem[0] = b.subarray(need);
        need = 0;
      }
    }
    this.memStart = end;
    if (this.mem.length === 0) this.memEnd = -1;
    return out;
  }

  /** Stop holding bytes below `upTo`. */
  private trimMem(upTo: number): void {
    if (this.memEnd < 0 || upTo <= this.memStart) return;
    if (upTo >= this.memEnd) return this.dropMem();
    let drop = upTo - this.memStart;
    while (drop > 0) {
      const b = this.mem[0]!;
      if (b.length <= drop) {
        this.mem.shift();
        drop -= b.length;
      } else {
        this.mem[0] = b.subarray(drop);
        drop = 0;
      }
    }
    this.o.memory!.release(upTo - this.memStart);
    this.memStart = upTo;
  }

  /** Stop holding anything. */
  private dropMem(): void {
    const held = this.memEnd < 0 ? 0 : this.memEnd - this.memStart; // all reserved in o.memory
    if (held > 0) this.o.memory!.release(held);
    this.mem = [];
    this.memEnd = -1;
  }
}

/** A FileSlice of the data file (an empty Buffer for no bytes: some stores refuse empty slices). */
function slice(path: string, start: number, length: number): PutBody {
  return length === 0 ? Buffer.alloc(0) : { path, start, length };
}

/** Bodies up to this size are read into memory for a PUT (no stat, no stream: one read). */
const MEMORY_BODY_MAX = 1024 * 1024;

/** The body of a whole-object PUT of bytes [0, size) of the data file. */
async function putBody(path: string, size: number): Promise<PutBody> {
  if (size === 0 || size > MEMORY_BODY_MAX) return slice(path, 0, size);
  const buf = await readRange(path, 0, size);
  if (buf.length < size) throw new StoreError('InvalidArgument', `${path}: the data file ends at ${buf.length}, before ${size} bytes`);
  return buf;
}

function optional(contentType: string | undefined, signal: AbortSignal | undefined): { contentType?: string; signal?: AbortSignal } {
  return { ...(contentType !== undefined ? { contentType } : {}), ...(signal !== undefined ? { signal } : {}) };
}

function checkAborted(signal: AbortSignal | undefined, key: string): void {
  if (signal?.aborted) throw new StoreError('Aborted', `${key}: upload aborted`, { key, cause: signal.reason });
}
