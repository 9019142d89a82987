/**
 * The S3 calls the write benchmark needs from the bench process itself, with the AWS SDK v3 (the
 * client of direct.ts's openSdk): polling (HeadObject, ListObjectsV2), preparing and removing
 * objects, checking what landed in the bucket, and the direct references (multipart upload of
 * 8 MiB parts, parallel PutObject, DeleteObjects, CopyObject, an UploadPartCopy edit).
 */
import fs from 'node:fs';
import path from 'node:path';
import { MiB } from './common.js';
import { openSdk, type S3Target } from './direct.js';
import { firstMismatch, pattern, smallName } from './pattern.js';
import { nowSec, StepError } from './proc.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Sdk = any;

/** Expected bytes of an object: `len` bytes at `off`. */
export type Expect = (off: number, len: number) => Buffer;

/** Run `fn` over 0..n-1 with at most `conc` at a time. */
export async function pool(n: number, conc: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(conc, n) }, worker));
}

export class S3Ops {
  private constructor(
    private readonly sdk: Sdk,
    private readonly client: { send(cmd: unknown): Promise<any>; destroy(): void },
    readonly t: S3Target,
  ) {}

  static async open(t: S3Target): Promise<S3Ops> {
    const { sdk, client } = await openSdk(t);
    return new S3Ops(sdk, client, t);
  }

  close(): void {
    this.client.destroy();
  }

  private send(name: string, input: object): Promise<any> {
    return this.client.send(new this.sdk[name]({ Bucket: this.t.bucket, ...input }));
  }

  async head(key: string): Promise<{ size: number; etag: string } | undefined> {
    try {
      const r = await this.send('HeadObjectCommand', { Key: key });
      return { size: Number(r.ContentLength), etag: String(r.ETag) };
    } catch (e: any) {
      if (e?.$metadata?.httpStatusCode === 404 || e?.name === 'NotFound' || e?.name === 'NoSuchKey') return undefined;
      throw e;
    }
  }

