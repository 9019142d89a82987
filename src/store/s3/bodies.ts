/**
 * Request and response bodies of the S3 store.
 *
 * Upload bodies (PutBody): a Buffer is sent as is (the SDK signs its SHA-256); a FileSlice is
 * checked once against the file's size (a slice past the end is InvalidArgument before anything
 * is sent) and then streamed with a known Content-Length, from a read stream opened afresh for
 * every attempt, so a retry re-reads the file from the slice's start. A slice that carries its
 * bytes in memory (`buffers`) is streamed from those instead (again afresh for every attempt),
 * without reading the file. Nothing is buffered here.
 *
 * Response bodies: readBody() collects a GET body into one fresh Buffer, checks it has exactly the
 * announced length (a connection cut mid-body is a retryable Network error, never short data),
 * and destroys the stream if the attempt's signal fires.
 *
 * No shared state; every function works on its arguments only.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { StoreError } from '../../errors/store-error.js';
import type { FileSlice, PutBody } from '../object-store.js';
import { networkError, type ErrorContext } from './s3-errors.js';

export const isFileSlice = (b: PutBody): b is FileSlice => !Buffer.isBuffer(b);

export const bodyLength = (b: PutBody): number => (isFileSlice(b) ? b.length : b.length);

/** Validate a body before the first attempt (throws InvalidArgument). */
export async function checkBody(body: PutBody, key: string): Promise<void> {
  if (!isFileSlice(body)) {
    if (!Buffer.isBuffer(body)) throw new StoreError('InvalidArgument', `${key}: body is neither a Buffer nor a file slice`, { key });
    return;
  }
  const { path, start, length } = body;
  if (body.buffers && body.buffers.reduce((n, b) => n + b.length, 0) !== length) {
    throw new StoreError('InvalidArgument', `${key}: the in-memory bytes of file slice ${start}+${length} are not ${length} bytes`, { key });
  }
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(length) || start < 0 || length < 0) {
    throw new StoreError('InvalidArgument', `${key}: invalid file slice ${start}+${length}`, { key });
  }
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new Error('not a regular file');
    size = st.size;
  } catch (e) {
    throw new StoreError('InvalidArgument', `${key}: cannot read the upload body ${path}: ${(e as Error).message}`, { key, cause: e });
  }
  if (start + length > size) {
    throw new StoreError('InvalidArgument', `${key}: file slice ${start}+${length} runs past the end of ${path} (${size} bytes)`, { key });
  }
}

/** The body to hand to the SDK for one attempt (a fresh stream for file slices). */
export function openBody(body: PutBody): Buffer | Readable {
  if (!isFileSlice(body)) return body;
  if (body.length === 0) return Buffer.alloc(0);
  if (body.buffers) return Readable.from(body.buffers, { objectMode: false });
  return createReadStream(body.path, { start: body.start, end: body.start + body.length - 1, highWaterMark: 1024 * 1024 });
}

/** Release what openBody returned if the request never consumed it. */
export function closeBody(b: Buffer | Readable): void {
  if (!Buffer.isBuffer(b) && !b.destroyed) b.destroy();
}

/** MD5 hex of the body's bytes (reads a file slice through once). */
export async function md5OfBody(body: PutBody): Promise<string> {
  const h = createHash('md5');
  if (!isFileSlice(body)) return h.update(body).digest('hex');
  if (body.length > 0) {
    for await (const chunk of createReadStream(body.path, { start: body.start, end: body.start + body.length - 1 })) h.update(chunk as Buffer);
  }
  return h.digest('hex');
}

/**
 * Read a response body completely. `expected` is the Content-Length (undefined: unknown). Throws
 * a retryable Network error when the stream fails or ends early.
 */
export function readBody(body: unknown, expected: number | undefined, signal: AbortSignal, ctx: ErrorContext): Promise<Buffer> {
  if (body === undefined || body === null) {
    if (expected === undefined || expected === 0) return Promise.resolve(Buffer.alloc(0));
    return Promise.reject(networkError(ctx, `response has no body (expected ${expected} bytes)`));
  }
  const stream = body as Readable;
  // 'data' events straight into a buffer sized from Content-Length: no per-chunk promise, no
  // final concatenation copy (this is the hot path of every read).
  const out = expected !== undefined ? Buffer.allocUnsafe(expected) : undefined;
  const chunks: Buffer[] = [];
  let total = 0;
  return new Promise<Buffer>((resolve, reject) => {
    let done = false;
    const finish = (err?: unknown): void => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
      if (err !== undefined) {
        stream.destroy();
        reject(err instanceof StoreError ? err : networkError(ctx, `response body cut off after ${total} bytes: ${(err as Error).message}`, err));
        return;
      }
      if (expected !== undefined && total !== expected) {
        reject(networkError(ctx, `response body cut off after ${total} of ${expected} bytes`));
        return;
      }
      resolve(out ?? Buffer.concat(chunks, total)); // always a fresh buffer of our own
    };
    const onAbort = (): void => finish(new Error('aborted'));
    const onData = (chunk: Buffer | Uint8Array): void => {
      const n = chunk.length;
      if (out) {
        if (total + n > out.length) {
          finish(networkError(ctx, `response body longer than its Content-Length ${expected}`));
          return;
        }
        out.set(chunk, total);
      } else chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
      total += n;
    };
    const onEnd = (): void => finish();
    const onError = (e: unknown): void => finish(e);
    // a stream closed without 'end' (connection dropped) fails; after 'end' this is a no-op
    const onClose = (): void => finish(new Error('connection closed before the end of the body'));
    if (signal.aborted) {
      finish(new Error('aborted'));
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
    stream.once('close', onClose);
  });
}
