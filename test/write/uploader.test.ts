/**
 * runUpload over MemoryStore (wrapped in FaultyStore to count calls and bytes): byte-for-byte
 * results of PUT, copy-self and multipart plans; fill() asked only for missing bytes of local
 * parts, never concurrently; conditions honoured (If-Match, If-None-Match, source If-Match);
 * abort on any failure (injected part failure, conflict at completion, caller's signal, a failing
 * journal callback) with the original error and no upload left open; bounded concurrency; and a
 * property test over random edits with tiny part limits.
 */
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { FaultyStore } from '../../src/store/faulty/faulty-store.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { RangeSet } from '../../src/write/range-set.js';
import type { Span } from '../../src/write/types.js';
import { runUpload, type UploadJob } from '../../src/write/uploader.js';
import { HookStore, MiB, assertNoUpload, baseFill, randomBytesSeeded, rejectsCode, tempDir, uploadIdLog, writeStaged } from './helpers.js';

class SmallPartStore extends MemoryStore {
  override readonly limits = Object.freeze({ maxParts: 10_000, minPartSize: 1024, maxPartSize: 4096, maxObjectSize: 1e9 });
}

async function putInParts(store: MemoryStore, key: string, body: Buffer): Promise<{ etag: string }> {
  if (body.length <= store.limits.maxPartSize) return store.put(key, body);
  const { uploadId } = await store.createMultipart(key);
  const parts = [];
  for (let i = 0; i * store.limits.maxPartSize < body.length; i++) {
    const chunk = body.subarray(i * store.limits.maxPartSize, (i + 1) * store.limits.maxPartSize);
    parts.push(await store.uploadPart(key, uploadId, i + 1, chunk));
  }
  return store.completeMultipart(key, uploadId, parts);
}

