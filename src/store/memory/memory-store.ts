/**
 * MemoryStore: an ObjectStore held in this process's memory, with S3's semantics (see
 * s3-rules.ts for the rules shared with the other stores). Used by unit tests, the in-process
 * conformance run and `memory://`.
 *
 * Design:
 * - objects: Map<key, StoredObject>, plus a SortedKeys index so a list page costs
 *   O(log n + page) and never sorts the map. The index and the map always hold the same keys.
 * - ETag: quoted MD5 hex of the content for put and copy; S3's multipart form
 *   ("<md5 of the binary part MD5s>-<n>") for completeMultipart.
 * - Buffers and metadata are copied in and out: a caller never holds a reference to stored state.
 * - Any key that passes validateKey() is accepted, including "a//b" (S3 accepts it too);
 *   a key ending in '/' is an ordinary (directory marker) object.
 * - Limits are S3's (10,000 parts, 5 MiB minimum part, 5 GiB maximum part and single put, 5 TiB
 *   object). The minimum part size is NOT enforced (tests use small parts); maxPartSize and
 *   maxObjectSize are (TooLarge).
 *
 * Locking / atomicity: JavaScript runs one callback at a time, so each operation does its checks
 * and its mutation in one synchronous stretch (no await between reading the current object and
 * writing the new one). That makes ifMatch / ifNoneMatch atomic with the write, and a reader sees
 * the old or the new object, never a mix. The only await is the one that starts every operation
 * (so callers always get a real asynchronous boundary) and, for FileSlice bodies, the file read,
 * which happens before the synchronous check-and-write stretch.
 */
