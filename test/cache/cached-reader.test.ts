/**
 * readThrough over a MemoryStore (through a FaultyStore that counts GETs and bytes): exact bytes
 * for random ranges, second reads served without GETs, no cache, the short last block, coalescing
 * of adjacent missing blocks (and the per-GET cap and parallelism cap), one cache run per GET, ETag changes
 * (PreconditionFailed, old blocks never served), failures and aborts propagating.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { BlockCache } from '../../src/cache/block-cache.js';
import { readThrough, type ReadThroughArgs } from '../../src/cache/cached-reader.js';
import { StoreError } from '../../src/errors/store-error.js';
import type { GetOptions, GetResult } from '../../src/store/object-store.js';
import { FaultyStore } from '../../src/store/faulty/faulty-store.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { blockData, prng, tempDir } from './helpers.js';

const BS = 4096;

/** Records the range of every GET and the most GETs in flight at once. */
class ProbeStore extends FaultyStore {
  ranges: string[] = [];
  inFlight = 0;
  maxInFlight = 0;
  override async get(key: string, opts?: GetOptions): Promise<GetResult> {
    this.ranges.push(opts?.range ? `${opts.range.start}-${opts.range.end}` : 'all');
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    try {
      return await super.get(key, opts);
    } finally {
      this.inFlight--;
    }
  }
}

