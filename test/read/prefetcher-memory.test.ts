/**
 * The global memory budget: never exceeded with many handles, no deadlock when it is exhausted,
 * read-ahead yields to callers waiting for memory.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Prefetcher } from '../../src/read/prefetcher.js';
import { CheckedBudget, FakeObject, KiB, MiB, rng } from './fake-object.js';

/** Fail instead of hanging forever if something deadlocks. */
async function within<T>(ms: number, p: Promise<T>): Promise<T> {
  const ac = new AbortController();
  const timer = sleep(ms, undefined, { signal: ac.signal }).then(() => {
    throw new Error(`no progress after ${ms} ms: deadlock?`);
  });
  try {
    return await Promise.race([p, timer]);
  } finally {
    ac.abort();
    timer.catch(() => {});
  }
}

async function readSequentially(pf: Prefetcher, obj: FakeObject, readSize: number, inFlight: number): Promise<number> {
  let reads = 0;
  for (let base = 0; base < obj.size; base += inFlight * readSize) {
    const offs = Array.from({ length: inFlight }, (_, k) => base + k * readSize).filter((o) => o < obj.size);
    const bufs = await Promise.all(offs.map((o) => pf.read(o, readSize)));
    offs.forEach((o, k) => assert.ok(bufs[k]!.equals(obj.expected(o, o + readSize)), `bytes at ${o}`));
    reads += offs.length;
  }
  return reads;
}

