/**
 * Conformance group (registered by test/conformance/cases.ts): random pwrite / ftruncate / pread /
 * reopen / fsync sequences on one file, compared with an in-memory Buffer model (fast-check,
 * fixed seed, so a failure is reproducible and shrunk to a short sequence).
 */
import assert from 'node:assert/strict';
import * as fc from 'fast-check';
import type { SuiteCtx } from './ctx.js';

// ---------------------------------------------------------------------------------------------
// File content model: random pwrite / ftruncate / pread / reopen sequences against a Buffer model
// ---------------------------------------------------------------------------------------------
type ModelOp =
  | { k: 'write'; off: number; len: number; fill: number }
  | { k: 'trunc'; size: number }
  | { k: 'read'; off: number; len: number }
  | { k: 'reopen' }
  | { k: 'fsync' };

function pattern(fill: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (fill + i * 31) & 255;
  return b;
}

export function modelCases(c: SuiteCtx): void {
  c.it('random pwrite/ftruncate/pread/reopen sequences match an in-memory model', async () => {
    const dir = await c.dir();
    let run = 0;
    const opArb: fc.Arbitrary<ModelOp> = fc.oneof(
      { weight: 5, arbitrary: fc.record({ k: fc.constant('write' as const), off: fc.integer({ min: 0, max: 300_000 }), len: fc.integer({ min: 0, max: 70_000 }), fill: fc.integer({ min: 0, max: 255 }) }) },
      { weight: 2, arbitrary: fc.record({ k: fc.constant('trunc' as const), size: fc.integer({ min: 0, max: 400_000 }) }) },
      { weight: 3, arbitrary: fc.record({ k: fc.constant('read' as const), off: fc.integer({ min: 0, max: 400_000 }), len: fc.integer({ min: 0, max: 200_000 }) }) },
      { weight: 1, arbitrary: fc.constant({ k: 'reopen' as const }) },
      { weight: 1, arbitrary: fc.constant({ k: 'fsync' as const }) },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 25 }), async (ops) => {
        const path = `${dir}/m${++run}`;
        let model = Buffer.alloc(0);
        let h = await c.d.open(path, 'w+');
        try {
          for (const op of ops) {
            if (op.k === 'write') {
              const data = pattern(op.fill, op.len);
              assert.equal(await h.pwrite(data, op.off), op.len);
              if (op.len > 0) {
                const end = op.off + op.len;
                if (end > model.length) model = Buffer.concat([model, Buffer.alloc(end - model.length)]);
                data.copy(model, op.off);
              }
            } else if (op.k === 'trunc') {
              await h.ftruncate(op.size);
              model = op.size <= model.length ? Buffer.from(model.subarray(0, op.size)) : Buffer.concat([model, Buffer.alloc(op.size - model.length)]);
            } else if (op.k === 'read') {
              const got = await h.pread(op.len, op.off);
              const want = model.subarray(Math.min(op.off, model.length), Math.min(op.off + op.len, model.length));
              assert.ok(got.equals(want), `pread(${op.len}, ${op.off}) differs from the model (got ${got.length} bytes, want ${want.length})`);
            } else if (op.k === 'reopen') {
              await h.close();
              h = await c.d.open(path, 'r+');
            } else {
              await h.fsync();
            }
            assert.equal((await h.fstat()).size, model.length, `size after ${JSON.stringify(op)}`);
          }
        } finally {
          await h.close();
        }
        assert.ok((await c.d.readFile(path)).equals(model), 'content after close differs from the model');
        await c.d.unlink(path);
      }),
      { numRuns: 25, seed: 20240501, endOnFailure: true },
    );
  });
}
