/**
 * planUpload: every invariant of a plan checked by checkPlan() on random inputs (tiny limits, so
 * the part-count fallback and the rare branches are hit, and S3's real limits with sizes up to
 * TiB), a bound on local bytes when the part count is not binding, and worked examples (1 MiB edit
 * in a 1 GiB object, append, truncate, grow, edits at the start and end, metadata-only changes,
 * 20,000 scattered edits hitting the 10,000-part limit).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { S3_LIMITS } from '../../src/store/memory/s3-rules.js';
import { isStoreError } from '../../src/errors/store-error.js';
import { ladderCapacity, type StoreLimits } from '../../src/write/part-sizes.js';
import { RangeSet } from '../../src/write/range-set.js';
import { localBytes, planUpload, type PlanInput } from '../../src/write/upload-plan.js';
import type { Span, UploadPlan } from '../../src/write/types.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;

/** Every rule a plan must keep (see upload-plan.ts). */
function checkPlan(input: PlanInput, plan: UploadPlan): void {
  const { size, base, limits } = input;
  const threshold = input.smallFileThreshold ?? 8 * MiB;
  const maxCopy = Math.min(input.maxCopyPartSize ?? limits.maxPartSize, limits.maxPartSize);
  const dirty = RangeSet.fromSpans(input.dirty).truncate(size);
  assert.equal(plan.size, size);
  if (size <= Math.min(threshold, limits.maxPartSize)) return assert.equal(plan.kind, 'put');
  if (base !== undefined && size > threshold && dirty.isEmpty && size === base.size && size <= limits.maxPartSize) {
    return assert.equal(plan.kind, 'copy-self');
  }
  assert.equal(plan.kind, 'multipart');
  if (plan.kind !== 'multipart') return;
  const { parts } = plan;
  assert.ok(parts.length >= 1 && parts.length <= limits.maxParts, `${parts.length} parts`);
  const reusable = base === undefined ? 0 : Math.min(base.size, size);
  const local = new RangeSet();
  let pos = 0;
  parts.forEach((p, i) => {
    const what = JSON.stringify(p);
    assert.equal(p.partNumber, i + 1, what);
    assert.equal(p.start, pos, what);
    assert.ok(p.end > p.start, what);
    const len = p.end - p.start;
    assert.ok(len <= limits.maxPartSize, what);
    if (i < parts.length - 1) assert.ok(len >= limits.minPartSize, `${what} below ${limits.minPartSize}`);
    if (p.from === 'base') {
      assert.ok(p.end <= reusable, `${what} past the reusable ${reusable}`);
      assert.ok(len <= Math.max(maxCopy, 2 * limits.minPartSize), what);
    } else local.add(p.start, p.end);
    pos = p.end;
  });
  assert.equal(pos, size);
  for (const [s, e] of dirty.spans()) assert.ok(local.has(s, e), `dirty [${s},${e}) not in a local part`);
  if (size > reusable) assert.ok(local.has(reusable, size), 'growth not local');
}

function plan(input: PlanInput): UploadPlan {
  const p = planUpload(input);
  checkPlan(input, p);
  return p;
}

const spansArb = (size: number, maxLen: number, count: number): fc.Arbitrary<Span[]> =>
  fc.array(
    fc.tuple(fc.integer({ min: 0, max: size }), fc.integer({ min: 0, max: maxLen })).map(([s, l]) => [s, Math.min(size, s + l)] as Span),
    { maxLength: count },
  );

