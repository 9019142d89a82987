/**
 * Anonymous access (noSignRequest): a bucket with a public-read policy (set with PutBucketPolicy
 * by the root user) can be checked, listed and read with unsigned requests; every write is
 * AccessDenied, without retries. No credentials of any kind are looked up: the AWS_* variables
 * are cleared for the store and the default chain is never consulted.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { S3Store } from '../../src/store/s3/s3-store.js';
import { rejectsCode } from '../store-contract/contract.js';
import { createBucket, makeBucketPublicRead, minioCredentials, minioSuiteOptions, startMinio, type MinioServer } from '../helpers/minio.js';

describe('S3Store with noSignRequest on a public-read bucket (MinIO)', minioSuiteOptions(), () => {
  let minio: MinioServer;
  let publicBucket: string;
  let privateBucket: string;
  const data = randomBytes(100_000);
  const stores: S3Store[] = [];
  const anonymous = (bucket: string): S3Store => {
    const s = new S3Store({ bucket, prefix: 'pub', endpoint: minio.endpoint, noSignRequest: true, maxAttempts: 3, env: {} });
    stores.push(s);
    return s;
  };

  before(async () => {
    minio = await startMinio();
    publicBucket = await createBucket(minio);
    privateBucket = await createBucket(minio);
    await makeBucketPublicRead(minio, publicBucket);
    for (const b of [publicBucket, privateBucket]) {
      const admin = new S3Store({ bucket: b, prefix: 'pub', endpoint: minio.endpoint, credentials: minioCredentials(minio) });
      await admin.put('dir/file.bin', data, { metadata: { owner: 'root' }, contentType: 'application/x-test' });
      await admin.put('top.txt', Buffer.from('hello'));
      await admin.close();
    }
  });
  after(async () => {
    for (const s of stores) await s.close();
    await minio?.stop();
  });

  test('check, list, head and get work unsigned', async () => {
    const store = anonymous(publicBucket);
    await store.check();
    const root = await store.list({ delimiter: '/' });
    assert.deepEqual(root.prefixes, ['dir/']);
    assert.deepEqual(root.objects.map((o) => o.key), ['top.txt']);
    const head = await store.head('dir/file.bin');
    assert.equal(head.size, data.length);
    assert.deepEqual(head.metadata, { owner: 'root' });
    assert.equal(head.contentType, 'application/x-test');
    assert.ok((await store.get('dir/file.bin')).body.equals(data));
    assert.equal((await store.get('dir/file.bin', { range: { start: 10, end: 19 } })).body.length, 10);
    await rejectsCode(store.head('dir/missing'), 'NotFound', 'dir/missing');
  });

  test('writes are AccessDenied', async () => {
    const store = anonymous(publicBucket);
    await rejectsCode(store.put('new', Buffer.from('x')), 'AccessDenied', 'new');
    await rejectsCode(store.delete('top.txt'), 'AccessDenied', 'top.txt');
    await rejectsCode(store.copy('top.txt', 'copy.txt'), 'AccessDenied');
    await rejectsCode(store.createMultipart('mp'), 'AccessDenied', 'mp');
    const r = await store.deleteMany(['top.txt', 'dir/file.bin']);
    assert.deepEqual(r.deleted, []);
    assert.deepEqual(r.errors.map((e) => (e.error as { code?: string }).code), ['AccessDenied', 'AccessDenied']);
    assert.equal((await store.get('top.txt')).body.toString(), 'hello', 'nothing was changed');
  });

  test('a bucket without the policy is AccessDenied for anonymous readers', async () => {
    const store = anonymous(privateBucket);
    await rejectsCode(store.check(), 'AccessDenied');
    await rejectsCode(store.get('top.txt'), 'AccessDenied', 'top.txt');
    await rejectsCode(store.list({}), 'AccessDenied');
  });
});
