/**
 * Random access: small reads at random offsets of a huge object fetch about what is asked; a
 * zip-like pattern does not download the file; EOF and empty objects.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Prefetcher } from '../../src/read/prefetcher.js';
import { CheckedBudget, FakeObject, KiB, MiB, rng } from './fake-object.js';

const GiB = 1024 * MiB;

describe('prefetcher: random access', () => {
  it('random 4 KiB reads over a 1 GiB object transfer about 4 KiB each', async () => {
    const obj = new FakeObject(1 * GiB, 21, { delay: (s) => s % 2 });
    const budget = new CheckedBudget(64 * MiB);
    const pf = new Prefetcher({ size: obj.size, fetch: obj.fetch, budget });
    const r = rng(7);
    const N = 400;
    for (let i = 0; i < N; i += 8) {
      // 8 in flight at once, like a database issuing parallel preads
      const offs = Array.from({ length: 8 }, () => Math.floor(r() * (obj.size / (4 * KiB))) * 4 * KiB);
      const bufs = await Promise.all(offs.map((o) => pf.read(o, 4 * KiB)));
      offs.forEach((o, k) => assert.ok(bufs[k]!.equals(obj.expected(o, o + 4 * KiB)), `bytes at ${o}`));
      assert.equal(budget.used, 0, 'nothing stays buffered between random reads');
    }
    assert.ok(obj.bytesRequested <= N * 64 * KiB, `fetched ${obj.bytesRequested} for ${N} reads of 4 KiB`);
    assert.ok(obj.bytesRequested <= N * 4 * KiB * 1.1, `fetched ${obj.bytesRequested}: expected about ${N * 4 * KiB}`);
    const st = pf.stats();
    assert.equal(st.mode, 'random');
    assert.equal(st.readAheadCalls, 0);
    assert.equal(st.bytesServed, N * 4 * KiB);
    pf.close();
    assert.equal(budget.violations, 0);
  });

  it('a zip-like pattern (tail, then a few small reads in the middle) transfers a few hundred KiB, not the file', async () => {
    const obj = new FakeObject(300 * MiB + 17, 22);
    const budget = new CheckedBudget(64 * MiB);
    const pf = new Prefetcher({ size: obj.size, fetch: obj.fetch, budget });
    const tail = obj.size - 64 * KiB;
    assert.ok((await pf.read(tail, 64 * KiB)).equals(obj.expected(tail, obj.size)));
    // the central directory names a few members; read their local headers and some data
    const reads: [number, number][] = [
      [10 * MiB + 123, 30],
      [150 * MiB + 7, 4 * KiB],
      [33 * MiB, 46],
      [260 * MiB + 999, 16 * KiB],
      [5 * MiB, 64 * KiB],
    ];
    for (const [o, n] of reads) assert.ok((await pf.read(o, n)).equals(obj.expected(o, o + n)));
    assert.ok(obj.bytesRequested < 300 * KiB, `fetched ${obj.bytesRequested} bytes`);
    assert.equal(pf.stats().readAheadCalls, 0);
    pf.close();
    assert.equal(budget.used, 0);
  });

  it('random reads followed by a sequential run start read-ahead for the run', async () => {
    const obj = new FakeObject(256 * MiB, 23);
    const budget = new CheckedBudget(64 * MiB);
    const pf = new Prefetcher({ size: obj.size, fetch: obj.fetch, budget });
    await pf.read(200 * MiB, 4 * KiB);
    await pf.read(17 * MiB, 4 * KiB);
    const base = 100 * MiB;
    for (let off = base; off < base + 16 * MiB; off += 128 * KiB) {
      assert.ok((await pf.read(off, 128 * KiB)).equals(obj.expected(off, off + 128 * KiB)));
    }
    const st = pf.stats();
    assert.equal(st.mode, 'sequential');
    assert.ok(st.readAheadCalls > 0);
    assert.ok(st.fetchCalls < 20, `${st.fetchCalls} fetch calls`);
    pf.close();
  });
});

describe('prefetcher: EOF and empty objects', () => {
  it('a 0-byte object reads as empty and fetches nothing', async () => {
    const obj = new FakeObject(0);
    const budget = new CheckedBudget(8 * MiB);
    const pf = new Prefetcher({ size: 0, fetch: obj.fetch, budget });
    assert.equal((await pf.read(0, 4096)).length, 0);
    assert.equal((await pf.read(0, 0)).length, 0);
    assert.equal((await pf.read(10, 10)).length, 0);
    assert.equal(obj.calls.length, 0);
    assert.equal(pf.stats().fetchCalls, 0);
    pf.close();
  });

  it('reads are clamped at EOF and no fetch goes past it', async () => {
    const size = 5 * MiB + 123;
    const obj = new FakeObject(size, 24);
    const budget = new CheckedBudget(64 * MiB);
    const pf = new Prefetcher({ size, fetch: obj.fetch, budget });
    const chunks: Buffer[] = [];
    for (let off = 0; ; off += 128 * KiB) {
      const b = await pf.read(off, 128 * KiB);
      if (b.length === 0) break;
      chunks.push(b);
    }
    const all = Buffer.concat(chunks);
    assert.equal(all.length, size);
    assert.ok(all.equals(obj.expected(0, size)));
    assert.equal(chunks.at(-1)!.length, 123);
    assert.ok(obj.calls.every((c) => c.end < size));
    assert.equal(obj.bytesRequested, size);
    assert.ok((await pf.read(size - 10, 100)).equals(obj.expected(size - 10, size)));
    assert.equal((await pf.read(size, 1)).length, 0);
    assert.equal((await pf.read(size + 5 * MiB, 4096)).length, 0);
    assert.equal((await pf.read(3, 0)).length, 0);
    await assert.rejects(pf.read(-1, 10), RangeError);
    pf.close();
    assert.equal(budget.used, 0);
  });

  it('a small file read whole in one request is a single fetch of its size', async () => {
    const obj = new FakeObject(3000, 25);
    const budget = new CheckedBudget(8 * MiB);
    const pf = new Prefetcher({ size: obj.size, fetch: obj.fetch, budget });
    assert.ok((await pf.read(0, 128 * KiB)).equals(obj.expected(0, 3000)));
    assert.equal((await pf.read(3000, 128 * KiB)).length, 0);
    assert.deepEqual(obj.calls, [{ start: 0, end: 2999 }]);
    pf.close();
  });
});
