/**
 * copy() of the S3 store: a server-side copy that keeps or replaces the metadata, honours
 * sourceIfMatch, and honours write conditions (ifMatch / ifNoneMatch) on the destination
 * atomically.
 *
 * Every copy starts with a HEAD of the source: it gives the size (CopyObject stops at 5 GiB), the
 * metadata and content type to carry over when only one of them is replaced (S3's REPLACE
 * directive replaces both), and the ETag that pins the copy to exactly the version looked at
 * (x-amz-copy-source-if-match). If the source changes between the HEAD and the copy, the copy
 * fails its pin and is started again (up to 5 times) -- unless the caller gave sourceIfMatch, in
 * which case that is PreconditionFailed for the caller.
 *
 * Then one of three paths:
 * - CopyObject, for an unconditional copy of a source up to multipartCopyThreshold (5 GiB).
 *   COPY directive when nothing is replaced; REPLACE (with the source's values filling in what the
 *   caller did not give) when metadata or content type change, and always for a copy onto itself
 *   (S3 refuses a self-copy that changes nothing; the contract allows it).
 * - Conditional copies (ifMatch / ifNoneMatch on the destination) cannot use CopyObject:
 *   S3-compatible servers do not evaluate those headers there (MinIO ignores them), but they do on
 *   PutObject and CompleteMultipartUpload. A source of at most SMALL_COPY bytes (and any source
 *   whose destination ends in '/': MinIO has no multipart uploads for such keys) is read with
 *   GET If-Match <pin> and written with a conditional PUT (so its ETag stays the MD5 of the bytes).
 * - Otherwise a multipart copy: CreateMultipartUpload with the final metadata, UploadPartCopy of
 *   ranges of the pinned source (4 at a time; part size multipartCopyPartSize, raised to fit
 *   10,000 parts), CompleteMultipartUpload carrying the destination conditions. Used for large
 *   conditional copies and for sources above the threshold. Such a copy has a multipart ETag
 *   ("...-N"). On failure the upload is aborted (best effort, even when the caller's signal fired).
 *
 * The GET and PUT of the small path are the store's own (passed in as CopyIo), so they share its
 * checks, retries and lost-response handling.
 *
 * No state; safe to run concurrently.
 */
import { AbortMultipartUploadCommand, CopyObjectCommand } from '@aws-sdk/client-s3';
import { StoreError } from '../../errors/store-error.js';
import type { CompletedPart, CopyOptions, GetOptions, GetResult, ObjectInfo, PutBody, PutOptions } from '../object-store.js';
import { checkAborted, copyMetadata, etagMatches } from '../memory/s3-rules.js';
import type { S3Context } from './s3-context.js';
import { completeMultipart, copySource, createMultipart, uploadPartCopy } from './s3-multipart.js';
import { toStoreError } from './s3-errors.js';

const MAX_ROUNDS = 5;
/** Conditional copies of sources up to this size are a GET and a conditional PUT. */
const SMALL_COPY = 8 * 1024 * 1024;

/** The store's own get and put, for the small conditional path. */
export interface CopyIo {
  get(key: string, opts: GetOptions): Promise<GetResult>;
  put(key: string, body: PutBody, opts: PutOptions): Promise<{ etag: string }>;
}
const PART_COPY_CONCURRENCY = 4;
const MiB = 1024 * 1024;

/** Thrown inside a copy when the pinned source version is gone (it changed after our HEAD). */
class SourceChanged extends Error {
  constructor(readonly storeError: StoreError) {
    super('copy source changed');
  }
}

export async function copyObject(ctx: S3Context, io: CopyIo, sourceKey: string, destKey: string, opts: CopyOptions): Promise<{ etag: string }> {
  checkAborted(opts.signal, destKey);
  ctx.fullKey(sourceKey);
  ctx.fullKey(destKey);
  const newMetadata = opts.metadata === undefined ? undefined : copyMetadata(opts.metadata, destKey);
  const conditional = opts.ifMatch !== undefined || opts.ifNoneMatch !== undefined;
  for (let round = 1; ; round++) {
    const src = await ctx.head(sourceKey, opts.signal);
    if (opts.sourceIfMatch !== undefined && !etagMatches(src.etag, opts.sourceIfMatch)) {
      throw new StoreError('PreconditionFailed', `${sourceKey}: sourceIfMatch ${opts.sourceIfMatch} but the ETag is ${src.etag}`, { key: sourceKey });
    }
    const plan: CopyPlan = {
      sourceKey,
      destKey,
      src,
      replace: newMetadata !== undefined || opts.contentType !== undefined || sourceKey === destKey,
      metadata: newMetadata ?? { ...(src.metadata ?? {}) },
      contentType: opts.contentType ?? src.contentType,
    };
    try {
      if (!conditional && src.size <= ctx.cfg.multipartCopyThreshold) return await singleCopy(ctx, plan, opts.signal);
      if (conditional && (src.size <= SMALL_COPY || destKey.endsWith('/'))) return await readWriteCopy(io, plan, opts);
      return await multipartCopy(ctx, plan, opts);
    } catch (e) {
      if (!(e instanceof SourceChanged)) throw e;
      if (opts.sourceIfMatch === undefined && round < MAX_ROUNDS) continue;
      throw new StoreError(e.storeError.code === 'NotFound' ? 'NotFound' : 'PreconditionFailed', `${sourceKey}: the copy source changed during the copy`, {
        key: sourceKey,
        cause: e.storeError,
      });
    }
  }
}

