/**
 * Worker-thread side of PutOffload (put-offload.ts): one S3Store built from the main store's
 * options, serving put requests from the parent. Replies carry the ETag or a serialized
 * StoreError; abort requests abort the matching put. Everything runs on this worker's one thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { StoreError } from '../../errors/store-error.js';
import { S3Store } from './s3-store.js';
import type { WorkerReply, WorkerRequest, WorkerStoreOptions } from './put-offload.js';

const port = parentPort;
if (port === null) throw new Error('put-worker.js runs only as a worker thread (see put-offload.ts)');
const { options, retries } = workerData as { options: WorkerStoreOptions; retries: boolean };
const post = (m: WorkerReply): void => port.postMessage(m);

const store = new S3Store({
  ...options,
  offloadPuts: false,
  ...(retries ? { onRetry: ({ error, ...event }) => post({ t: 'retry', event: { ...event, message: error.message } }) } : {}),
});
const inflight = new Map<number, AbortController>();

port.on('message', (m: WorkerRequest) => {
  if (m.t === 'abort') {
    inflight.get(m.id)?.abort();
    return;
  }
  const ac = new AbortController();
  inflight.set(m.id, ac);
  const body = Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength);
  store.put(m.key, body, { ...m.opts, signal: ac.signal }).then(
    ({ etag }) => post({ t: 'done', id: m.id, etag }),
    (e: unknown) => {
      const se = e instanceof StoreError ? e : new StoreError('Unknown', e instanceof Error ? e.message : String(e), { key: m.key });
      post({ t: 'failed', id: m.id, error: { code: se.code, message: se.message, key: se.key } });
    },
  ).finally(() => inflight.delete(m.id));
});
