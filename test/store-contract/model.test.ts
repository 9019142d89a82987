/**
 * Property test: for random key sets and random list requests (prefix, delimiter, startAfter,
 * maxKeys, followed through every page), the local store -- both its one-directory path
 * (delimiter '/') and its walking path (no or other delimiters) -- lists exactly what the memory
 * store lists. The memory store is the reference: its listing is a direct scan of a sorted index.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { LocalStore } from '../../src/store/local/local-store.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import type { ListOptions, ObjectStore } from '../../src/store/object-store.js';
import { listAll } from './contract.js';

const segment = fc.constantFrom('a', 'b', 'a-b', 'ab', 'B', '\u00e9', '\uff61', '\u{1f600}', 'z z');
const keyArb = fc
  .tuple(fc.array(segment, { minLength: 1, maxLength: 4 }), fc.boolean())
  .map(([segs, marker]) => segs.join('/') + (marker ? '/' : ''));

/** Drop keys the local tree cannot hold together: a file key that is also a directory of another. */
function storable(keys: string[]): string[] {
  const uniq = [...new Set(keys)];
  return uniq.filter((k) => k.endsWith('/') || !uniq.some((o) => o.startsWith(`${k}/`)));
}

async function entries(store: ObjectStore, opts: ListOptions): Promise<string[]> {
  const r = await listAll(store, opts);
  return [...r.objects.map((o) => `${o.key} ${o.size}`), ...r.prefixes.map((p) => `${p} (prefix)`)];
}

test('local listing equals memory listing for random keys and requests', async () => {
  const root = await mkdtemp(join(tmpdir(), 'objfs-list-model-'));
  let run = 0;
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.array(keyArb, { minLength: 1, maxLength: 25 }),
        fc.array(
          fc.record({
            prefix: fc.oneof(fc.constant(''), keyArb, keyArb.map((k) => k.slice(0, Math.max(0, k.length - 1)))),
            delimiter: fc.constantFrom(undefined, '/', '/', '-', 'b'),
            startAfter: fc.option(keyArb, { nil: undefined }),
            maxKeys: fc.constantFrom(1, 1, 2, 3, 1000),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        async (rawKeys, requests) => {
          const dir = join(root, String(run++));
          const local = new LocalStore(dir, { durable: false });
          const memory = new MemoryStore();
          for (const k of storable(rawKeys)) {
            const body = Buffer.from(k.endsWith('/') ? '' : k);
            await local.put(k, body);
            await memory.put(k, body);
          }
          try {
            for (const r of requests) {
              const opts: ListOptions = { prefix: r.prefix, delimiter: r.delimiter, maxKeys: r.maxKeys };
              if (r.startAfter !== undefined) opts.startAfter = r.startAfter;
              assert.deepEqual(await entries(local, opts), await entries(memory, opts), JSON.stringify(opts));
            }
          } finally {
            await rm(dir, { recursive: true, force: true });
          }
        },
      ),
      { numRuns: 150 },
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
