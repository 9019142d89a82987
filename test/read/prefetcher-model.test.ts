/**
 * Property test: random mixes of sequential runs, seeks, reordered concurrent reads, aborts and
 * injected fetch failures. Every read returns exactly the object's bytes or rejects with the
 * injected error / Aborted; the budget is never exceeded; close() leaves nothing held.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Prefetcher } from '../../src/read/prefetcher.js';
import { StoreError, isStoreError } from '../../src/errors/store-error.js';
import { CheckedBudget, FakeObject, KiB, MiB, rng } from './fake-object.js';

type Op =
  | { kind: 'seq'; reads: number; size: number; inFlight: number }
  | { kind: 'seek'; to: number }
  | { kind: 'random'; offset: number; size: number }
  | { kind: 'abort'; offset: number }
  | { kind: 'parallel'; offsets: number[]; size: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('seq' as const), reads: fc.integer({ min: 1, max: 40 }), size: fc.constantFrom(4 * KiB, 128 * KiB, 1 * MiB, 1000), inFlight: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant('seek' as const), to: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ kind: fc.constant('random' as const), offset: fc.double({ min: 0, max: 1.01, noNaN: true }), size: fc.integer({ min: 0, max: 300 * KiB }) }),
  fc.record({ kind: fc.constant('abort' as const), offset: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({
    kind: fc.constant('parallel' as const),
    offsets: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 2, maxLength: 8 }),
    size: fc.integer({ min: 1, max: 256 * KiB }),
  }),
);

describe('prefetcher: model', () => {
  it('random operation mixes return exact bytes, respect the budget and release everything', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 40 * MiB }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        fc.array(opArb, { minLength: 1, maxLength: 25 }),
        fc.constantFrom(2 * MiB, 8 * MiB, 32 * MiB),
        fc.boolean(),
        async (size, seed, ops, budgetBytes, closeWhileReading) => {
          const r = rng(seed);
          const injected = new StoreError('Server', 'injected');
          const obj = new FakeObject(size, seed % 1000, {
            delay: () => Math.floor(r() * 3),
            fail: () => (r() < 0.05 ? injected : undefined),
          });
          const budget = new CheckedBudget(budgetBytes);
          const pf = new Prefetcher({ size, fetch: obj.fetch, budget, partSize: 1 * MiB, initialWindow: 256 * KiB, maxWindow: 8 * MiB });
          const check = async (off: number, len: number, signal?: AbortSignal): Promise<void> => {
            try {
              const b = await pf.read(off, len, signal);
              assert.ok(b.equals(obj.expected(off, off + len)), `bytes at ${off}+${len}`);
            } catch (e) {
              assert.ok(e === injected || isStoreError(e, 'Aborted'), `unexpected error ${String(e)}`);
            }
          };
          let pos = 0;
          for (const op of ops) {
            if (op.kind === 'seek') pos = Math.floor(op.to * size);
            else if (op.kind === 'random') await check(Math.floor(op.offset * size), op.size);
            else if (op.kind === 'abort') {
              const ac = new AbortController();
              const p = check(Math.floor(op.offset * size), 64 * KiB, ac.signal);
              if (r() < 0.5) ac.abort();
              else setImmediate(() => ac.abort());
              await p;
            } else if (op.kind === 'parallel') {
              await Promise.all(op.offsets.map((o) => check(Math.floor(o * size), op.size)));
            } else {
              for (let i = 0; i < op.reads; i += op.inFlight) {
                const offs = Array.from({ length: op.inFlight }, (_, k) => pos + k * op.size).reverse();
                await Promise.all(offs.map((o) => check(o, op.size)));
                pos += op.inFlight * op.size;
              }
            }
            assert.equal(budget.violations, 0);
            assert.ok(budget.used <= budget.max);
          }
          if (closeWhileReading) {
            // reads in flight when the handle closes: they finish or fail with Aborted, and
            // nothing stays held
            const inFlight = [0, 1, 2, 3].map((k) => check(pos + k * 128 * KiB, 128 * KiB));
            await new Promise((res) => setTimeout(res, Math.floor(r() * 3)));
            pf.close();
            await Promise.all(inFlight);
          }
          pf.close();
          assert.equal(budget.used, 0);
          assert.equal(budget.borrowed, 0);
          assert.ok(budget.maxSeen <= budget.max);
        },
      ),
      { numRuns: 60 },
    );
  });
});
