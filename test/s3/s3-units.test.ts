/**
 * Unit tests of the S3 store's pure parts, no server needed: the error table (s3-errors.ts), the
 * backoff and abort behaviour of the retry loop (retry.ts), configuration resolution and
 * descriptions (s3-config.ts), and s3:// URLs in openStore.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { test } from 'node:test';
import { StoreError, type StoreErrorCode } from '../../src/errors/store-error.js';
import { openStore } from '../../src/store/open-store.js';
import { resolveConfig, describe as describeConfig, safeEndpointText } from '../../src/store/s3/s3-config.js';
import { toStoreError } from '../../src/store/s3/s3-errors.js';
import { backoffDelay, withRetry } from '../../src/store/s3/retry.js';
import { S3Store } from '../../src/store/s3/s3-store.js';

/** An error shaped like an SDK service exception. */
const sdk = (name: string, status: number, message = 'm'): Error =>
  Object.assign(new Error(message), { name, Code: name === 'Unknown' ? undefined : name, $metadata: { httpStatusCode: status }, $fault: status >= 500 ? 'server' : 'client' });
const sys = (code: string, message = code): Error => Object.assign(new Error(message), { code });

test('S3 errors map to StoreError codes, keep the key and the cause', () => {
  const cases: [Error, StoreErrorCode][] = [
    [sdk('NoSuchKey', 404), 'NotFound'],
    [Object.assign(new Error('UnknownError'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } }), 'NotFound'],
    [sdk('NoSuchBucket', 404), 'NoSuchBucket'],
    [sdk('AccessDenied', 403), 'AccessDenied'],
    [sdk('InvalidAccessKeyId', 403), 'AccessDenied'],
    [sdk('SignatureDoesNotMatch', 403), 'AccessDenied'],
    [Object.assign(new Error('UnknownError'), { name: 'Forbidden', $metadata: { httpStatusCode: 403 } }), 'AccessDenied'],
    [sdk('PreconditionFailed', 412), 'PreconditionFailed'],
    [sdk('ConditionalRequestConflict', 409), 'PreconditionFailed'],
    [sdk('InvalidRange', 416), 'InvalidArgument'],
    [sdk('EntityTooSmall', 400), 'InvalidArgument'],
    [sdk('InvalidPartOrder', 400), 'InvalidArgument'],
    [sdk('KeyTooLongError', 400), 'InvalidKey'],
    [sdk('NoSuchUpload', 404), 'NoSuchUpload'],
    [sdk('EntityTooLarge', 400), 'TooLarge'],
    [sdk('QuotaExceeded', 403), 'QuotaExceeded'],
    [sdk('XMinioStorageFull', 507), 'QuotaExceeded'],
    [sdk('SlowDown', 503), 'Throttled'],
    [sdk('TooManyRequests', 429), 'Throttled'],
    [Object.assign(new Error('x'), { name: 'Unknown', $metadata: { httpStatusCode: 429 } }), 'Throttled'],
    [sdk('InternalError', 500), 'Server'],
    [sdk('XMinioServerNotInitialized', 503), 'Server'],
    [Object.assign(new Error('x'), { $metadata: { httpStatusCode: 502 } }), 'Server'],
    [sdk('RequestTimeout', 400), 'Timeout'],
    [sdk('NotImplemented', 501), 'NotSupported'],
    [Object.assign(new Error('timed out'), { name: 'TimeoutError' }), 'Timeout'],
    [sys('ETIMEDOUT'), 'Timeout'],
    [sys('ECONNRESET'), 'Network'],
    [sys('EPIPE'), 'Network'],
    [sys('ECONNREFUSED'), 'Network'],
    [new Error('socket hang up'), 'Network'],
    [Object.assign(new Error('outer'), { cause: sys('ECONNRESET') }), 'Network'],
    [Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }), 'AccessDenied'],
    [sdk('SomethingNew', 400), 'Unknown'],
  ];
  for (const [err, code] of cases) {
    const se = toStoreError(err, { op: 'GET', key: 'a/b' });
    assert.equal(se.code, code, `${err.name} ${(err as { code?: string }).code ?? ''} ${err.message}`);
    assert.equal(se.key, 'a/b');
    assert.equal(se.cause, err);
    assert.ok(!se.message.includes('\n'));
    assert.equal(se.retryable, ['Throttled', 'Timeout', 'Network', 'Server'].includes(code));
  }
  const same = new StoreError('NotFound', 'x');
  assert.equal(toStoreError(same, { op: 'GET' }), same, 'StoreErrors pass through');
});