import { open } from 'node:fs/promises';
import { StoreError } from '../../errors/store-error.js';
import type {
  CompletedPart,
  CopyOptions,
  DeleteManyResult,
  FileSlice,
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
import {
  S3_LIMITS,
  checkAborted,
  checkWriteConditions,
  commonPrefixOf,
  compareKeys,
  copyMetadata,
  encodeToken,
  etagMatches,
  listMarker,
  md5Hex,
  multipartEtag,
  newUploadId,
  noSuchUpload,
  pageSize,
  quoteEtag,
  resolveRange,
  validateKey,
  validatePartList,
  validatePartNumber,
} from './s3-rules.js';
import { SortedKeys, type Cursor } from './sorted-keys.js';

interface StoredObject {
  body: Buffer;
  etag: string;
  lastModified: Date;
  metadata: Record<string, string>;
  contentType: string | undefined;
}

interface StoredPart {
  body: Buffer;
  md5: string;
}

interface Upload {
  key: string;
  metadata: Record<string, string>;
  contentType: string | undefined;
  parts: Map<number, StoredPart>;
}

export interface MemoryStoreOptions {
  /** Shown in logs; default "memory://". */
  description?: string;
}

export class MemoryStore implements ObjectStore {
  readonly description: string;
  readonly limits = S3_LIMITS;

  private readonly objects = new Map<string, StoredObject>();
  private readonly index = new SortedKeys();
  private readonly uploads = new Map<string, Upload>();
  /** Last lastModified handed out, so successive writes get strictly increasing times. */
  private lastTime = 0;

  constructor(opts: MemoryStoreOptions = {}) {
    this.description = opts.description ?? 'memory://';
  }

  async check(signal?: AbortSignal): Promise<void> {
    await tick();
    checkAborted(signal);
  }

  async list(opts: ListOptions): Promise<ListPage> {
    await tick();
    checkAborted(opts.signal);
    const prefix = opts.prefix ?? '';
    const delimiter = opts.delimiter === '' ? undefined : opts.delimiter;
    const max = pageSize(opts.maxKeys);
    const after = listMarker(opts);

    const page: ListPage = { objects: [], prefixes: [] };
    let count = 0;
    let last: string | undefined;
    let c: Cursor = this.index.lowerBound(prefix);
    if (after !== undefined) {
      const u = this.index.upperBound(after);
      if (SortedKeys.compare(u, c) > 0) c = u;
    }
    for (let key = this.index.at(c); key !== undefined && key.startsWith(prefix); key = this.index.at(c)) {
      const cp = commonPrefixOf(key, prefix, delimiter);
      const entry = cp ?? key;
      if (after === undefined || compareKeys(entry, after) > 0) {
        if (count === max) {
          page.nextToken = encodeToken(last!);
          break;
        }
        if (cp === undefined) page.objects.push(this.info(key, this.objects.get(key)!, false));
        else page.prefixes.push(cp);
        count++;
        last = entry;
      }
      c = cp === undefined ? this.index.next(c) : this.index.afterPrefix(cp);
    }
    return page;
  }

  async head(key: string, signal?: AbortSignal): Promise<ObjectInfo> {
    await tick();
    checkAborted(signal, key);
    validateKey(key);
    return this.info(key, this.mustGet(key), true);
  }

  async get(key: string, opts: GetOptions = {}): Promise<GetResult> {
    await tick();
    checkAborted(opts.signal, key);
    validateKey(key);
    const obj = this.mustGet(key);
    if (opts.ifMatch !== undefined && !etagMatches(obj.etag, opts.ifMatch)) {
      throw new StoreError('PreconditionFailed', `${key}: ifMatch ${opts.ifMatch} but the ETag is ${obj.etag}`, { key });
    }
    let body: Buffer;
    if (opts.range === undefined) body = Buffer.from(obj.body);
    else {
      const { start, end } = resolveRange(opts.range, obj.body.length, key);
      body = Buffer.from(obj.body.subarray(start, end + 1));
    }
    return { body, info: this.info(key, obj, true) };
  }

  async put(key: string, body: PutBody, opts: PutOptions = {}): Promise<{ etag: string }> {
    await tick();
    checkAborted(opts.signal, key);
    validateKey(key);
    const metadata = copyMetadata(opts.metadata, key);
    const data = await readBody(body, key, this.limits.maxPartSize);
    checkAborted(opts.signal, key);
    // From here on: synchronous check-and-write.
    checkWriteConditions(key, this.objects.get(key)?.etag, opts);
    const etag = quoteEtag(md5Hex(data));
    this.store(key, { body: data, etag, lastModified: this.now(), metadata, contentType: opts.contentType });
    return { etag };
  }

  async copy(sourceKey: string, destKey: string, opts: CopyOptions = {}): Promise<{ etag: string }> {
    await tick();
    checkAborted(opts.signal, destKey);
    validateKey(sourceKey);
    validateKey(destKey);
    const metadata = opts.metadata === undefined ? undefined : copyMetadata(opts.metadata, destKey);
    const src = this.mustGet(sourceKey);
    if (opts.sourceIfMatch !== undefined && !etagMatches(src.etag, opts.sourceIfMatch)) {
      throw new StoreError('PreconditionFailed', `${sourceKey}: sourceIfMatch ${opts.sourceIfMatch} but the ETag is ${src.etag}`, {
        key: sourceKey,
      });
    }
    checkWriteConditions(destKey, this.objects.get(destKey)?.etag, opts);
    const body = Buffer.from(src.body);
    const etag = quoteEtag(md5Hex(body));
    this.store(destKey, {
      body,
      etag,
      lastModified: this.now(),
      metadata: metadata ?? { ...src.metadata },
      contentType: opts.contentType ?? src.contentType,
    });
    return { etag };
  }

  async delete(key: string, signal?: AbortSignal): Promise<void> {
    await tick();
    checkAborted(signal, key);
    validateKey(key);
    if (this.objects.delete(key)) this.index.delete(key);
  }

  async deleteMany(keys: string[], signal?: AbortSignal): Promise<DeleteManyResult> {
    await tick();
    checkAborted(signal);
    const result: DeleteManyResult = { deleted: [], errors: [] };
    for (const key of keys) {
      try {
        validateKey(key);
        if (this.objects.delete(key)) this.index.delete(key);
        result.deleted.push(key);
      } catch (e) {
        result.errors.push({ key, error: e as Error });
      }
    }
    return result;
  }

  async createMultipart(key: string, opts: MultipartOptions = {}): Promise<{ uploadId: string }> {
    await tick();
    checkAborted(opts.signal, key);
    validateKey(key);
    const uploadId = newUploadId();
    this.uploads.set(uploadId, { key, metadata: copyMetadata(opts.metadata, key), contentType: opts.contentType, parts: new Map() });
    return { uploadId };
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: PutBody, signal?: AbortSignal): Promise<CompletedPart> {
    await tick();
    checkAborted(signal, key);
    this.upload(key, uploadId);
    validatePartNumber(partNumber, key, this.limits);
    const data = await readBody(body, key, this.limits.maxPartSize);
    checkAborted(signal, key);
    return this.storePart(key, uploadId, partNumber, data);
  }

  async uploadPartCopy(
    key: string,
    uploadId: string,
    partNumber: number,
    source: { key: string; range?: { start: number; end: number }; ifMatch?: string },
    signal?: AbortSignal,
  ): Promise<CompletedPart> {
    await tick();
    checkAborted(signal, key);
    this.upload(key, uploadId);
    validatePartNumber(partNumber, key, this.limits);
    validateKey(source.key);
    const src = this.mustGet(source.key);
    if (source.ifMatch !== undefined && !etagMatches(src.etag, source.ifMatch)) {
      throw new StoreError('PreconditionFailed', `${source.key}: ifMatch ${source.ifMatch} but the ETag is ${src.etag}`, {
        key: source.key,
      });
    }
    const { start, end } = resolveRange(source.range, src.body.length, source.key);
    if (end - start + 1 > this.limits.maxPartSize) {
      throw new StoreError('TooLarge', `${key}: part of ${end - start + 1} bytes exceeds ${this.limits.maxPartSize}`, { key });
    }
    return this.storePart(key, uploadId, partNumber, Buffer.from(src.body.subarray(start, end + 1)));
  }

  async completeMultipart(
    key: string,
    uploadId: string,
    parts: CompletedPart[],
    conditions: WriteConditions & { signal?: AbortSignal } = {},
  ): Promise<{ etag: string }> {
    await tick();
    checkAborted(conditions.signal, key);
    const upload = this.upload(key, uploadId);
    validatePartList(parts, key, this.limits);
    const bodies: Buffer[] = [];
    const md5s: string[] = [];
    let total = 0;
    for (const p of parts) {
      const stored = upload.parts.get(p.partNumber);
      if (stored === undefined) throw new StoreError('InvalidArgument', `${key}: part ${p.partNumber} was not uploaded`, { key });
      if (!etagMatches(quoteEtag(stored.md5), p.etag)) {
        throw new StoreError('InvalidArgument', `${key}: part ${p.partNumber} has ETag "${stored.md5}", not ${p.etag}`, { key });
      }
      bodies.push(stored.body);
      md5s.push(stored.md5);
      total += stored.body.length;
    }
    if (total > this.limits.maxObjectSize) {
      throw new StoreError('TooLarge', `${key}: object of ${total} bytes exceeds ${this.limits.maxObjectSize}`, { key });
    }
    checkWriteConditions(key, this.objects.get(key)?.etag, conditions);
    const etag = multipartEtag(md5s);
    this.store(key, {
      body: Buffer.concat(bodies, total),
      etag,
      lastModified: this.now(),
      metadata: upload.metadata,
      contentType: upload.contentType,
    });
    this.uploads.delete(uploadId);
    return { etag };
  }

  async abortMultipart(key: string, uploadId: string, signal?: AbortSignal): Promise<void> {
    await tick();
    checkAborted(signal, key);
    this.upload(key, uploadId);
    this.uploads.delete(uploadId);
  }

  async close(): Promise<void> {
    // Nothing to release; the data stays so a "remount" over the same instance sees it.
  }

  // -------------------------------------------------------------------------------------------

  private mustGet(key: string): StoredObject {
    const obj = this.objects.get(key);
    if (obj === undefined) throw new StoreError('NotFound', `${key}: no such object`, { key });
    return obj;
  }

  private upload(key: string, uploadId: string): Upload {
    const u = this.uploads.get(uploadId);
    if (u === undefined || u.key !== key) throw noSuchUpload(key, uploadId);
    return u;
  }

  private storePart(key: string, uploadId: string, partNumber: number, body: Buffer): CompletedPart {
    // The upload may have been completed or aborted while the body was read.
    const u = this.upload(key, uploadId);
    const md5 = md5Hex(body);
    u.parts.set(partNumber, { body, md5 });
    return { partNumber, etag: quoteEtag(md5) };
  }

  private store(key: string, obj: StoredObject): void {
    if (!this.objects.has(key)) this.index.add(key);
    this.objects.set(key, obj);
  }

  private info(key: string, obj: StoredObject, withMetadata: boolean): ObjectInfo {
    const info: ObjectInfo = { key, size: obj.body.length, etag: obj.etag, lastModified: new Date(obj.lastModified) };
    if (withMetadata) {
      info.metadata = { ...obj.metadata };
      if (obj.contentType !== undefined) info.contentType = obj.contentType;
    }
    return info;
  }

  /** Strictly increasing write times (ms), so "newer write" is always visible in lastModified. */
  private now(): Date {
    this.lastTime = Math.max(Date.now(), this.lastTime + 1);
    return new Date(this.lastTime);
  }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A private copy of a put body. FileSlice: reads exactly `length` bytes or fails InvalidArgument. */
async function readBody(body: PutBody, key: string, maxSize: number): Promise<Buffer> {
  if (Buffer.isBuffer(body)) {
    if (body.length > maxSize) throw new StoreError('TooLarge', `${key}: body of ${body.length} bytes exceeds ${maxSize}`, { key });
    return Buffer.from(body);
  }
  return readSlice(body, key, maxSize);
}

async function readSlice(slice: FileSlice, key: string, maxSize: number): Promise<Buffer> {
  if (!Number.isSafeInteger(slice.start) || !Number.isSafeInteger(slice.length) || slice.start < 0 || slice.length < 0) {
    throw new StoreError('InvalidArgument', `${key}: invalid file slice ${slice.start}+${slice.length}`, { key });
  }
  if (slice.length > maxSize) throw new StoreError('TooLarge', `${key}: body of ${slice.length} bytes exceeds ${maxSize}`, { key });
  let fh;
  try {
    fh = await open(slice.path, 'r');
    const buf = Buffer.alloc(slice.length);
    let done = 0;
    while (done < slice.length) {
      const { bytesRead } = await fh.read(buf, done, slice.length - done, slice.start + done);
      if (bytesRead === 0) {
        throw new StoreError('InvalidArgument', `${key}: file slice ${slice.path} ${slice.start}+${slice.length} is past the end of the file`, {
          key,
        });
      }
      done += bytesRead;
    }
    return buf;
  } catch (e) {
    if (e instanceof StoreError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new StoreError(code === 'ENOENT' ? 'InvalidArgument' : 'Unknown', `${key}: cannot read body file ${slice.path}: ${(e as Error).message}`, {
      key,
      cause: e,
    });
  } finally {
    await fh?.close();
  }
}
