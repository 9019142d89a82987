/**
 * Multipart uploads of the S3 store: create, upload part (Buffer or streamed FileSlice), upload
 * part copy (server-side, optional range and source If-Match), complete (with If-Match /
 * If-None-Match) and abort.
 *
 * Local checks before any request (same rules as the memory and local stores, s3-rules.ts):
 * part numbers 1..10,000, part lists non-empty and strictly ascending, metadata, keys, ranges.
 * The server enforces the rest (5 MiB minimum for every part but the last: EntityTooSmall ->
 * InvalidArgument).
 *
 * Where S3 servers differ from the contract, and what is done about it:
 * - AbortMultipartUpload of an unknown or finished upload succeeds on MinIO (AWS answers
 *   NoSuchUpload). abortMultipart first lists the upload's parts (one cheap request), which fails
 *   with NoSuchUpload on both, so callers see the same answer everywhere.
 * - An upload id that cannot be a path component ("../x") is refused by MinIO with
 *   XMinioInvalidResourceName; for an upload id that means "no such upload".
 * - UploadPartCopy with a range whose end lies past the source's end is an error on S3; the
 *   contract clamps the end (like GET). On such an error the source is HEADed and the copy is
 *   retried once with the clamped range (a start past the end stays InvalidArgument).
 * - A completion retried after a lost response finds the upload gone (NoSuchUpload) or its
 *   condition failed by its own earlier success; if the object's ETag is then exactly the
 *   multipart ETag of our parts, the completion succeeded.
 *
 * No state: upload ids are the server's; every function works on the context it is given.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListPartsCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { StoreError } from '../../errors/store-error.js';
import type { ByteRange, CompletedPart, MultipartOptions, PutBody, WriteConditions } from '../object-store.js';
import { checkAborted, copyMetadata, etagMatches, etagMd5Hex, multipartEtag, validatePartList, validatePartNumber } from '../memory/s3-rules.js';
import { bodyLength, checkBody, closeBody, openBody } from './bodies.js';
import type { S3Context } from './s3-context.js';
import { toStoreError } from './s3-errors.js';

/** "bucket/key" for x-amz-copy-source, each key segment percent-encoded. */
export function copySource(ctx: S3Context, relKey: string): string {
  const full = ctx.fullKey(relKey);
  return `${ctx.bucket}/${full.split('/').map(encodeURIComponent).join('/')}`;
}

/** Map upload-id errors: MinIO's "bad resource name" for an impossible id is NoSuchUpload. */
function uploadError(e: unknown, op: string, key: string, uploadId: string): StoreError {
  const se = toStoreError(e, { op, key });
  if (se.code === 'NoSuchUpload' || (se.code === 'InvalidKey' && /XMinioInvalidResourceName/.test(se.message))) {
    return new StoreError('NoSuchUpload', `${key}: no multipart upload ${uploadId}`, { key, cause: se });
  }
  return se;
}

export async function createMultipart(ctx: S3Context, key: string, opts: MultipartOptions): Promise<{ uploadId: string }> {
  checkAborted(opts.signal, key);
  const full = ctx.fullKey(key);
  const metadata = copyMetadata(opts.metadata, key);
  return ctx.call('CREATE upload', key, opts.signal, async (s) => {
    const out = await ctx.client.send(
      new CreateMultipartUploadCommand({ Bucket: ctx.bucket, Key: full, Metadata: metadata, ContentType: opts.contentType }),
      ctx.http(s),
    );
    if (out.UploadId === undefined || out.UploadId === '') throw new StoreError('Unknown', `s3 CREATE upload ${key}: the server returned no upload id`, { key });
    return { uploadId: out.UploadId };
  });
}

export async function uploadPart(
  ctx: S3Context,
  key: string,
  uploadId: string,
  partNumber: number,
  body: PutBody,
  signal: AbortSignal | undefined,
): Promise<CompletedPart> {
  checkAborted(signal, key);
  const full = ctx.fullKey(key);
  validatePartNumber(partNumber, key, ctx.limits);
  await checkBody(body, key);
  const length = bodyLength(body);
  if (length > ctx.limits.maxPartSize) {
    throw new StoreError('TooLarge', `${key}: part of ${length} bytes exceeds ${ctx.limits.maxPartSize}`, { key });
  }
  try {
    return await ctx.call('UPLOAD part', key, signal, async (s) => {
      const b = openBody(body);
      try {
        const out = await ctx.client.send(
          new UploadPartCommand({ Bucket: ctx.bucket, Key: full, UploadId: uploadId, PartNumber: partNumber, Body: b, ContentLength: length }),
          ctx.http(s, true),
        );
        return { partNumber, etag: out.ETag ?? '' };
      } catch (e) {
        closeBody(b);
        throw e;
      }
    });
  } catch (e) {
    throw uploadError(e, 'UPLOAD part', key, uploadId);
  }
}

