/**
 * Failures: a failing fetch fails the reads that need its bytes (and only when they need them),
 * later reads retry; close() and a read's AbortSignal abort fetches and give the budget back.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Prefetcher } from '../../src/read/prefetcher.js';
import { StoreError, isStoreError } from '../../src/errors/store-error.js';
import { CheckedBudget, FakeObject, KiB, MiB, settle } from './fake-object.js';

describe('prefetcher: fetch failures', () => {
  it('a failing fetch fails the read that needs it; later reads retry and succeed once fetch works', async () => {
    let failing = true;
    const changed = new StoreError('PreconditionFailed', 'object changed');
    const obj = new FakeObject(4 * MiB, 41, { fail: () => (failing ? changed : undefined) });
    const budget = new CheckedBudget(64 * MiB);
    const pf = new Prefetcher({ size: obj.size, fetch: obj.fetch, budget });
    await assert.rejects(pf.read(0, 128 * KiB), (e) => e === changed);
    const calls = obj.calls.length;
    await assert.rejects(pf.read(0, 128 * KiB), (e) => isStoreError(e, 'PreconditionFailed'));
    assert.ok(obj.calls.length > calls, 'the second read fetched again');
    assert.equal(budget.used, 0, 'failed fetches hold no budget');
    failing = false;
    for (let off = 0; off < obj.size; off += 128 * KiB) {
      assert.ok((await pf.read(off, 128 * KiB)).equals(obj.expected(off, off + 128 * KiB)));
    }
    pf.close();
    assert.equal(budget.used, 0);
    assert.equal(budget.borrowed, 0);
  });

  it('the object changing mid-stream fails the next read that needs unfetched bytes with PreconditionFailed', async () => {
    let changed = false;
    const obj = new FakeObject(32 * MiB, 42, { fail: () => (changed ? new StoreError('PreconditionFailed', 'etag mismatch') : undefined) });
    const budget = new CheckedBudget(64 * MiB);
    const pf = new Prefetcher({ size: obj.size, fetch: obj.fetch, budget });
    let off = 0;
    for (; off < 2 * MiB; off += 128 * KiB) await pf.read(off, 128 * KiB);
    changed = true;
    let failure: unknown;
    for (; off < obj.size; off += 128 * KiB) {
      try {
        const b = await pf.read(off, 128 * KiB);
        assert.ok(b.equals(obj.expected(off, off + 128 * KiB)), 'data served before the failure is the pinned version');
      } catch (e) {
        failure = e;
        break;
      }
    }
    assert.ok(isStoreError(failure, 'PreconditionFailed'), `got ${String(failure)}`);
    pf.close();
    assert.equal(budget.used, 0);
  });

  it('a read-ahead failure is reported only to the read that needs those bytes; the retry succeeds', async () => {
    const events: string[] = [];
    const bad = 3 * MiB; // the first fetch that covers this byte fails
    let failed: { start: number; end: number } | undefined;
    const boom = new StoreError('Network', 'connection reset');
    const obj = new FakeObject(6 * MiB, 43, {
      fail: (s, e) => {
        if (!failed && s <= bad && bad <= e) {
          failed = { start: s, end: e };
          events.push('fetch-failed');
          return boom;
        }
        return undefined;
      },
    });
    const budget = new CheckedBudget(64 * MiB);
    const pf = new Prefetcher({ size: obj.size, fetch: obj.fetch, budget, partSize: 512 * KiB });
    const failedReads: number[] = [];
    for (let off = 0; off < obj.size; off += 128 * KiB) {
      let buf: Buffer;
      try {
        buf = await pf.read(off, 128 * KiB);
      } catch (e) {
        assert.equal(e, boom);
        failedReads.push(off);
        buf = await pf.read(off, 128 * KiB); // later reads retry
      }
      assert.ok(buf.equals(obj.expected(off, off + 128 * KiB)), `bytes at ${off}`);
      events.push(`ok:${off}`);
      await settle(1); // let in-flight read-ahead settle, so the failure happens well before it is needed
    }
    assert.ok(failed, 'the fault was injected into a read-ahead fetch');
    assert.equal(failedReads.length, 1, `failed reads: ${failedReads.join(', ')}`);
    const f = failedReads[0]!;
    assert.ok(f + 128 * KiB > failed.start && f <= failed.end, 'only a read needing the failed bytes failed');
    const after = events.slice(events.indexOf('fetch-failed') + 1);
    assert.ok(
      after.some((ev) => ev.startsWith('ok:') && Number(ev.slice(3)) < failed!.start),
      'reads not needing the failed part kept succeeding after it failed',
    );
    pf.close();
    assert.equal(budget.used, 0);
  });

  it('a fetch returning too few bytes fails the read; too many are trimmed', async () => {
    const budget = new CheckedBudget(8 * MiB);
    const data = Buffer.alloc(1000, 7);
    const short = new Prefetcher({ size: 1000, budget, fetch: async (s, e) => data.subarray(s, e) });
    await assert.rejects(short.read(0, 1000), (e) => isStoreError(e, 'Unknown') && /short read/.test((e as Error).message));
    const long = new Prefetcher({ size: 1000, budget, fetch: async (s) => data.subarray(s, s + 5000) });
    assert.equal((await long.read(10, 100)).length, 100);
    short.close();
    long.close();
    assert.equal(budget.used, 0);
  });
});

describe('prefetcher: close and abort', () => {
  it('close() aborts in-flight fetches, fails waiting reads and releases all budget at once', async () => {
    const obj = new FakeObject(64 * MiB, 44, { hang: () => true });
    const budget = new CheckedBudget(64 * MiB);
    const pf = new Prefetcher({ size: obj.size, fetch: obj.fetch, budget });
    const reads = [0, 128 * KiB, 256 * KiB].map((o) => pf.read(o, 128 * KiB));
    reads.forEach((p) => p.catch(() => {}));
    await settle();
    const inFlight = obj.inFlight;
    assert.ok(inFlight >= 3, `${inFlight} fetches in flight (demand + read-ahead)`);
    assert.ok(pf.stats().readAheadCalls > 0);
    assert.ok(budget.used + budget.borrowed > 0);
    pf.close();
    assert.equal(budget.used, 0, 'budget released by close() itself');
    assert.equal(budget.borrowed, 0);
    for (const p of reads) await assert.rejects(p, (e) => isStoreError(e, 'Aborted'));
    await settle();
    assert.equal(obj.aborted, inFlight, 'every in-flight fetch saw its AbortSignal');
    assert.equal(obj.inFlight, 0);
    await assert.rejects(pf.read(0, 10), (e) => isStoreError(e, 'Aborted'));
    pf.close(); // idempotent
    assert.equal(budget.used, 0);
  });

  it("a read's AbortSignal rejects that read and aborts the fetch made only for it", async () => {
    let hang = true;
    const obj = new FakeObject(64 * MiB, 45, { hang: () => hang });
    const budget = new CheckedBudget(64 * MiB);
    const pf = new Prefetcher({ size: obj.size, fetch: obj.fetch, budget });
    const ac = new AbortController();
    const p = pf.read(40 * MiB, 4 * KiB, ac.signal);
    await settle();
    assert.equal(obj.inFlight, 1);
    ac.abort();
    await assert.rejects(p, (e) => isStoreError(e, 'Aborted'));
    await settle();
    assert.equal(obj.aborted, 1);
    assert.equal(budget.used + budget.borrowed, 0);
    hang = false;
    assert.ok((await pf.read(40 * MiB, 4 * KiB)).equals(obj.expected(40 * MiB, 40 * MiB + 4 * KiB)));
    await assert.rejects(pf.read(0, 1, AbortSignal.abort()), (e) => isStoreError(e, 'Aborted'));
    pf.close();
    assert.equal(budget.used, 0);
  });
});
