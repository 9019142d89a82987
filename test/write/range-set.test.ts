/**
 * RangeSet against a naive model: a boolean array over a small offset space. Random sequences of
 * add / remove / truncate are applied to both; after every step the set's spans must be exactly
 * the model's runs (sorted, disjoint, adjacent runs merged), and has / missing / within / total
 * must agree with the model on random ranges. Plus a few hand-written examples and the JSON round
 * trip.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RangeSet } from '../../src/write/range-set.js';
import type { Span } from '../../src/write/types.js';

const N = 64;

type Op = { op: 'add' | 'remove'; a: number; b: number } | { op: 'truncate'; a: number };

const rangeArb = fc.tuple(fc.integer({ min: 0, max: N }), fc.integer({ min: 0, max: N }));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('add' as const), a: fc.integer({ min: 0, max: N }), b: fc.integer({ min: 0, max: N }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('remove' as const), a: fc.integer({ min: 0, max: N }), b: fc.integer({ min: 0, max: N }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), a: fc.integer({ min: 0, max: N }) }) },
);

function runs(bits: boolean[], from = 0, to = bits.length, want = true): Span[] {
  const out: Span[] = [];
  let i = from;
  while (i < to) {
    if (bits[i] === want) {
      let j = i;
      while (j < to && bits[j] === want) j++;
      out.push([i, j]);
      i = j;
    } else i++;
  }
  return out;
}

function apply(set: RangeSet, bits: boolean[], o: Op): void {
  if (o.op === 'truncate') {
    set.truncate(o.a);
    for (let i = o.a; i < N; i++) bits[i] = false;
    return;
  }
  if (o.op === 'add') set.add(o.a, o.b);
  else set.remove(o.a, o.b);
  for (let i = o.a; i < o.b; i++) bits[i] = o.op === 'add';
}

describe('RangeSet', () => {
  it('matches a bitmap model under random add / remove / truncate', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), fc.array(rangeArb, { minLength: 1, maxLength: 8 }), (ops, probes) => {
        const set = new RangeSet();
        const bits = new Array<boolean>(N).fill(false);
        for (const o of ops) {
          apply(set, bits, o);
          assert.deepEqual(set.spans(), runs(bits));
          assert.equal(set.total, bits.filter(Boolean).length);
          assert.equal(set.count, runs(bits).length);
        }
        for (const [x, y] of probes) {
          const a = Math.min(x, y);
          const b = Math.max(x, y);
          assert.equal(set.has(a, b), bits.slice(a, b).every(Boolean), `has(${a},${b}) of ${set}`);
          assert.deepEqual(set.missing(a, b), runs(bits, a, b, false), `missing(${a},${b}) of ${set}`);
          assert.deepEqual(set.within(a, b), runs(bits, a, b, true), `within(${a},${b}) of ${set}`);
          assert.equal(set.countIn(a, b), bits.slice(a, b).filter(Boolean).length);
        }
        // Canonical form: the JSON round trip and a rebuild in another order give equal sets.
        const json = JSON.parse(JSON.stringify(set)) as Span[];
        assert.ok(RangeSet.fromSpans(json).equals(set));
        assert.ok(RangeSet.fromSpans([...set.spans()].reverse()).equals(set));
        assert.ok(set.clone().equals(set));
      }),
      { numRuns: 500 },
    );
  });

  it('merges adjacent and overlapping spans', () => {
    const s = new RangeSet().add(0, 5).add(10, 20).add(5, 10);
    assert.deepEqual(s.spans(), [[0, 20]]);
    s.add(30, 40).add(25, 35).add(41, 42);
    assert.deepEqual(s.spans(), [
      [0, 20],
      [25, 40],
      [41, 42],
    ]);
    assert.equal(s.total, 20 + 15 + 1);
    assert.equal(s.end, 42);
  });

  it('empty and inverted ranges are no-ops; has() of an empty range is true', () => {
    const s = new RangeSet().add(5, 5).add(9, 3);
    assert.ok(s.isEmpty);
    assert.ok(s.has(7, 7));
    assert.deepEqual(s.missing(4, 4), []);
    assert.deepEqual(s.missing(0, 3), [[0, 3]]);
  });

  it('truncate drops everything at or past the size, splitting a span', () => {
    const s = RangeSet.fromSpans([
      [0, 10],
      [20, 30],
      [40, 50],
    ]).truncate(25);
    assert.deepEqual(s.spans(), [
      [0, 10],
      [20, 25],
    ]);
    assert.equal(s.total, 15);
    assert.deepEqual(s.truncate(0).spans(), []);
  });

  it('handles offsets beyond 2^32 (TiB files)', () => {
    const T = 2 ** 40;
    const s = new RangeSet().add(T, T + 8).add(3 * T, 3 * T + 1);
    assert.deepEqual(s.missing(T - 1, 3 * T + 2), [
      [T - 1, T],
      [T + 8, 3 * T],
      [3 * T + 1, 3 * T + 2],
    ]);
    assert.equal(s.total, 9);
  });

  it('rejects negative or non-integer offsets', () => {
    assert.throws(() => new RangeSet().add(-1, 3), RangeError);
    assert.throws(() => new RangeSet().has(0.5, 3), RangeError);
    assert.throws(() => new RangeSet().truncate(Number.NaN), RangeError);
  });
});