  /** Every key under `prefix` (no delimiter) with its size. */
  /** Keys under `prefix` with their sizes (only those after `startAfter` when given). */
  async list(prefix: string, startAfter?: string): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    let token: string | undefined;
    do {
      const r = await this.send('ListObjectsV2Command', { Prefix: prefix, MaxKeys: 1000, ContinuationToken: token, ...(startAfter !== undefined && token === undefined ? { StartAfter: startAfter } : {}) });
      for (const c of r.Contents ?? []) out.set(String(c.Key), Number(c.Size));
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async put(key: string, body: Buffer): Promise<void> {
    await this.send('PutObjectCommand', { Key: key, Body: body, ContentLength: body.length });
  }

  async get(key: string, off?: number, len?: number): Promise<Buffer> {
    const r = await this.send('GetObjectCommand', { Key: key, ...(off === undefined ? {} : { Range: `bytes=${off}-${off + len! - 1}` }) });
    return Buffer.from(await r.Body.transformToByteArray());
  }

  /** DeleteObjects in batches of 1,000, one batch after another. */
  async deleteKeys(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const r = await this.send('DeleteObjectsCommand', { Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } });
      if (r.Errors?.length) throw new StepError(`DeleteObjects: ${r.Errors.length} errors, first ${r.Errors[0].Key}: ${r.Errors[0].Code}`);
    }
  }

  async deletePrefix(prefix: string): Promise<number> {
    const keys = [...(await this.list(prefix)).keys()];
    await this.deleteKeys(keys);
    return keys.length;
  }

  private source(key: string): string {
    return `${this.t.bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  }

  async copy(from: string, to: string): Promise<void> {
    await this.send('CopyObjectCommand', { Key: to, CopySource: this.source(from) });
  }

  /** `n` objects prefix + name(i) with the bytes pattern(seed, i * size, size), `conc` PUTs at a time. */
  async putMany(prefix: string, n: number, size: number, seed: string, name: (i: number) => string, conc = 32): Promise<void> {
    await pool(n, conc, (i) => this.put(prefix + name(i), pattern(seed, i * size, size)));
  }

  /**
   * The small-files reference: `n` files of pattern(seed, i * size, size) written to the existing
   * directory `dir` (bytes built before the clock starts), then PutObject prefix + smallName(i) of
   * each, read back from the file, 32 at a time. Times are nowSec().
   */
  async localThenPut(dir: string, prefix: string, n: number, size: number, seed: string): Promise<{ t0: number; tLocal: number; tEnd: number }> {
    const bodies = Array.from({ length: n }, (_, i) => pattern(seed, i * size, size));
    const t0 = nowSec();
    for (let i = 0; i < n; i++) fs.writeFileSync(path.join(dir, smallName(i)), bodies[i]!);
    const tLocal = nowSec();
    await pool(n, 32, (i) => this.put(prefix + smallName(i), fs.readFileSync(path.join(dir, smallName(i)))));
    return { t0, tLocal, tEnd: nowSec() };
  }

  /**
   * Multipart upload of pattern(seed, 0, size): CreateMultipartUpload, UploadPart of `partSize`
   * parts built from memory, `conc` at a time, CompleteMultipartUpload.
   */
  async multipartFromPattern(key: string, size: number, partSize: number, conc: number, seed: string): Promise<void> {
    const { UploadId } = await this.send('CreateMultipartUploadCommand', { Key: key });
    try {
      const n = Math.ceil(size / partSize);
      const parts: { ETag: string; PartNumber: number }[] = [];
      await pool(n, conc, async (i) => {
        const len = Math.min(partSize, size - i * partSize);
        const body = pattern(seed, i * partSize, len);
        const r = await this.send('UploadPartCommand', { Key: key, UploadId, PartNumber: i + 1, Body: body, ContentLength: len });
        parts.push({ ETag: r.ETag, PartNumber: i + 1 });
      });
      parts.sort((a, b) => a.PartNumber - b.PartNumber);
      await this.send('CompleteMultipartUploadCommand', { Key: key, UploadId, MultipartUpload: { Parts: parts } });
    } catch (e) {
      await this.send('AbortMultipartUploadCommand', { Key: key, UploadId }).catch(() => undefined);
      throw e;
    }
  }

  /**
   * The least an S3 client can send to change `len` bytes at `off` of an object of `size`: parts
   * other than the last must be at least 5 MiB, so the new bytes go out in a 5 MiB part together
   * with the 4 MiB before them (one ranged GET), the rest is UploadPartCopy of the old object.
   * Needs off >= 9 MiB and len <= 1 MiB.
   */
  async editWithPartCopy(key: string, size: number, off: number, newBytes: Buffer): Promise<void> {
    const pre = 4 * MiB;
    if (off < pre + 5 * MiB || newBytes.length > MiB) throw new StepError('editWithPartCopy: edit too close to the start or too long');
    const h = await this.head(key);
    if (!h || h.size !== size) throw new StepError(`editWithPartCopy: ${key} is ${h ? h.size : 'missing'}`);
    const before = await this.get(key, off - pre, pre);
    const { UploadId } = await this.send('CreateMultipartUploadCommand', { Key: key });
    try {
      const src = this.source(key);
      const end = off + newBytes.length;
      const jobs: Promise<{ ETag: string; PartNumber: number }>[] = [
        this.send('UploadPartCopyCommand', { Key: key, UploadId, PartNumber: 1, CopySource: src, CopySourceIfMatch: h.etag, CopySourceRange: `bytes=0-${off - pre - 1}` }).then((r) => ({
          ETag: r.CopyPartResult.ETag,
          PartNumber: 1,
        })),
        this.send('UploadPartCommand', { Key: key, UploadId, PartNumber: 2, Body: Buffer.concat([before, newBytes]), ContentLength: pre + newBytes.length }).then((r) => ({ ETag: r.ETag, PartNumber: 2 })),
      ];
      if (end < size) {
        jobs.push(
          this.send('UploadPartCopyCommand', { Key: key, UploadId, PartNumber: 3, CopySource: src, CopySourceIfMatch: h.etag, CopySourceRange: `bytes=${end}-${size - 1}` }).then((r) => ({
            ETag: r.CopyPartResult.ETag,
            PartNumber: 3,
          })),
        );
      }
      const parts = await Promise.all(jobs);
      await this.send('CompleteMultipartUploadCommand', { Key: key, UploadId, MultipartUpload: { Parts: parts } });
    } catch (e) {
      await this.send('AbortMultipartUploadCommand', { Key: key, UploadId }).catch(() => undefined);
      throw e;
    }
  }

  /** Stream the whole object and compare it with `expect`; throws StepError at the first difference. */
  async verify(key: string, size: number, expect: Expect): Promise<void> {
    const r = await this.send('GetObjectCommand', { Key: key });
    let pos = 0;
    for await (const chunk of r.Body as AsyncIterable<Buffer>) {
      if (pos + chunk.length > size) throw new StepError(`${key}: longer than ${size} bytes`);
      const want = expect(pos, chunk.length);
      if (!want.equals(chunk)) {
        let i = 0;
        while (i < chunk.length && want[i] === chunk[i]) i++;
        throw new StepError(`${key}: wrong bytes at offset ${pos + i}`);
      }
      pos += chunk.length;
    }
    if (pos !== size) throw new StepError(`${key}: ${pos} bytes, expected ${size}`);
  }

  /** GET every key prefix + name(i) and compare with pattern(seed, i * size, size), 16 at a time. */
  async verifyMany(prefix: string, n: number, size: number, seed: string, name: (i: number) => string): Promise<void> {
    await pool(n, 16, async (i) => {
      const got = await this.get(prefix + name(i));
      if (got.length !== size) throw new StepError(`${prefix}${name(i)}: ${got.length} bytes, expected ${size}`);
      const bad = firstMismatch(seed, i * size, got);
      if (bad >= 0) throw new StepError(`${prefix}${name(i)}: wrong bytes at offset ${bad - i * size}`);
    });
  }
}