describe('planUpload properties', () => {
  it('tiny limits: always valid; fits when the ladder can hold the object', () => {
    const arb = fc
      .record({
        min: fc.integer({ min: 1, max: 8 }),
        extra: fc.integer({ min: 0, max: 30 }),
        maxParts: fc.integer({ min: 1, max: 30 }),
        size: fc.integer({ min: 0, max: 400 }),
        baseSize: fc.option(fc.integer({ min: 0, max: 400 }), { nil: undefined }),
        threshold: fc.integer({ min: 0, max: 20 }),
        maxCopy: fc.option(fc.integer({ min: 1, max: 80 }), { nil: undefined }),
      })
      .chain((r) => spansArb(Math.max(r.size, r.baseSize ?? 0), 20, 30).map((dirty) => ({ ...r, dirty })));
    fc.assert(
      fc.property(arb, (r) => {
        const limits: StoreLimits = { minPartSize: r.min, maxPartSize: 2 * r.min + r.extra, maxParts: r.maxParts, maxObjectSize: 1e9 };
        const input: PlanInput = {
          size: r.size,
          dirty: r.dirty,
          base: r.baseSize === undefined ? undefined : { etag: '"e"', size: r.baseSize },
          limits,
          smallFileThreshold: r.threshold,
          maxCopyPartSize: r.maxCopy,
        };
        let p: UploadPlan;
        try {
          p = planUpload(input);
        } catch (e) {
          assert.ok(isStoreError(e, 'TooLarge'), String(e));
          assert.ok(r.size > ladderCapacity(1, limits), `TooLarge although ${r.size} <= ${ladderCapacity(1, limits)}`);
          return;
        }
        checkPlan(input, p);
      }),
      { numRuns: 3000 },
    );
  });

  it('S3 limits, sizes up to 3 TiB: always valid', () => {
    const arb = fc
      .record({
        size: fc.integer({ min: 0, max: 3 * TiB }),
        baseSize: fc.integer({ min: 0, max: 3 * TiB }),
        n: fc.integer({ min: 0, max: 50 }),
      })
      .chain((r) => spansArb(r.size, 64 * MiB, r.n).map((dirty) => ({ ...r, dirty })));
    fc.assert(
      fc.property(arb, (r) => {
        plan({ size: r.size, dirty: r.dirty, base: { etag: '"e"', size: r.baseSize }, limits: S3_LIMITS });
      }),
      { numRuns: 300 },
    );
  });

  it('local bytes stay near the dirty bytes when the part count does not bind', () => {
    const arb = fc
      .record({ size: fc.integer({ min: 9 * MiB, max: 64 * GiB }), n: fc.integer({ min: 1, max: 20 }) })
      .chain((r) => spansArb(r.size, 4 * MiB, r.n).map((dirty) => ({ ...r, dirty })));
    fc.assert(
      fc.property(arb, (r) => {
        const p = plan({ size: r.size, dirty: r.dirty, base: { etag: '"e"', size: r.size }, limits: S3_LIMITS });
        const dirty = RangeSet.fromSpans(r.dirty);
        // Each dirty span widens by < 1 min part, each gap swallowed is < 1 min part, plus the head.
        const bound = dirty.total + (2 * dirty.count + 1) * S3_LIMITS.minPartSize;
        assert.ok(localBytes(p) <= bound, `${localBytes(p)} > ${bound}`);
      }),
      { numRuns: 500 },
    );
  });
});