interface CopyPlan {
  sourceKey: string;
  destKey: string;
  src: ObjectInfo;
  replace: boolean;
  metadata: Record<string, string>;
  contentType: string | undefined;
}

async function singleCopy(ctx: S3Context, plan: CopyPlan, signal: AbortSignal | undefined): Promise<{ etag: string }> {
  const dstFull = ctx.fullKey(plan.destKey);
  const source = copySource(ctx, plan.sourceKey);
  try {
    return await ctx.call('COPY', plan.destKey, signal, async (s) => {
      const out = await ctx.client.send(
        new CopyObjectCommand({
          Bucket: ctx.bucket,
          Key: dstFull,
          CopySource: source,
          CopySourceIfMatch: plan.src.etag,
          MetadataDirective: plan.replace ? 'REPLACE' : 'COPY',
          Metadata: plan.replace ? plan.metadata : undefined,
          ContentType: plan.replace ? plan.contentType : undefined,
        }),
        ctx.http(s, true),
      );
      return { etag: out.CopyObjectResult?.ETag ?? '' };
    });
  } catch (e) {
    const se = toStoreError(e, { op: 'COPY', key: plan.destKey });
    // No destination condition was sent: a failed precondition or a missing key is the source's.
    if (se.code === 'PreconditionFailed' || se.code === 'NotFound') throw new SourceChanged(se);
    throw se;
  }
}

async function readWriteCopy(io: CopyIo, plan: CopyPlan, opts: CopyOptions): Promise<{ etag: string }> {
  let body: Buffer;
  try {
    const getOpts: GetOptions = { ifMatch: plan.src.etag };
    if (opts.signal !== undefined) getOpts.signal = opts.signal;
    body = (await io.get(plan.sourceKey, getOpts)).body;
  } catch (e) {
    if (e instanceof StoreError && (e.code === 'PreconditionFailed' || e.code === 'NotFound')) throw new SourceChanged(e);
    throw e;
  }
  const putOpts: PutOptions = { metadata: plan.metadata };
  if (plan.contentType !== undefined) putOpts.contentType = plan.contentType;
  if (opts.ifMatch !== undefined) putOpts.ifMatch = opts.ifMatch;
  if (opts.ifNoneMatch !== undefined) putOpts.ifNoneMatch = opts.ifNoneMatch;
  if (opts.signal !== undefined) putOpts.signal = opts.signal;
  return io.put(plan.destKey, body, putOpts);
}

async function multipartCopy(ctx: S3Context, plan: CopyPlan, opts: CopyOptions): Promise<{ etag: string }> {
  const { destKey, src } = plan;
  const size = src.size;
  const minPart = Math.ceil(size / ctx.limits.maxParts / MiB) * MiB;
  const partSize = Math.max(ctx.cfg.multipartCopyPartSize, minPart, 1);
  const ranges: ({ start: number; end: number } | undefined)[] = [];
  if (size === 0) ranges.push(undefined);
  for (let start = 0; start < size; start += partSize) ranges.push({ start, end: Math.min(size, start + partSize) - 1 });

  const createOpts: { metadata: Record<string, string>; contentType?: string; signal?: AbortSignal } = { metadata: plan.metadata };
  if (plan.contentType !== undefined) createOpts.contentType = plan.contentType;
  if (opts.signal !== undefined) createOpts.signal = opts.signal;
  const { uploadId } = await createMultipart(ctx, destKey, createOpts);
  try {
    const parts: CompletedPart[] = new Array<CompletedPart>(ranges.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < ranges.length; i = next++) {
        const range = ranges[i];
        const source = range === undefined ? { key: plan.sourceKey, ifMatch: src.etag } : { key: plan.sourceKey, range, ifMatch: src.etag };
        try {
          parts[i] = await uploadPartCopy(ctx, destKey, uploadId, i + 1, source, opts.signal);
        } catch (e) {
          const se = toStoreError(e, { op: 'COPY part', key: destKey });
          if ((se.code === 'PreconditionFailed' || se.code === 'NotFound') && se.key === plan.sourceKey) throw new SourceChanged(se);
          throw se;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PART_COPY_CONCURRENCY, ranges.length) }, worker));
    const cond: { ifMatch?: string; ifNoneMatch?: '*'; signal?: AbortSignal } = {};
    if (opts.ifMatch !== undefined) cond.ifMatch = opts.ifMatch;
    if (opts.ifNoneMatch !== undefined) cond.ifNoneMatch = opts.ifNoneMatch;
    if (opts.signal !== undefined) cond.signal = opts.signal;
    return await completeMultipart(ctx, destKey, uploadId, parts, cond);
  } catch (e) {
    await abortQuietly(ctx, destKey, uploadId);
    throw e;
  }
}

/** Abort an upload we started, ignoring the caller's signal and any failure (it is cleanup). */
async function abortQuietly(ctx: S3Context, key: string, uploadId: string): Promise<void> {
  const full = ctx.fullKey(key);
  try {
    await ctx.call('ABORT upload', key, undefined, async (s) => {
      await ctx.client.send(new AbortMultipartUploadCommand({ Bucket: ctx.bucket, Key: full, UploadId: uploadId }), ctx.http(s));
    });
  } catch {
    // An upload left behind is removed by the bucket's lifecycle rule for incomplete uploads.
  }
}
