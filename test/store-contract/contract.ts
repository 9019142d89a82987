/**
 * The ObjectStore contract: node:test cases every store must pass (memory, local, faulty-wrapped,
 * and later s3). Each case gets a fresh store from `makeStore` and calls its cleanup afterwards.
 * Keys used here are valid in every store (no "a//b", no '.' segments, no file-vs-directory
 * conflicts), so a failure is always a store bug, never a store-specific key rule.
 *
 * Options: `md5Etags` (default true) asserts that a put's ETag is the quoted MD5 of the content;
 * turn it off for backends that encrypt (SSE-KMS) where it is not.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { StoreErrorCode } from '../../src/errors/store-error.js';
import { StoreError } from '../../src/errors/store-error.js';
import type { ListOptions, ObjectInfo, ObjectStore } from '../../src/store/object-store.js';

export interface StoreFixture {
  store: ObjectStore;
  cleanup(): Promise<void>;
}

export interface ContractOptions {
  md5Etags?: boolean;
}

const md5Etag = (b: Buffer): string => `"${createHash('md5').update(b).digest('hex')}"`;
const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** Assert that `p` rejects with a StoreError of `code` (and, when given, naming `key`). */
export async function rejectsCode(p: Promise<unknown>, code: StoreErrorCode, key?: string): Promise<StoreError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof StoreError, `expected StoreError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`);
    if (key !== undefined) assert.equal(e.key, key);
    return e;
  }
  assert.fail(`expected StoreError ${code}, but the call succeeded`);
}

/** Every entry of a listing, following continuation tokens. Also checks per-page invariants. */
export async function listAll(store: ObjectStore, opts: ListOptions): Promise<{ objects: ObjectInfo[]; prefixes: string[]; pages: number }> {
  const objects: ObjectInfo[] = [];
  const prefixes: string[] = [];
  let token: string | undefined;
  let pages = 0;
  for (;;) {
    const page = await store.list({ ...opts, continuationToken: token });
    pages++;
    const n = page.objects.length + page.prefixes.length;
    if (opts.maxKeys !== undefined) assert.ok(n <= opts.maxKeys, `page of ${n} entries exceeds maxKeys ${opts.maxKeys}`);
    objects.push(...page.objects);
    prefixes.push(...page.prefixes);
    if (page.nextToken === undefined) break;
    assert.ok(n > 0, 'a page with a continuation token must not be empty');
    assert.notEqual(page.nextToken, token, 'the continuation token must advance');
    token = page.nextToken;
    assert.ok(pages < 10_000, 'listing does not terminate');
  }
  return { objects, prefixes, pages };
}

async function putAll(store: ObjectStore, keys: string[], concurrency = 32): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < keys.length; i = next++) await store.put(keys[i]!, Buffer.from(`v:${keys[i]}`));
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

