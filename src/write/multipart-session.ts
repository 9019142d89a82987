/**
 * MultipartSession: the life of one multipart upload, shared by runUpload and StreamingUpload
 * (uploader.ts): lazy creation, parts run in the background, completion, and abort.
 *
 * Rules:
 * - The upload is created on the first ensure() (or the first part); onUploadId(id) runs right
 *   after, before any part, so the caller can journal the id. If that callback fails, the session
 *   fails (an upload nobody knows about must not receive parts).
 * - run(partNumber, fn) starts a part at once and tracks it; it never rejects. The first failure
 *   of any part (or of the creation) is kept in `failure`, and every other part in flight is
 *   cancelled through the session's internal signal. Callers bound concurrency themselves with
 *   `active` / whenBelow().
 * - complete() waits for the parts in flight, then completes with the parts sorted by number.
 * - abort() is idempotent and best effort: it cancels the parts in flight, waits for them to
 *   settle (so no part lands after the abort), then aborts the upload WITHOUT the caller's signal
 *   (a cancelled upload is cleaned up too) but with its own time limit. onUploadId(undefined) runs
 *   after a successful complete or abort (or NoSuchUpload: nothing left); if the abort itself
 *   fails, the id is left for the caller's journal, so recovery can abort it later.
 *
 * Ownership / concurrency: one instance per upload, owned by its uploader; single JS thread, no
 * locking. The caller's signal is linked to the internal one from the first use until completion or
 * abort (both cancel parts).
 */
import { StoreError, isStoreError } from '../errors/store-error.js';
import type { CompletedPart, ObjectStore, WriteConditions } from '../store/object-store.js';

const ABORT_TIME_LIMIT_MS = 60_000;

export interface SessionOptions {
  store: ObjectStore;
  key: string;
  metadata: Record<string, string>;
  contentType?: string | undefined;
  signal?: AbortSignal | undefined;
  onUploadId?: ((uploadId: string | undefined) => void | Promise<void>) | undefined;
}

export class MultipartSession {
  /** First failure (a part, the creation, the journal callback); undefined while all is well. */
  failure: { error: unknown } | undefined;
  private creating: Promise<string> | undefined;
  private uploadId: string | undefined;
  private readonly done = new Map<number, CompletedPart>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly ctl = new AbortController();
  private aborting: Promise<void> | undefined;
  private unlink: (() => void) | undefined;

  constructor(private readonly o: SessionOptions) {}

  /**
   * Follow the caller's signal from the first use until completion or abort (not from the
   * constructor: a StreamingUpload that ends as a PUT must leave no listener on a long-lived signal).
   */
  private link(): void {
    const outer = this.o.signal;
    if (this.unlink !== undefined || outer === undefined) return;
    const onAbort = (): void => this.ctl.abort(outer.reason);
    outer.addEventListener('abort', onAbort, { once: true });
    this.unlink = () => outer.removeEventListener('abort', onAbort);
    if (outer.aborted) onAbort();
  }

  /** Fires when the caller's signal fires or the session failed / is being aborted. */
  get signal(): AbortSignal {
    return this.ctl.signal;
  }

  /** createMultipart was called (successfully or not). */
  get started(): boolean {
    return this.creating !== undefined;
  }

  /** Parts in flight. */
  get active(): number {
    return this.inflight.size;
  }

  get completedParts(): number {
    return this.done.size;
  }

  /** The upload id, creating the upload on first use. */
  ensure(): Promise<string> {
    this.creating ??= (async () => {
      this.link();
      this.checkCancelled();
      const { uploadId } = await this.o.store.createMultipart(this.o.key, {
        metadata: this.o.metadata,
        ...(this.o.contentType !== undefined ? { contentType: this.o.contentType } : {}),
        signal: this.ctl.signal,
      });
      this.uploadId = uploadId;
      await this.o.onUploadId?.(uploadId);
      return uploadId;
    })();
    return this.creating;
  }

  /** Start part `partNumber`: fn gets the upload id and the session's signal. Never rejects. */
  run(partNumber: number, fn: (uploadId: string, signal: AbortSignal) => Promise<CompletedPart>): Promise<void> {
    const p = (async () => {
      try {
        this.link();
        this.checkCancelled();
        const uploadId = await this.ensure();
        this.checkCancelled();
        const part = await fn(uploadId, this.ctl.signal);
        this.done.set(partNumber, { partNumber, etag: part.etag });
      } catch (e) {
        this.fail(e);
      }
    })();
    this.inflight.add(p);
    void p.then(() => this.inflight.delete(p));
    return p;
  }

  /** Resolves once fewer than `n` parts are in flight. */
  async whenBelow(n: number): Promise<void> {
    while (this.inflight.size >= n) await Promise.race(this.inflight);
  }

  /** Resolves once no part is in flight (including parts started meanwhile). */
  async settle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }

  /** Record a failure (the first one wins) and cancel the parts in flight. */
  fail(error: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = { error };
    this.ctl.abort(error);
  }

  /** Wait for the parts, complete the upload. Throws the first failure (without aborting: see abort()). */
  async complete(conditions: WriteConditions): Promise<{ etag: string }> {
    await this.settle();
    if (this.failure) throw this.failure.error;
    const uploadId = await this.ensure();
    const parts = [...this.done.values()].sort((a, b) => a.partNumber - b.partNumber);
    let etag: string;
    try {
      this.checkCancelled();
      ({ etag } = await this.o.store.completeMultipart(this.o.key, uploadId, parts, { ...conditions, signal: this.ctl.signal }));
    } catch (e) {
      this.fail(e);
      throw e;
    }
    this.uploadId = undefined;
    this.unlink?.();
    await Promise.resolve(this.o.onUploadId?.(undefined)).catch(() => undefined); // the object is written either way
    return { etag };
  }

  /** Cancel everything and abort the upload if one was created (idempotent, never throws). */
  abort(): Promise<void> {
    this.aborting ??= (async () => {
      if (!this.ctl.signal.aborted) this.ctl.abort(new StoreError('Aborted', `${this.o.key}: upload aborted`, { key: this.o.key }));
      await this.settle();
      if (this.creating !== undefined) await this.creating.catch(() => undefined);
      this.unlink?.();
      const uploadId = this.uploadId;
      if (uploadId === undefined) return;
      try {
        await this.o.store.abortMultipart(this.o.key, uploadId, AbortSignal.timeout(ABORT_TIME_LIMIT_MS));
      } catch (e) {
        if (!isStoreError(e, 'NoSuchUpload')) return; // still open: the caller's journal keeps the id
      }
      this.uploadId = undefined;
      await Promise.resolve(this.o.onUploadId?.(undefined)).catch(() => undefined);
    })();
    return this.aborting;
  }

  private checkCancelled(): void {
    if (this.o.signal?.aborted && !this.ctl.signal.aborted) this.ctl.abort(this.o.signal.reason);
    const s = this.ctl.signal;
    if (!s.aborted) return;
    if (this.failure) throw this.failure.error;
    throw s.reason instanceof StoreError ? s.reason : new StoreError('Aborted', `${this.o.key}: upload aborted`, { key: this.o.key, cause: s.reason });
  }
}