test('backoff: full jitter under an exponential cap', () => {
  const policy = { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1_000 };
  assert.equal(backoffDelay({ ...policy, random: () => 0.999999 }, 1), 99);
  assert.equal(backoffDelay({ ...policy, random: () => 0.999999 }, 3), 399);
  assert.equal(backoffDelay({ ...policy, random: () => 0.999999 }, 10), 999);
  assert.equal(backoffDelay({ ...policy, random: () => 0 }, 4), 0);
  for (let n = 1; n < 40; n++) {
    const d = backoffDelay(policy, n);
    assert.ok(d >= 0 && d < Math.min(1_000, 100 * 2 ** (n - 1)) + 1);
  }
});

test('withRetry: retries retryable errors only, counts attempts, aborts without retrying', async () => {
  const policy = { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 };
  let calls = 0;
  const ok = await withRetry(policy, { op: 'GET', key: 'k' }, undefined, async () => {
    if (++calls < 3) throw sdk('SlowDown', 503);
    return 'done';
  });
  assert.equal(ok, 'done');
  assert.equal(calls, 3);

  calls = 0;
  await assert.rejects(
    withRetry(policy, { op: 'GET', key: 'k' }, undefined, async () => {
      calls++;
      throw sdk('InternalError', 500);
    }),
    (e: unknown) => e instanceof StoreError && e.code === 'Server' && /after 3 attempts/.test(e.message),
  );
  assert.equal(calls, 3);

  calls = 0;
  await assert.rejects(
    withRetry(policy, { op: 'GET', key: 'k' }, undefined, async () => {
      calls++;
      throw sdk('AccessDenied', 403);
    }),
    { code: 'AccessDenied' },
  );
  assert.equal(calls, 1);

  // An abort while the attempt runs: Aborted, whatever the attempt throws, and no retry.
  const ac = new AbortController();
  calls = 0;
  await assert.rejects(
    withRetry({ ...policy, maxAttempts: 10 }, { op: 'PUT', key: 'k' }, ac.signal, (signal) => {
      calls++;
      return new Promise((_, reject) => {
        signal.addEventListener('abort', () => reject(sys('ECONNRESET')));
        ac.abort();
      });
    }),
    { code: 'Aborted', key: 'k' },
  );
  assert.equal(calls, 1);
});