describe('runUpload', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let n = 0;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(async () => cleanup());
  const dataPath = (): string => join(dir, `${n++}.data`);

  /** A base object of `size` random bytes at `key` in a fresh store. */
  async function withBase(size: number, key = 'k'): Promise<{ store: HookStore; inner: MemoryStore; base: Buffer; etag: string }> {
    const inner = new MemoryStore();
    const base = randomBytesSeeded(size, size);
    const { etag } = await inner.put(key, base);
    return { store: new HookStore(inner), inner, base, etag };
  }

  it('a new small file is one PUT with If-None-Match; a second one conflicts', async () => {
    const store = new HookStore(new MemoryStore());
    const content = randomBytesSeeded(3 * MiB, 1);
    const path = dataPath();
    await writeStaged(path, content, [[0, content.length]]);
    const job: UploadJob = {
      store, key: 'new', dataPath: path, size: content.length, dirty: [[0, content.length]], present: [[0, content.length]],
      metadata: { mode: '644' }, contentType: 'text/plain', conditions: { ifNoneMatch: '*' }, concurrency: 4,
      fill: () => Promise.reject(new Error('nothing to fill')),
    };
    await runUpload(job);
    const got = await store.inner.get('new');
    assert.ok(got.body.equals(content));
    assert.deepEqual(got.info.metadata, { mode: '644' });
    assert.equal(got.info.contentType, 'text/plain');
    assert.equal(store.stats().calls.put, 1);
    assert.equal(store.stats().calls.createMultipart, 0);
    await rejectsCode(runUpload(job), 'PreconditionFailed');
  });

  it('an empty file is a PUT of no bytes', async () => {
    const store = new MemoryStore();
    const path = dataPath();
    await writeStaged(path, Buffer.alloc(0), []);
    await runUpload({ store, key: 'e', dataPath: path, size: 0, dirty: [], present: [], metadata: {}, conditions: {}, concurrency: 1, fill: async () => {} });
    assert.equal((await store.get('e')).body.length, 0);
  });

  it('a small edited file is filled from the base, then PUT with If-Match', async () => {
    const { store, base, etag } = await withBase(6 * MiB);
    const content = Buffer.from(base);
    content.fill(7, MiB, MiB + 100);
    const path = dataPath();
    await writeStaged(path, content, [[MiB, MiB + 100]]);
    const f = baseFill(store.inner, 'k', etag, path);
    await runUpload({ store, key: 'k', base: { etag, size: base.length }, dataPath: path, size: content.length, dirty: [[MiB, MiB + 100]], present: [[MiB, MiB + 100]], metadata: {}, conditions: { ifMatch: etag }, concurrency: 2, fill: f.fill });
    assert.deepEqual(f.calls, [[[0, MiB], [MiB + 100, 6 * MiB]]]);
    assert.ok((await store.inner.get('k')).body.equals(content));
  });

  it('metadata only: a server-side copy onto itself, pinned to the base', async () => {
    const { store, inner, base, etag } = await withBase(20 * MiB);
    const path = dataPath();
    await writeStaged(path, base, []);
    const job: UploadJob = {
      store, key: 'k', base: { etag, size: base.length }, dataPath: path, size: base.length, dirty: [], present: [],
      metadata: { mtime: '1' }, conditions: { ifMatch: etag }, concurrency: 2, fill: () => Promise.reject(new Error('no fill')),
    };
    await runUpload(job);
    const got = await inner.get('k');
    assert.ok(got.body.equals(base));
    assert.deepEqual(got.info.metadata, { mtime: '1' });
    assert.equal(store.stats().calls.copy, 1);
    assert.equal(store.stats().bytesIn, 0);
    // Same bytes, same ETag: a second run passes the conditions; after another writer it cannot.
    await runUpload(job);
    await inner.put('k', Buffer.from('other'));
    await rejectsCode(runUpload(job), 'PreconditionFailed');
    assert.equal((await inner.get('k')).body.toString(), 'other');
  });

  it('1 MiB edited in the middle of 40 MiB: 5 MiB sent, the rest copied, bytes exact', async () => {
    const { store, inner, base, etag } = await withBase(40 * MiB);
    const content = Buffer.from(base);
    randomBytesSeeded(MiB, 99).copy(content, 20 * MiB);
    const dirty: Span[] = [[20 * MiB, 21 * MiB]];
    const path = dataPath();
    await writeStaged(path, content, dirty);
    const f = baseFill(inner, 'k', etag, path);
    const ids = uploadIdLog();
    const progress: [number, number][] = [];
    await runUpload({
      store, key: 'k', base: { etag, size: base.length }, dataPath: path, size: content.length, dirty, present: dirty,
      metadata: {}, conditions: { ifMatch: etag }, concurrency: 3, fill: f.fill, onUploadId: ids.onUploadId,
      onProgress: (s, t) => void progress.push([s, t]),
    });
    assert.ok((await inner.get('k')).body.equals(content));
    const st = store.stats();
    assert.equal(st.bytesIn, 5 * MiB);
    assert.equal(st.calls.uploadPart, 1);
    assert.equal(st.calls.uploadPartCopy, 2);
    assert.deepEqual(f.calls, [[[21 * MiB, 25 * MiB]]]);
    assert.equal(ids.log.length, 2);
    assert.equal(ids.log[1], undefined);
    assert.deepEqual(progress, [[5 * MiB, 5 * MiB]]);
  });

  it('the object replaced before completion: PreconditionFailed, the upload aborted', async () => {
    const { store, inner, base, etag } = await withBase(30 * MiB);
    const dirty: Span[] = [[MiB, 2 * MiB]];
    const path = dataPath();
    await writeStaged(path, base, [[0, 30 * MiB]]);
    const ids = uploadIdLog();
    store.beforeComplete = async () => void (await inner.put('k', Buffer.from('someone else')));
    await rejectsCode(
      runUpload({ store, key: 'k', base: { etag, size: base.length }, dataPath: path, size: base.length, dirty, present: [[0, 30 * MiB]], metadata: {}, conditions: { ifMatch: etag }, concurrency: 2, fill: async () => {}, onUploadId: ids.onUploadId }),
      'PreconditionFailed',
    );
    assert.equal(store.stats().calls.abortMultipart, 1);
    await assertNoUpload(inner, 'k', ids.last());
    assert.equal(ids.log.at(-1), undefined);
    assert.equal((await inner.get('k')).body.toString(), 'someone else');
  });

  it('a failing part: the original error, other parts cancelled, the upload aborted', async () => {
    const { store, inner, base, etag } = await withBase(64 * MiB);
    store.inject({ op: 'uploadPart', action: { kind: 'latency', ms: 20 } });
    store.inject({ op: 'uploadPart', action: { kind: 'fail', code: 'QuotaExceeded' }, times: 1 });
    const path = dataPath();
    await writeStaged(path, base, [[0, base.length]]);
    const ids = uploadIdLog();
    const dirty: Span[] = [[0, 64 * MiB]];
    await rejectsCode(
      runUpload({ store, key: 'k', base: { etag, size: base.length }, dataPath: path, size: base.length, dirty, present: dirty, metadata: {}, conditions: { ifMatch: etag }, concurrency: 2, fill: async () => {}, onUploadId: ids.onUploadId }),
      'QuotaExceeded',
    );
    const st = store.stats();
    assert.equal(st.calls.abortMultipart, 1);
    assert.equal(st.calls.completeMultipart, 0);
    assert.ok(st.calls.uploadPart < 8, `${st.calls.uploadPart} parts tried after the failure`);
    await assertNoUpload(inner, 'k', ids.last());
    assert.ok((await inner.get('k')).body.equals(base));
  });

  it("the caller's signal: Aborted, and the upload is still aborted", async () => {
    const { store, inner, base, etag } = await withBase(40 * MiB);
    store.inject({ op: 'uploadPart', action: { kind: 'hang' } });
    const path = dataPath();
    await writeStaged(path, base, [[0, base.length]]);
    const ids = uploadIdLog();
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 50);
    await rejectsCode(
      runUpload({ store, key: 'k', base: { etag, size: base.length }, dataPath: path, size: base.length, dirty: [[0, 10 * MiB]], present: [[0, base.length]], metadata: {}, conditions: { ifMatch: etag }, concurrency: 2, fill: async () => {}, onUploadId: ids.onUploadId, signal: ctl.signal }),
      'Aborted',
    );
    assert.equal(store.stats().calls.abortMultipart, 1);
    await assertNoUpload(inner, 'k', ids.last());
  });

  it("no listener is left on the caller's signal", async () => {
    const { store, base, etag } = await withBase(20 * MiB);
    const path = dataPath();
    await writeStaged(path, base, [[0, base.length]]);
    const ctl = new AbortController();
    await runUpload({ store, key: 'k', base: { etag, size: base.length }, dataPath: path, size: base.length, dirty: [[0, MiB]], present: [[0, base.length]], metadata: {}, conditions: {}, concurrency: 2, fill: async () => {}, signal: ctl.signal });
    assert.equal(store.stats().calls.completeMultipart, 1);
    assert.equal(getEventListeners(ctl.signal, 'abort').length, 0);
  });

  it('a journal callback that fails after createMultipart: the upload is aborted, its error thrown', async () => {
    const { store, inner, base, etag } = await withBase(30 * MiB);
    const path = dataPath();
    await writeStaged(path, base, [[0, base.length]]);
    let id: string | undefined;
    const err = new Error('journal: disk full');
    await assert.rejects(
      runUpload({
        store, key: 'k', base: { etag, size: base.length }, dataPath: path, size: base.length, dirty: [[0, 10 * MiB]], present: [[0, base.length]], metadata: {}, conditions: { ifMatch: etag }, concurrency: 2, fill: async () => {},
        onUploadId: (u) => {
          if (u === undefined) return;
          id = u;
          throw err;
        },
      }),
      (e) => e === err,
    );
    assert.equal(store.stats().calls.uploadPart, 0);
    await assertNoUpload(inner, 'k', id);
  });

  it('at most `concurrency` parts in flight; fill never runs concurrently', async () => {
    const { store, inner, base, etag } = await withBase(100 * MiB);
    store.inject({ op: ['uploadPart', 'uploadPartCopy'], action: { kind: 'latency', ms: 5 } });
    const content = Buffer.from(base);
    const dirty = new RangeSet();
    for (let i = 0; i < 10; i++) {
      content.fill(i, i * 10 * MiB, i * 10 * MiB + 10);
      dirty.add(i * 10 * MiB, i * 10 * MiB + 10);
    }
    const path = dataPath();
    await writeStaged(path, content, dirty.spans());
    const f = baseFill(inner, 'k', etag, path);
    await runUpload({ store, key: 'k', base: { etag, size: base.length }, dataPath: path, size: content.length, dirty: dirty.spans(), present: dirty.spans(), metadata: {}, conditions: { ifMatch: etag }, concurrency: 3, fill: f.fill });
    assert.ok((await inner.get('k')).body.equals(content));
    assert.equal(store.maxInflight, 3);
    assert.equal(f.concurrent.max, 1);
    // Filled spans are exactly the local parts' missing bytes, each asked once.
    const filled = new RangeSet();
    for (const spans of f.calls) for (const [s, e] of spans) {
      assert.equal(filled.countIn(s, e), 0, 'a span filled twice');
      assert.equal(dirty.countIn(s, e), 0, 'a present span filled');
      filled.add(s, e);
    }
    assert.equal(filled.total + dirty.total, store.stats().bytesIn);
  });

  it('property: random edits, truncations and present sets give the exact bytes (tiny parts)', async () => {
    type Op = { kind: 'write'; at: number; len: number; seed: number } | { kind: 'resize'; size: number };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('write' as const), at: fc.integer({ min: 0, max: 30_000 }), len: fc.integer({ min: 1, max: 3000 }), seed: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('resize' as const), size: fc.integer({ min: 0, max: 40_000 }) }) },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.option(fc.integer({ min: 0, max: 30_000 }), { nil: undefined }),
        fc.array(opArb, { maxLength: 8 }),
        fc.array(fc.tuple(fc.nat({ max: 40_000 }), fc.nat({ max: 8000 })), { maxLength: 5 }),
        fc.integer({ min: 0, max: 6000 }),
        fc.integer({ min: 1, max: 4 }),
        async (baseSize, ops, extraPresent, threshold, concurrency) => {
          const inner = new SmallPartStore();
          const store = new FaultyStore(inner);
          let content: Buffer = Buffer.alloc(0);
          let etag: string | undefined;
          if (baseSize !== undefined) {
            content = randomBytesSeeded(baseSize, baseSize + 1);
            ({ etag } = await putInParts(inner, 'k', content)); // a PUT is limited to maxPartSize
          }
          const dirty = new RangeSet();
          for (const op of ops) {
            if (op.kind === 'write') {
              const end = op.at + op.len;
              if (end > content.length) {
                dirty.add(content.length, end); // the hole a write past the end leaves is new (zero) bytes
                content = Buffer.concat([content, Buffer.alloc(end - content.length)]);
              }
              randomBytesSeeded(op.len, op.seed).copy(content, op.at);
              dirty.add(op.at, end);
            } else {
              const old = content.length;
              content = op.size <= old ? content.subarray(0, op.size) : Buffer.concat([content, Buffer.alloc(op.size - old)]);
              dirty.truncate(op.size).add(old, op.size);
            }
          }
          const size = content.length;
          if (baseSize === undefined) dirty.add(0, size);
          const present = dirty.clone();
          for (const [s, l] of extraPresent) present.add(Math.min(s, size), Math.min(s + l, size));
          const path = dataPath();
          await writeStaged(path, content, present.spans());
          const f = baseFill(inner, 'k', etag ?? '', path);
          await runUpload({
            store, key: 'k', ...(etag !== undefined ? { base: { etag, size: baseSize! } } : {}), dataPath: path, size,
            dirty: dirty.spans(), present: present.spans(), metadata: { v: '1' },
            conditions: etag !== undefined ? { ifMatch: etag } : { ifNoneMatch: '*' },
            concurrency, fill: f.fill, smallFileThreshold: threshold,
          });
          const got = await inner.get('k');
          assert.ok(got.body.equals(content), 'content differs');
          assert.deepEqual(got.info.metadata, { v: '1' });
          for (const spans of f.calls) for (const [s, e] of spans) assert.equal(present.countIn(s, e), 0);
          const st = store.stats();
          assert.equal(st.calls.createMultipart, st.calls.completeMultipart);
        },
      ),
      { numRuns: 150 },
    );
  });
});
