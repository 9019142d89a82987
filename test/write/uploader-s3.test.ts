/**
 * The upload engine against a real MinIO (test/helpers/minio.ts; skipped without a minio binary,
 * a failure under CI=true): a 1 MiB edit in the middle of a 96 MiB object sends a few MiB and
 * copies the rest server-side, with the exact result (sha256 of a GET); an object replaced by
 * another client before completion is a PreconditionFailed with no multipart upload left open;
 * StreamingUpload of 40 MiB in 1 MiB steps with If-None-Match, and a second one that conflicts.
 */
import assert from 'node:assert/strict';
import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { S3Store } from '../../src/store/s3/s3-store.js';
import type { Span } from '../../src/write/types.js';
import { StreamingUpload, runUpload } from '../../src/write/uploader.js';
import { adminClient, createBucket, deleteBucket, minioCredentials, minioSuiteOptions, startMinio, type MinioServer } from '../helpers/minio.js';
import { HookStore, MiB, baseFill, randomBytesSeeded, rejectsCode, sha256, tempDir, uploadIdLog, writeStaged } from './helpers.js';

describe('upload engine on MinIO', minioSuiteOptions(), () => {
  let minio: MinioServer;
  let bucket: string;
  let s3: S3Store;
  let dir: string;
  let cleanup: () => Promise<void>;

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    minio = await startMinio();
    bucket = await createBucket(minio);
    s3 = new S3Store({ bucket, endpoint: minio.endpoint, region: minio.region, credentials: minioCredentials(minio) });
  });
  after(async () => {
    await s3?.close();
    if (minio !== undefined && bucket !== undefined) await deleteBucket(minio, bucket).catch(() => undefined);
    await minio?.stop();
    await cleanup?.();
  });

  async function openUploads(): Promise<string[]> {
    const client = adminClient(minio);
    try {
      const r = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
      return (r.Uploads ?? []).map((u) => `${u.Key} ${u.UploadId}`);
    } finally {
      client.destroy();
    }
  }

  /** A base object of `size` random bytes, uploaded through runUpload as a new file. */
  async function makeBase(key: string, size: number, seed: number): Promise<{ content: Buffer; etag: string }> {
    const content = randomBytesSeeded(size, seed);
    const path = join(dir, `${key.replace(/\W/g, '_')}.base`);
    await writeFile(path, content);
    const { etag } = await runUpload({
      store: s3, key, dataPath: path, size, dirty: [[0, size]], present: [[0, size]], metadata: { v: '1' },
      conditions: { ifNoneMatch: '*' }, concurrency: 4, fill: () => Promise.reject(new Error('nothing to fill')),
    });
    return { content, etag };
  }

  it('1 MiB edited in the middle of 96 MiB: under 32 MiB sent, exact bytes', async (t) => {
    const key = 'edit/big.bin';
    const { content: base, etag } = await makeBase(key, 96 * MiB, 96);
    const content = Buffer.from(base);
    randomBytesSeeded(MiB, 7).copy(content, 48 * MiB);
    const dirty: Span[] = [[48 * MiB, 49 * MiB]];
    const path = join(dir, 'edit.data');
    await writeStaged(path, content, dirty);
    const store = new HookStore(s3);
    const f = baseFill(s3, key, etag, path);
    const ids = uploadIdLog();
    const t0 = Date.now();
    const { etag: newEtag } = await runUpload({
      store, key, base: { etag, size: base.length }, dataPath: path, size: content.length, dirty, present: dirty,
      metadata: { v: '2' }, conditions: { ifMatch: etag }, concurrency: 4, fill: f.fill, onUploadId: ids.onUploadId,
    });
    const ms = Date.now() - t0;
    const st = store.stats();
    t.diagnostic(`bytesIn ${st.bytesIn} (${st.bytesIn / MiB} MiB), uploadPart ${st.calls.uploadPart}, uploadPartCopy ${st.calls.uploadPartCopy}, ${ms} ms`);
    assert.ok(st.bytesIn < 32 * MiB, `${st.bytesIn} bytes sent`);
    assert.equal(st.bytesIn, 5 * MiB);
    const got = await s3.get(key);
    assert.equal(got.info.etag, newEtag);
    assert.equal(sha256(got.body), sha256(content));
    assert.deepEqual(got.info.metadata, { v: '2' });
    assert.deepEqual(await openUploads(), []);
    assert.deepEqual(ids.log.at(-1), undefined);
  });

  it('replaced by another client before completion: PreconditionFailed, no upload left open', async () => {
    const key = 'conflict/obj.bin';
    const { content: base, etag } = await makeBase(key, 24 * MiB, 24);
    const content = Buffer.from(base);
    content.fill(1, 10 * MiB, 11 * MiB);
    const dirty: Span[] = [[10 * MiB, 11 * MiB]];
    const path = join(dir, 'conflict.data');
    await writeStaged(path, content, dirty);
    const store = new HookStore(s3);
    store.beforeComplete = async () => void (await s3.put(key, Buffer.from('the other client')));
    const ids = uploadIdLog();
    await rejectsCode(
      runUpload({
        store, key, base: { etag, size: base.length }, dataPath: path, size: content.length, dirty, present: dirty,
        metadata: {}, conditions: { ifMatch: etag }, concurrency: 3, fill: baseFill(s3, key, etag, path).fill, onUploadId: ids.onUploadId,
      }),
      'PreconditionFailed',
    );
    assert.equal(store.stats().calls.abortMultipart, 1);
    assert.deepEqual(await openUploads(), []);
    assert.equal(ids.log.at(-1), undefined);
    assert.equal((await s3.get(key)).body.toString(), 'the other client');
  });

  it('StreamingUpload: 40 MiB in 1 MiB steps with If-None-Match; a second one conflicts', async () => {
    const key = 'stream/new.bin';
    const content = randomBytesSeeded(40 * MiB + 12345, 40);
    const run = async (name: string, upTo: number): Promise<{ etag: string }> => {
      const path = join(dir, name);
      await writeFile(path, '');
      const up = new StreamingUpload({ store: s3, key, dataPath: path, metadata: { s: '1' }, concurrency: 3 });
      for (let at = 0; at < upTo; at += MiB) {
        const end = Math.min(at + MiB, upTo);
        await appendFile(path, content.subarray(at, end));
        up.written(end);
      }
      return up.finish(upTo, { ifNoneMatch: '*' });
    };
    const { etag } = await run('stream1.data', content.length);
    const got = await s3.get(key);
    assert.equal(got.info.etag, etag);
    assert.equal(sha256(got.body), sha256(content));
    await rejectsCode(run('stream2.data', 20 * MiB), 'PreconditionFailed');
    assert.deepEqual(await openUploads(), []);
    assert.equal(sha256((await s3.get(key)).body), sha256(content));
  });
});
