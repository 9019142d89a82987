/**
 * Request and response bodies of the S3 store.
 *
 * Upload bodies (PutBody): a Buffer is sent as is (the SDK signs its SHA-256); a FileSlice is
 * checked once against the file's size (a slice past the end is InvalidArgument before anything
 * is sent) and then streamed with a known Content-Length, from a read stream opened afresh for
 * every attempt, so a retry re-reads the file from the slice's start. Nothing is buffered.
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
import type { Readable } from 'node:stream';
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
export async function readBody(body: unknown, expected: number | undefined, signal: AbortSignal, ctx: ErrorContext): Promise<Buffer> {
  if (body === undefined || body === null) {
    if (expected === undefined || expected === 0) return Buffer.alloc(0);
    throw networkError(ctx, `response has no body (expected ${expected} bytes)`);
  }
  const stream = body as Readable;
  const onAbort = (): void => {
    stream.destroy(new Error('aborted'));
  };
  signal.addEventListener('abort', onAbort, { once: true });
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of stream) {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      chunks.push(b);
      total += b.length;
      if (expected !== undefined && total > expected) throw networkError(ctx, `response body longer than its Content-Length ${expected}`);
    }
  } catch (e) {
    if (e instanceof StoreError) throw e;
    throw networkError(ctx, `response body cut off after ${total} bytes: ${(e as Error).message}`, e);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  if (expected !== undefined && total !== expected) throw networkError(ctx, `response body cut off after ${total} of ${expected} bytes`);
  return Buffer.concat(chunks, total); // always a fresh buffer of our own
}
