/**
 * S3Store behaviour beyond the store contract, against a real MinIO: keys that need escaping (in
 * URLs, copy sources and XML listings), the prefix boundary, multipart copies of large sources,
 * conditional copies, part-copy range clamping, aborts of finished uploads, deleteMany batches,
 * and keys MinIO refuses.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { S3Store } from '../../src/store/s3/s3-store.js';
import type { S3StoreOptions } from '../../src/store/s3/s3-config.js';
import { listAll, rejectsCode } from '../store-contract/contract.js';
import { createBucket, minioCredentials, minioSuiteOptions, startMinio, type MinioServer } from '../helpers/minio.js';

const MiB = 1024 * 1024;

describe('S3Store on MinIO: escaping, prefixes, copies, multipart details', minioSuiteOptions(), () => {
  let minio: MinioServer;
  let bucket: string;
  const stores: S3Store[] = [];
  const make = (extra: Partial<S3StoreOptions> = {}): S3Store => {
    const s = new S3Store({ bucket, endpoint: minio.endpoint, region: minio.region, credentials: minioCredentials(minio), ...extra });
    stores.push(s);
    return s;
  };

  before(async () => {
    minio = await startMinio();
    bucket = await createBucket(minio);
  });
  after(async () => {
    for (const s of stores) await s.close();
    await minio?.stop();
  });

  test('prepareWrites starts the upload worker ahead of the first put, once; puts work after it', async () => {
    const { readdirSync } = await import('node:fs');
    const threads = (): number => readdirSync('/proc/self/task').length;
    const store = make({ offloadPuts: true });
    const before = threads();
    store.prepareWrites();
    const started = threads();
    assert.ok(started > before, `a worker thread was started (${before} -> ${started} threads)`);
    store.prepareWrites();
    assert.equal(threads(), started, 'a second hint starts nothing');
    const { etag } = await store.put('warm/a', Buffer.from('after the hint'));
    assert.ok(etag.length > 0);
    assert.equal((await store.get('warm/a')).body.toString(), 'after the hint');
  });

  test('keys with characters that need escaping survive put, get, copy and list', async () => {
    const store = make({ prefix: 'esc a+b%/' });
    const keys = ['w/a b+c%25', 'w/ctl\x01\x1f\x7f', 'w/q?x#y&z=1;', 'w/back\\slash', 'w/tab\there', "w/~!*'()[]{}$@^`|\"<>", 'w/cr\r\nlf', 'w/ ', 'w/\u00fc\u{1f600}'];
    for (const k of keys) {
      await store.put(k, Buffer.from(k), { metadata: { k: 'v' } });
      assert.equal((await store.get(k)).body.toString(), k);
      await store.copy(k, `${k}.copy`);
      assert.equal((await store.get(`${k}.copy`)).body.toString(), k);
    }
    const listed = (await listAll(store, { prefix: 'w/', maxKeys: 5 })).objects.map((o) => o.key);
    const expected = keys.flatMap((k) => [k, `${k}.copy`]).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    assert.deepEqual(listed, expected);
  });

  test('the prefix is a boundary: keys outside it are invisible, common prefixes are relative', async () => {
    const outside = make();
    const inside = make({ prefix: 'tenant/a' });
    await outside.put('tenant/ab', Buffer.from('neighbour'));
    await outside.put('tenant/other', Buffer.from('x'));
    await inside.put('d/f', Buffer.from('mine'));
    await inside.put('top', Buffer.from('mine'));
    const root = await inside.list({ delimiter: '/' });
    assert.deepEqual(root.prefixes, ['d/']);
    assert.deepEqual(root.objects.map((o) => o.key), ['top']);
    assert.equal((await outside.get('tenant/a/d/f')).body.toString(), 'mine');
    await rejectsCode(inside.head('tenant/ab'), 'NotFound');
    assert.equal(inside.description, `s3://${bucket}/tenant/a at ${minio.endpoint}`);
  });

  test('keys MinIO cannot store are InvalidKey; key length counts the prefix', async () => {
    const store = make({ prefix: 'p'.repeat(100) });
    await rejectsCode(store.put('a/./b', Buffer.from('x')), 'InvalidKey', 'a/./b');
    await rejectsCode(store.put('a//b', Buffer.from('x')), 'InvalidKey', 'a//b');
    // 1,024 bytes in all with the prefix (segments under 255 bytes: MinIO's file-name limit).
    const longest = `${'k'.repeat(200)}/`.repeat(4) + 'k'.repeat(1024 - 101 - 804);
    await store.put(longest, Buffer.from('x'));
    assert.equal((await store.head(longest)).size, 1);
    await rejectsCode(store.put(`${longest}k`, Buffer.from('x')), 'InvalidKey');
    await rejectsCode(store.put('s'.repeat(300), Buffer.from('x')), 'InvalidKey'); // MinIO: segment too long
  });

  test('copy of a source above the multipart threshold is a multipart copy with the exact bytes', async () => {
    const store = make({ prefix: 'mpcopy', multipartCopyThreshold: 5 * MiB, multipartCopyPartSize: 5 * MiB });
    const data = randomBytes(12 * MiB + 5);
    await store.put('src.bin', data, { metadata: { a: '1' }, contentType: 'application/x-big' });
    const { etag } = await store.copy('src.bin', 'dst.bin');
    assert.match(etag, /-3"$/, 'three parts');
    const got = await store.get('dst.bin');
    assert.ok(got.body.equals(data));
    assert.deepEqual(got.info.metadata, { a: '1' });
    assert.equal(got.info.contentType, 'application/x-big');
    await store.copy('src.bin', 'dst2.bin', { metadata: { b: '2' } });
    const h = await store.head('dst2.bin');
    assert.deepEqual(h.metadata, { b: '2' });
    assert.equal(h.contentType, 'application/x-big', 'content type kept when only metadata is replaced');
  });

  test('conditional copies are atomic on the destination, empty sources included', async () => {
    const store = make({ prefix: 'ccopy' });
    await store.put('dir/', Buffer.alloc(0), { metadata: { mode: '755' } });
    await store.copy('dir/', 'moved/', { ifNoneMatch: '*' });
    const h = await store.head('moved/');
    assert.equal(h.size, 0);
    assert.deepEqual(h.metadata, { mode: '755' });
    await rejectsCode(store.copy('dir/', 'moved/', { ifNoneMatch: '*' }), 'PreconditionFailed', 'moved/');
    await rejectsCode(store.copy('dir/', 'absent', { ifMatch: h.etag }), 'PreconditionFailed', 'absent');
    await rejectsCode(store.head('absent'), 'NotFound');
    await store.put('f', Buffer.from('one'));
    await store.put('g', Buffer.from('two'));
    const gEtag = (await store.head('g')).etag;
    await store.copy('f', 'g', { ifMatch: gEtag, contentType: 'text/x-f' });
    assert.equal((await store.get('g')).body.toString(), 'one');
    assert.equal((await store.head('g')).contentType, 'text/x-f');
    await rejectsCode(store.copy('f', 'g', { ifMatch: gEtag }), 'PreconditionFailed', 'g');
    // A large conditional copy goes through a multipart upload with the condition on completion.
    const big = make({ prefix: 'ccopy', multipartCopyPartSize: 5 * MiB });
    const data = randomBytes(9 * MiB);
    await big.put('big', data);
    const c1 = await big.copy('big', 'big2', { ifNoneMatch: '*' });
    assert.match(c1.etag, /-2"$/);
    assert.ok((await big.get('big2')).body.equals(data));
    await rejectsCode(big.copy('big', 'big2', { ifNoneMatch: '*' }), 'PreconditionFailed', 'big2');
    await big.copy('f', 'big2', { ifMatch: c1.etag });
    assert.equal((await big.get('big2')).body.toString(), 'one');
    await big.delete('big');
    await big.delete('big2');
    // Nothing is left behind by the failed conditional copies.
    assert.deepEqual((await store.list({})).objects.map((o) => o.key).sort(), ['dir/', 'f', 'g', 'moved/']);
  });

  test('uploadPartCopy clamps a range ending past the source; abort of a finished upload is NoSuchUpload', async () => {
    const store = make({ prefix: 'upc' });
    const src = randomBytes(1000);
    const { etag } = await store.put('src', src);
    const { uploadId } = await store.createMultipart('dst');
    const part = await store.uploadPartCopy('dst', uploadId, 1, { key: 'src', range: { start: 100, end: 5_000 }, ifMatch: etag });
    await rejectsCode(store.uploadPartCopy('dst', uploadId, 2, { key: 'src', range: { start: 1000, end: 5_000 } }), 'InvalidArgument');
    await rejectsCode(store.uploadPartCopy('dst', uploadId, 2, { key: 'src', ifMatch: '"0123456789abcdef0123456789abcdef"' }), 'PreconditionFailed', 'src');
    await rejectsCode(store.uploadPartCopy('dst', uploadId, 2, { key: 'nope' }), 'NotFound', 'nope');
    await store.completeMultipart('dst', uploadId, [part]);
    assert.ok((await store.get('dst')).body.equals(src.subarray(100)));
    await rejectsCode(store.abortMultipart('dst', uploadId), 'NoSuchUpload', 'dst');
  });

  test('credentials from the default chain: environment variables, or a named profile in the shared files', async () => {
    const saved = { ...process.env };
    const dir = await mkdtemp(join(tmpdir(), 'objfs-s3-profile-'));
    try {
      // Never let the chain fall through to the EC2 metadata service (a non-loopback address).
      process.env['AWS_EC2_METADATA_DISABLED'] = 'true';
      process.env['AWS_ACCESS_KEY_ID'] = minio.accessKey;
      process.env['AWS_SECRET_ACCESS_KEY'] = minio.secretKey;
      const fromEnv = new S3Store({ bucket, prefix: 'chain', endpoint: minio.endpoint, region: minio.region });
      stores.push(fromEnv);
      await fromEnv.put('env', Buffer.from('via env'));
      delete process.env['AWS_ACCESS_KEY_ID'];
      delete process.env['AWS_SECRET_ACCESS_KEY'];
      const credFile = join(dir, 'credentials');
      const confFile = join(dir, 'config');
      await writeFile(credFile, `[objfs-test]\naws_access_key_id = ${minio.accessKey}\naws_secret_access_key = ${minio.secretKey}\n`);
      await writeFile(confFile, `[profile objfs-test]\nregion = ${minio.region}\n`);
      process.env['AWS_SHARED_CREDENTIALS_FILE'] = credFile;
      process.env['AWS_CONFIG_FILE'] = confFile;
      const fromProfile = new S3Store({ bucket, prefix: 'chain', endpoint: minio.endpoint, profile: 'objfs-test' });
      stores.push(fromProfile);
      assert.equal((await fromProfile.get('env')).body.toString(), 'via env');
      const noProfile = new S3Store({ bucket, prefix: 'chain', endpoint: minio.endpoint, profile: 'no-such-profile', maxAttempts: 1 });
      stores.push(noProfile);
      const e = await rejectsCode(noProfile.get('env'), 'AccessDenied', 'env');
      assert.match(e.message, /no usable AWS credentials/);
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('deleteMany works in batches of 1,000 and reports invalid keys per key', async () => {
    const store = make({ prefix: 'many' });
    const keys = Array.from({ length: 1_234 }, (_, i) => `k/${String(i).padStart(5, '0')}`);
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        for (let i = next++; i < keys.length; i = next++) await store.put(keys[i]!, Buffer.from('x'));
      }),
    );
    const r = await store.deleteMany([...keys, '', 'k/never']);
    assert.equal(r.deleted.length, keys.length + 1);
    assert.deepEqual(r.errors.map((e) => [e.key, (e.error as { code?: string }).code]), [['', 'InvalidKey']]);
    assert.deepEqual((await store.list({ prefix: 'k/' })).objects, []);
  });
});