test('config: defaults, prefix normalisation, region from env or profile, sanitised endpoint', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'objfs-s3cfg-'));
  try {
    const cfgFile = join(dir, 'config');
    await writeFile(cfgFile, '[default]\nregion = eu-west-1\n\n[profile work]\n# comment\nregion=ap-south-2\n');
    const base = resolveConfig({ bucket: 'b', env: {} });
    assert.equal(base.prefix, '');
    assert.equal(base.region, 'us-east-1');
    assert.equal(base.forcePathStyle, false);
    assert.equal(base.maxAttempts, 5);
    assert.equal(describeConfig(base), 's3://b');
    assert.equal(resolveConfig({ bucket: 'b', prefix: '/a/b', env: {} }).prefix, 'a/b/');
    assert.equal(resolveConfig({ bucket: 'b', prefix: 'a/b/', env: {} }).prefix, 'a/b/');
    assert.equal(resolveConfig({ bucket: 'b', env: { AWS_REGION: 'us-west-2' } }).region, 'us-west-2');
    assert.equal(resolveConfig({ bucket: 'b', env: { AWS_CONFIG_FILE: cfgFile } }).region, 'eu-west-1');
    assert.equal(resolveConfig({ bucket: 'b', profile: 'work', env: { AWS_CONFIG_FILE: cfgFile } }).region, 'ap-south-2');
    assert.equal(resolveConfig({ bucket: 'b', env: { AWS_CONFIG_FILE: cfgFile, AWS_PROFILE: 'work' } }).region, 'ap-south-2');
    assert.equal(resolveConfig({ bucket: 'b', region: 'x-1', env: { AWS_REGION: 'us-west-2' } }).region, 'x-1');
    const minio = resolveConfig({ bucket: 'b', prefix: 'p', endpoint: 'http://user:pw@127.0.0.1:9000/?token=zz', env: {} });
    assert.equal(minio.forcePathStyle, true);
    assert.equal(describeConfig(minio), 's3://b/p at http://127.0.0.1:9000');
    assert.equal(resolveConfig({ bucket: 'b', endpoint: 'http://h:1', forcePathStyle: false, env: {} }).forcePathStyle, false);
    assert.equal(resolveConfig({ bucket: 'b', env: { AWS_ENDPOINT_URL: 'https://s3.example:8443' } }).endpointText, 'https://s3.example:8443');
    assert.equal(safeEndpointText('https://k:secret@h.example/base?x=1'), 'https://h.example/base');
    assert.throws(() => resolveConfig({ bucket: '', env: {} }), /invalid bucket name/);
    assert.throws(() => resolveConfig({ bucket: 'b', endpoint: 'ftp://x', env: {} }), /http/);
    assert.throws(() => resolveConfig({ bucket: 'b', maxAttempts: 0, env: {} }), /maxAttempts/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('secrets never appear in the description, inspect() or JSON of a store', async () => {
  const secret = 'SECRET-abcdefghijklmnop-0123456789';
  const store = new S3Store({
    bucket: 'bkt',
    prefix: 'x',
    endpoint: `http://AKIAUSER:${secret}@127.0.0.1:9`,
    credentials: { accessKeyId: 'AKIATEST', secretAccessKey: secret, sessionToken: `tok-${secret}` },
    env: {},
  });
  try {
    assert.equal(store.description, 's3://bkt/x at http://127.0.0.1:9');
    for (const text of [store.description, inspect(store, { depth: 10, showHidden: true }), JSON.stringify(store)]) {
      assert.ok(!text.includes(secret), text);
    }
  } finally {
    await store.close();
    await store.close(); // idempotent
  }
});

test('openStore: s3://bucket[/prefix] with options; malformed URLs are one-line errors', async () => {
  const s = openStore('s3://my-bucket/some%20dir/sub', { s3: { endpoint: 'http://127.0.0.1:9', region: 'r1', noSignRequest: true, env: {} } });
  try {
    assert.ok(s instanceof S3Store);
    assert.equal(s.description, 's3://my-bucket/some dir/sub at http://127.0.0.1:9');
    assert.equal((s as S3Store).prefix, 'some dir/sub/');
  } finally {
    await s.close();
  }
  const bare = openStore('s3://bucket', { s3: { env: {} } });
  assert.equal(bare.description, 's3://bucket');
  await bare.close();
  for (const [url, re] of [
    ['s3://', /names no bucket/],
    ['s3:///prefix', /names no bucket/],
    ['s3://b?x=1', /malformed S3 URL/],
    ['s3:bucket', /malformed S3 URL/],
    ['s3://Bad_Bucket!/x', /invalid bucket name/],
  ] as const) {
    assert.throws(
      () => openStore(url, { s3: { env: {} } }),
      (e: unknown) => e instanceof Error && re.test(e.message) && !e.message.includes('\n'),
      url,
    );
  }
});

test('buildClient: one cached middleware chain, and each call still gets its own abort signal and requestTimeout', async () => {
  const { createServer } = await import('node:http');
  const { buildClient } = await import('../../src/store/s3/s3-config.js');
  const { HeadObjectCommand, PutObjectCommand } = await import('@aws-sdk/client-s3');
  // answers every request after `delayMs`, with headers only
  let delayMs = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => res.writeHead(200, { ETag: '"e"', 'Content-Length': '0' }).end(), delayMs));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const cfg = resolveConfig({
    bucket: 'b',
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'a', secretAccessKey: 's' },
    requestTimeoutMs: 300,
    env: {},
  });
  const built = buildClient(cfg);
  try {
    const signal = new AbortController().signal;
    const head = () => built.client.send(new HeadObjectCommand({ Bucket: 'b', Key: 'k' }), { abortSignal: signal });
    await head();
    await head();
    const handlers = (built.client as unknown as { handlers?: WeakMap<object, unknown> }).handlers;
    assert.ok(handlers?.has(HeadObjectCommand), 'the middleware chain of HeadObject is cached across calls with options');
    delayMs = 800;
    // past the 300 ms time-to-headers limit: a call with the default times out...
    await assert.rejects(head(), (e: Error) => /timeout/i.test(`${e.name} ${e.message}`), 'the client requestTimeout applies');
    // ...and a call with requestTimeout 0 (an upload) does not: its own options reached the handler
    const out = await built.client.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: Buffer.from('x') }), { abortSignal: signal, requestTimeout: 0 });
    assert.equal(out.ETag, '"e"');
    // an abort reaches the request in flight
    const ac = new AbortController();
    const t0 = Date.now();
    const p = built.client.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: Buffer.from('x') }), { abortSignal: ac.signal, requestTimeout: 0 });
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(p, (e: Error) => /abort/i.test(`${e.name} ${e.message}`));
    assert.ok(Date.now() - t0 < 700, `the abort ended the request at once (${Date.now() - t0} ms)`);
  } finally {
    built.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
