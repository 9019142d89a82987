/**
 * S3Store: the ObjectStore over an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, R2, ...) with
 * @aws-sdk/client-s3 v3. Configuration, client and timeouts: s3-config.ts; retries: retry.ts;
 * error codes: s3-errors.ts; multipart: s3-multipart.ts; copy: s3-copy.ts.
 *
 * How the ObjectStore contract maps onto S3:
 * - Keys are relative to the configured prefix; the store adds it to every request and strips it
 *   from listed keys and common prefixes. Keys are validated locally (s3-rules validateKey, and
 *   the 1,024-byte limit counted with the prefix) before any request.
 * - list() is ListObjectsV2 with encoding-type=url (so any key survives XML) and our own opaque
 *   continuation token (base64url of "v1:" + payload; a malformed one is InvalidArgument
 *   locally). The payload is "c:" + S3's token, or "a:" + the last entry returned when we cut a
 *   page ourselves: max-keys 1 is sent to the server as 2 (MinIO mishandles 1, see list()), and
 *   the extra entry is dropped and resumed with StartAfter. startAfter markers follow the
 *   contract's rule "only entries greater than the marker": entries <= the marker (a common
 *   prefix S3 rolls later keys into) are dropped. A page left empty by that filter is never
 *   returned while more pages exist.
 * - get() validates ranges locally (negative, end < start: InvalidArgument, which S3 would
 *   silently ignore) and lets the server answer 416 for a start beyond the end; info.size comes
 *   from Content-Range. The body is read inside the retried attempt and must have exactly the
 *   announced length.
 * - Conditional writes (If-Match, If-None-Match: *) are sent to the server, which evaluates them
 *   atomically. S3 answers 404 NoSuchKey to If-Match on a missing key; the contract (and s3-rules)
 *   call that PreconditionFailed. A conditional write that is retried after a lost response and
 *   then fails its condition is checked with a HEAD: if the object now holds exactly our bytes
 *   (its ETag is their MD5), the earlier attempt won and the write succeeded.
 * - deleteMany uses DeleteObjects in batches of 1,000 (quiet mode); per-key errors are reported
 *   per key, and a batch that fails as a whole reports its error for each of its keys.
 * - check() is HeadBucket, with one-line messages naming the bucket and endpoint.
 *
 * Secrets: the description, every error message and every log line are built from the bucket,
 * prefix, sanitized endpoint, operation and key only. Credentials live inside the SDK client,
 * which is held in a private field.
 *
 * Concurrency: all methods may run concurrently; the store holds no per-call state. close()
 * destroys the client and its socket pools (idempotent); calls after close() fail.
 */
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { StoreError } from '../../errors/store-error.js';
import type {
  ByteRange,
  CompletedPart,
  CopyOptions,
  DeleteManyResult,
  GetOptions,
  GetResult,
  ListOptions,
  ListPage,
  MultipartOptions,
  ObjectInfo,
  ObjectStore,
  PutBody,
  PutOptions,
  WriteConditions,
} from '../object-store.js';
import { S3_LIMITS, checkAborted, compareKeys, copyMetadata, decodeToken, encodeToken, etagMatches, pageSize, quoteEtag } from '../memory/s3-rules.js';
import { bodyLength, checkBody, closeBody, md5OfBody, openBody, readBody } from './bodies.js';
import { buildClient, describe, resolveConfig, type BuiltClient, type S3StoreOptions } from './s3-config.js';
import { S3Context, infoFrom } from './s3-context.js';
import { copyObject } from './s3-copy.js';
import { toStoreError } from './s3-errors.js';
import * as mp from './s3-multipart.js';
import { OFFLOAD_MAX_BYTES, PutOffload } from './put-offload.js';

const DELETE_BATCH = 1000;

export class S3Store implements ObjectStore {
  readonly description: string;
  readonly limits = S3_LIMITS;
  readonly #ctx: S3Context;
  readonly #built: BuiltClient;
  readonly #offload: PutOffload | undefined;
  #closed = false;

  constructor(options: S3StoreOptions) {
    const cfg = resolveConfig(options);
    this.description = describe(cfg);
    this.#built = buildClient(cfg);
    this.#ctx = new S3Context(cfg, this.#built.client);
    if (options.offloadPuts) {
      const { onRetry, ...forWorker } = options;
      this.#offload = new PutOffload({ ...forWorker, offloadPuts: false }, onRetry);
    }
  }

  /** The bucket this store works in. */
  get bucket(): string {
    return this.#ctx.bucket;
  }

