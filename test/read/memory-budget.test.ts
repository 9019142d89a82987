import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBudget } from '../../src/read/memory-budget.js';
import { isStoreError } from '../../src/errors/store-error.js';

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('MemoryBudget', () => {
  it('tryReserve grants only what fits and release gives it back', () => {
    const b = new MemoryBudget(100);
    assert.equal(b.tryReserve(60), true);
    assert.equal(b.tryReserve(50), false);
    assert.equal(b.tryReserve(40), true);
    assert.equal(b.used, 100);
    assert.equal(b.available, 0);
    assert.equal(b.tryReserve(1), false);
    assert.equal(b.tryReserve(0), true);
    b.release(60);
    assert.equal(b.used, 40);
    assert.equal(b.peak, 100);
    assert.throws(() => b.release(41), RangeError);
    assert.throws(() => b.tryReserve(-1), RangeError);
    assert.throws(() => b.tryReserve(1.5), RangeError);
    assert.throws(() => new MemoryBudget(0), RangeError);
  });

  it('reserve waits FIFO: a large head is not overtaken by smaller requests behind it', async () => {
    const b = new MemoryBudget(100);
    assert.equal(b.tryReserve(90), true);
    const order: string[] = [];
    const big = b.reserve(80).then(() => order.push('big'));
    const small = b.reserve(10).then(() => order.push('small'));
    await tick();
    assert.deepEqual(order, []); // 10 would fit now, but the 80 ahead of it waits first
    assert.equal(b.waiting, 2);
    assert.equal(b.tryReserve(5), false, 'tryReserve does not jump the queue');
    b.release(90);
    await Promise.all([big, small]);
    assert.deepEqual(order, ['big', 'small']);
    assert.equal(b.used, 90);
    assert.equal(b.waiting, 0);
    assert.ok(b.peak <= b.max);
  });

  it('an aborted reserve leaves the queue and lets the requests behind it through', async () => {
    const b = new MemoryBudget(100);
    b.tryReserve(50);
    const ac = new AbortController();
    const big = b.reserve(100, ac.signal);
    const small = b.reserve(30);
    await tick();
    assert.equal(b.waiting, 2);
    ac.abort();
    await assert.rejects(big, (e) => isStoreError(e, 'Aborted'));
    await small;
    assert.equal(b.used, 80);
    assert.equal(b.waiting, 0);
    // already aborted: rejects at once, takes nothing
    await assert.rejects(b.reserve(1, ac.signal), (e) => isStoreError(e, 'Aborted'));
    assert.equal(b.used, 80);
  });

  it('a reservation bigger than the whole budget is refused at once', async () => {
    const b = new MemoryBudget(100);
    await assert.rejects(b.reserve(101), RangeError);
    await b.reserve(100);
    assert.equal(b.used, 100);
  });

  it('borrow/repay count memory outside the budget without touching used', () => {
    const b = new MemoryBudget(10);
    b.tryReserve(10);
    b.borrow(500);
    assert.equal(b.used, 10);
    assert.equal(b.borrowed, 500);
    b.repay(500);
    assert.equal(b.borrowed, 0);
    assert.throws(() => b.repay(1), RangeError);
  });

  it('reclaim asks the other holders to give memory back until the request fits', () => {
    const b = new MemoryBudget(100);
    const held = [40, 40];
    const calls: string[] = [];
    const mk = (i: number) => (wanted: number) => {
      calls.push(`r${i}:${wanted}`);
      const n = held[i]!;
      held[i] = 0;
      b.release(n);
      return n;
    };
    b.tryReserve(80);
    const r0 = mk(0);
    const r1 = mk(1);
    b.addReclaimer(r0);
    const off = b.addReclaimer(r1);
    const mine = () => 0;
    b.addReclaimer(mine);
    assert.equal(b.tryReserve(50), false);
    assert.equal(b.reclaim(50, mine), 40);
    assert.deepEqual(calls, ['r0:30'], 'stops as soon as the request fits');
    assert.equal(b.tryReserve(50), true);
    off();
    assert.equal(b.reclaim(100, mine), 0, 'an unregistered reclaimer is not called');
    assert.deepEqual(calls, ['r0:30', 'r0:90']);
  });

  it('many concurrent reservers never push used over max', async () => {
    const b = new MemoryBudget(1000);
    let maxSeen = 0;
    const work = Array.from({ length: 200 }, async (_, i) => {
      const n = 1 + ((i * 37) % 400);
      await b.reserve(n);
      maxSeen = Math.max(maxSeen, b.used);
      await tick();
      b.release(n);
    });
    await Promise.all(work);
    assert.ok(maxSeen <= 1000);
    assert.equal(b.used, 0);
    assert.ok(b.peak <= 1000);
  });
});