describe('readThrough', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setup(size: number, maxBlocks = 64): Promise<{ cache: BlockCache; store: ProbeStore; inner: MemoryStore; data: Buffer; etag: string }> {
    const t = tempDir();
    const cache = await BlockCache.open({ dir: t.dir, maxBytes: maxBlocks * BS, blockSize: BS });
    cleanups.push(t.cleanup, () => cache.close());
    const inner = new MemoryStore();
    const data = blockData('obj', 0, size);
    const { etag } = await inner.put('dir/obj', data);
    return { cache, store: new ProbeStore(inner), inner, data, etag };
  }

  // readThrough writes blocks to the cache in the background; settle() lets them land so the
  // next read can be checked against the cache contents.
  const read = async (a: Omit<ReadThroughArgs, 'key'> & { key?: string }): Promise<Buffer> => {
    const b = await readThrough({ key: 'dir/obj', ...a });
    await a.cache?.settle();
    return b;
  };

  test('random ranges return exactly the bytes of the object; a second read does no GET', async () => {
    const size = 20 * BS + 123;
    const { cache, store, data, etag } = await setup(size);
    const rand = prng(9);
    for (let n = 0; n < 150; n++) {
      const start = Math.floor(rand() * size);
      const end = Math.min(size - 1, start + Math.floor(rand() * (rand() < 0.2 ? 8 * BS : 2 * BS)));
      const got = await read({ cache, store, etag, size, start, end });
      assert.deepEqual(got, data.subarray(start, end + 1), `range ${start}-${end}`);
      const gets = store.stats().calls.get;
      assert.deepEqual(await read({ cache, store, etag, size, start, end }), data.subarray(start, end + 1));
      assert.equal(store.stats().calls.get, gets, `second read of ${start}-${end} was served from the cache`);
    }
    // Everything is cached now: the whole object without a single GET.
    await read({ cache, store, etag, size, start: 0, end: size - 1 }); // fills any gaps
    store.resetStats();
    assert.deepEqual(await read({ cache, store, etag, size, start: 0, end: size - 1 }), data);
    assert.equal(store.stats().calls.get, 0);
    assert.ok(cache.stats().hits > 0);
  });

  test('edges: first and last byte, end past the size is clamped, start at or past the end is empty', async () => {
    const size = 3 * BS + 10;
    const { cache, store, data, etag } = await setup(size);
    for (const c of [cache, undefined]) {
      assert.deepEqual(await read({ cache: c, store, etag, size, start: 0, end: 0 }), data.subarray(0, 1));
      assert.deepEqual(await read({ cache: c, store, etag, size, start: size - 1, end: size - 1 }), data.subarray(size - 1));
      assert.deepEqual(await read({ cache: c, store, etag, size, start: BS - 1, end: BS }), data.subarray(BS - 1, BS + 1));
      assert.deepEqual(await read({ cache: c, store, etag, size, start: 5, end: size + 5000 }), data.subarray(5));
      assert.equal((await read({ cache: c, store, etag, size, start: size, end: size + 10 })).length, 0);
    }
    const empty = await setup(0);
    assert.equal((await read({ cache: empty.cache, store: empty.store, etag: empty.etag, size: 0, start: 0, end: 100 })).length, 0);
    assert.equal(empty.store.stats().calls.get, 0);
  });

  test('without a cache: one ranged GET of exactly the range (no block rounding)', async () => {
    const size = 10 * BS;
    const { store, data, etag } = await setup(size);
    assert.deepEqual(await read({ cache: undefined, store, etag, size, start: 100, end: 5000 }), data.subarray(100, 5001));
    assert.deepEqual(store.ranges, ['100-5000']);
    assert.equal(store.stats().bytesOut, 4901);
    // An empty ETag cannot be validated: no caching either, even with a cache.
    const { cache } = await setup(size);
    assert.deepEqual(await read({ cache, store, etag: '', size, start: 0, end: 99 }), data.subarray(0, 100));
    assert.equal(cache.stats().blocks, 0);
  });

  test('the short last block is fetched, cached and served with its own length', async () => {
    const size = 5 * BS + 77;
    const { cache, store, data, etag } = await setup(size);
    assert.deepEqual(await read({ cache, store, etag, size, start: size - 10, end: size - 1 }), data.subarray(size - 10));
    assert.deepEqual(store.ranges, [`${5 * BS}-${size - 1}`], 'the GET covers the short last block only');
    assert.deepEqual(await cache.get('dir/obj', etag, 5), data.subarray(5 * BS));
    store.ranges = [];
    assert.deepEqual(await read({ cache, store, etag, size, start: 5 * BS, end: size - 1 }), data.subarray(5 * BS));
    assert.deepEqual(store.ranges, []);
  });

  test('adjacent missing blocks are coalesced into one GET around cached ones', async () => {
    const size = 12 * BS;
    const { cache, store, data, etag } = await setup(size);
    await read({ cache, store, etag, size, start: 3 * BS + 5, end: 3 * BS + 6 }); // caches block 3
    await read({ cache, store, etag, size, start: 7 * BS, end: 8 * BS - 1 }); // caches block 7
    store.ranges = [];
    store.resetStats();
    assert.deepEqual(await read({ cache, store, etag, size, start: 100, end: 10 * BS + 5 }), data.subarray(100, 10 * BS + 6));
    assert.deepEqual(store.ranges.sort(), [`0-${3 * BS - 1}`, `${4 * BS}-${7 * BS - 1}`, `${8 * BS}-${11 * BS - 1}`].sort());
    assert.equal(store.stats().bytesOut, 9 * BS, 'only the missing blocks were downloaded');
  });

  test('a range fetched by one GET comes back as a view of its body (no copy); one with cached blocks in it is assembled', async () => {
    const size = 12 * BS;
    const { cache, store, data, etag } = await setup(size);
    const bodies: Buffer[] = [];
    const recording = new (class extends ProbeStore {
      override async get(key: string, opts?: GetOptions): Promise<GetResult> {
        const r = await super.get(key, opts);
        bodies.push(r.body);
        return r;
      }
    })(store);
    const whole = await read({ cache, store: recording, etag, size, start: BS + 7, end: 5 * BS - 3 });
    assert.deepEqual(whole, data.subarray(BS + 7, 5 * BS - 2));
    assert.equal(bodies.length, 1);
    assert.equal(whole.buffer, bodies[0]!.buffer, 'the blocks of one body are returned as one view of it');
    // blocks 1-4 are cached now: a range over blocks 0-6 mixes disk and two GETs, and is copied
    bodies.length = 0;
    const mixed = await read({ cache, store: recording, etag, size, start: 10, end: 7 * BS - 1 });
    assert.deepEqual(mixed, data.subarray(10, 7 * BS));
    assert.equal(bodies.length, 2);
    assert.ok(bodies.every((b) => b.buffer !== mixed.buffer));
  });

  test('the blocks of one GET are stored as one run (one file); blocks already cached are not written again', async () => {
    const size = 20 * BS + 5;
    const { cache, store, data, etag } = await setup(size);
    await read({ cache, store, etag, size, start: 9 * BS, end: 9 * BS }); // block 9 alone
    assert.deepEqual(await read({ cache, store, etag, size, start: 0, end: size - 1, maxRequestBytes: 8 * BS }), data);
    assert.deepEqual(store.ranges.slice(1).sort(), [`0-${8 * BS - 1}`, `${10 * BS}-${18 * BS - 1}`, `${18 * BS}-${size - 1}`, `${8 * BS}-${9 * BS - 1}`].sort());
    const s = cache.stats();
    assert.equal(s.blocks, 21);
    assert.equal(s.runs, 5, 'block 9, then one run per GET: 0-7, 8, 10-17, 18-20');
    assert.equal(s.bytes, size);
  });

  test('a GET is capped at maxRequestBytes and at most maxParallel GETs run at once', async () => {
    const size = 40 * BS;
    const { cache, store, data, etag } = await setup(size);
    store.inject({ op: 'get', action: { kind: 'latency', ms: 15 } });
    assert.deepEqual(await read({ cache, store, etag, size, start: 0, end: size - 1, maxRequestBytes: 2 * BS, maxParallel: 3 }), data);
    assert.equal(store.ranges.length, 20);
    for (const r of store.ranges) {
      const [s, e] = r.split('-').map(Number);
      assert.equal(e! - s! + 1, 2 * BS, r);
    }
    assert.equal(store.maxInFlight, 3);
    // Defaults: 8 MiB per GET (here: the whole 160 KiB in one), at most 8 at once.
    const big = await setup(40 * BS);
    big.store.inject({ op: 'get', action: { kind: 'latency', ms: 15 } });
    assert.deepEqual(await read({ cache: big.cache, store: big.store, etag: big.etag, size, start: 0, end: size - 1 }), big.data);
    assert.deepEqual(big.store.ranges, [`0-${size - 1}`]);
    const many = await setup(40 * BS);
    many.store.inject({ op: 'get', action: { kind: 'latency', ms: 15 } });
    await read({ cache: many.cache, store: many.store, etag: many.etag, size, start: 0, end: size - 1, maxRequestBytes: BS });
    assert.equal(many.store.ranges.length, 40);
    assert.equal(many.store.maxInFlight, 8);
  });

  test('ETag: GETs are pinned to the version; after a change old blocks are never served', async () => {
    const size = 4 * BS;
    const { cache, store, inner, data, etag } = await setup(size);
    await read({ cache, store, etag, size, start: 0, end: 2 * BS - 1 }); // blocks 0, 1 cached under the old ETag
    const data2 = blockData('obj', 2, size);
    const { etag: etag2 } = await inner.put('dir/obj', data2);
    // The old version, for a block not cached: the store refuses (If-Match).
    await assert.rejects(read({ cache, store, etag, size, start: 3 * BS, end: 3 * BS + 1 }), (e: unknown) => e instanceof StoreError && e.code === 'PreconditionFailed');
    // The new version: fetched, never the old cached bytes.
    store.resetStats();
    assert.deepEqual(await read({ cache, store, etag: etag2, size, start: 0, end: size - 1 }), data2);
    assert.equal(store.stats().bytesOut, size, 'every block came from the store');
    assert.equal(await cache.get('dir/obj', etag, 0), undefined, 'the old blocks were dropped');
    assert.notDeepEqual(data, data2);
  });

  test('a failing GET propagates (and the other GETs are aborted); an abort from the caller too', async () => {
    const size = 16 * BS;
    const { cache, store, etag } = await setup(size);
    // The first GET fails, the 7 others hang until aborted: without the abort this never ends.
    store.inject({ op: 'get', action: { kind: 'fail', code: 'Server' }, times: 1 });
    store.inject({ op: 'get', action: { kind: 'hang' } });
    await assert.rejects(read({ cache, store, etag, size, start: 0, end: size - 1, maxRequestBytes: BS }), (e: unknown) => e instanceof StoreError && e.code === 'Server');
    assert.equal(store.stats().calls.get, 8, 'no GET started after the failure');
    store.clear();
    store.inject({ op: 'get', action: { kind: 'hang' } });
    const ac = new AbortController();
    const p = read({ cache, store, etag, size, start: 0, end: size - 1, signal: ac.signal });
    setTimeout(() => ac.abort(), 10);
    await assert.rejects(p, (e: unknown) => e instanceof StoreError && e.code === 'Aborted');
    store.clear();
    // A store that returns fewer bytes than asked (a broken backend): an error, nothing cached.
    const short = await setup(size);
    const orig = short.store.get.bind(short.store);
    short.store.get = async (k, o) => {
      const r = await orig(k, o);
      return { ...r, body: r.body.subarray(1) };
    };
    await assert.rejects(read({ cache: short.cache, store: short.store, etag: short.etag, size, start: 0, end: 10 }), /returned 4095 bytes/);
    assert.equal(short.cache.stats().blocks, 0);
  });

  test('a cache too small for the read still returns the right bytes', async () => {
    const size = 30 * BS + 1;
    const { cache, store, data, etag } = await setup(size, 4);
    const unpin = cache.pin('dir/obj', etag);
    assert.deepEqual(await read({ cache, store, etag, size, start: 0, end: size - 1 }), data);
    assert.ok(cache.stats().noSpace > 0);
    assert.ok(cache.stats().bytes <= 4 * BS);
    unpin();
  });
});