describe('planUpload examples (S3 limits)', () => {
  const base = (size: number): { etag: string; size: number } => ({ etag: '"b"', size });
  const summary = (p: UploadPlan): string[] =>
    p.kind === 'multipart' ? p.parts.map((x) => `${x.from}:${x.start / MiB}-${x.end / MiB}`) : [p.kind];

  it('small files are one PUT; larger new files are parallel parts', () => {
    assert.equal(plan({ size: 8 * MiB, dirty: [[0, 1]], base: base(100 * MiB), limits: S3_LIMITS }).kind, 'put');
    assert.equal(plan({ size: 8 * MiB, dirty: [[0, 8 * MiB]], limits: S3_LIMITS }).kind, 'put');
    const big = plan({ size: 3 * GiB, dirty: [[0, 3 * GiB]], limits: S3_LIMITS });
    assert.equal(big.kind, 'multipart');
    assert.equal(localBytes(big), 3 * GiB);
    assert.equal(plan({ size: 0, dirty: [], limits: S3_LIMITS }).kind, 'put');
  });

  it('a new file larger than one PUT is a multipart upload of local parts', () => {
    const p = plan({ size: TiB, dirty: [[0, TiB]], limits: S3_LIMITS });
    assert.equal(p.kind, 'multipart');
    assert.equal(localBytes(p), TiB);
  });

  it('metadata only: copy-self up to 5 GiB, then base parts', () => {
    assert.equal(plan({ size: 100 * MiB, dirty: [], base: base(100 * MiB), limits: S3_LIMITS }).kind, 'copy-self');
    const big = plan({ size: 12 * GiB, dirty: [], base: base(12 * GiB), limits: S3_LIMITS });
    assert.deepEqual(summary(big), ['base:0-4096', 'base:4096-8192', 'base:8192-12288']);
  });

  it('1 MiB edited in the middle of 1 GiB: one 5 MiB local part between two copies', () => {
    const p = plan({ size: GiB, dirty: [[512 * MiB, 513 * MiB]], base: base(GiB), limits: S3_LIMITS });
    assert.deepEqual(summary(p), ['base:0-512', 'local:512-517', 'base:517-1024']);
    assert.equal(localBytes(p), 5 * MiB);
  });

  it('edits at the start and at the end', () => {
    const start = plan({ size: GiB, dirty: [[0, 10]], base: base(GiB), limits: S3_LIMITS });
    assert.deepEqual(summary(start), ['local:0-5', 'base:5-1024']);
    const end = plan({ size: GiB, dirty: [[GiB - 10, GiB]], base: base(GiB), limits: S3_LIMITS });
    assert.equal(localBytes(end), 10); // the last part may be small
    assert.equal(end.kind === 'multipart' && end.parts.length, 2);
    const nearEnd = plan({ size: GiB, dirty: [[GiB - 2 * MiB, GiB - MiB]], base: base(GiB), limits: S3_LIMITS });
    assert.deepEqual(summary(nearEnd), ['base:0-1022', 'local:1022-1024']);
  });

  it('append to a big object: copies of the old bytes, the new bytes local', () => {
    const p = plan({ size: 10 * GiB + MiB, dirty: [[10 * GiB, 10 * GiB + MiB]], base: base(10 * GiB), limits: S3_LIMITS });
    assert.deepEqual(summary(p), ['base:0-5120', 'base:5120-10240', 'local:10240-10241']);
  });

  it('truncate shorter: a copy of the head', () => {
    const p = plan({ size: 300 * MiB, dirty: [], base: base(GiB), limits: S3_LIMITS });
    assert.deepEqual(summary(p), ['base:0-300']);
  });

  it('grow: the old bytes copied, the growth cut by the ladder', () => {
    const p = plan({ size: 100 * MiB + 20 * MiB, dirty: [], base: base(100 * MiB), limits: S3_LIMITS });
    assert.deepEqual(summary(p), ['base:0-100', 'local:100-108', 'local:108-120']);
  });

  it('a growth after a small base is all local (the head is too small to copy)', () => {
    const p = plan({ size: 40 * MiB, dirty: [], base: base(MiB), limits: S3_LIMITS });
    assert.equal(localBytes(p), 40 * MiB);
  });

  it('nearby edits merge when the gap between them is too small to copy', () => {
    const p = plan({
      size: GiB,
      dirty: [
        [100 * MiB, 101 * MiB],
        [107 * MiB, 108 * MiB],
        [200 * MiB, 201 * MiB],
      ],
      base: base(GiB),
      limits: S3_LIMITS,
    });
    assert.deepEqual(summary(p), ['base:0-100', 'local:100-108', 'base:108-200', 'local:200-205', 'base:205-1024']);
  });

  it('20,000 scattered edits over 200 GiB: still <= 10,000 valid parts, with bigger local parts', () => {
    const size = 200 * GiB;
    const dirty: Span[] = [];
    for (let i = 0; i < 20_000; i++) {
      const at = Math.floor((size / 20_000) * i) + 12345;
      dirty.push([at, at + 100]);
    }
    const t0 = Date.now();
    const p = plan({ size, dirty, base: base(size), limits: S3_LIMITS });
    const ms = Date.now() - t0;
    assert.equal(p.kind, 'multipart');
    if (p.kind !== 'multipart') return;
    assert.ok(p.parts.length <= 10_000);
    assert.ok(ms < 5000, `planning took ${ms} ms`);
  });
});