describe('prefetcher: global memory budget', () => {
  it('20 handles reading sequentially at once never exceed a 64 MiB budget, and all finish', async () => {
    const budget = new CheckedBudget(64 * MiB);
    const r = rng(5);
    const handles = Array.from({ length: 20 }, (_, i) => {
      const obj = new FakeObject(16 * MiB + i * 4099, 100 + i, { delay: () => Math.floor(r() * 4) });
      return { obj, pf: new Prefetcher({ size: obj.size, fetch: obj.fetch, budget }) };
    });
    const reads = await within(
      120_000,
      Promise.all(handles.map(({ pf, obj }, i) => readSequentially(pf, obj, i % 2 ? 128 * KiB : 1 * MiB, 1 + (i % 4)))),
    );
    assert.equal(budget.violations, 0);
    assert.ok(budget.maxSeen <= budget.max, `max used ${budget.maxSeen}`);
    assert.ok(budget.peak <= budget.max);
    const stats = handles.map((h) => h.pf.stats());
    const calls = stats.reduce((a, s) => a + s.fetchCalls, 0);
    const totalReads = reads.reduce((a, n) => a + n, 0);
    assert.ok(stats.some((s) => s.readAheadCalls > 0), 'read-ahead happened');
    assert.ok(calls < totalReads / 2, `${calls} fetch calls for ${totalReads} reads`);
    for (const h of handles) h.pf.close();
    assert.equal(budget.used, 0);
    assert.equal(budget.borrowed, 0);
  });

  it('reads are served when other users hold the whole budget (no deadlock, no read-ahead)', async () => {
    const budget = new CheckedBudget(16 * MiB);
    assert.equal(budget.tryReserve(16 * MiB), true); // another component holds everything
    const obj = new FakeObject(8 * MiB, 31, { delay: (s) => s % 2 });
    const pf = new Prefetcher({ size: obj.size, fetch: obj.fetch, budget });
    await within(60_000, readSequentially(pf, obj, 128 * KiB, 4));
    const st = pf.stats();
    assert.equal(st.readAheadCalls, 0, 'no read-ahead without memory');
    assert.equal(st.borrowedBytes, obj.size, 'demand reads borrowed exactly their own bytes');
    assert.equal(budget.used, 16 * MiB);
    assert.equal(budget.borrowed, 0, 'borrowed bytes are repaid as reads complete');
    assert.equal(budget.violations, 0);
    pf.close();
    budget.release(16 * MiB);
    assert.equal(budget.used, 0);
  });

  it('read-ahead yields to a caller waiting in reserve()', async () => {
    const budget = new CheckedBudget(32 * MiB);
    budget.tryReserve(1);
    let granted = false;
    const waiter = budget.reserve(32 * MiB).then(() => (granted = true));
    const obj = new FakeObject(6 * MiB, 32);
    const pf = new Prefetcher({ size: obj.size, fetch: obj.fetch, budget });
    await readSequentially(pf, obj, 256 * KiB, 1);
    assert.equal(pf.stats().readAheadCalls, 0);
    assert.equal(granted, false);
    budget.release(1);
    await waiter;
    assert.equal(budget.used, 32 * MiB);
    pf.close();
    budget.release(32 * MiB);
  });

  it('handles left idle with buffered read-ahead give it back to an active reader under pressure', async () => {
    let clock = 0;
    const now = () => clock;
    const budget = new CheckedBudget(7 * MiB + 512 * KiB);
    const idle = Array.from({ length: 7 }, (_, i) => {
      const obj = new FakeObject(32 * MiB, 50 + i);
      return { obj, pf: new Prefetcher({ size: obj.size, fetch: obj.fetch, budget, now }) };
    });
    // each reads its header twice in a row (enough to start read-ahead), then stays open
    for (const { pf } of idle) {
      await pf.read(0, 128 * KiB);
      await pf.read(128 * KiB, 128 * KiB);
    }
    assert.equal(budget.used, 7 * MiB, 'each idle handle holds 1 MiB of read-ahead');
    const obj = new FakeObject(32 * MiB, 60);
    const active = new Prefetcher({ size: obj.size, fetch: obj.fetch, budget, now });
    await active.read(0, 128 * KiB);
    await active.read(128 * KiB, 128 * KiB);
    assert.equal(active.stats().readAheadCalls, 0, 'not idle long enough yet: nothing reclaimed');
    clock += 5000;
    for (let off = 256 * KiB; off < 16 * MiB; off += 128 * KiB) {
      assert.ok((await active.read(off, 128 * KiB)).equals(obj.expected(off, off + 128 * KiB)));
    }
    assert.ok(active.stats().readAheadCalls > 0, 'read-ahead got memory reclaimed from idle handles');
    assert.ok(idle.some(({ pf }) => pf.stats().heldBytes === 0));
    // an idle handle that comes back still reads correctly
    const { pf, obj: o0 } = idle[0]!;
    for (let off = 256 * KiB; off < 2 * MiB; off += 128 * KiB) {
      assert.ok((await pf.read(off, 128 * KiB)).equals(o0.expected(off, off + 128 * KiB)));
    }
    assert.equal(budget.violations, 0);
    active.close();
    for (const h of idle) h.pf.close();
    assert.equal(budget.used, 0);
    assert.equal(budget.borrowed, 0);
  });

  it('a handle shrinks its window when the budget runs out and keeps reading correctly', async () => {
    const budget = new CheckedBudget(12 * MiB);
    const obj = new FakeObject(64 * MiB, 33);
    const pf = new Prefetcher({ size: obj.size, fetch: obj.fetch, budget, partSize: 2 * MiB });
    const hog = new FakeObject(64 * MiB, 34);
    const hogPf = new Prefetcher({ size: hog.size, fetch: hog.fetch, budget, partSize: 2 * MiB });
    // interleave two sequential readers so they compete for the same 12 MiB
    for (let off = 0; off < 64 * MiB; off += 512 * KiB) {
      const [a, b] = await Promise.all([pf.read(off, 512 * KiB), hogPf.read(off, 512 * KiB)]);
      assert.ok(a.equals(obj.expected(off, off + 512 * KiB)));
      assert.ok(b.equals(hog.expected(off, off + 512 * KiB)));
    }
    assert.ok(pf.stats().window <= 6 * MiB, 'window capped at budget.max / 2');
    assert.equal(budget.violations, 0);
    assert.ok(budget.maxSeen <= 12 * MiB);
    pf.close();
    hogPf.close();
    assert.equal(budget.used, 0);
    assert.equal(budget.borrowed, 0);
  });
});