  /** The key prefix ('' or ending in '/'). */
  get prefix(): string {
    return this.#ctx.cfg.prefix;
  }

  private ctx(): S3Context {
    if (this.#closed) throw new StoreError('Unknown', `${this.description}: the store is closed`);
    return this.#ctx;
  }

  async check(signal?: AbortSignal): Promise<void> {
    const ctx = this.ctx();
    checkAborted(signal);
    const where = ctx.cfg.endpointText === undefined ? `in region ${ctx.cfg.region}` : `at ${ctx.cfg.endpointText}`;
    try {
      await ctx.call('HEAD bucket', undefined, signal, async (s) => {
        await ctx.client.send(new HeadBucketCommand({ Bucket: ctx.bucket }), ctx.http(s));
      });
    } catch (e) {
      const se = toStoreError(e, { op: 'HEAD bucket' });
      if (se.code === 'NotFound' || se.code === 'NoSuchBucket') {
        throw new StoreError('NoSuchBucket', `bucket "${ctx.bucket}" does not exist ${where}`, { cause: se });
      }
      if (se.code === 'AccessDenied') {
        throw new StoreError('AccessDenied', `access to bucket "${ctx.bucket}" ${where} is denied (check the credentials and the bucket policy)`, {
          cause: se,
        });
      }
      if (se.code === 'Network' || se.code === 'Timeout') {
        const target = ctx.cfg.endpointText ?? `S3 ${where}`;
        throw new StoreError(se.code, `cannot reach ${target}: ${se.message.replace(/^s3 HEAD bucket: /, '')}`, { cause: se });
      }
      throw se;
    }
  }

  async list(opts: ListOptions): Promise<ListPage> {
    const ctx = this.ctx();
    checkAborted(opts.signal);
    const max = pageSize(opts.maxKeys);
    const relPrefix = opts.prefix ?? '';
    const delimiter = opts.delimiter === '' ? undefined : opts.delimiter;
    let serverToken: string | undefined;
    let after: string | undefined;
    if (opts.continuationToken !== undefined && opts.continuationToken !== '') {
      const payload = decodeToken(opts.continuationToken);
      if (payload.startsWith('c:') && payload.length > 2) serverToken = payload.slice(2);
      else if (payload.startsWith('a:') && payload.length > 2) after = payload.slice(2);
      else throw new StoreError('InvalidArgument', `malformed continuation token ${JSON.stringify(opts.continuationToken)}`);
    } else if (opts.startAfter !== undefined && opts.startAfter !== '') {
      after = opts.startAfter;
    }
    const prefix = ctx.cfg.prefix + relPrefix;
    const op = `LIST ${JSON.stringify(relPrefix)}`;
    for (let round = 0; ; round++) {
      const out = await ctx.call(op, undefined, opts.signal, (s) =>
        ctx.client.send(
          new ListObjectsV2Command({
            Bucket: ctx.bucket,
            Prefix: prefix === '' ? undefined : prefix,
            Delimiter: delimiter,
            // Never 1: MinIO answers max-keys=1 specially (only the object named like the prefix,
            // "not truncated"; continuing after a directory marker finds nothing).
            MaxKeys: Math.max(max, 2),
            ContinuationToken: serverToken,
            StartAfter: serverToken === undefined && after !== undefined ? ctx.cfg.prefix + after : undefined,
            EncodingType: 'url',
          }),
          ctx.http(s),
        ),
      );
      const entries: { name: string; info?: ObjectInfo }[] = [];
      for (const o of out.Contents ?? []) {
        if (o.Key === undefined) continue;
        const key = ctx.relKey(decodeS3Url(o.Key));
        entries.push({ name: key, info: { key, size: o.Size ?? 0, etag: o.ETag ?? '', lastModified: o.LastModified ?? new Date(0) } });
      }
      for (const p of out.CommonPrefixes ?? []) {
        if (p.Prefix !== undefined) entries.push({ name: ctx.relKey(decodeS3Url(p.Prefix)) });
      }
      const kept = (after === undefined ? entries : entries.filter((e) => compareKeys(e.name, after!) > 0)).sort((a, b) => compareKeys(a.name, b.name));
      const more = out.IsTruncated === true && out.NextContinuationToken !== undefined && out.NextContinuationToken !== '';
      if (kept.length === 0 && more && round < 100_000) {
        serverToken = out.NextContinuationToken;
        continue;
      }
      const shown = kept.slice(0, max);
      const page: ListPage = { objects: [], prefixes: [] };
      for (const e of shown) {
        if (e.info !== undefined) page.objects.push(e.info);
        else page.prefixes.push(e.name);
      }
      // More entries than asked for (we never ask the server for 1): continue after the last one.
      if (kept.length > max) page.nextToken = encodeToken(`a:${shown[shown.length - 1]!.name}`);
      else if (more) page.nextToken = encodeToken(`c:${out.NextContinuationToken!}`);
      return page;
    }
  }

  async head(key: string, signal?: AbortSignal): Promise<ObjectInfo> {
    const ctx = this.ctx();
    checkAborted(signal, key);
    return ctx.head(key, signal);
  }

  async get(key: string, opts: GetOptions = {}): Promise<GetResult> {
    const ctx = this.ctx();
    checkAborted(opts.signal, key);
    const full = ctx.fullKey(key);
    const range = opts.range;
    if (range !== undefined) checkRange(range, key);
    return ctx.call('GET', key, opts.signal, async (s) => {
      const out = await ctx.client.send(
        new GetObjectCommand({
          Bucket: ctx.bucket,
          Key: full,
          Range: range === undefined ? undefined : `bytes=${range.start}-${range.end}`,
          IfMatch: opts.ifMatch,
        }),
        ctx.http(s),
      );
      let body = await readBody(out.Body, out.ContentLength, s, { op: 'GET', key });
      const total = totalFromContentRange(out.ContentRange);
      let size = total ?? body.length;
      if (range !== undefined && total === undefined) {
        // The server ignored the Range header and sent the whole object.
        size = body.length;
        if (range.start >= size) throw new StoreError('InvalidArgument', `${key}: range start ${range.start} is not within the object size ${size}`, { key });
        body = Buffer.from(body.subarray(range.start, Math.min(range.end, size - 1) + 1));
      }
      return { body, info: infoFrom(key, out, size) };
    });
  }

  async put(key: string, body: PutBody, opts: PutOptions = {}): Promise<{ etag: string }> {
    const ctx = this.ctx();
    checkAborted(opts.signal, key);
    if (this.#offload && Buffer.isBuffer(body) && body.length > 0 && body.length <= OFFLOAD_MAX_BYTES) return this.#offload.put(key, body, opts);
    return this.putHere(ctx, key, body, opts);
  }

  private async putHere(ctx: S3Context, key: string, body: PutBody, opts: PutOptions): Promise<{ etag: string }> {
    const full = ctx.fullKey(key);
    const metadata = copyMetadata(opts.metadata, key);
    await checkBody(body, key);
    const conditional = opts.ifMatch !== undefined || opts.ifNoneMatch !== undefined;
    return ctx.call('PUT', key, opts.signal, async (s, attempt) => {
      const b = openBody(body);
      try {
        const out = await ctx.client.send(
          new PutObjectCommand({
            Bucket: ctx.bucket,
            Key: full,
            Body: b,
            ContentLength: bodyLength(body),
            Metadata: metadata,
            ContentType: opts.contentType,
            IfMatch: opts.ifMatch,
            IfNoneMatch: opts.ifNoneMatch,
          }),
          ctx.http(s, true),
        );
        return { etag: out.ETag ?? quoteEtag(await md5OfBody(body)) };
      } catch (e) {
        closeBody(b);
        if (!conditional) throw e;
        const se = conditionFailure(toStoreError(e, { op: 'PUT', key }), opts, key);
        if (se.code === 'PreconditionFailed' && attempt > 1) {
          const won = await this.lostWriteWon(key, await md5OfBody(body), s);
          if (won !== undefined) return { etag: won };
        }
        throw se;
      }
    });
  }

  /**
   * After a retried conditional write failed its condition: does the object hold exactly the
   * bytes we wrote (so an earlier attempt succeeded and only its response was lost)?
   */
  private async lostWriteWon(key: string, md5: string, signal: AbortSignal): Promise<string | undefined> {
    try {
      const info = await this.#ctx.head(key, signal);
      return etagMatches(info.etag, md5) ? info.etag : undefined;
    } catch {
      return undefined;
    }
  }

  copy(sourceKey: string, destKey: string, opts: CopyOptions = {}): Promise<{ etag: string }> {
    const io = { get: (k: string, o: GetOptions) => this.get(k, o), put: (k: string, b: PutBody, o: PutOptions) => this.put(k, b, o) };
    return copyObject(this.ctx(), io, sourceKey, destKey, opts);
  }

  async delete(key: string, signal?: AbortSignal): Promise<void> {
    const ctx = this.ctx();
    checkAborted(signal, key);
    const full = ctx.fullKey(key);
    await ctx.call('DELETE', key, signal, async (s) => {
      await ctx.client.send(new DeleteObjectCommand({ Bucket: ctx.bucket, Key: full }), ctx.http(s));
    });
  }

  async deleteMany(keys: string[], signal?: AbortSignal): Promise<DeleteManyResult> {
    const ctx = this.ctx();
    checkAborted(signal);
    const result: DeleteManyResult = { deleted: [], errors: [] };
    const valid: { key: string; full: string }[] = [];
    for (const key of keys) {
      try {
        valid.push({ key, full: ctx.fullKey(key) });
      } catch (e) {
        result.errors.push({ key, error: e as Error });
      }
    }
    for (let i = 0; i < valid.length; i += DELETE_BATCH) {
      const batch = valid.slice(i, i + DELETE_BATCH);
      const byFull = new Map(batch.map((k) => [k.full, k.key]));
      let failed: Map<string, Error>;
      try {
        failed = await ctx.call('DELETE batch', undefined, signal, async (s) => {
          const out = await ctx.client.send(
            new DeleteObjectsCommand({ Bucket: ctx.bucket, Delete: { Quiet: true, Objects: batch.map((k) => ({ Key: k.full })) } }),
            ctx.http(s),
          );
          const errs = new Map<string, Error>();
          for (const err of out.Errors ?? []) {
            const key = err.Key === undefined ? undefined : byFull.get(err.Key);
            if (key === undefined) continue;
            const fake = Object.assign(new Error(err.Message ?? err.Code ?? 'delete failed'), { Code: err.Code, $metadata: { httpStatusCode: 400 } });
            errs.set(key, toStoreError(fake, { op: 'DELETE', key }));
          }
          return errs;
        });
      } catch (e) {
        const se = toStoreError(e, { op: 'DELETE batch' });
        if (se.code === 'Aborted') throw se;
        for (const k of batch) result.errors.push({ key: k.key, error: se });
        continue;
      }
      for (const k of batch) {
        const err = failed.get(k.key);
        if (err === undefined) result.deleted.push(k.key);
        else result.errors.push({ key: k.key, error: err });
      }
    }
    return result;
  }

  createMultipart(key: string, opts: MultipartOptions = {}): Promise<{ uploadId: string }> {
    return mp.createMultipart(this.ctx(), key, opts);
  }

  uploadPart(key: string, uploadId: string, partNumber: number, body: PutBody, signal?: AbortSignal): Promise<CompletedPart> {
    return mp.uploadPart(this.ctx(), key, uploadId, partNumber, body, signal);
  }

  uploadPartCopy(
    key: string,
    uploadId: string,
    partNumber: number,
    source: { key: string; range?: ByteRange; ifMatch?: string },
    signal?: AbortSignal,
  ): Promise<CompletedPart> {
    return mp.uploadPartCopy(this.ctx(), key, uploadId, partNumber, source, signal);
  }

  completeMultipart(key: string, uploadId: string, parts: CompletedPart[], conditions: WriteConditions & { signal?: AbortSignal } = {}): Promise<{ etag: string }> {
    return mp.completeMultipart(this.ctx(), key, uploadId, parts, conditions);
  }

  abortMultipart(key: string, uploadId: string, signal?: AbortSignal): Promise<void> {
    return mp.abortMultipart(this.ctx(), key, uploadId, signal);
  }

  /** ObjectStore.prepareWrites: start the upload worker (if small puts are offloaded). */
  prepareWrites(): void {
    if (!this.#closed) this.#offload?.prepare();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#built.destroy();
    await this.#offload?.close();
  }
}

/** S3 answers If-Match on a missing key with 404; the contract calls that PreconditionFailed. */
export function conditionFailure(se: StoreError, cond: WriteConditions, key: string): StoreError {
  if (se.code === 'NotFound' && cond.ifMatch !== undefined) {
    return new StoreError('PreconditionFailed', `${key}: ifMatch ${cond.ifMatch} but the object does not exist`, { key, cause: se });
  }
  return se;
}

/** Local range checks (S3 ignores a syntactically bad Range header instead of failing). */
function checkRange(range: ByteRange, key: string): void {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new StoreError('InvalidArgument', `${key}: invalid range ${start}-${end}`, { key });
  }
}

/** The total size in "bytes 0-9/1234", or undefined. */
function totalFromContentRange(cr: string | undefined): number | undefined {
  const m = cr === undefined ? null : /\/(\d+)\s*$/.exec(cr);
  return m ? Number(m[1]) : undefined;
}

/** Decode a key from a ListObjectsV2 response with encoding-type=url ('+' is a space). */
export function decodeS3Url(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}
