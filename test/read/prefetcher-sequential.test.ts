/**
 * Sequential reading: exact bytes, few large fetches, window growth, async reads arriving out of
 * order, forward seeks that keep the stream and seeks that reset it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Prefetcher } from '../../src/read/prefetcher.js';
import { CheckedBudget, FakeObject, KiB, MiB, rng, type FetchCall } from './fake-object.js';

function assertNoOverlap(calls: FetchCall[]): void {
  const sorted = [...calls].sort((a, b) => a.start - b.start);
  for (let i = 1; i < sorted.length; i++) {
    assert.ok(sorted[i]!.start > sorted[i - 1]!.end, `fetches overlap: ${JSON.stringify(sorted[i - 1])} and ${JSON.stringify(sorted[i])}`);
  }
}

describe('prefetcher: sequential reads', () => {
  // with 1 MiB reads the stream starts later (second read at 1 MiB), so 64 MiB ends at window 32
  for (const [readSize, lastWindow] of [
    [128 * KiB, 64],
    [1 * MiB, 32],
  ] as const) {
    it(`64 MiB read in ${readSize / KiB} KiB reads: exact bytes, few fetches, each byte fetched once, window 1 -> ${lastWindow} MiB`, async () => {
      const obj = new FakeObject(64 * MiB, 7);
      const budget = new CheckedBudget(256 * MiB);
      const pf = new Prefetcher({ size: obj.size, fetch: obj.fetch, budget });
      const windows: number[] = [];
      let reads = 0;
      for (let off = 0; off < obj.size; off += readSize) {
        const buf = await pf.read(off, readSize);
        assert.ok(buf.equals(obj.expected(off, off + readSize)), `bytes at ${off}`);
        reads++;
        const st = pf.stats();
        if (windows.at(-1) !== st.window) windows.push(st.window);
        assert.ok(st.heldBytes <= st.window + 8 * MiB, `held ${st.heldBytes} with window ${st.window}`);
      }
      assert.equal((await pf.read(obj.size, readSize)).length, 0);
      const st = pf.stats();
      assert.deepEqual(
        windows.map((w) => w / MiB),
        [1, 2, 4, 8, 16, 32, 64].filter((w) => w <= lastWindow),
      );
      assert.equal(st.mode, 'sequential');
      assert.equal(st.resets, 0);
      assert.equal(st.bytesServed, obj.size);
      assert.equal(obj.bytesRequested, obj.size, 'every byte fetched exactly once');
      assertNoOverlap(obj.calls);
      assert.ok(obj.calls.length * 10 < reads || obj.calls.length <= 20, `${obj.calls.length} fetch calls for ${reads} reads`);
      assert.ok(obj.calls.every((c) => c.end - c.start + 1 <= 8 * MiB), 'no fetch larger than partSize');
      assert.ok(obj.maxInFlight >= 2, 'read-ahead parts are fetched in parallel');
      assert.equal(st.fetchCalls, obj.calls.length);
      pf.close();
      assert.equal(budget.used, 0);
      assert.equal(budget.borrowed, 0);
      assert.equal(budget.violations, 0);
    });
  }

  it('with alignment set to the cache block size, read-ahead parts end on block boundaries', async () => {
    const obj = new FakeObject(40 * MiB + 5, 8);
    const budget = new CheckedBudget(256 * MiB);
    const pf = new Prefetcher({ size: obj.size, fetch: obj.fetch, budget, alignment: 1 * MiB });
    const readSize = 128 * KiB;
    for (let off = 0; off < obj.size; off += readSize) {
      assert.ok((await pf.read(off, readSize)).equals(obj.expected(off, off + readSize)));
    }
    const ahead = obj.calls.filter((c) => c.end - c.start + 1 > readSize);
    assert.ok(ahead.length >= 5);
    for (const c of ahead) assert.ok((c.end + 1) % MiB === 0 || c.end + 1 === obj.size, `read-ahead ${c.start}-${c.end} not aligned`);
    assert.ok(obj.calls.every((c) => c.end - c.start + 1 <= 8 * MiB));
    assertNoOverlap(obj.calls);
    assert.equal(obj.bytesRequested, obj.size);
    pf.close();
    assert.equal(budget.used, 0);
  });

  it('4 concurrent kernel reads arriving out of order are still one sequential stream', async () => {
    const obj = new FakeObject(48 * MiB + 5 * KiB, 3, { delay: (s) => (s % 3) });
    const budget = new CheckedBudget(256 * MiB);
    const pf = new Prefetcher({ size: obj.size, fetch: obj.fetch, budget });
    const r = rng(42);
    const readSize = 128 * KiB;
    let reads = 0;
    for (let base = 0; base < obj.size; base += 4 * readSize) {
      const offs = [0, 1, 2, 3].map((k) => base + k * readSize);
      for (let i = offs.length - 1; i > 0; i--) {
        const j = Math.floor(r() * (i + 1));
        [offs[i], offs[j]] = [offs[j]!, offs[i]!];
      }
      const results = await Promise.all(offs.map((o) => pf.read(o, readSize).then((b) => [o, b] as const)));
      for (const [o, b] of results) assert.ok(b.equals(obj.expected(o, o + readSize)), `bytes at ${o}`);
      reads += 4;
    }
    const st = pf.stats();
    assert.equal(st.resets, 0, 'reordered reads never reset the stream');
    assert.equal(st.mode, 'sequential');
    assert.ok(st.window >= 32 * MiB, `window grew to ${st.window}`);
    assert.ok(obj.calls.length * 10 < reads, `${obj.calls.length} fetch calls for ${reads} reads`);
    assert.ok(obj.bytesRequested <= obj.size * 1.05, `fetched ${obj.bytesRequested} of ${obj.size}`);
    pf.close();
    assert.equal(budget.used, 0);
    assert.equal(budget.violations, 0);
  });

  it('a forward seek of at most 16 MiB keeps the stream and skips the bytes in between', async () => {
    const obj = new FakeObject(64 * MiB, 11);
    const budget = new CheckedBudget(256 * MiB);
    const pf = new Prefetcher({ size: obj.size, fetch: obj.fetch, budget });
    const readSize = 128 * KiB;
    for (let off = 0; off < 8 * MiB; off += readSize) await pf.read(off, readSize);
    const before = pf.stats();
    assert.equal(before.mode, 'sequential');
    const requestedBefore = Math.max(...obj.calls.map((c) => c.end + 1));
    const callsBefore = obj.calls.length;
    const jumpTo = 8 * MiB + 10 * MiB;
    for (let off = jumpTo; off < jumpTo + 8 * MiB; off += readSize) {
      const buf = await pf.read(off, readSize);
      assert.ok(buf.equals(obj.expected(off, off + readSize)));
    }
    const after = pf.stats();
    assert.equal(after.resets, 0);
    assert.equal(after.mode, 'sequential');
    assert.ok(after.window >= before.window, `window ${before.window} -> ${after.window}`);
    const newCalls = obj.calls.slice(callsBefore);
    assert.ok(
      newCalls.every((c) => c.start >= jumpTo || c.start < requestedBefore),
      'bytes skipped by the jump and not yet requested are never fetched',
    );
    assert.ok(newCalls.length <= 6, `${newCalls.length} fetches after the jump`);
    pf.close();
    assert.equal(budget.used, 0);
  });

  it('a backward seek drops the prefetched data, releases its budget and resets the window', async () => {
    const obj = new FakeObject(64 * MiB, 12);
    const budget = new CheckedBudget(256 * MiB);
    const pf = new Prefetcher({ size: obj.size, fetch: obj.fetch, budget });
    const readSize = 128 * KiB;
    for (let off = 0; off < 20 * MiB; off += readSize) await pf.read(off, readSize);
    assert.ok(pf.stats().window >= 8 * MiB);
    assert.ok(budget.used > 0, 'read-ahead is held before the seek');
    const buf = await pf.read(1 * MiB, readSize);
    assert.ok(buf.equals(obj.expected(1 * MiB, 1 * MiB + readSize)));
    const st = pf.stats();
    assert.equal(st.resets, 1);
    assert.equal(st.window, 1 * MiB);
    assert.equal(st.mode, 'random');
    assert.equal(st.heldBytes, 0);
    assert.equal(budget.used, 0, 'dropped read-ahead gave its budget back');
    // reading on from there is sequential again, from the initial window
    for (let off = 1 * MiB + readSize; off < 4 * MiB; off += readSize) {
      assert.ok((await pf.read(off, readSize)).equals(obj.expected(off, off + readSize)));
    }
    assert.equal(pf.stats().mode, 'sequential');
    assert.ok(pf.stats().window <= 2 * MiB);
    pf.close();
    assert.equal(budget.used, 0);
  });

  it('a forward jump beyond 16 MiB resets; a small step back within the stream does not', async () => {
    const obj = new FakeObject(128 * MiB, 13);
    const budget = new CheckedBudget(256 * MiB);
    const pf = new Prefetcher({ size: obj.size, fetch: obj.fetch, budget });
    const readSize = 128 * KiB;
    for (let off = 0; off < 4 * MiB; off += readSize) await pf.read(off, readSize);
    await pf.read(3 * MiB, readSize); // 1 MiB behind the furthest read: a late async read
    assert.equal(pf.stats().resets, 0);
    assert.equal(pf.stats().mode, 'sequential');
    const far = 4 * MiB + 40 * MiB;
    assert.ok((await pf.read(far, readSize)).equals(obj.expected(far, far + readSize)));
    assert.equal(pf.stats().resets, 1);
    assert.equal(pf.stats().mode, 'random');
    pf.close();
  });
  it('read-ahead skips ranges that are already local (isLocal); reads of them are served on demand, bytes exact', async () => {
    const obj = new FakeObject(48 * MiB, 11);
    const budget = new CheckedBudget(256 * MiB);
    // MiB 8..31 are "in the disk cache": read-ahead must not fetch them early
    const local = (s: number, e: number): boolean => s >= 8 * MiB && e <= 32 * MiB;
    const pf = new Prefetcher({ size: obj.size, fetch: obj.fetch, budget, alignment: 1 * MiB, isLocal: local });
    const readSize = 128 * KiB;
    for (let off = 0; off < obj.size; off += readSize) {
      assert.ok((await pf.read(off, readSize)).equals(obj.expected(off, off + readSize)), `bytes at ${off}`);
    }
    const inLocal = obj.calls.filter((c) => c.start >= 8 * MiB && c.end < 32 * MiB);
    assert.ok(inLocal.length > 0, 'the local bytes are still read (on demand)');
    assert.ok(inLocal.every((c) => c.end - c.start + 1 <= readSize), `local bytes fetched ahead: ${JSON.stringify(inLocal.filter((c) => c.end - c.start + 1 > readSize))}`);
    const st = pf.stats();
    assert.ok(st.localSkippedBytes >= 16 * MiB, `skipped ${st.localSkippedBytes}`);
    assert.equal(st.mode, 'sequential');
    assert.ok(obj.calls.some((c) => c.start >= 32 * MiB && c.end - c.start + 1 > readSize), 'read-ahead resumes after the local range');
    assertNoOverlap(obj.calls);
    pf.close();
    assert.equal(budget.used, 0);
    assert.equal(budget.violations, 0);
  });
});
