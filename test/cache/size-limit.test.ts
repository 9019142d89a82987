/**
 * The size limit holds at every moment: a cache of 8 blocks is fed a working set of 100 blocks
 * (10 objects, short last blocks, several versions) by random sequential steps and by many
 * concurrent workers (puts, gets, pins, invalidations). The bytes on disk are measured by walking
 * the directory (not from stats()) after every step and, during the concurrent phase, at random
 * points between operations and from an independent sampler loop. The same again with runs
 * (putRun of up to 10 blocks into a cache of 32, so runs of up to 8 blocks are written, split,
 * joined and evicted whole): the disk and the index must agree run for run.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { BlockCache } from '../../src/cache/block-cache.js';
import { hashEtag, hashKey, parseRunName } from '../../src/cache/block-files.js';
import { blockData, diskBytes, listFiles, prng, tempDir } from './helpers.js';

const BS = 4096;
const MAX = 8 * BS;
const OBJECTS = 10;
const BLOCKS_PER_OBJECT = 10;
/** The last block of object o is short (and of a different length per object). */
const blockLen = (o: number, i: number): number => (i === BLOCKS_PER_OBJECT - 1 ? 100 + o * 397 : BS);

describe('BlockCache size limit', () => {
  const dirs: (() => void)[] = [];
  after(() => dirs.forEach((c) => c()));

  /** The limit check for a cache of `max` bytes: disk and accounting within it, disk within the accounting. */
  const limitCheck =
    (max: number) =>
    (cache: BlockCache, dir: string, where: string): void => {
      const d = diskBytes(dir);
      assert.ok(d.bytes <= max, `${where}: ${d.bytes} bytes on disk > maxBytes ${max}`);
      const s = cache.stats();
      assert.ok(s.bytes <= max, `${where}: stats().bytes ${s.bytes} > maxBytes`);
      assert.ok(d.bytes <= s.bytes, `${where}: disk ${d.bytes} > accounted ${s.bytes}`);
    };
  const check = limitCheck(MAX);

  /** Run `count` workers while an independent loop calls `sample` whenever the event loop turns. */
  const withSampler = async (sample: (where: string) => void, count: number, worker: (w: number) => Promise<void>): Promise<void> => {
    let stop = false;
    const sampler = (async () => {
      while (!stop) {
        await new Promise((r) => setImmediate(r));
        sample('sampler');
      }
    })();
    try {
      await Promise.all(Array.from({ length: count }, (_, w) => worker(w)));
    } finally {
      stop = true;
      await sampler;
    }
  };

  /**
   * A fresh cache of `max` bytes (cleaned up after the suite), a seeded PRNG, a version per object,
   * and `sample`: the limit check, counted in `samples`.
   */
  const harness = async (max: number, objects: number, seed: number) => {
    const t = tempDir();
    dirs.push(t.cleanup);
    const cache = await BlockCache.open({ dir: t.dir, maxBytes: max, blockSize: BS });
    const limit = limitCheck(max);
    const h = {
      dir: t.dir,
      cache,
      rand: prng(seed),
      version: new Array<number>(objects).fill(0),
      samples: 0,
      sample: (where: string): void => {
        h.samples++;
        limit(cache, t.dir, where);
      },
    };
    return h;
  };

  const expectBlock = (got: Buffer | undefined, o: number, i: number, version: number, where: string): void => {
    if (got !== undefined) assert.deepEqual(got, blockData(`obj${o}`, i, blockLen(o, i), version), `${where}: wrong bytes`);
  };

  test('random sequential steps: never above the limit, data always right', async () => {
    const { cache, dir, rand, version } = await harness(MAX, OBJECTS, 42);
    let hits = 0;
    for (let step = 0; step < 600; step++) {
      const o = Math.floor(rand() * OBJECTS);
      const i = Math.floor(rand() * BLOCKS_PER_OBJECT);
      const r = rand();
      const v = version[o]!;
      if (r < 0.5) {
        assert.equal(await cache.put(`obj${o}`, `e${v}`, i, blockData(`obj${o}`, i, blockLen(o, i), v)), true, `step ${step}: put`);
      } else if (r < 0.95) {
        const got = await cache.get(`obj${o}`, `e${v}`, i);
        expectBlock(got, o, i, v, `step ${step}`);
        if (got) hits++;
      } else if (r < 0.98) {
        version[o] = v + 1; // the object changed
      } else {
        await cache.invalidate(`obj${o}`);
      }
      check(cache, dir, `step ${step}`);
    }
    await cache.settle();
    const d = diskBytes(dir);
    const s = cache.stats();
    assert.equal(d.bytes, s.bytes, 'when idle, the accounting equals the disk');
    assert.equal(d.files, s.blocks);
    assert.ok(s.evictions > 100, `eviction was exercised (${s.evictions})`);
    assert.ok(hits > 20, `hits happened (${hits})`);
    await cache.close();
  });

  const concurrent = async (workers: number): Promise<{ puts: number; refused: number; noSpace: number }> => {
    const h = await harness(MAX, OBJECTS, 4242);
    const { cache, dir, rand, version, sample } = h;

    let refused = 0;
    let puts = 0;
    const worker = async (w: number): Promise<void> => {
      for (let n = 0; n < 80; n++) {
        const o = Math.floor(rand() * OBJECTS);
        const i = Math.floor(rand() * BLOCKS_PER_OBJECT);
        const v = version[o]!;
        const r = rand();
        if (r < 0.45) {
          const p = cache.put(`obj${o}`, `e${v}`, i, blockData(`obj${o}`, i, blockLen(o, i), v));
          puts++;
          if (rand() < 0.3) sample(`worker ${w} right after put`); // the reservation is made, the write is not
          if (!(await p)) refused++;
        } else if (r < 0.85) {
          const p = cache.get(`obj${o}`, `e${v}`, i);
          if (rand() < 0.3) sample(`worker ${w} during get`);
          expectBlock(await p, o, i, v, `worker ${w}`);
        } else if (r < 0.89) {
          // An open file: pin for a while (all its cached blocks are then not evictable).
          const unpin = cache.pin(`obj${o}`, `e${v}`);
          puts++;
          if (!(await cache.put(`obj${o}`, `e${v}`, i, blockData(`obj${o}`, i, blockLen(o, i), v)))) refused++;
          await new Promise((res) => setTimeout(res, rand() * 3));
          unpin();
        } else if (r < 0.97) {
          version[o] = v + 1;
        } else {
          const p = cache.invalidate(`obj${o}`);
          sample(`worker ${w} during invalidate`);
          await p;
        }
        if (rand() < 0.2) sample(`worker ${w} step ${n}`);
      }
    };
    // An independent sampler runs whenever the event loop turns, between the workers' steps.
    await withSampler(sample, workers, worker);
    await cache.settle();
    const d = diskBytes(dir);
    const s = cache.stats();
    assert.equal(d.bytes, s.bytes);
    assert.equal(d.files, s.blocks);
    assert.ok(h.samples > 200, `sampled often (${h.samples})`);
    assert.ok(s.evictions > 50, `eviction was exercised (${s.evictions})`);
    assert.equal(s.writeFailures, 0);
    assert.equal(s.stuckBytes, 0);
    assert.ok(s.noSpace <= refused);
    await cache.close();
    return { puts, refused, noSpace: s.noSpace };
  };

  test('puts wait for deletions in progress instead of giving up', async () => {
    const t = tempDir();
    dirs.push(t.cleanup);
    const cache = await BlockCache.open({ dir: t.dir, maxBytes: MAX, blockSize: BS });
    for (let i = 0; i < 8; i++) assert.equal(await cache.put('old', 'e', i, blockData('old', i, BS)), true);
    const inv = cache.invalidate('old'); // 8 unlinks start; their bytes are still counted
    check(cache, t.dir, 'after invalidate');
    const puts = Array.from({ length: 8 }, (_, i) => cache.put('new', 'e', i, blockData('new', i, BS)));
    check(cache, t.dir, 'puts started');
    assert.deepEqual(await Promise.all(puts), Array(8).fill(true));
    await inv;
    check(cache, t.dir, 'done');
    assert.equal(cache.stats().noSpace, 0);
    assert.deepEqual(diskBytes(t.dir), { bytes: MAX, files: 8 });
    await cache.close();
  });

  test('6 concurrent workers (fewer than the cache has blocks): never above the limit', async (t) => {
    const { puts, refused, noSpace } = await concurrent(6);
    // Puts return false when their block is dropped while being written (a newer version or an
    // invalidation), or when writes in progress and pinned blocks hold all the space (pinned
    // objects can hold several blocks each, so this happens even with fewer workers than blocks).
    // How often that happens depends on how long the disk takes with each write (pins last as
    // long as a put), so the rates are reported, not asserted: "few puts refused for space" failed
    // once on a loaded run (34 of 230) and passed alone. That the cache evicts rather than refuses
    // whenever nothing holds the space is asserted exactly by the sequential test (every put true).
    t.diagnostic(`refused ${refused} of ${puts} puts, ${noSpace} of them for space`);
    assert.ok(puts > 100, `the workers ran (${puts} puts)`);
  });

  test('24 concurrent workers (3x more than the cache has blocks): never above the limit, puts refused', async () => {
    const { puts, noSpace } = await concurrent(24);
    assert.ok(noSpace > 0 && noSpace < puts, `some puts refused for space (${noSpace} of ${puts})`);
  });

  describe('with runs', () => {
    const RMAX = 32 * BS;
    const R_OBJECTS = 8;
    const R_BLOCKS = 20;
    const rLen = (o: number, i: number): number => (i === R_BLOCKS - 1 ? 100 + o * 397 : BS);
    const runOf = (o: number, first: number, n: number, v: number): Buffer[] => Array.from({ length: n }, (_, k) => blockData(`obj${o}`, first + k, rLen(o, first + k), v));
    const names = new Map<string, string>(); // hash -> key or ETag
    for (let o = 0; o < R_OBJECTS; o++) names.set(hashKey(`obj${o}`), `obj${o}`);
    for (let v = 0; v < 100; v++) names.set(hashEtag(`e${v}`), `e${v}`);

    const rcheck = limitCheck(RMAX);

    /** When idle: every file is a run whose blocks are all indexed, and the index holds nothing else. */
    const agree = (cache: BlockCache, dir: string, where: string): void => {
      const s = cache.stats();
      const d = diskBytes(dir);
      assert.equal(d.bytes, s.bytes, `${where}: when idle, the accounting equals the disk`);
      assert.equal(d.files, s.runs, `${where}: files`);
      let blocks = 0;
      for (const f of listFiles(dir, 'blocks')) {
        const [, kh, name] = f.split('/');
        const run = parseRunName(name!);
        assert.ok(run, `${where}: ${f} is a run file`);
        const key = names.get(kh!)!;
        const etag = names.get(run.etagHash)!;
        const { first } = run;
        const n = run.crcs.length;
        assert.ok(n >= 1 && n <= 8, `${where}: ${f}`);
        blocks += n;
        assert.ok(cache.hasRange(key, etag, first * BS, (first + n) * BS - BS + 1), `${where}: every block of ${f} is indexed`);
      }
      assert.equal(blocks, s.blocks, `${where}: the index holds the blocks of the files on disk, no more`);
    };

    test('random sequential steps: never above the limit, whole runs evicted, data always right', async () => {
      const { cache, dir, rand, version } = await harness(RMAX, R_OBJECTS, 77);
      let hits = 0;
      for (let step = 0; step < 500; step++) {
        const o = Math.floor(rand() * R_OBJECTS);
        const i = Math.floor(rand() * R_BLOCKS);
        const n = Math.min(R_BLOCKS - i, 1 + Math.floor(rand() * 10));
        const r = rand();
        const v = version[o]!;
        if (r < 0.45) {
          assert.equal(await cache.putRun(`obj${o}`, `e${v}`, i, runOf(o, i, n, v)), true, `step ${step}: putRun ${i}+${n}`);
        } else if (r < 0.93) {
          const len = rLen(o, i);
          const off = Math.floor(rand() * len);
          const got = await cache.read(`obj${o}`, `e${v}`, i, off, Math.min(len - off, 1 + Math.floor(rand() * BS)));
          if (got !== undefined) {
            assert.deepEqual(got, blockData(`obj${o}`, i, len, v).subarray(off, off + got.length), `step ${step}: wrong bytes`);
            hits++;
          }
        } else if (r < 0.97) {
          version[o] = v + 1;
        } else {
          await cache.invalidate(`obj${o}`);
        }
        rcheck(cache, dir, `step ${step}`);
        await cache.settle();
        agree(cache, dir, `step ${step}`);
      }
      const s = cache.stats();
      assert.ok(s.evictions > 200, `eviction was exercised (${s.evictions})`);
      assert.ok(s.runs < s.blocks, `runs of several blocks (${s.runs} runs, ${s.blocks} blocks)`);
      assert.ok(hits > 20, `hits happened (${hits})`);
      await cache.close();
    });

    test('12 concurrent workers putting overlapping runs: never above the limit, no block written twice', async () => {
      const h = await harness(RMAX, R_OBJECTS, 7777);
      const { cache, dir, rand, version, sample } = h;
      let puts = 0;
      const worker = async (w: number): Promise<void> => {
        for (let step = 0; step < 60; step++) {
          const o = Math.floor(rand() * R_OBJECTS);
          const i = Math.floor(rand() * R_BLOCKS);
          const n = Math.min(R_BLOCKS - i, 1 + Math.floor(rand() * 10));
          const v = version[o]!;
          const r = rand();
          if (r < 0.45) {
            const p = cache.putRun(`obj${o}`, `e${v}`, i, runOf(o, i, n, v));
            puts++;
            if (rand() < 0.3) sample(`worker ${w} right after putRun`);
            await p;
          } else if (r < 0.85) {
            const p = cache.get(`obj${o}`, `e${v}`, i);
            if (rand() < 0.3) sample(`worker ${w} during get`);
            const got = await p;
            if (got !== undefined) assert.deepEqual(got, blockData(`obj${o}`, i, rLen(o, i), v), `worker ${w}: wrong bytes`);
          } else if (r < 0.9) {
            const unpin = cache.pin(`obj${o}`, `e${v}`);
            await cache.putRun(`obj${o}`, `e${v}`, i, runOf(o, i, n, v));
            await new Promise((res) => setTimeout(res, rand() * 3));
            unpin();
          } else if (r < 0.97) {
            version[o] = v + 1;
          } else {
            const p = cache.invalidate(`obj${o}`);
            sample(`worker ${w} during invalidate`);
            await p;
          }
        }
      };
      await withSampler(sample, 12, worker);
      await cache.settle();
      agree(cache, dir, 'end');
      const s = cache.stats();
      assert.ok(h.samples > 200, `sampled often (${h.samples})`);
      assert.ok(puts > 200, `the workers ran (${puts} puts)`);
      assert.ok(s.evictions > 100, `eviction was exercised (${s.evictions})`);
      assert.equal(s.writeFailures, 0);
      assert.equal(s.stuckBytes, 0);
      await cache.close();
    });
  });
});
