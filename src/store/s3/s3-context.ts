/**
 * S3Context: what every S3 operation module (s3-store.ts, s3-multipart.ts, s3-copy.ts) shares —
 * the resolved config, the SDK client, the retry policy, and the mapping between store-relative
 * keys and bucket keys (the store prefix is added on the way out and stripped on the way in).
 *
 * Ownership: one context per S3Store, created in its constructor; the client is destroyed by the
 * store's close(). The context itself is immutable after construction, so operations can run
 * concurrently without locks.
 */
import { HeadObjectCommand, type HeadObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import { StoreError } from '../../errors/store-error.js';
import type { ObjectInfo } from '../object-store.js';
import { MAX_KEY_BYTES, S3_LIMITS, validateKey } from '../memory/s3-rules.js';
import type { ResolvedS3Config } from './s3-config.js';
import type { ErrorContext } from './s3-errors.js';
import { withRetry, type RetryPolicy } from './retry.js';

export interface HttpOpts {
  abortSignal: AbortSignal;
  requestTimeout?: number;
}

export class S3Context {
  readonly cfg: ResolvedS3Config;
  readonly client: S3Client;
  readonly bucket: string;
  readonly policy: RetryPolicy;
  readonly limits = S3_LIMITS;
  private readonly prefixBytes: number;

  constructor(cfg: ResolvedS3Config, client: S3Client) {
    this.cfg = cfg;
    this.client = client;
    this.bucket = cfg.bucket;
    this.policy = {
      maxAttempts: cfg.maxAttempts,
      baseDelayMs: cfg.retryBaseDelayMs,
      maxDelayMs: cfg.retryMaxDelayMs,
      onRetry: cfg.onRetry,
    };
    this.prefixBytes = Buffer.byteLength(cfg.prefix, 'utf8');
  }

  /** Validate a store-relative key and return the bucket key (prefix + key). Throws InvalidKey. */
  fullKey(key: string): string {
    validateKey(key);
    const bytes = this.prefixBytes + Buffer.byteLength(key, 'utf8');
    if (bytes > MAX_KEY_BYTES) {
      throw new StoreError('InvalidKey', `key is ${bytes - this.prefixBytes} bytes long; with the store prefix the limit is ${MAX_KEY_BYTES - this.prefixBytes}`, {
        key,
      });
    }
    return this.cfg.prefix + key;
  }

  /** The store-relative form of a bucket key or common prefix under our prefix. */
  relKey(full: string): string {
    return full.startsWith(this.cfg.prefix) ? full.slice(this.cfg.prefix.length) : full;
  }

  /** Options for client.send: the attempt's signal; `long` disables the time-to-headers limit. */
  http(signal: AbortSignal, long = false): HttpOpts {
    return long ? { abortSignal: signal, requestTimeout: 0 } : { abortSignal: signal };
  }

  /** Run one logical request under the retry policy (see retry.ts). */
  call<T>(op: string, key: string | undefined, signal: AbortSignal | undefined, fn: (s: AbortSignal, attempt: number) => Promise<T>): Promise<T> {
    const ctx: ErrorContext = { op, key };
    return withRetry(this.policy, ctx, signal, fn);
  }

  /** HEAD of a store-relative key as ObjectInfo (with metadata and content type). */
  async head(key: string, signal: AbortSignal | undefined): Promise<ObjectInfo> {
    const full = this.fullKey(key);
    return this.call('HEAD', key, signal, async (s) => {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: full }), this.http(s));
      return infoFrom(key, out, out.ContentLength ?? 0);
    });
  }
}

type InfoSource = Pick<HeadObjectCommandOutput, 'ETag' | 'LastModified' | 'Metadata' | 'ContentType'>;

/** ObjectInfo from a HEAD/GET response; `size` is the whole object's size. */
export function infoFrom(key: string, out: InfoSource, size: number): ObjectInfo {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(out.Metadata ?? {})) metadata[k.toLowerCase()] = v;
  const info: ObjectInfo = {
    key,
    size,
    etag: out.ETag ?? '',
    lastModified: out.LastModified ?? new Date(0),
    metadata,
  };
  if (out.ContentType !== undefined) info.contentType = out.ContentType;
  return info;
}
