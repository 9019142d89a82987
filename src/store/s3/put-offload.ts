/**
 * PutOffload: whole-object PUTs of small in-memory bodies, run by a worker thread with its own
 * S3Store (same options, its own client and socket pool).
 *
 * Why: with many small files (1,000 x 16 KiB written through a mount in `--sync idle`), the one
 * JS thread serves the FUSE requests of new files and, at the same time, runs the SDK for their
 * uploads (middleware, signing, HTTP: about half of the upload phase's JS time). The two then add
 * up on one core while the second core idles. In a worker, uploads run beside the FUSE traffic.
 *
 * Contract: put() behaves as S3Store.put (same retries, conditions, errors: a StoreError with the
 * same code, message and key comes back; other errors arrive as StoreError 'Unknown'). The body
 * is copied once and the copy moved to the worker (1 MiB at most; the caller keeps its Buffer). An aborted
 * signal aborts the worker's request. Retry events reach `onRetry` of the main thread's options.
 *
 * Ownership: one PutOffload per S3Store, used on the JS thread that created it. The worker is
 * started by prepare() (S3Store.prepareWrites: the mount stages its first file for writing) or
 * else the first put() (a mount that only reads never starts it), and unref'd, so it never
 * keeps the process alive; close() terminates it and fails the puts still in flight.
 */
import { Worker } from 'node:worker_threads';
import { StoreError, type StoreErrorCode } from '../../errors/store-error.js';
import type { PutOptions } from '../object-store.js';
import type { S3RetryEvent, S3StoreOptions } from './s3-config.js';

/** Bodies up to this size go to the worker; larger ones stay on the calling thread. */
export const OFFLOAD_MAX_BYTES = 1024 * 1024;

export interface PutRequest {
  t: 'put';
  id: number;
  key: string;
  body: Uint8Array;
  opts: Omit<PutOptions, 'signal'>;
}
export interface AbortRequest {
  t: 'abort';
  id: number;
}
export type WorkerRequest = PutRequest | AbortRequest;

export interface SerializedError {
  code: StoreErrorCode;
  message: string;
  key: string | undefined;
}
export type WorkerReply =
  | { t: 'done'; id: number; etag: string }
  | { t: 'failed'; id: number; error: SerializedError }
  | { t: 'retry'; event: Omit<S3RetryEvent, 'error'> & { message: string } };

/** S3StoreOptions without the parts that cannot cross to a worker (functions). */
export type WorkerStoreOptions = Omit<S3StoreOptions, 'onRetry'>;

interface Pending {
  resolve(r: { etag: string }): void;
  reject(e: unknown): void;
  detach(): void;
}

export class PutOffload {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closed = false;

  constructor(
    private readonly options: WorkerStoreOptions,
    private readonly onRetry: ((event: S3RetryEvent) => void) | undefined,
  ) {}

  put(key: string, body: Buffer, opts: PutOptions): Promise<{ etag: string }> {
    if (this.closed) return Promise.reject(new StoreError('Unknown', `${key}: the store is closed`, { key }));
    const w = this.start();
    const id = this.nextId++;
    const { signal, ...rest } = opts;
    return new Promise((resolve, reject) => {
      const onAbort = (): void => w.postMessage({ t: 'abort', id } satisfies AbortRequest);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, { resolve, reject, detach: () => signal?.removeEventListener('abort', onAbort) });
      w.ref(); // a put in flight keeps the process alive, as a request on the main thread would
      const copy = new Uint8Array(body); // exactly the body's bytes (a Buffer may view a larger pool), moved, not cloned
      w.postMessage({ t: 'put', id, key, body: copy, opts: rest } satisfies PutRequest, [copy.buffer]);
    });
  }

  /** Start the worker now (it loads the SDK, ~0.1-0.3 s), so the first put does not wait for it. */
  prepare(): void {
    if (!this.closed) this.start();
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = undefined;
    this.failAll('the store is closed');
    await w?.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL('./put-worker.js', import.meta.url), { workerData: { options: this.options, retries: this.onRetry !== undefined } });
    w.unref();
    w.on('message', (m: WorkerReply) => this.onMessage(m));
    w.on('error', (e) => this.failAll(`upload worker failed: ${e.message}`));
    w.on('exit', () => {
      if (this.worker === w) this.worker = undefined;
      this.failAll('upload worker exited');
    });
    this.worker = w;
    return w;
  }

  private onMessage(m: WorkerReply): void {
    if (m.t === 'retry') {
      this.onRetry?.({ ...m.event, error: new Error(m.event.message) });
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    p.detach();
    if (this.pending.size === 0) this.worker?.unref();
    if (m.t === 'done') p.resolve({ etag: m.etag });
    else p.reject(new StoreError(m.error.code, m.error.message, { key: m.error.key }));
  }

  private failAll(why: string): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) {
      p.detach();
      p.reject(new StoreError('Unknown', why));
    }
  }
}
