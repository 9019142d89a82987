/**
 * FaultyStore: with no rules it passes the whole store contract (over a MemoryStore); then the
 * injection rules themselves: fail/times, key tests, probability determinism with a seed,
 * latency, drop (with and without the wrapped call), hang + abort, deleteMany per key, stats.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StoreError } from '../../src/errors/store-error.js';
import { FaultyStore } from '../../src/store/faulty/faulty-store.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { rejectsCode, storeContract } from './contract.js';

storeContract('faulty(memory), no rules', async () => ({ store: new FaultyStore(new MemoryStore()), cleanup: async () => undefined }));

const fresh = (seed?: number): { inner: MemoryStore; store: FaultyStore } => {
  const inner = new MemoryStore();
  return { inner, store: new FaultyStore(inner, seed === undefined ? {} : { seed }) };
};

describe('FaultyStore rules', () => {
  test('fail with a code for the next N matching calls (times)', async () => {
    const { inner, store } = fresh();
    await inner.put('k', Buffer.from('v'));
    const rule = store.inject({ op: 'get', action: { kind: 'fail', code: 'Server' }, times: 2 });
    const e1 = await rejectsCode(store.get('k'), 'Server', 'k');
    assert.equal(e1.retryable, true);
    await rejectsCode(store.get('k'), 'Server');
    assert.equal((await store.get('k')).body.toString(), 'v', 'the third call passes');
    assert.equal(rule.hits, 2);
    assert.equal(rule.remaining, 0);
    await store.head('k'); // other ops never matched
    assert.equal(store.stats().calls.get, 3);
    assert.equal(store.stats().faults, 2);
  });

  test('a failing put does not reach the wrapped store', async () => {
    const { inner, store } = fresh();
    store.inject({ op: ['put', 'copy'], action: { kind: 'fail', code: 'QuotaExceeded' } });
    await rejectsCode(store.put('x', Buffer.from('data')), 'QuotaExceeded', 'x');
    await rejectsCode(inner.head('x'), 'NotFound');
    assert.equal(store.stats().bytesIn, 0);
    store.clear();
    await store.put('x', Buffer.from('data'));
    assert.equal((await inner.get('x')).body.toString(), 'data');
    assert.equal(store.stats().bytesIn, 4);
  });

  test('key tests: RegExp and predicate; copy matches source or destination', async () => {
    const { store } = fresh();
    store.inject({ op: '*', key: /^secret\//, action: { kind: 'fail', code: 'AccessDenied' } });
    store.inject({ op: 'put', key: (k) => k.endsWith('.big'), action: { kind: 'fail', code: 'TooLarge' } });
    await store.put('public/a', Buffer.from('1'));
    await rejectsCode(store.put('secret/a', Buffer.from('1')), 'AccessDenied', 'secret/a');
    await rejectsCode(store.put('public/x.big', Buffer.from('1')), 'TooLarge');
    await rejectsCode(store.copy('public/a', 'secret/b'), 'AccessDenied');
    await rejectsCode(store.list({ prefix: 'secret/' }), 'AccessDenied');
    await store.check(); // key rules never match check
    assert.equal((await store.list({ prefix: 'public/' })).objects.length, 1);
  });

  test('probability: deterministic for a seed, roughly the asked rate, different for another seed', async () => {
    const pattern = async (seed: number): Promise<string> => {
      const { inner, store } = fresh(seed);
      await inner.put('k', Buffer.from('v'));
      store.inject({ op: 'head', action: { kind: 'fail', code: 'Throttled' }, probability: 0.3 });
      let out = '';
      for (let i = 0; i < 400; i++) out += await store.head('k').then(() => '.', () => 'x');
      return out;
    };
    const a = await pattern(42);
    const b = await pattern(42);
    const c = await pattern(7);
    assert.equal(a, b, 'same seed, same faults');
    assert.notEqual(a, c, 'another seed, other faults');
    const rate = [...a].filter((ch) => ch === 'x').length / a.length;
    assert.ok(rate > 0.2 && rate < 0.4, `fault rate ${rate} is near 0.3`);
  });

  test('probability combined with times stops after N faults', async () => {
    const { inner, store } = fresh(3);
    await inner.put('k', Buffer.from('v'));
    const rule = store.inject({ op: 'get', action: { kind: 'fail', code: 'Network' }, probability: 0.5, times: 3 });
    let failures = 0;
    for (let i = 0; i < 100; i++) failures += await store.get('k').then(() => 0, () => 1);
    assert.equal(failures, 3);
    assert.equal(rule.hits, 3);
  });

  test('latency delays the call, adds up, and honours abort', async () => {
    const { inner, store } = fresh();
    await inner.put('k', Buffer.from('v'));
    store.inject({ op: 'get', action: { kind: 'latency', ms: 60 } });
    store.inject({ op: '*', action: { kind: 'latency', ms: 40 } });
    let t0 = performance.now();
    assert.equal((await store.get('k')).body.toString(), 'v');
    const took = performance.now() - t0;
    assert.ok(took >= 95, `latency ${took} ms >= 100 ms`);
    const ac = new AbortController();
    t0 = performance.now();
    setTimeout(() => ac.abort(), 20);
    await rejectsCode(store.get('k', { signal: ac.signal }), 'Aborted');
    assert.ok(performance.now() - t0 < 90, 'abort ends the delay early');
  });

  test('drop: Network error; afterCall runs the wrapped call and loses its result', async () => {
    const { inner, store } = fresh();
    store.inject({ op: 'put', action: { kind: 'drop', afterCall: true }, times: 1 });
    await rejectsCode(store.put('k', Buffer.from('stored anyway')), 'Network', 'k');
    assert.equal((await inner.get('k')).body.toString(), 'stored anyway', 'the put happened');
    store.inject({ op: 'get', action: { kind: 'drop', afterCall: true, afterMs: 1 }, times: 1 });
    await rejectsCode(store.get('k'), 'Network');
    assert.equal(store.stats().bytesOut, 'stored anyway'.length, 'the lost download is counted');
    store.inject({ op: 'delete', action: { kind: 'drop' }, times: 1 });
    await rejectsCode(store.delete('k'), 'Network');
    assert.equal((await inner.head('k')).size, 'stored anyway'.length, 'a plain drop never reaches the store');
  });

  test('hang until the caller aborts, or until close()', async () => {
    const { inner, store } = fresh();
    await inner.put('k', Buffer.from('v'));
    store.inject({ op: 'get', action: { kind: 'hang' } });
    const ac = new AbortController();
    let settled = false;
    const p = store.get('k', { signal: ac.signal }).finally(() => {
      settled = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(settled, false, 'still hanging after 50 ms');
    ac.abort();
    await rejectsCode(p, 'Aborted', 'k');
    const q = store.get('k'); // no signal: only close() ends it
    await new Promise((r) => setTimeout(r, 10));
    await store.close();
    await rejectsCode(q, 'Aborted');
  });

  test('deleteMany: keyed rules refuse single keys, the rest is deleted', async () => {
    const { inner, store } = fresh();
    for (const k of ['a', 'b', 'locked/c']) await inner.put(k, Buffer.from(k));
    store.inject({ op: 'deleteMany', key: /^locked\//, action: { kind: 'fail', code: 'AccessDenied' } });
    const r = await store.deleteMany(['a', 'b', 'locked/c']);
    assert.deepEqual(r.deleted.sort(), ['a', 'b']);
    assert.equal(r.errors.length, 1);
    assert.equal(r.errors[0]!.key, 'locked/c');
    assert.ok(r.errors[0]!.error instanceof StoreError && r.errors[0]!.error.code === 'AccessDenied');
    assert.equal((await inner.head('locked/c')).key, 'locked/c');
    store.clear();
    store.inject({ op: 'deleteMany', action: { kind: 'fail', code: 'Server' }, times: 1 });
    await rejectsCode(store.deleteMany(['locked/c']), 'Server');
  });

  test('stats count calls and bytes per op; removed rules stop firing', async () => {
    const { store } = fresh();
    await store.put('a', Buffer.alloc(1000));
    const { uploadId } = await store.createMultipart('mp');
    const p1 = await store.uploadPart('mp', uploadId, 1, Buffer.alloc(300));
    await store.completeMultipart('mp', uploadId, [p1]);
    await store.get('a', { range: { start: 0, end: 99 } });
    await store.get('mp');
    const s = store.stats();
    assert.equal(s.calls.put, 1);
    assert.equal(s.calls.uploadPart, 1);
    assert.equal(s.calls.get, 2);
    assert.equal(s.calls.list, 0);
    assert.equal(s.bytesIn, 1300);
    assert.equal(s.bytesOut, 400);
    assert.deepEqual(s.bytesByOp.put, { in: 1000, out: 0 });
    assert.deepEqual(s.bytesByOp.get, { in: 0, out: 400 });
    const rule = store.inject({ op: 'head', action: { kind: 'fail', code: 'Server' } });
    await rejectsCode(store.head('a'), 'Server');
    rule.remove();
    assert.equal((await store.head('a')).size, 1000);
    store.resetStats();
    assert.equal(store.stats().calls.head, 0);
    assert.equal(store.stats().bytesIn, 0);
  });
});
