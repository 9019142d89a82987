/**
 * Retries, timeouts and aborts of S3Store against a real MinIO behind the fault proxy
 * (test/helpers/fault-proxy.ts): injected 500s, 503 SlowDown, connection resets mid-response and
 * hangs are survived with exactly the right bytes; persistent errors, bad credentials, a missing
 * bucket and aborted signals end with the right StoreError code and no needless retries.
 *
 * Assertions are about outcomes (codes, bytes, request counts), never durations: the machine is
 * shared and slow. Timeouts in the store config are short only so that hangs end quickly.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { StoreError } from '../../src/errors/store-error.js';
import type { S3RetryEvent, S3StoreOptions } from '../../src/store/s3/s3-config.js';
import { S3Store } from '../../src/store/s3/s3-store.js';
import { rejectsCode } from '../store-contract/contract.js';
import { startFaultProxy, type FaultProxy, type ProxiedRequest } from '../helpers/fault-proxy.js';
import { createBucket, minioCredentials, minioSuiteOptions, startMinio, type MinioServer } from '../helpers/minio.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const isList = (r: ProxiedRequest): boolean => r.method === 'GET' && r.url.includes('list-type=2');
const isGetObject = (r: ProxiedRequest): boolean => r.method === 'GET' && !r.url.includes('list-type=2') && !r.url.includes('uploadId');
const isPutObject = (r: ProxiedRequest): boolean => r.method === 'PUT' && !r.url.includes('uploadId');
const isComplete = (r: ProxiedRequest): boolean => r.method === 'POST' && r.url.includes('uploadId');

describe('S3Store retries through a fault proxy (MinIO)', minioSuiteOptions(), () => {
  let minio: MinioServer;
  let proxy: FaultProxy;
  let bucket: string;
  let dir: string;
  const open: S3Store[] = [];

  /** A store through the proxy, with short timeouts and fast backoff. */
  const makeStore = (extra: Partial<S3StoreOptions> = {}): S3Store => {
    const s = new S3Store({
      bucket,
      prefix: 'retries',
      endpoint: proxy.endpoint,
      region: minio.region,
      credentials: minioCredentials(minio),
      maxAttempts: 5,
      retryBaseDelayMs: 5,
      retryMaxDelayMs: 50,
      connectTimeoutMs: 2_000,
      requestTimeoutMs: 1_500,
      idleTimeoutMs: 1_500,
      ...extra,
    });
    open.push(s);
    return s;
  };

  before(async () => {
    minio = await startMinio();
    proxy = await startFaultProxy(minio.endpoint);
    bucket = await createBucket(minio);
    dir = await mkdtemp(join(tmpdir(), 'objfs-s3-retries-'));
  });
  after(async () => {
    for (const s of open) await s.close();
    await proxy?.close();
    await minio?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('PUT, GET and LIST succeed through 500s and 503 SlowDown, bytes exact', async () => {
    const retries: S3RetryEvent[] = [];
    const store = makeStore({ onRetry: (e) => retries.push(e) });
    const data = randomBytes(4 * MiB + 321);
    proxy.clear();
    proxy.inject({ fault: 'status', status: 500, times: 2, match: isPutObject });
    proxy.inject({ fault: 'status', status: 503, times: 2, match: isGetObject });
    proxy.inject({ fault: 'status', status: 503, times: 1, match: isList });
    proxy.inject({ fault: 'status', status: 500, times: 1, match: isList });
    const before = proxy.stats.faults;
    const { etag } = await store.put('faults/500.bin', data, { metadata: { kind: 'test' } });
    const got = await store.get('faults/500.bin');
    assert.equal(sha(got.body), sha(data));
    assert.equal(got.info.etag, etag);
    assert.equal(got.info.size, data.length);
    const page = await store.list({ prefix: 'faults/' });
    assert.deepEqual(page.objects.map((o) => o.key), ['faults/500.bin']);
    assert.equal(proxy.stats.faults - before, 6, 'every injected fault was hit');
    assert.deepEqual(retries.map((r) => r.error instanceof StoreError && r.error.code), ['Server', 'Server', 'Throttled', 'Throttled', 'Throttled', 'Server']);
  });

  test('connection resets mid-response: GET, LIST, PUT, conditional PUT and multipart complete', async () => {
    const store = makeStore();
    const data = randomBytes(3 * MiB + 7);
    proxy.clear();
    await store.put('reset/a.bin', data);
    const f0 = proxy.stats.faults;
    proxy.inject({ fault: 'reset', times: 2, match: isGetObject });
    const got = await store.get('reset/a.bin');
    assert.equal(sha(got.body), sha(data), 'a cut-off body is never returned');
    const ranged = await store.get('reset/a.bin', { range: { start: MiB, end: 2 * MiB - 1 } });
    assert.equal(sha(ranged.body), sha(data.subarray(MiB, 2 * MiB)));

    proxy.inject({ fault: 'reset', times: 1, match: isList });
    assert.deepEqual((await store.list({ prefix: 'reset/' })).objects.map((o) => o.key), ['reset/a.bin']);

    // The PUT reaches the server and its answer is lost: the retry makes it anyway.
    proxy.inject({ fault: 'reset', times: 1, match: isPutObject });
    const other = randomBytes(MiB);
    await store.put('reset/b.bin', other);
    assert.equal(sha((await store.get('reset/b.bin')).body), sha(other));

    // A conditional create whose answer is lost: the retry sees 412, finds its own bytes, succeeds.
    const first = Buffer.from('created once');
    proxy.inject({ fault: 'reset', times: 1, match: isPutObject });
    const created = await store.put('reset/once', first, { ifNoneMatch: '*' });
    assert.equal((await store.head('reset/once')).etag, created.etag);
    await rejectsCode(store.put('reset/once', Buffer.from('second'), { ifNoneMatch: '*' }), 'PreconditionFailed', 'reset/once');

    // A completion whose answer is lost: the retry finds the upload gone and the object in place.
    const min = store.limits.minPartSize;
    const whole = randomBytes(min + 1000);
    const { uploadId } = await store.createMultipart('reset/mp.bin');
    const p1 = await store.uploadPart('reset/mp.bin', uploadId, 1, whole.subarray(0, min));
    const p2 = await store.uploadPart('reset/mp.bin', uploadId, 2, whole.subarray(min));
    proxy.inject({ fault: 'reset', times: 1, match: isComplete });
    const done = await store.completeMultipart('reset/mp.bin', uploadId, [p1, p2]);
    const back = await store.get('reset/mp.bin');
    assert.equal(back.info.etag, done.etag);
    assert.equal(sha(back.body), sha(whole));
    assert.equal(proxy.stats.faults - f0, 6, 'every injected reset was hit');
  });

  test('hangs: requests that never get an answer time out and are retried', async () => {
    const retries: S3RetryEvent[] = [];
    const store = makeStore({ onRetry: (e) => retries.push(e) });
    const data = randomBytes(2 * MiB + 1);
    proxy.clear();
    const f0 = proxy.stats.faults;
    proxy.inject({ fault: 'hang', times: 1, match: isPutObject });
    proxy.inject({ fault: 'hang', times: 1, match: isGetObject });
    proxy.inject({ fault: 'hang', times: 1, match: isList });
    await store.put('hang/x.bin', data);
    assert.equal(sha((await store.get('hang/x.bin')).body), sha(data));
    assert.deepEqual((await store.list({ prefix: 'hang/' })).objects.map((o) => o.key), ['hang/x.bin']);
    assert.equal(proxy.stats.faults - f0, 3, 'every injected hang was hit');
    const timeouts = retries.filter((r) => r.error instanceof StoreError && r.error.code === 'Timeout');
    assert.ok(timeouts.length >= 3, `each hang ended in a Timeout and a retry (${retries.map((r) => (r.error as StoreError).code).join(', ')})`);
  });

  test('a FileSlice body is re-read from the file on every attempt', async () => {
    const store = makeStore();
    const data = randomBytes(6 * MiB + 99);
    const file = join(dir, 'slice.bin');
    await writeFile(file, data);
    proxy.clear();
    const f0 = proxy.stats.faults;
    proxy.inject({ fault: 'status', status: 500, times: 1, match: isPutObject });
    proxy.inject({ fault: 'reset', times: 1, match: isPutObject });
    await store.put('slice/put.bin', { path: file, start: 100, length: 3 * MiB });
    assert.equal(sha((await store.get('slice/put.bin')).body), sha(data.subarray(100, 100 + 3 * MiB)));

    const min = store.limits.minPartSize;
    const { uploadId } = await store.createMultipart('slice/mp.bin');
    proxy.inject({ fault: 'hang', times: 1, match: (r) => r.method === 'PUT' && r.url.includes('partNumber=1') });
    proxy.inject({ fault: 'status', status: 503, times: 1, match: (r) => r.method === 'PUT' && r.url.includes('partNumber=2') });
    const p1 = await store.uploadPart('slice/mp.bin', uploadId, 1, { path: file, start: 0, length: min });
    const p2 = await store.uploadPart('slice/mp.bin', uploadId, 2, { path: file, start: min, length: data.length - min });
    await store.completeMultipart('slice/mp.bin', uploadId, [p1, p2]);
    assert.equal(sha((await store.get('slice/mp.bin')).body), sha(data));
    assert.equal(proxy.stats.faults - f0, 4, 'every injected fault was hit');
  });

  test('a FileSlice carrying its bytes in memory is sent from them, on every attempt', async () => {
    const store = makeStore();
    const min = store.limits.minPartSize;
    const data = randomBytes(min + 12345);
    const file = join(dir, 'zeros.bin');
    // The file holds zeros: an object equal to `data` proves the bytes came from memory.
    await writeFile(file, Buffer.alloc(data.length));
    proxy.clear();
    const f0 = proxy.stats.faults;
    const { uploadId } = await store.createMultipart('slice/mem.bin');
    const isPart = (k: number) => (r: ProxiedRequest): boolean => r.method === 'PUT' && r.url.includes(`partNumber=${k}`);
    proxy.inject({ fault: 'status', status: 500, times: 1, match: isPart(1) });
    proxy.inject({ fault: 'reset', times: 1, match: isPart(2) });
    const pieces = (from: number, to: number): Buffer[] => [data.subarray(from, from + 1000), data.subarray(from + 1000, to)];
    const p1 = await store.uploadPart('slice/mem.bin', uploadId, 1, { path: file, start: 0, length: min, buffers: pieces(0, min) });
    const p2 = await store.uploadPart('slice/mem.bin', uploadId, 2, { path: file, start: min, length: data.length - min, buffers: pieces(min, data.length) });
    await store.completeMultipart('slice/mem.bin', uploadId, [p1, p2]);
    assert.equal(sha((await store.get('slice/mem.bin')).body), sha(data));
    assert.equal(proxy.stats.faults - f0, 2, 'every injected fault was hit');
    // In-memory bytes that do not add up to the slice's length are refused before anything is sent.
    await rejectsCode(store.uploadPart('slice/mem.bin', uploadId, 3, { path: file, start: 0, length: 100, buffers: [data.subarray(0, 99)] }), 'InvalidArgument');
  });

  test('a persistent 500 ends in Server after exactly maxAttempts requests', async () => {
    const store = makeStore({ maxAttempts: 4 });
    proxy.clear();
    proxy.inject({ fault: 'status', status: 500, times: Infinity });
    const n0 = proxy.count();
    const e = await rejectsCode(store.get('anything'), 'Server', 'anything');
    assert.match(e.message, /after 4 attempts/);
    assert.equal(proxy.count() - n0, 4);
    const n1 = proxy.count();
    await rejectsCode(store.put('k', Buffer.from('x')), 'Server', 'k');
    assert.equal(proxy.count() - n1, 4);
    proxy.clear();
    proxy.inject({ fault: 'status', status: 503, times: Infinity });
    await rejectsCode(store.list({}), 'Throttled');
    proxy.clear();
  });

  test('4xx answers are not retried: 403 with a wrong secret, 404, 412', async () => {
    proxy.clear();
    const bad = makeStore({ credentials: { accessKeyId: minio.accessKey, secretAccessKey: 'wrong-secret-value-1234' } });
    const n0 = proxy.count();
    const e = await rejectsCode(bad.get('x'), 'AccessDenied', 'x');
    assert.equal(proxy.count() - n0, 1, 'exactly one request');
    assert.ok(!e.message.includes('wrong-secret-value-1234') && !inspect(bad).includes('wrong-secret-value-1234'), 'no secret in messages');
    const n1 = proxy.count();
    await rejectsCode(bad.check(), 'AccessDenied');
    assert.equal(proxy.count() - n1, 1);
    const unknownKey = makeStore({ credentials: { accessKeyId: 'no-such-access-key', secretAccessKey: 'whatever-secret-1234' } });
    await rejectsCode(unknownKey.put('x', Buffer.from('x')), 'AccessDenied', 'x');

    const good = makeStore();
    const n2 = proxy.count();
    await rejectsCode(good.get('missing/key'), 'NotFound', 'missing/key');
    await rejectsCode(good.head('missing/key'), 'NotFound', 'missing/key');
    await good.put('cond', Buffer.from('v1'));
    await rejectsCode(good.put('cond', Buffer.from('v2'), { ifNoneMatch: '*' }), 'PreconditionFailed', 'cond');
    assert.equal(proxy.count() - n2, 4, 'one request each');
  });

  test('check(): missing bucket is NoSuchBucket naming bucket and endpoint; unreachable endpoint is Network', async () => {
    proxy.clear();
    const missing = new S3Store({ bucket: 'no-such-bucket-here', endpoint: proxy.endpoint, credentials: minioCredentials(minio), maxAttempts: 2 });
    open.push(missing);
    const e = await rejectsCode(missing.check(), 'NoSuchBucket');
    assert.match(e.message, /no-such-bucket-here/);
    assert.ok(e.message.includes(proxy.endpoint), e.message);
    assert.ok(!e.message.includes('\n'));
    await rejectsCode(missing.get('k'), 'NoSuchBucket', 'k');

    // A port nobody listens on (the proxy's own port after it closed would race; use port 1).
    const nowhere = new S3Store({ bucket, endpoint: 'http://127.0.0.1:1', credentials: minioCredentials(minio), maxAttempts: 2, retryBaseDelayMs: 1 });
    open.push(nowhere);
    const n = await rejectsCode(nowhere.check(), 'Network');
    assert.match(n.message, /^cannot reach http:\/\/127\.0\.0\.1:1/);
    assert.ok(!n.message.includes(minio.secretKey));
  });

  test('an aborted signal stops a hanging request and its retries at once', async () => {
    const retries: S3RetryEvent[] = [];
    // Long timeouts and many attempts: only the abort can end these calls.
    const store = makeStore({ maxAttempts: 50, requestTimeoutMs: 600_000, idleTimeoutMs: 600_000, onRetry: (e) => retries.push(e) });
    proxy.clear();
    proxy.inject({ fault: 'hang', times: Infinity });
    const n0 = proxy.count();
    const ac = new AbortController();
    const p = store.get('hang/forever', { signal: ac.signal });
    while (proxy.count() === n0) await new Promise((r) => setTimeout(r, 10));
    ac.abort();
    await rejectsCode(p, 'Aborted', 'hang/forever');
    assert.equal(proxy.count() - n0, 1, 'no retry after the abort');
    assert.equal(retries.length, 0);

    // Abort during the backoff sleep between attempts.
    proxy.clear();
    proxy.inject({ fault: 'status', status: 503, times: Infinity });
    const slow = makeStore({ maxAttempts: 50, retryBaseDelayMs: 600_000, retryMaxDelayMs: 600_000 });
    const ac2 = new AbortController();
    const n1 = proxy.count();
    const p2 = slow.put('sleepy', Buffer.from('x'), { signal: ac2.signal });
    while (proxy.count() === n1) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 50));
    ac2.abort();
    const atAbort = proxy.count();
    await rejectsCode(p2, 'Aborted', 'sleepy');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(proxy.count(), atAbort, 'no request after the abort');
    proxy.clear();
  });
});
