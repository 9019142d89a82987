/**
 * StreamingUpload over MemoryStore: a small file is one PUT and never starts a multipart upload;
 * a big one starts its first part only once 8 MiB are final and completes with the exact bytes;
 * If-None-Match at finish; at most `concurrency` parts in flight; wait() as back-pressure; a
 * failing part aborts the upload and makes finish() reject; abort(); a final size below the
 * uploaded bytes; and a property test with tiny part limits and random write cadences.
 * Parts from memory: offered writes go up as slices carrying their bytes (checked against the
 * file by HookStore) when the budget grants them, from the file when it does not or when an
 * offer is missing, and every reserved byte is released at the end, also after abort().
 */
import assert from 'node:assert/strict';
import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { MemoryBudget } from '../../src/read/memory-budget.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { StreamingUpload } from '../../src/write/uploader.js';
import { HookStore, MiB, assertNoUpload, randomBytesSeeded, rejectsCode, tempDir, uploadIdLog } from './helpers.js';

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

describe('StreamingUpload', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let n = 0;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(async () => cleanup());

  /** Append content[from, to) to the file in `step`-byte writes, calling written() after each. */
  async function stream(up: StreamingUpload, path: string, content: Buffer, step: number, between?: () => Promise<void>, from = 0, to = content.length): Promise<void> {
    for (let at = from; at < to; at += step) {
      const end = Math.min(at + step, to);
      await appendFile(path, content.subarray(at, end));
      up.written(end);
      await between?.();
    }
  }

  function setup(opts: { concurrency?: number; key?: string; store?: HookStore } = {}): { store: HookStore; up: StreamingUpload; path: string; ids: ReturnType<typeof uploadIdLog> } {
    const store = opts.store ?? new HookStore(new MemoryStore());
    const path = join(dir, `${n++}.data`);
    const ids = uploadIdLog();
    const up = new StreamingUpload({ store, key: opts.key ?? 'f', dataPath: path, metadata: { m: '1' }, contentType: 'application/x-test', concurrency: opts.concurrency ?? 2, onUploadId: ids.onUploadId });
    return { store, up, path, ids };
  }

  it('a small file is one PUT; no multipart upload is ever started', async () => {
    const { store, up, path } = setup();
    await writeFile(path, '');
    const content = randomBytesSeeded(3 * MiB, 3);
    await stream(up, path, content, 64 * 1024);
    await up.finish(content.length, { ifNoneMatch: '*' });
    const got = await store.inner.get('f');
    assert.ok(got.body.equals(content));
    assert.deepEqual(got.info.metadata, { m: '1' });
    assert.equal(got.info.contentType, 'application/x-test');
    assert.equal(store.stats().calls.createMultipart, 0);
    assert.equal(store.stats().calls.put, 1);
  });

  it('40 MiB in 1 MiB steps: parts start at 8 MiB, exact bytes, If-None-Match honoured', async () => {
    const { store, up, path, ids } = setup();
    await writeFile(path, '');
    const content = randomBytesSeeded(40 * MiB, 40);
    let sawFirstPartAt = -1;
    await stream(up, path, content, MiB, async () => {
      await tick();
      if (sawFirstPartAt < 0 && store.stats().calls.createMultipart > 0) sawFirstPartAt = up.uploadedUpTo;
    });
    assert.equal(sawFirstPartAt, 8 * MiB);
    await up.finish(content.length, { ifNoneMatch: '*' });
    assert.ok((await store.inner.get('f')).body.equals(content));
    const st = store.stats();
    assert.equal(st.calls.uploadPart, 5);
    assert.equal(st.bytesIn, 40 * MiB);
    assert.equal(ids.log.length, 2);
    assert.equal(ids.log[1], undefined);

    // The same key again with If-None-Match: conflict, and the second upload is aborted.
    const second = setup({ store });
    await writeFile(second.path, '');
    await stream(second.up, second.path, content, MiB, undefined, 0, 20 * MiB);
    await rejectsCode(second.up.finish(20 * MiB, { ifNoneMatch: '*' }), 'PreconditionFailed');
    await assertNoUpload(store.inner, 'f', second.ids.last());
    assert.ok((await store.inner.get('f')).body.equals(content));
  });

  it('at most `concurrency` parts in flight when the writer runs ahead; wait() drains them', async () => {
    const { store, up, path } = setup({ concurrency: 2 });
    store.inject({ op: 'uploadPart', action: { kind: 'latency', ms: 30 } });
    await writeFile(path, '');
    const content = randomBytesSeeded(64 * MiB, 64);
    await stream(up, path, content, 4 * MiB, undefined, 0, 48 * MiB);
    assert.ok(store.inflight <= 2);
    await up.wait();
    assert.equal(store.inflight, 0);
    assert.equal(up.uploadedUpTo, 48 * MiB); // parts ready but without a slot started as slots freed
    await stream(up, path, content, 4 * MiB, undefined, 48 * MiB);
    await up.finish(64 * MiB, {});
    assert.equal(store.maxInflight, 2);
    assert.ok((await store.inner.get('f')).body.equals(content));
  });

  it('a tail shorter than the minimum part is the last part', async () => {
    const { store, up, path } = setup();
    const content = randomBytesSeeded(8 * MiB + 100, 8);
    await writeFile(path, content);
    up.written(content.length);
    await up.finish(content.length, {});
    assert.ok((await store.inner.get('f')).body.equals(content));
    assert.equal(store.stats().calls.uploadPart, 2);
  });

  it('a file bigger than the small threshold with no written() calls: multipart at finish', async () => {
    const { store, up, path } = setup();
    const content = randomBytesSeeded(30 * MiB, 30);
    await writeFile(path, content);
    await up.finish(content.length, {});
    assert.ok((await store.inner.get('f')).body.equals(content));
    assert.equal(store.stats().calls.createMultipart, 1);
  });

  it('a failing part aborts the upload at once; finish() rejects with its error', async () => {
    const { store, up, path, ids } = setup();
    store.inject({ op: 'uploadPart', action: { kind: 'fail', code: 'AccessDenied' }, times: 1 });
    await writeFile(path, '');
    const content = randomBytesSeeded(24 * MiB, 24);
    await stream(up, path, content, MiB);
    await up.wait();
    for (let i = 0; i < 100 && store.stats().calls.abortMultipart === 0; i++) await tick();
    assert.equal(store.stats().calls.abortMultipart, 1, 'aborted before finish');
    assert.equal((up.error as { code?: string }).code, 'AccessDenied');
    await rejectsCode(up.finish(content.length, {}), 'AccessDenied');
    assert.equal(store.stats().calls.completeMultipart, 0);
    await assertNoUpload(store.inner, 'f', ids.last());
    await rejectsCode(store.inner.head('f'), 'NotFound');
  });

  it('abort(): parts stop, the upload is gone, finish() is refused', async () => {
    const { store, up, path, ids } = setup();
    store.inject({ op: 'uploadPart', action: { kind: 'latency', ms: 50 } });
    const content = randomBytesSeeded(24 * MiB, 25);
    await writeFile(path, content);
    up.written(24 * MiB);
    await tick();
    await up.abort();
    await up.abort();
    await assertNoUpload(store.inner, 'f', ids.last());
    assert.equal(ids.log.at(-1), undefined);
    await rejectsCode(up.finish(content.length, {}), 'Aborted');
  });

  it('a final size below the uploaded bytes is refused (and the upload aborted)', async () => {
    const { store, up, path, ids } = setup();
    const content = randomBytesSeeded(20 * MiB, 20);
    await writeFile(path, content);
    up.written(20 * MiB);
    await up.wait();
    await rejectsCode(up.finish(4 * MiB, {}), 'InvalidArgument');
    await assertNoUpload(store.inner, 'f', ids.last());
  });

  it('parts from memory: offered bytes are sent from memory, the budget bounds them, all released', async () => {
    const content = randomBytesSeeded(40 * MiB, 41);
    const run = async (budgetBytes: number, skip?: (at: number) => boolean): Promise<{ store: HookStore; budget: MemoryBudget }> => {
      const store = new HookStore(new MemoryStore());
      const budget = new MemoryBudget(budgetBytes);
      const path = join(dir, `${n++}.data`);
      await writeFile(path, '');
      const up = new StreamingUpload({ store, key: 'm', dataPath: path, metadata: {}, concurrency: 2, memory: budget });
      for (let at = 0; at < content.length; at += MiB) {
        const piece = content.subarray(at, at + MiB);
        await appendFile(path, piece);
        if (!skip?.(at)) up.offer(piece, at);
        assert.ok(budget.used <= budgetBytes);
        up.written(at + MiB);
        await tick();
      }
      await up.finish(content.length, {});
      assert.ok((await store.inner.get('m')).body.equals(content));
      assert.equal(budget.used, 0, 'every reserved byte released');
      return { store, budget };
    };
    // A budget for all: every part from memory (5 parts of 8 MiB).
    assert.equal((await run(64 * MiB)).store.partsFromMemory, 5);
    // The write at 9 MiB was not offered: part 2 ([8, 16) MiB) reads the file, the others do not.
    assert.equal((await run(64 * MiB, (at) => at === 9 * MiB)).store.partsFromMemory, 4);
    // A budget smaller than a part: nothing from memory, same bytes.
    assert.equal((await run(4 * MiB)).store.partsFromMemory, 0);

    // abort() releases what is held.
    const budget = new MemoryBudget(64 * MiB);
    const path = join(dir, `${n++}.data`);
    await writeFile(path, content.subarray(0, 12 * MiB));
    const up = new StreamingUpload({ store: new HookStore(new MemoryStore()), key: 'a', dataPath: path, metadata: {}, concurrency: 2, memory: budget });
    for (let at = 0; at < 12 * MiB; at += MiB) up.offer(content.subarray(at, at + MiB), at);
    assert.equal(budget.used, 12 * MiB);
    up.written(12 * MiB);
    await up.abort();
    assert.equal(budget.used, 0);
  });

  it('property: random cadences, sizes and concurrency give the exact bytes (tiny parts)', async () => {
    const limits = { maxParts: 10_000, minPartSize: 1024, maxPartSize: 4096, maxObjectSize: 1e9 };
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 60_000 }),
        fc.array(fc.integer({ min: 1, max: 9000 }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 1, max: 20_000 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 7 }),
        async (size, steps, concurrency, threshold, budgetBytes, offers) => {
          const store = new HookStore(new MemoryStore());
          const path = join(dir, `${n++}.data`);
          await writeFile(path, '');
          const content = randomBytesSeeded(size, size);
          const budget = new MemoryBudget(budgetBytes);
          const up = new StreamingUpload({ store, key: 'p', dataPath: path, metadata: {}, limits, concurrency, smallFileThreshold: threshold, memory: budget });
          let at = 0;
          for (let i = 0; at < size; i++) {
            const step = steps[i % steps.length]!;
            const piece = content.subarray(at, Math.min(at + step, size));
            await appendFile(path, piece);
            if (offers[i % offers.length]) up.offer(piece, at);
            at = Math.min(at + step, size);
            up.written(at);
            if (i % 3 === 0) await up.wait();
          }
          await up.finish(size, { ifNoneMatch: '*' });
          assert.equal(budget.used, 0, 'every reserved byte released');
          assert.ok((await store.inner.get('p')).body.equals(content));
          assert.ok(store.maxInflight <= concurrency);
          const st = store.stats();
          assert.equal(st.calls.createMultipart, st.calls.completeMultipart);
          if (size <= threshold && size < 4096) assert.equal(st.calls.createMultipart, 0);
        },
      ),
      { numRuns: 100 },
    );
  });
});
