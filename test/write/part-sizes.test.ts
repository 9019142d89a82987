/**
 * The part size ladder: sizes per part number, clamping to store limits, capacity (>= 1 TiB in
 * 10,000 S3 parts), and splitRange's rules (contiguous, numbered from the given part, every part
 * within [min, max] unless the whole range is shorter than min) as a property over random limits.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { countParts, ladderCapacity, partSizeFor, splitRange } from '../../src/write/part-sizes.js';
import { S3_LIMITS } from '../../src/store/memory/s3-rules.js';

const MiB = 1024 * 1024;
const TiB = 1024 * 1024 * MiB;

describe('part size ladder', () => {
  it('8 MiB for parts 1..1000, 64 MiB for 1001..2000, 512 MiB after', () => {
    assert.equal(partSizeFor(1, S3_LIMITS), 8 * MiB);
    assert.equal(partSizeFor(1000, S3_LIMITS), 8 * MiB);
    assert.equal(partSizeFor(1001, S3_LIMITS), 64 * MiB);
    assert.equal(partSizeFor(2000, S3_LIMITS), 64 * MiB);
    assert.equal(partSizeFor(2001, S3_LIMITS), 512 * MiB);
    assert.equal(partSizeFor(10_000, S3_LIMITS), 512 * MiB);
    assert.throws(() => partSizeFor(0, S3_LIMITS), RangeError);
  });

  it('clamps to the store limits', () => {
    assert.equal(partSizeFor(1, { minPartSize: 16 * MiB, maxPartSize: 5 * 1024 * MiB }), 16 * MiB);
    assert.equal(partSizeFor(5000, { minPartSize: 1, maxPartSize: 100 * MiB }), 100 * MiB);
  });

  it('reaches more than 1 TiB (about 4 TiB) within 10,000 parts', () => {
    const cap = ladderCapacity(1, S3_LIMITS);
    assert.ok(cap >= TiB, `${cap}`);
    assert.equal(cap, 1000 * 8 * MiB + 1000 * 64 * MiB + 8000 * 512 * MiB);
    assert.equal(countParts(0, TiB, 1, S3_LIMITS), 1000 + 1000 + Math.ceil((TiB - 72_000 * MiB) / (512 * MiB)));
    assert.equal(ladderCapacity(10_001, S3_LIMITS), 0);
    assert.equal(ladderCapacity(9_999, S3_LIMITS), 1024 * MiB);
  });

  it('splitRange: a short remainder is merged into the previous part', () => {
    const parts = splitRange(0, 8 * MiB + 1, 1, S3_LIMITS);
    assert.deepEqual(parts, [{ partNumber: 1, start: 0, end: 8 * MiB + 1 }]);
    const p2 = splitRange(100, 100 + 16 * MiB + 5 * MiB, 7, S3_LIMITS);
    assert.deepEqual(
      p2.map((p) => [p.partNumber, p.end - p.start]),
      [
        [7, 8 * MiB],
        [8, 8 * MiB],
        [9, 5 * MiB],
      ],
    );
    assert.deepEqual(splitRange(5, 5, 1, S3_LIMITS), []);
    assert.deepEqual(splitRange(0, 10, 3, S3_LIMITS), [{ partNumber: 3, start: 0, end: 10 }]);
  });

  it('splitRange property: contiguous, numbered, within limits', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 16 }),
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: 1, max: 3000 }),
        (min, extra, start, len, first) => {
          const limits = { minPartSize: min, maxPartSize: 2 * min + extra };
          const parts = splitRange(start, start + len, first, limits);
          assert.equal(parts.length, countParts(start, start + len, first, limits));
          let pos = start;
          parts.forEach((p, i) => {
            assert.equal(p.partNumber, first + i);
            assert.equal(p.start, pos);
            assert.ok(p.end > p.start);
            assert.ok(p.end - p.start <= limits.maxPartSize, JSON.stringify(p));
            if (len >= min) assert.ok(p.end - p.start >= min, JSON.stringify({ p, limits }));
            pos = p.end;
          });
          assert.equal(pos, start + len);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('splitRange on S3 limits: ladder sizes, at most one part differs from its ladder size', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 * TiB }), fc.integer({ min: 1, max: 2500 }), (len, first) => {
        const parts = splitRange(0, len, first, S3_LIMITS);
        let pos = 0;
        let odd = 0;
        for (const p of parts) {
          assert.equal(p.start, pos);
          const size = p.end - p.start;
          if (size !== partSizeFor(p.partNumber, S3_LIMITS)) odd++;
          assert.ok(size <= S3_LIMITS.maxPartSize);
          if (len >= S3_LIMITS.minPartSize) assert.ok(size >= S3_LIMITS.minPartSize);
          pos = p.end;
        }
        assert.equal(pos, len);
        assert.ok(odd <= 2, `odd ${odd}`); // the last one, or the last two when rebalanced
      }),
      { numRuns: 200 },
    );
  });
});
