/**
 * BlockCache unit behaviour: put/get round trip, LRU eviction order, pins (nested, never evicted,
 * a put that cannot make space returns false and warns at most once a minute), blocks larger than
 * the cache, ETag validation (stale versions dropped, pinned ones kept until unpinned),
 * invalidate, corrupt files read as misses, concurrent puts of one block, gets racing evictions,
 * odd keys, empty key directories removed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { BlockCache, type BlockCacheOptions } from '../../src/cache/block-cache.js';
import { loadNative } from '../../src/fuse/native.js';
import { WARN, blockData, captureLogger, countingAlignedAlloc, diskBytes, flushLog, listFiles, prng, tempDir } from './helpers.js';

const BS = 1000;

describe('BlockCache', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function fresh(opts: Partial<BlockCacheOptions> = {}): Promise<{ cache: BlockCache; dir: string }> {
    const t = tempDir();
    const cache = await BlockCache.open({ dir: t.dir, maxBytes: 8 * BS, blockSize: BS, ...opts });
    cleanups.push(t.cleanup, () => cache.close());
    return { cache, dir: t.dir };
  }

  test('hasRange: true only when every block of the range is on disk under that ETag; no hit/miss counted', async () => {
    const { cache } = await fresh();
    assert.equal(await cache.put('a', 'e1', 0, blockData('a', 0, BS)), true);
    assert.equal(await cache.put('a', 'e1', 1, blockData('a', 1, BS)), true);
    assert.equal(cache.hasRange('a', 'e1', 0, 2 * BS), true);
    assert.equal(cache.hasRange('a', 'e1', BS - 1, BS + 1), true);
    assert.equal(cache.hasRange('a', 'e1', 0, 2 * BS + 1), false, 'block 2 is missing');
    assert.equal(cache.hasRange('a', 'e2', 0, BS), false, 'another ETag');
    assert.equal(cache.hasRange('b', 'e1', 0, BS), false);
    assert.equal(cache.hasRange('a', 'e1', 5, 5), false, 'empty range');
    const pending = cache.put('a', 'e1', 2, blockData('a', 2, BS));
    assert.equal(cache.hasRange('a', 'e1', 2 * BS, 3 * BS), false, 'a block still being written is not local yet');
    assert.equal(await pending, true);
    assert.equal(cache.hasRange('a', 'e1', 0, 3 * BS), true);
    const s = cache.stats();
    assert.equal(s.hits + s.misses, 0);
  });

  test('put then get returns the same bytes; a missing block is a miss', async () => {
    const { cache, dir } = await fresh();
    const data = blockData('a', 0, BS);
    assert.equal(await cache.put('a', 'e1', 0, data), true);
    assert.deepEqual(await cache.get('a', 'e1', 0), data);
    assert.equal(await cache.get('a', 'e1', 1), undefined);
    assert.equal(await cache.get('b', 'e1', 0), undefined);
    const s = cache.stats();
    assert.equal(s.hits, 1);
    assert.equal(s.misses, 2);
    assert.equal(s.blocks, 1);
    assert.equal(s.bytes, BS);
    assert.deepEqual(diskBytes(dir), { bytes: BS, files: 1 });
    // A second put of the same block is a no-op.
    assert.equal(await cache.put('a', 'e1', 0, data), true);
    assert.deepEqual(diskBytes(dir), { bytes: BS, files: 1 });
  });

  test('evicts the least recently used block first', async () => {
    const { cache, dir } = await fresh();
    for (let i = 0; i < 8; i++) assert.equal(await cache.put(`k${i}`, 'e', 0, blockData(`k${i}`, 0, BS)), true);
    assert.equal(cache.stats().bytes, 8 * BS);
    assert.ok(await cache.get('k0', 'e', 0)); // k0 is now the most recently used; k1 the least
    assert.equal(await cache.put('k8', 'e', 0, blockData('k8', 0, BS)), true);
    assert.equal(await cache.get('k1', 'e', 0), undefined, 'k1 was the LRU block');
    assert.ok(await cache.get('k0', 'e', 0));
    assert.equal(await cache.put('k9', 'e', 0, blockData('k9', 0, BS)), true);
    assert.equal(await cache.get('k2', 'e', 0), undefined, 'then k2');
    for (const k of ['k0', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8', 'k9']) assert.deepEqual(await cache.get(k, 'e', 0), blockData(k, 0, BS), k);
    assert.equal(cache.stats().evictions, 2);
    assert.deepEqual(diskBytes(dir), { bytes: 8 * BS, files: 8 });
    // A put that needs more than one victim (blocks of mixed sizes).
    const big = blockData('big', 0, 3 * BS);
    const { cache: c2, dir: d2 } = await fresh({ blockSize: 4 * BS });
    for (let i = 0; i < 8; i++) await c2.put(`s${i}`, 'e', 0, blockData(`s${i}`, 0, BS));
    assert.equal(await c2.put('big', 'e', 0, big), true);
    assert.equal(c2.stats().evictions, 3);
    for (let i = 0; i < 3; i++) assert.equal(await c2.get(`s${i}`, 'e', 0), undefined);
    for (let i = 3; i < 8; i++) assert.ok(await c2.get(`s${i}`, 'e', 0));
    assert.deepEqual(diskBytes(d2), { bytes: 8 * BS, files: 6 });
  });

  test('pinned objects are never evicted; a put that cannot make space returns false and warns once a minute', async () => {
    let now = 1_000_000;
    const { log, lines } = captureLogger();
    const { cache, dir } = await fresh({ log, now: () => now });
    const unpin = cache.pin('A', 'ea');
    for (let i = 0; i < 8; i++) assert.equal(await cache.put('A', 'ea', i, blockData('A', i, BS)), true);
    assert.equal(await cache.put('B', 'eb', 0, blockData('B', 0, BS)), false, 'everything is pinned');
    assert.equal(await cache.put('B', 'eb', 1, blockData('B', 1, BS)), false);
    for (let i = 0; i < 8; i++) assert.deepEqual(await cache.get('A', 'ea', i), blockData('A', i, BS));
    assert.equal(cache.stats().evictions, 0);
    assert.deepEqual(diskBytes(dir), { bytes: 8 * BS, files: 8 });
    await flushLog();
    const warns = (): number => lines.filter((l) => l.level === WARN && l.msg.includes('too small')).length;
    assert.equal(warns(), 1, 'one warning for two refused puts');
    now += 30_000;
    assert.equal(await cache.put('B', 'eb', 2, blockData('B', 2, BS)), false);
    await flushLog();
    assert.equal(warns(), 1, 'still within the minute');
    now += 31_000;
    assert.equal(await cache.put('B', 'eb', 3, blockData('B', 3, BS)), false);
    await flushLog();
    assert.equal(warns(), 2, 'a minute later: warned again');
    assert.equal(lines.filter((l) => l.level === WARN).at(-1)?.suppressed, 2, 'the two refused puts in between');

    // Nested pins: one unpin is not enough; calling the same unpin twice counts once.
    const unpin2 = cache.pin('A', 'ea');
    unpin();
    unpin();
    assert.equal(await cache.put('B', 'eb', 0, blockData('B', 0, BS)), false);
    unpin2();
    assert.equal(await cache.put('B', 'eb', 0, blockData('B', 0, BS)), true);
    assert.equal(await cache.get('A', 'ea', 0), undefined, 'A block 0 was the LRU one');
    assert.deepEqual(await cache.get('B', 'eb', 0), blockData('B', 0, BS));
    // Pins of one version do not protect another version of the same key.
    const u3 = cache.pin('A', 'old-etag');
    assert.equal(await cache.put('C', 'ec', 0, blockData('C', 0, BS)), true);
    assert.equal(cache.stats().evictions, 2);
    u3();
  });

  test('a block larger than the whole cache is refused without writing', async () => {
    const { log, lines } = captureLogger();
    const { cache, dir } = await fresh({ log, blockSize: 16 * BS });
    assert.equal(await cache.put('a', 'e', 0, blockData('a', 0, 8 * BS + 1)), false);
    assert.equal(await cache.put('a', 'e', 1, blockData('a', 1, 8 * BS)), true, 'exactly maxBytes fits');
    assert.deepEqual(diskBytes(dir), { bytes: 8 * BS, files: 1 });
    await flushLog();
    assert.equal(lines.filter((l) => l.level === WARN && l.msg.includes('too small')).length, 1);
    // maxBytes 0: every put is refused.
    const { cache: zero, dir: zdir } = await fresh({ maxBytes: 0 });
    assert.equal(await zero.put('a', 'e', 0, Buffer.from('x')), false);
    assert.equal(diskBytes(zdir).files, 0);
  });

  test('ETag validation: a block of another ETag is a miss and is dropped', async () => {
    const { cache, dir } = await fresh();
    await cache.put('k', 'v1', 0, blockData('k', 0, BS, 1));
    await cache.put('k', 'v1', 1, blockData('k', 1, BS, 1));
    assert.equal(await cache.get('k', 'v2', 0), undefined, 'new version: miss');
    await cache.settle(); // let the unlinks run
    assert.equal(await cache.get('k', 'v1', 0), undefined, 'the old version was dropped, not just hidden');
    assert.equal(cache.stats().blocks, 0);
    await cache.settle();
    assert.deepEqual(diskBytes(dir), { bytes: 0, files: 0 });
    assert.equal(cache.stats().bytes, 0);
    // A put of a new version also drops the old one.
    await cache.put('k', 'v2', 0, blockData('k', 0, BS, 2));
    await cache.put('k', 'v3', 0, blockData('k', 0, BS, 3));
    await cache.settle();
    assert.deepEqual(diskBytes(dir), { bytes: BS, files: 1 });
    assert.deepEqual(await cache.get('k', 'v3', 0), blockData('k', 0, BS, 3));
    // An unpinned ETag that is asked for is taken as the newest: v3 goes.
    assert.equal(await cache.get('k', 'v2', 0), undefined);
    assert.equal(await cache.get('k', 'v3', 0), undefined);
  });

  test('blocks of a pinned ETag survive a newer version until unpinned', async () => {
    const { cache, dir } = await fresh();
    const unpin = cache.pin('k', 'v1');
    await cache.put('k', 'v1', 0, blockData('k', 0, BS, 1));
    await cache.put('k', 'v2', 0, blockData('k', 0, BS, 2));
    assert.equal(diskBytes(dir).files, 2);
    assert.deepEqual(await cache.get('k', 'v1', 0), blockData('k', 0, BS, 1), 'the open file still reads its version');
    await cache.get('k', 'v2', 0); // v2 is current again
    unpin();
    await cache.settle();
    assert.equal(diskBytes(dir).files, 1);
    assert.equal(await cache.get('k', 'v1', 0), undefined);
  });

  test('invalidate drops every version of the key, pinned or not, and removes its directory', async () => {
    const { cache, dir } = await fresh();
    const unpin = cache.pin('k', 'v1');
    await cache.put('k', 'v1', 0, blockData('k', 0, BS));
    await cache.put('k', 'v1', 1, blockData('k', 1, BS));
    await cache.put('other', 'v1', 0, blockData('other', 0, BS));
    await cache.invalidate('k');
    assert.equal(await cache.get('k', 'v1', 0), undefined);
    assert.ok(await cache.get('other', 'v1', 0));
    assert.deepEqual(diskBytes(dir), { bytes: BS, files: 1 });
    assert.equal(cache.stats().bytes, BS);
    await cache.invalidate('other');
    const keyDirs = readdirSync(join(dir, 'blocks')).flatMap((hh) => readdirSync(join(dir, 'blocks', hh)));
    assert.deepEqual(keyDirs, [], 'empty key directories are removed');
    unpin();
  });

  test('a corrupt or truncated block file is a miss (never wrong or partial data) and is dropped', async () => {
    const { log, lines } = captureLogger();
    const { cache, dir } = await fresh({ log });
    await cache.put('k', 'e', 0, blockData('k', 0, BS));
    await cache.put('k', 'e', 1, blockData('k', 1, BS));
    const files = listFiles(dir, 'blocks').sort();
    assert.equal(files.length, 2);
    const f0 = files.find((f) => /-0-[0-9a-f]{8}$/.test(f))!;
    const f1 = files.find((f) => /-1-[0-9a-f]{8}$/.test(f))!;
    const garbage = blockData('garbage', 0, BS);
    writeFileSync(join(dir, 'blocks', f0), garbage); // same size, other bytes
    truncateSync(join(dir, 'blocks', f1), BS / 2);
    assert.equal(await cache.get('k', 'e', 0), undefined);
    assert.equal(await cache.get('k', 'e', 1), undefined);
    await cache.settle();
    assert.deepEqual(listFiles(dir, 'blocks'), []);
    assert.equal(cache.stats().bytes, 0);
    await flushLog();
    assert.equal(lines.filter((l) => l.msg.includes('corrupt')).length, 2);
  });

  test('read(): any byte range of a cached block; out of range is a miss', async () => {
    const { cache } = await fresh();
    const data = blockData('k', 0, BS);
    await cache.put('k', 'e', 0, data);
    for (const [off, len] of [[0, BS], [0, 1], [BS - 1, 1], [123, 456], [500, undefined]] as const) {
      assert.deepEqual(await cache.read('k', 'e', 0, off, len), data.subarray(off, len === undefined ? BS : off + len), `${off}+${len}`);
    }
    assert.equal(await cache.read('k', 'e', 0, 900, 101), undefined, 'past the end of the block');
    assert.equal(await cache.read('k', 'e', 0, -1, 10), undefined);
    assert.equal(await cache.read('k', 'e', 0, 10, 0), undefined);
    assert.equal(await cache.read('k', 'other', 0, 0, 10), undefined);
  });

  test('concurrent puts of one block write it once', async () => {
    const { cache, dir } = await fresh();
    const data = blockData('k', 3, BS);
    const results = await Promise.all(Array.from({ length: 10 }, () => cache.put('k', 'e', 3, data)));
    assert.deepEqual(results, Array(10).fill(true));
    assert.deepEqual(diskBytes(dir), { bytes: BS, files: 1 });
    assert.equal(cache.stats().bytes, BS);
  });

  test('a get racing with eviction or invalidation returns the whole block or undefined', async () => {
    const { cache } = await fresh({ maxBytes: 4 * BS });
    const rand = prng(7);
    let served = 0;
    for (let round = 0; round < 200; round++) {
      const k = `k${round % 6}`;
      const data = blockData(k, 0, BS);
      await cache.put(k, 'e', 0, data);
      const reads = [cache.get(k, 'e', 0), cache.get(k, 'e', 0)];
      const r = rand();
      const churn: Promise<unknown>[] = [];
      if (r < 0.4) churn.push(cache.invalidate(k));
      else for (let j = 0; j < 5; j++) churn.push(cache.put(`x${round}-${j}`, 'e', 0, blockData('x', j, BS)));
      reads.push(cache.get(k, 'e', 0));
      for (const got of await Promise.all(reads)) {
        if (got !== undefined) {
          assert.deepEqual(got, data);
          served++;
        }
      }
      await Promise.all(churn);
    }
    assert.ok(served > 0, 'some reads won the race');
  });

  test('long keys and keys with any character', async () => {
    const { cache, dir } = await fresh();
    const keys = ['x'.repeat(5000), 'a/b/../../c', '\0\n\u00e9\u{1f600}', '', '../../etc/passwd'];
    for (const [i, k] of keys.entries()) assert.equal(await cache.put(k, `"etag/${i}"`, 0, blockData(k, 0, 100)), true, JSON.stringify(k).slice(0, 20));
    for (const [i, k] of keys.entries()) assert.deepEqual(await cache.get(k, `"etag/${i}"`, 0), blockData(k, 0, 100));
    for (const f of listFiles(dir, 'blocks')) assert.match(f, /^[0-9a-f]{2}\/[0-9a-f]{64}\/[0-9a-f]{32}-0-[0-9a-f]{8}$/);
  });

  test('invalid arguments never throw', async () => {
    const { cache } = await fresh();
    assert.equal(await cache.put('k', 'e', -1, Buffer.from('x')), false);
    assert.equal(await cache.put('k', 'e', 1.5, Buffer.from('x')), false);
    assert.equal(await cache.put('k', 'e', 0, Buffer.alloc(0)), false);
    assert.equal(await cache.get('k', 'e', Number.NaN), undefined);
    await cache.close();
    assert.equal(await cache.put('k', 'e', 0, Buffer.from('x')), false, 'closed');
    assert.equal(await cache.get('k', 'e', 0), undefined);
    const t = tempDir();
    cleanups.push(t.cleanup);
    await assert.rejects(BlockCache.open({ dir: t.dir, maxBytes: -1 }), RangeError);
    await assert.rejects(BlockCache.open({ dir: t.dir, maxBytes: 10, blockSize: 0 }), RangeError);
  });
  test('with aligned memory, blocks of whole 4 KiB pages are written with O_DIRECT from at most 8 reused buffers (the rest buffered, never queued); a short one buffered; all read back exact', async () => {
    const MiB = 1 << 20;
    const aligned = countingAlignedAlloc();
    const alignedAlloc = aligned.alloc;
    const { cache, dir } = await fresh({ blockSize: MiB, maxBytes: 40 * MiB, alignedAlloc });
    const blocks = Array.from({ length: 10 }, (_, i) => blockData('x', i, i === 9 ? MiB - 100 : MiB));
    for (let i = 0; i < blocks.length; i++) assert.equal(await cache.put('x', 'e', i, blocks[i]!), true);
    assert.equal(cache.stats().directWrites, 9, `${dir} is on a disk file system that takes O_DIRECT`);
    assert.equal(aligned.count, 1, 'one write at a time reuses one buffer');
    const many = Array.from({ length: 20 }, (_, i) => blockData('z', i, MiB));
    assert.deepEqual(await Promise.all(many.map((b, i) => cache.put('z', 'e', i, b))), many.map(() => true));
    assert.ok(aligned.count <= 8, `${aligned.count} write buffers`);
    for (let i = 0; i < blocks.length; i++) assert.deepEqual(await cache.get('x', 'e', i), blocks[i]);
    for (let i = 0; i < many.length; i++) assert.deepEqual(await cache.get('z', 'e', i), many[i]);
    assert.deepEqual(diskBytes(dir), { bytes: 30 * MiB - 100, files: 30 });
  });

  test('on tmpfs (O_DIRECT may be refused) and without aligned memory, blocks are written buffered and read back exact', async () => {
    const MiB = 1 << 20;
    for (const where of ['/dev/shm', undefined]) {
      const t = where ? { dir: mkdtempSync(join(where, 'objfs-cache-')), cleanup: () => rmSync(t.dir, { recursive: true, force: true }) } : tempDir();
      cleanups.push(t.cleanup);
      const cache = await BlockCache.open({ dir: t.dir, maxBytes: 8 * MiB, blockSize: MiB, ...(where ? { alignedAlloc: (n: number) => loadNative().alignedBuffer(n) } : {}) });
      cleanups.push(() => cache.close());
      for (let i = 0; i < 3; i++) assert.equal(await cache.put('y', 'e', i, blockData('y', i, MiB)), true);
      for (let i = 0; i < 3; i++) assert.deepEqual(await cache.get('y', 'e', i), blockData('y', i, MiB));
      if (!where) assert.equal(cache.stats().directWrites, 0);
    }
  });
});
