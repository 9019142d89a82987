/** The store contract over MemoryStore, plus its sorted-index and byte-order helpers. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { compareKeys } from '../../src/store/memory/s3-rules.js';
import { SortedKeys } from '../../src/store/memory/sorted-keys.js';
import { listAll, storeContract } from './contract.js';

storeContract('memory', async () => ({ store: new MemoryStore(), cleanup: async () => undefined }));

const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));
const sign = (n: number): number => (n < 0 ? -1 : n > 0 ? 1 : 0);

test('compareKeys equals UTF-8 byte order', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (a, b) => sign(compareKeys(a, b)) === sign(byteOrder(a, b))),
    { numRuns: 2000 },
  );
  assert.ok(compareKeys('\uff61', '\u{1f600}') < 0);
  assert.ok('\uff61' > '\u{1f600}', 'UTF-16 order differs, which is why compareKeys exists');
});

test('SortedKeys matches a model under random inserts, deletes and seeks (small chunks: splits happen)', () => {
  const key = fc.string({ unit: fc.constantFrom('a', 'b', '/', '\u00e9', '\u{1f600}'), maxLength: 5 });
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), key), { minLength: 50, maxLength: 600 }), key, (ops, probe) => {
      const idx = new SortedKeys(4);
      const model = new Set<string>();
      for (const [add, k] of ops) {
        if (add) {
          assert.equal(idx.add(k), !model.has(k));
          model.add(k);
        } else assert.equal(idx.delete(k), model.delete(k));
      }
      const sorted = [...model].sort(compareKeys);
      assert.deepEqual([...idx.keys()], sorted);
      assert.equal(idx.size, model.size);
      assert.equal(idx.at(idx.lowerBound(probe)), sorted.find((k) => compareKeys(k, probe) >= 0));
      assert.equal(idx.at(idx.upperBound(probe)), sorted.find((k) => compareKeys(k, probe) > 0));
      assert.equal(idx.at(idx.afterPrefix(probe)), sorted.find((k) => compareKeys(k, probe) > 0 && !k.startsWith(probe)));
    }),
    { numRuns: 300 },
  );
});

test('listing pages of a 20,000-key store stays fast (index, not a sort per page)', async () => {
  const store = new MemoryStore();
  const keys: string[] = [];
  for (let i = 0; i < 20_000; i++) keys.push(`big/${(i * 7919) % 20_000}`);
  for (const k of keys) await store.put(k, Buffer.from('x'));
  const t0 = performance.now();
  const all = await listAll(store, { prefix: 'big/', maxKeys: 1000 });
  const ms = performance.now() - t0;
  assert.equal(all.objects.length, 20_000);
  assert.deepEqual(all.objects.map((o) => o.key), [...new Set(keys)].sort(byteOrder));
  assert.ok(ms < 5000, `listing 20k keys took ${ms.toFixed(0)} ms`);
});

test('memory store: "a//b" and other S3-valid keys are accepted', async () => {
  const store = new MemoryStore();
  await store.put('a//b', Buffer.from('x'));
  await store.put('./x', Buffer.from('y'));
  assert.deepEqual((await store.list({})).objects.map((o) => o.key), ['./x', 'a//b']);
  const d = await store.list({ delimiter: '/' });
  assert.deepEqual(d.prefixes, ['./', 'a/']);
});