export function storeContract(name: string, makeStore: () => Promise<StoreFixture>, options: ContractOptions = {}): void {
  const md5Etags = options.md5Etags ?? true;

  /** Register a case that runs on a fresh store. */
  const it = (title: string, fn: (store: ObjectStore) => Promise<void>): void => {
    test(title, async () => {
      const { store, cleanup } = await makeStore();
      try {
        await fn(store);
      } finally {
        await store.close();
        await cleanup();
      }
    });
  };

  describe(`ObjectStore contract: ${name}`, () => {
    it('check() succeeds on a usable store', async (store) => {
      await store.check();
      assert.ok(store.description.length > 0);
      assert.ok(store.limits.maxParts >= 1 && store.limits.maxPartSize >= store.limits.minPartSize);
    });

    it('put/get/head round trip with metadata and content type', async (store) => {
      const body = Buffer.from('hello, object world\n');
      const { etag } = await store.put('dir/hello.txt', body, { metadata: { owner: 'ann', mode: '644' }, contentType: 'text/plain' });
      if (md5Etags) assert.equal(etag, md5Etag(body));
      const head = await store.head('dir/hello.txt');
      assert.equal(head.key, 'dir/hello.txt');
      assert.equal(head.size, body.length);
      assert.equal(head.etag, etag);
      assert.deepEqual(head.metadata, { owner: 'ann', mode: '644' });
      assert.equal(head.contentType, 'text/plain');
      assert.ok(head.lastModified instanceof Date && !Number.isNaN(head.lastModified.getTime()));
      assert.ok(Math.abs(head.lastModified.getTime() - Date.now()) < 60_000, 'lastModified is about now');
      const got = await store.get('dir/hello.txt');
      assert.deepEqual(got.body, body);
      assert.equal(got.info.etag, etag);
      assert.equal(got.info.size, body.length);
      assert.deepEqual(got.info.metadata, { owner: 'ann', mode: '644' });
    });

    it('never shares buffers or metadata objects with callers', async (store) => {
      const body = Buffer.from('abcdef');
      const metadata = { color: 'red' };
      await store.put('k', body, { metadata });
      body.fill(0x7a);
      metadata.color = 'blue';
      const first = await store.get('k');
      assert.equal(first.body.toString(), 'abcdef');
      assert.deepEqual(first.info.metadata, { color: 'red' });
      first.body.fill(0x79);
      first.info.metadata!.color = 'green';
      const again = await store.get('k');
      assert.equal(again.body.toString(), 'abcdef');
      assert.deepEqual((await store.head('k')).metadata, { color: 'red' });
    });

    it('overwriting replaces content, metadata and ETag; same content gives the same ETag', async (store) => {
      const a = await store.put('x', Buffer.from('one'), { metadata: { a: '1' } });
      const b = await store.put('x', Buffer.from('two'), { metadata: { b: '2' } });
      assert.notEqual(a.etag, b.etag);
      const head = await store.head('x');
      assert.equal(head.etag, b.etag);
      assert.deepEqual(head.metadata, { b: '2' });
      assert.equal((await store.get('x')).body.toString(), 'two');
      const c = await store.put('y', Buffer.from('two'));
      if (md5Etags) assert.equal(c.etag, b.etag);
      const d = await store.put('x', Buffer.from('one'));
      if (md5Etags) assert.equal(d.etag, a.etag);
    });

    it('empty objects', async (store) => {
      const { etag } = await store.put('empty', Buffer.alloc(0));
      if (md5Etags) assert.equal(etag, '"d41d8cd98f00b204e9800998ecf8427e"');
      const got = await store.get('empty');
      assert.equal(got.body.length, 0);
      assert.equal(got.info.size, 0);
      await rejectsCode(store.get('empty', { range: { start: 0, end: 0 } }), 'InvalidArgument', 'empty');
    });

    it('ranged get: first byte, middle, end clamped, start beyond size', async (store) => {
      const body = Buffer.from('0123456789');
      await store.put('r', body);
      const first = await store.get('r', { range: { start: 0, end: 0 } });
      assert.equal(first.body.toString(), '0');
      assert.equal(first.info.size, 10, 'info.size is the whole object');
      assert.equal((await store.get('r', { range: { start: 3, end: 6 } })).body.toString(), '3456');
      assert.equal((await store.get('r', { range: { start: 9, end: 9 } })).body.toString(), '9');
      assert.equal((await store.get('r', { range: { start: 7, end: 1_000_000 } })).body.toString(), '789');
      await rejectsCode(store.get('r', { range: { start: 10, end: 20 } }), 'InvalidArgument', 'r');
      await rejectsCode(store.get('r', { range: { start: 5, end: 4 } }), 'InvalidArgument', 'r');
    });

    it('get with ifMatch', async (store) => {
      const { etag } = await store.put('g', Buffer.from('data'));
      assert.equal((await store.get('g', { ifMatch: etag })).body.toString(), 'data');
      await rejectsCode(store.get('g', { ifMatch: '"0123456789abcdef0123456789abcdef"' }), 'PreconditionFailed', 'g');
    });

    it('head/get/copy of a missing key: NotFound naming the key', async (store) => {
      await rejectsCode(store.head('nope'), 'NotFound', 'nope');
      await rejectsCode(store.get('nope'), 'NotFound', 'nope');
      await rejectsCode(store.get('no/such/dir/file'), 'NotFound', 'no/such/dir/file');
      await rejectsCode(store.copy('nope', 'dest'), 'NotFound', 'nope');
      await rejectsCode(store.head('dest'), 'NotFound');
    });

    it('delete is idempotent and removes the object', async (store) => {
      await store.put('a/b', Buffer.from('x'));
      await store.delete('a/b');
      await rejectsCode(store.head('a/b'), 'NotFound');
      await store.delete('a/b');
      await store.delete('never/existed');
      assert.deepEqual((await store.list({})).objects, []);
    });

    it('deleteMany deletes existing and missing keys alike', async (store) => {
      await putAll(store, ['m/1', 'm/2', 'm/3', 'keep']);
      const r = await store.deleteMany(['m/1', 'm/3', 'm/missing']);
      assert.deepEqual([...r.deleted].sort(), ['m/1', 'm/3', 'm/missing']);
      assert.deepEqual(r.errors, []);
      const left = (await store.list({})).objects.map((o) => o.key);
      assert.deepEqual(left, ['keep', 'm/2']);
    });

    it('list with prefix and delimiter: common prefixes, markers as objects', async (store) => {
      await store.put('d/', Buffer.alloc(0));
      await putAll(store, ['d/a', 'd/b/c', 'd/b/d', 'd/c-x', 'e', 'f/g']);
      const root = await store.list({ delimiter: '/' });
      assert.deepEqual(root.objects.map((o) => o.key), ['e']);
      assert.deepEqual(root.prefixes, ['d/', 'f/']);
      assert.equal(root.nextToken, undefined);
      const d = await store.list({ prefix: 'd/', delimiter: '/' });
      assert.deepEqual(d.objects.map((o) => o.key), ['d/', 'd/a', 'd/c-x']);
      assert.deepEqual(d.prefixes, ['d/b/']);
      const marker = d.objects[0]!;
      assert.equal(marker.size, 0);
      const partial = await store.list({ prefix: 'd/b', delimiter: '/' });
      assert.deepEqual(partial.objects, []);
      assert.deepEqual(partial.prefixes, ['d/b/']);
      const flat = await store.list({ prefix: 'd/' });
      assert.deepEqual(flat.objects.map((o) => o.key), ['d/', 'd/a', 'd/b/c', 'd/b/d', 'd/c-x']);
      assert.deepEqual(flat.prefixes, []);
      const dash = await store.list({ prefix: 'd/', delimiter: '-' });
      assert.deepEqual(dash.objects.map((o) => o.key), ['d/', 'd/a', 'd/b/c', 'd/b/d']);
      assert.deepEqual(dash.prefixes, ['d/c-']);
      const info = flat.objects.find((o) => o.key === 'd/a')!;
      assert.equal(info.size, Buffer.byteLength('v:d/a'));
      assert.equal(info.etag, (await store.head('d/a')).etag);
      assert.equal(info.metadata, undefined, 'list() carries no metadata');
      // Page size 1 through a directory that is not itself a marker: no empty pages, nothing lost.
      const one = await listAll(store, { prefix: 'd/b/', delimiter: '/', maxKeys: 1 });
      assert.deepEqual(one.objects.map((o) => o.key), ['d/b/c', 'd/b/d']);
      const ones = await listAll(store, { prefix: 'd/', delimiter: '/', maxKeys: 1 });
      assert.deepEqual(ones.objects.map((o) => o.key), ['d/', 'd/a', 'd/c-x']);
      assert.deepEqual(ones.prefixes, ['d/b/']);
      assert.equal(ones.pages, 4);
      assert.deepEqual((await store.list({ prefix: 'zzz' })).objects, []);
      assert.deepEqual((await store.list({ prefix: 'd/zz/', delimiter: '/' })).objects, []);
    });

    it('pagination over 2,500 keys returns every key once, in byte order', async (store) => {
      const keys: string[] = [];
      for (let i = 0; i < 2000; i++) keys.push(`p/k${String(i).padStart(5, '0')}`);
      for (let i = 0; i < 500; i++) keys.push(`p/sub${i % 5}/x${i}`);
      await putAll(store, keys);
      const expected = [...keys].sort(byteOrder);
      const flat = await listAll(store, { prefix: 'p/', maxKeys: 1000 });
      assert.deepEqual(flat.objects.map((o) => o.key), expected);
      assert.equal(flat.pages, 3);
      const small = await listAll(store, { maxKeys: 333 });
      assert.deepEqual(small.objects.map((o) => o.key), expected);
      const delim = await listAll(store, { prefix: 'p/', delimiter: '/', maxKeys: 700 });
      assert.deepEqual(delim.objects.map((o) => o.key), expected.filter((k) => !k.startsWith('p/sub')));
      assert.deepEqual(delim.prefixes, ['p/sub0/', 'p/sub1/', 'p/sub2/', 'p/sub3/', 'p/sub4/']);
      // A page boundary that falls on a common prefix does not repeat it.
      const tiny = await listAll(store, { prefix: 'p/sub', delimiter: '/', maxKeys: 2 });
      assert.deepEqual(tiny.prefixes, ['p/sub0/', 'p/sub1/', 'p/sub2/', 'p/sub3/', 'p/sub4/']);
      assert.equal(tiny.pages, 3);
    });

    it('startAfter and malformed tokens', async (store) => {
      await putAll(store, ['s/a', 's/b', 's/c/1', 's/c/2', 's/d']);
      assert.deepEqual((await store.list({ prefix: 's/', startAfter: 's/b' })).objects.map((o) => o.key), ['s/c/1', 's/c/2', 's/d']);
      assert.deepEqual((await store.list({ prefix: 's/', startAfter: 's/c/1' })).objects.map((o) => o.key), ['s/c/2', 's/d']);
      const d = await store.list({ prefix: 's/', delimiter: '/', startAfter: 's/b' });
      assert.deepEqual(d.prefixes, ['s/c/']);
      assert.deepEqual(d.objects.map((o) => o.key), ['s/d']);
      const afterPrefix = await store.list({ prefix: 's/', delimiter: '/', startAfter: 's/c/' });
      assert.deepEqual(afterPrefix.prefixes, []);
      assert.deepEqual(afterPrefix.objects.map((o) => o.key), ['s/d']);
      assert.deepEqual((await store.list({ startAfter: 'zzz' })).objects, []);
      await rejectsCode(store.list({ continuationToken: 'not a token' }), 'InvalidArgument');
    });

    it('keys with unicode and spaces: round trip and byte order', async (store) => {
      const keys = ['u/a b', 'u/\u00e9t\u00e9', 'u/\uff61', 'u/\u{1f600} smile', 'u/Z', 'u/\u65e5\u672c/\u8a9e'];
      for (const k of keys) await store.put(k, Buffer.from(k));
      for (const k of keys) {
        assert.equal((await store.get(k)).body.toString(), k);
        assert.equal((await store.head(k)).key, k);
      }
      const listed = (await store.list({ prefix: 'u/' })).objects.map((o) => o.key);
      assert.deepEqual(listed, [...keys].sort(byteOrder));
      // U+FF61 sorts before U+1F600 in UTF-8, but after it in UTF-16.
      assert.ok(listed.indexOf('u/\uff61') < listed.indexOf('u/\u{1f600} smile'));
      const d = await store.list({ prefix: 'u/', delimiter: '/' });
      assert.deepEqual(d.prefixes, ['u/\u65e5\u672c/']);
    });

    it('conditional put: ifNoneMatch *', async (store) => {
      await store.put('c', Buffer.from('first'), { ifNoneMatch: '*' });
      await rejectsCode(store.put('c', Buffer.from('second'), { ifNoneMatch: '*' }), 'PreconditionFailed', 'c');
      assert.equal((await store.get('c')).body.toString(), 'first');
      await store.delete('c');
      await store.put('c', Buffer.from('third'), { ifNoneMatch: '*' });
      assert.equal((await store.get('c')).body.toString(), 'third');
    });

    it('conditional put: ifMatch right, wrong, and on a missing key', async (store) => {
      const { etag } = await store.put('m', Buffer.from('v1'));
      const v2 = await store.put('m', Buffer.from('v2'), { ifMatch: etag });
      await rejectsCode(store.put('m', Buffer.from('v3'), { ifMatch: etag }), 'PreconditionFailed', 'm');
      assert.equal((await store.get('m')).body.toString(), 'v2');
      assert.equal((await store.head('m')).etag, v2.etag);
      await rejectsCode(store.put('missing', Buffer.from('x'), { ifMatch: etag }), 'PreconditionFailed', 'missing');
      await rejectsCode(store.head('missing'), 'NotFound');
    });

    it('concurrent conditional puts on one key: exactly one wins', async (store) => {
      const n = 12;
      const bodies = Array.from({ length: n }, (_, i) => Buffer.from(`writer ${i} ${randomBytes(8).toString('hex')}`));
      const results = await Promise.allSettled(bodies.map((b) => store.put('race', b, { ifNoneMatch: '*' })));
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      assert.equal(won.length, 1, `exactly one ifNoneMatch writer wins, got ${won.length}`);
      for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as StoreError).code, 'PreconditionFailed');
      assert.deepEqual((await store.get('race')).body, bodies[won[0]!]);
      // Round two: ifMatch on the current ETag; every body differs from the current content, so
      // the first write changes the ETag and every later one must fail.
      const base = (await store.head('race')).etag;
      const bodies2 = bodies.map((b) => Buffer.concat([Buffer.from('v2 '), b]));
      const next = await Promise.allSettled(bodies2.map((b) => store.put('race', b, { ifMatch: base })));
      const won2 = next.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      assert.equal(won2.length, 1, `exactly one ifMatch writer wins, got ${won2.length}`);
      for (const r of next) if (r.status === 'rejected') assert.equal((r.reason as StoreError).code, 'PreconditionFailed');
      assert.deepEqual((await store.get('race')).body, bodies2[won2[0]!]);
    });

    it('copy keeps metadata, replaces it on request, honours conditions', async (store) => {
      const body = Buffer.from('copy me');
      const src = await store.put('src', body, { metadata: { a: '1' }, contentType: 'text/x-src' });
      const c1 = await store.copy('src', 'dst/1');
      if (md5Etags) assert.equal(c1.etag, md5Etag(body));
      const h1 = await store.head('dst/1');
      assert.deepEqual(h1.metadata, { a: '1' });
      assert.equal(h1.contentType, 'text/x-src');
      assert.deepEqual((await store.get('dst/1')).body, body);
      await store.copy('src', 'dst/2', { metadata: { b: '2' }, contentType: 'text/x-new' });
      const h2 = await store.head('dst/2');
      assert.deepEqual(h2.metadata, { b: '2' });
      assert.equal(h2.contentType, 'text/x-new');
      await store.copy('src', 'dst/3', { sourceIfMatch: src.etag });
      await rejectsCode(store.copy('src', 'dst/4', { sourceIfMatch: '"ffffffffffffffffffffffffffffffff"' }), 'PreconditionFailed');
      await rejectsCode(store.head('dst/4'), 'NotFound');
      await rejectsCode(store.copy('src', 'dst/1', { ifNoneMatch: '*' }), 'PreconditionFailed', 'dst/1');
      await store.copy('src', 'dst/1', { ifMatch: c1.etag, metadata: { c: '3' } });
      assert.deepEqual((await store.head('dst/1')).metadata, { c: '3' });
      assert.deepEqual((await store.head('src')).metadata, { a: '1' }, 'the source is unchanged');
      // Copy onto itself with new metadata (how S3 updates metadata in place).
      await store.copy('src', 'src', { metadata: { a: '9' } });
      assert.deepEqual((await store.head('src')).metadata, { a: '9' });
      assert.deepEqual((await store.get('src')).body, body);
    });

    it('multipart: 3 parts + a part copied from another object give the exact bytes', async (store) => {
      // Every part but the last is at least minPartSize: S3 refuses smaller ones (EntityTooSmall).
      const min = store.limits.minPartSize;
      const other = randomBytes(min + 300_000);
      await store.put('other', other);
      const p1 = randomBytes(min);
      const p2 = randomBytes(min + 123_457);
      const p4 = randomBytes(10);
      const { uploadId } = await store.createMultipart('big/file.bin', { metadata: { kind: 'mp' }, contentType: 'application/x-test' });
      const parts = [
        await store.uploadPart('big/file.bin', uploadId, 1, p1),
        await store.uploadPart('big/file.bin', uploadId, 2, p2),
        await store.uploadPartCopy('big/file.bin', uploadId, 3, { key: 'other', range: { start: 1000, end: min + 250_999 } }),
        await store.uploadPart('big/file.bin', uploadId, 4, p4),
      ];
      assert.deepEqual(parts.map((p) => p.partNumber), [1, 2, 3, 4]);
      if (md5Etags) assert.equal(parts[0]!.etag, md5Etag(p1));
      await rejectsCode(store.head('big/file.bin'), 'NotFound', 'big/file.bin');
      const { etag } = await store.completeMultipart('big/file.bin', uploadId, parts);
      assert.match(etag, /^"[0-9a-f]{32}-4"$/);
      const expected = Buffer.concat([p1, p2, other.subarray(1000, min + 251_000), p4]);
      const got = await store.get('big/file.bin');
      assert.equal(got.info.size, expected.length);
      assert.ok(got.body.equals(expected), 'multipart content');
      assert.equal(got.info.etag, etag);
      assert.deepEqual(got.info.metadata, { kind: 'mp' });
      assert.equal(got.info.contentType, 'application/x-test');
      const mid = await store.get('big/file.bin', { range: { start: min - 10, end: min + 9 } });
      assert.ok(mid.body.equals(expected.subarray(min - 10, min + 10)));
      await rejectsCode(store.uploadPart('big/file.bin', uploadId, 5, p4), 'NoSuchUpload');
    });

    it('multipart: re-uploaded part wins, bad part lists are refused', async (store) => {
      const { uploadId } = await store.createMultipart('mp');
      const aBody = Buffer.alloc(store.limits.minPartSize, 'a'); // not the last part: at least minPartSize
      const a = await store.uploadPart('mp', uploadId, 1, aBody);
      const b = await store.uploadPart('mp', uploadId, 2, Buffer.from('bbbb'));
      const b2 = await store.uploadPart('mp', uploadId, 2, Buffer.from('BBBB'));
      await rejectsCode(store.completeMultipart('mp', uploadId, [a, b]), 'InvalidArgument', 'mp');
      await rejectsCode(store.completeMultipart('mp', uploadId, [b2, a]), 'InvalidArgument', 'mp');
      await rejectsCode(store.completeMultipart('mp', uploadId, [a, { partNumber: 3, etag: b.etag }]), 'InvalidArgument', 'mp');
      await rejectsCode(store.completeMultipart('mp', uploadId, []), 'InvalidArgument', 'mp');
      await rejectsCode(store.uploadPart('mp', uploadId, 0, Buffer.from('x')), 'InvalidArgument');
      await rejectsCode(store.uploadPart('mp', uploadId, store.limits.maxParts + 1, Buffer.from('x')), 'InvalidArgument');
      await rejectsCode(store.uploadPart('other-key', uploadId, 1, Buffer.from('x')), 'NoSuchUpload');
      await store.completeMultipart('mp', uploadId, [a, b2]);
      assert.ok((await store.get('mp')).body.equals(Buffer.concat([aBody, Buffer.from('BBBB')])));
    });

    it('multipart: abort, unknown ids, conditions on complete', async (store) => {
      const { uploadId } = await store.createMultipart('ab');
      const p = await store.uploadPart('ab', uploadId, 1, Buffer.from('zzz'));
      await store.abortMultipart('ab', uploadId);
      await rejectsCode(store.uploadPart('ab', uploadId, 2, Buffer.from('x')), 'NoSuchUpload');
      await rejectsCode(store.completeMultipart('ab', uploadId, [p]), 'NoSuchUpload');
      await rejectsCode(store.abortMultipart('ab', uploadId), 'NoSuchUpload');
      await rejectsCode(store.head('ab'), 'NotFound');
      await rejectsCode(store.uploadPart('ab', 'no-such-upload', 1, Buffer.from('x')), 'NoSuchUpload');
      await rejectsCode(store.uploadPart('ab', '../../../etc', 1, Buffer.from('x')), 'NoSuchUpload');
      await store.put('ab', Buffer.from('exists'));
      const u2 = await store.createMultipart('ab');
      const q = await store.uploadPart('ab', u2.uploadId, 1, Buffer.from('new'));
      await rejectsCode(store.completeMultipart('ab', u2.uploadId, [q], { ifNoneMatch: '*' }), 'PreconditionFailed', 'ab');
      assert.equal((await store.get('ab')).body.toString(), 'exists');
      const cur = (await store.head('ab')).etag;
      await store.completeMultipart('ab', u2.uploadId, [q], { ifMatch: cur });
      assert.equal((await store.get('ab')).body.toString(), 'new');
    });

    it('FileSlice bodies for put and uploadPart', async (store) => {
      const dir = await mkdtemp(join(tmpdir(), 'objfs-slice-'));
      try {
        const min = store.limits.minPartSize; // the first part below must be at least this
        const data = randomBytes(min + 1024 * 1024 + 17);
        const file = join(dir, 'staging');
        await writeFile(file, data);
        const { etag } = await store.put('slice', { path: file, start: 1000, length: 2 * 1024 * 1024 + 5 });
        const want = data.subarray(1000, 1000 + 2 * 1024 * 1024 + 5);
        if (md5Etags) assert.equal(etag, md5Etag(want));
        assert.ok((await store.get('slice')).body.equals(want));
        await store.put('slice0', { path: file, start: 5, length: 0 });
        assert.equal((await store.head('slice0')).size, 0);
        const { uploadId } = await store.createMultipart('slice-mp');
        const p1 = await store.uploadPart('slice-mp', uploadId, 1, { path: file, start: 0, length: min });
        const p2 = await store.uploadPart('slice-mp', uploadId, 2, { path: file, start: min, length: data.length - min });
        await store.completeMultipart('slice-mp', uploadId, [p1, p2]);
        assert.ok((await store.get('slice-mp')).body.equals(data));
        await rejectsCode(store.put('past-end', { path: file, start: data.length - 10, length: 100 }), 'InvalidArgument');
        await rejectsCode(store.head('past-end'), 'NotFound');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('directory markers are empty objects', async (store) => {
      const { etag } = await store.put('folder/', Buffer.alloc(0), { metadata: { mode: '755' } });
      const head = await store.head('folder/');
      assert.equal(head.size, 0);
      assert.equal(head.etag, etag);
      assert.deepEqual(head.metadata, { mode: '755' });
      await store.put('folder/inside', Buffer.from('x'));
      await store.delete('folder/inside');
      assert.equal((await store.head('folder/')).size, 0, 'the marker survives deleting its last child');
      await store.delete('folder/');
      await rejectsCode(store.head('folder/'), 'NotFound');
      assert.deepEqual((await store.list({ delimiter: '/' })).prefixes, []);
    });

    it('invalid requests: empty key, bad metadata, aborted signal', async (store) => {
      await rejectsCode(store.put('', Buffer.from('x')), 'InvalidKey');
      await rejectsCode(store.head(''), 'InvalidKey');
      await rejectsCode(store.put('k'.repeat(1025), Buffer.from('x')), 'InvalidKey');
      await rejectsCode(store.put('meta', Buffer.from('x'), { metadata: { Upper: 'x' } }), 'InvalidArgument');
      await rejectsCode(store.put('meta', Buffer.from('x'), { metadata: { big: 'v'.repeat(3000) } }), 'InvalidArgument');
      await rejectsCode(store.head('meta'), 'NotFound');
      const ac = new AbortController();
      ac.abort();
      await rejectsCode(store.put('aborted', Buffer.from('x'), { signal: ac.signal }), 'Aborted');
      await rejectsCode(store.get('aborted', { signal: ac.signal }), 'Aborted');
      await rejectsCode(store.list({ signal: ac.signal }), 'Aborted');
      await rejectsCode(store.head('aborted'), 'NotFound');
      await rejectsCode(store.list({ maxKeys: 0 }), 'InvalidArgument');
    });
  });
}
