/**
 * Multipart uploads of the local store, S3's protocol over files:
 *
 *   <root>/.objfs/uploads/<uploadId>/upload.json   {v, key, metadata, contentType, initiatedMs}
 *   <root>/.objfs/uploads/<uploadId>/<partNumber>  the bytes of one part (replaced atomically)
 *
 * uploadPart streams the body (Buffer or FileSlice) into a temp file inside the upload directory
 * and renames it to the part number, so a part is either the old or the new bytes; uploadPartCopy
 * streams a range of a source object the same way. Part ETags are the quoted MD5 of the part and
 * are not stored: complete re-reads every part while concatenating it into one temp file under
 * .objfs/tmp (streaming, one chunk in memory at a time), recomputes each MD5 and compares it with
 * the ETag the caller passed (a mismatch is InvalidArgument, like S3's InvalidPart). The object
 * ETag is S3's multipart form. The temp file is then committed exactly like a put (conditions,
 * sidecar, atomic rename) and the upload directory removed. abort removes the directory.
 *
 * Upload ids are 32 hex characters; anything else is NoSuchUpload (and never reaches a path).
 * An id belongs to one key: using it with another key is NoSuchUpload.
 *
 * Locking: complete and abort of one upload id are serialised by `locks` (so a part is never
 * removed under a running complete within this process); parts of one upload may be uploaded
 * concurrently (each part number writes its own temp file and renames). A part that lands after
 * a complete/abort removed the directory fails with NoSuchUpload. The minimum part size is not
 * enforced (see validatePartList).
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreError } from '../../errors/store-error.js';
import type { CompletedPart, MultipartOptions, PutBody, WriteConditions } from '../object-store.js';
import {
  checkAborted,
  copyMetadata,
  etagMatches,
  isUploadIdShape,
  multipartEtag,
  newUploadId,
  noSuchUpload,
  quoteEtag,
  resolveRange,
  validatePartList,
  validatePartNumber,
} from '../memory/s3-rules.js';
import { copyRange, errnoCode, mapFsError } from './fs-util.js';
import { writeAll } from '../../util/write-all.js';
import { KeyedMutex } from './key-lock.js';
import type { LocalStore, TempFile } from './local-store.js';
import { parseLocalKey } from './paths.js';

interface UploadRecord {
  v: 1;
  key: string;
  metadata: Record<string, string>;
  contentType?: string;
  initiatedMs: number;
}

export class LocalUploads {
  private readonly locks = new KeyedMutex();

  constructor(private readonly store: LocalStore) {}

  async create(key: string, opts: MultipartOptions): Promise<{ uploadId: string }> {
    checkAborted(opts.signal, key);
    parseLocalKey(key);
    const metadata = copyMetadata(opts.metadata, key);
    const uploadId = newUploadId();
    const dir = this.store.layout.uploadDir(uploadId);
    const record: UploadRecord = { v: 1, key, metadata, initiatedMs: Date.now() };
    if (opts.contentType !== undefined) record.contentType = opts.contentType;
    try {
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'upload.json'), JSON.stringify(record), { flag: 'wx' });
    } catch (e) {
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      throw mapFsError(e, key, 'create multipart upload for');
    }
    return { uploadId };
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: PutBody, signal?: AbortSignal): Promise<CompletedPart> {
    checkAborted(signal, key);
    await this.record(key, uploadId);
    validatePartNumber(partNumber, key, this.store.limits);
    const size = body.length;
    if (size > this.store.limits.maxPartSize) {
      throw new StoreError('TooLarge', `${key}: part of ${size} bytes exceeds ${this.store.limits.maxPartSize}`, { key });
    }
    if (Buffer.isBuffer(body)) {
      return this.writePart(key, uploadId, partNumber, async (fh) => {
        await writeAll(fh, body, 0);
        return createHash('md5').update(body).digest('hex');
      });
    }
    if (!Number.isSafeInteger(body.start) || !Number.isSafeInteger(body.length) || body.start < 0 || body.length < 0) {
      throw new StoreError('InvalidArgument', `${key}: invalid file slice ${body.start}+${body.length}`, { key });
    }
    let src: FileHandle;
    try {
      src = await open(body.path, 'r');
    } catch (e) {
      throw new StoreError('InvalidArgument', `${key}: cannot read body file ${body.path}: ${(e as Error).message}`, { key, cause: e });
    }
    try {
      return await this.writePart(key, uploadId, partNumber, async (fh) => {
        const hash = createHash('md5');
        await copyRange(src, body.start, body.length, fh, 0, hash, signal, key);
        return hash.digest('hex');
      });
    } finally {
      await src.close();
    }
  }

  async uploadPartCopy(
    key: string,
    uploadId: string,
    partNumber: number,
    source: { key: string; range?: { start: number; end: number }; ifMatch?: string },
    signal?: AbortSignal,
  ): Promise<CompletedPart> {
    checkAborted(signal, key);
    await this.record(key, uploadId);
    validatePartNumber(partNumber, key, this.store.limits);
    const src = await this.store.reader.openObject(parseLocalKey(source.key));
    try {
      if (source.ifMatch !== undefined && !etagMatches(src.info.etag, source.ifMatch)) {
        throw new StoreError('PreconditionFailed', `${source.key}: ifMatch ${source.ifMatch} but the ETag is ${src.info.etag}`, {
          key: source.key,
        });
      }
      const { start, end } = resolveRange(source.range, src.info.size, source.key);
      const length = end - start + 1;
      if (length > this.store.limits.maxPartSize) {
        throw new StoreError('TooLarge', `${key}: part of ${length} bytes exceeds ${this.store.limits.maxPartSize}`, { key });
      }
      return await this.writePart(key, uploadId, partNumber, async (fh) => {
        const hash = createHash('md5');
        if (src.fh !== undefined) await copyRange(src.fh, start, length, fh, 0, hash, signal, key);
        return hash.digest('hex');
      });
    } finally {
      await src.fh?.close();
    }
  }

  async complete(
    key: string,
    uploadId: string,
    parts: CompletedPart[],
    conditions: WriteConditions & { signal?: AbortSignal },
  ): Promise<{ etag: string }> {
    const signal = conditions.signal;
    checkAborted(signal, key);
    return this.locks.run(uploadId, async () => {
      const record = await this.record(key, uploadId);
      const k = parseLocalKey(key);
      validatePartList(parts, key, this.store.limits);
      const dir = this.store.layout.uploadDir(uploadId);
      const md5s: string[] = [];
      let total = 0;
      const tmp: TempFile = await this.store.withTemp(key, 'complete', async (out) => {
        for (const p of parts) {
          let fh: FileHandle;
          try {
            fh = await open(join(dir, String(p.partNumber)), 'r');
          } catch (e) {
            if (errnoCode(e) === 'ENOENT') throw new StoreError('InvalidArgument', `${key}: part ${p.partNumber} was not uploaded`, { key });
            throw mapFsError(e, key, 'read part of');
          }
          try {
            const size = (await fh.stat()).size;
            const hash = createHash('md5');
            await copyRange(fh, 0, size, out, total, hash, signal, key);
            const md5 = hash.digest('hex');
            if (!etagMatches(quoteEtag(md5), p.etag)) {
              throw new StoreError('InvalidArgument', `${key}: part ${p.partNumber} has ETag "${md5}", not ${p.etag}`, { key });
            }
            md5s.push(md5);
            total += size;
          } finally {
            await fh.close();
          }
        }
        if (total > this.store.limits.maxObjectSize) {
          throw new StoreError('TooLarge', `${key}: object of ${total} bytes exceeds ${this.store.limits.maxObjectSize}`, { key });
        }
        return { md5: '', size: total };
      });
      try {
        const etag = multipartEtag(md5s);
        const fields = { etag, metadata: record.metadata, contentType: record.contentType };
        let result: { etag: string };
        if (k.marker) {
          if (total !== 0) {
            throw new StoreError('InvalidKey', `key ${JSON.stringify(key)} ends in '/' and is a directory in a file:// bucket: its body must be empty`, { key });
          }
          result = await this.store.putMarker(k, record.metadata, record.contentType, conditions, signal);
        } else result = await this.store.commitFile(k, tmp, fields, conditions, signal);
        await rm(dir, { recursive: true, force: true }).catch(() => undefined);
        return result;
      } finally {
        await unlink(tmp.path).catch(() => undefined);
      }
    });
  }

  async abort(key: string, uploadId: string, signal?: AbortSignal): Promise<void> {
    checkAborted(signal, key);
    return this.locks.run(uploadId, async () => {
      await this.record(key, uploadId);
      try {
        await rm(this.store.layout.uploadDir(uploadId), { recursive: true, force: true });
      } catch (e) {
        throw mapFsError(e, key, 'abort multipart upload of');
      }
    });
  }

  /** The record of an upload that belongs to `key`; NoSuchUpload otherwise. */
  private async record(key: string, uploadId: string): Promise<UploadRecord> {
    if (typeof uploadId !== 'string' || !isUploadIdShape(uploadId)) throw noSuchUpload(key, uploadId);
    let text: string;
    try {
      text = await readFile(join(this.store.layout.uploadDir(uploadId), 'upload.json'), 'utf8');
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') throw noSuchUpload(key, uploadId);
      throw mapFsError(e, key, 'read multipart upload of');
    }
    let rec: UploadRecord;
    try {
      rec = JSON.parse(text) as UploadRecord;
    } catch (e) {
      throw new StoreError('Unknown', `${key}: multipart upload ${uploadId} has a corrupt upload.json`, { key, cause: e });
    }
    if (rec.key !== key) throw noSuchUpload(key, uploadId);
    return rec;
  }

  /** Write a part through a temp file in the upload directory, then rename it to its number. */
  private async writePart(key: string, uploadId: string, partNumber: number, fill: (fh: FileHandle) => Promise<string>): Promise<CompletedPart> {
    const dir = this.store.layout.uploadDir(uploadId);
    const tmpPath = join(dir, `${partNumber}.${process.pid}.${Math.random().toString(16).slice(2)}.tmp`);
    let fh: FileHandle;
    try {
      fh = await open(tmpPath, 'wx');
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') throw noSuchUpload(key, uploadId);
      throw mapFsError(e, key, 'write part of');
    }
    try {
      const md5 = await fill(fh);
      if (this.store.durable) await fh.sync();
      await fh.close();
      await rename(tmpPath, join(dir, String(partNumber)));
      return { partNumber, etag: quoteEtag(md5) };
    } catch (e) {
      await fh.close().catch(() => undefined);
      await unlink(tmpPath).catch(() => undefined);
      if (errnoCode(e) === 'ENOENT') throw noSuchUpload(key, uploadId);
      throw mapFsError(e, key, 'write part of');
    }
  }
}