export async function uploadPartCopy(
  ctx: S3Context,
  key: string,
  uploadId: string,
  partNumber: number,
  source: { key: string; range?: ByteRange; ifMatch?: string },
  signal: AbortSignal | undefined,
): Promise<CompletedPart> {
  checkAborted(signal, key);
  const full = ctx.fullKey(key);
  validatePartNumber(partNumber, key, ctx.limits);
  const src = copySource(ctx, source.key);
  let range = source.range;
  if (range !== undefined) {
    const { start, end } = range;
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
      throw new StoreError('InvalidArgument', `${source.key}: invalid range ${start}-${end}`, { key: source.key });
    }
  }
  for (let clamped = false; ; clamped = true) {
    if (range !== undefined && range.end - range.start + 1 > ctx.limits.maxPartSize) {
      throw new StoreError('TooLarge', `${key}: part of ${range.end - range.start + 1} bytes exceeds ${ctx.limits.maxPartSize}`, { key });
    }
    const r = range;
    try {
      return await ctx.call('COPY part', key, signal, async (s) => {
        const out = await ctx.client.send(
          new UploadPartCopyCommand({
            Bucket: ctx.bucket,
            Key: full,
            UploadId: uploadId,
            PartNumber: partNumber,
            CopySource: src,
            CopySourceRange: r === undefined ? undefined : `bytes=${r.start}-${r.end}`,
            CopySourceIfMatch: source.ifMatch,
          }),
          ctx.http(s, true),
        );
        return { partNumber, etag: out.CopyPartResult?.ETag ?? '' };
      });
    } catch (e) {
      const se = uploadError(e, 'COPY part', key, uploadId);
      // Errors about the source name the source key.
      if (se.code === 'NotFound' || (se.code === 'PreconditionFailed' && source.ifMatch !== undefined)) {
        throw new StoreError(se.code, `${se.message} (copy source ${source.key})`, { key: source.key, cause: se });
      }
      if (se.code !== 'InvalidArgument' || r === undefined || clamped) throw se;
      // Maybe the range ends past the source's end: clamp it like GET does, once.
      const info = await ctx.head(source.key, signal);
      if (source.ifMatch !== undefined && !etagMatches(info.etag, source.ifMatch)) {
        throw new StoreError('PreconditionFailed', `${source.key}: ifMatch ${source.ifMatch} but the ETag is ${info.etag}`, { key: source.key });
      }
      if (r.start >= info.size) {
        throw new StoreError('InvalidArgument', `${source.key}: range start ${r.start} is not within the object size ${info.size}`, { key: source.key, cause: se });
      }
      if (r.end < info.size) throw se;
      range = { start: r.start, end: info.size - 1 };
    }
  }
}

export async function completeMultipart(
  ctx: S3Context,
  key: string,
  uploadId: string,
  parts: CompletedPart[],
  conditions: WriteConditions & { signal?: AbortSignal },
): Promise<{ etag: string }> {
  const signal = conditions.signal;
  checkAborted(signal, key);
  const full = ctx.fullKey(key);
  validatePartList(parts, key, ctx.limits);
  const md5s = parts.map((p) => etagMd5Hex(p.etag));
  const expected = md5s.every((m): m is string => m !== undefined) ? multipartEtag(md5s) : undefined;
  try {
    return await ctx.call('COMPLETE upload', key, signal, async (s, attempt) => {
      try {
        const out = await ctx.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: ctx.bucket,
            Key: full,
            UploadId: uploadId,
            MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
            IfMatch: conditions.ifMatch,
            IfNoneMatch: conditions.ifNoneMatch,
          }),
          ctx.http(s, true),
        );
        return { etag: out.ETag ?? expected ?? '' };
      } catch (e) {
        const se = uploadError(e, 'COMPLETE upload', key, uploadId);
        if (attempt > 1 && expected !== undefined && (se.code === 'NoSuchUpload' || se.code === 'PreconditionFailed')) {
          // An earlier attempt may have completed the upload and lost its response.
          const info = await ctx.head(key, s).catch(() => undefined);
          if (info !== undefined && etagMatches(info.etag, expected)) return { etag: info.etag };
        }
        throw se;
      }
    });
  } catch (e) {
    const se = uploadError(e, 'COMPLETE upload', key, uploadId);
    if (se.code === 'NotFound' && conditions.ifMatch !== undefined) {
      throw new StoreError('PreconditionFailed', `${key}: ifMatch ${conditions.ifMatch} but the object does not exist`, { key, cause: se });
    }
    throw se;
  }
}

export async function abortMultipart(ctx: S3Context, key: string, uploadId: string, signal: AbortSignal | undefined): Promise<void> {
  checkAborted(signal, key);
  const full = ctx.fullKey(key);
  try {
    await ctx.call('LIST parts', key, signal, async (s) => {
      await ctx.client.send(new ListPartsCommand({ Bucket: ctx.bucket, Key: full, UploadId: uploadId, MaxParts: 1 }), ctx.http(s));
    });
    await ctx.call('ABORT upload', key, signal, async (s) => {
      await ctx.client.send(new AbortMultipartUploadCommand({ Bucket: ctx.bucket, Key: full, UploadId: uploadId }), ctx.http(s));
    });
  } catch (e) {
    throw uploadError(e, 'ABORT upload', key, uploadId);
  }
}
