/**
 * renamePrefix (src/write/dir-rename.ts): over the memory store, nested directories, markers,
 * neighbours that only share a name prefix, sources that change or vanish during the rename,
 * failures that leave a resumable record, progress, argument checks; over a file:// store, a
 * crash test: child processes are SIGKILLed at seeded random store calls, then the rename is
 * resumed, and every one of 300 keys must end under to/ with its bytes and nothing under from/.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { pino } from 'pino';
import { isStoreError } from '../../src/errors/store-error.js';
import { FaultyStore } from '../../src/store/faulty/faulty-store.js';
import { LocalStore } from '../../src/store/local/local-store.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { openStore } from '../../src/store/open-store.js';
import { renamePrefix, type RenamePrefixOptions } from '../../src/write/dir-rename.js';
import { Journal } from '../../src/write/journal.js';
import type { RenameRecord } from '../../src/write/types.js';
import { silentLogger } from '../../src/util/logger.js';
import { mulberry32 } from '../../src/util/prng.js';

const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'objfs-rename-'));
  roots.push(d);
  return d;
};
const log = silentLogger();
const CHILD = fileURLToPath(new URL('./dir-rename-crash-child.js', import.meta.url));

async function keysUnder(store: ObjectStore, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    const p = await store.list({ prefix, ...(token ? { continuationToken: token } : {}) });
    out.push(...p.objects.map((o) => o.key));
    token = p.nextToken;
  } while (token);
  return out;
}
const text = async (store: ObjectStore, key: string): Promise<string> => (await store.get(key)).body.toString();
const journalFiles = (j: Journal): string[] => readdirSync(j.dir).filter((n) => n !== 'lock' && n !== 'spare'); // spare/: recycled inodes (journal.ts)

async function setup(keys: Record<string, string>): Promise<{ store: MemoryStore; journal: Journal }> {
  const store = new MemoryStore();
  for (const [k, v] of Object.entries(keys)) await store.put(k, Buffer.from(v), { metadata: { mode: '0640', tag: k.length.toString() } });
  const journal = await Journal.open(join(tmp(), 'j'), log);
  return { store, journal };
}

/** A store whose copy() runs `before(src)` first, once per source key (to change the world under the rename). */
function withHook(inner: ObjectStore, before: (src: string) => Promise<void>): ObjectStore {
  const seen = new Set<string>();
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'copy') {
        return async (src: string, ...rest: unknown[]) => {
          if (!seen.has(src)) {
            seen.add(src);
            await before(src);
          }
          return (target.copy as (...a: unknown[]) => Promise<unknown>).call(target, src, ...rest);
        };
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
  }) as ObjectStore;
}

const BASIC = {
  'a/': '',
  'a/x.txt': 'x',
  'a/b/': '',
  'a/b/c/d.bin': 'deep',
  'a/b/e': 'e',
  'a2/keep': 'neighbour with a longer name',
  'ab': 'neighbour file',
  'a.txt': 'neighbour file with a dot',
  'other/a/x.txt': 'same relative path elsewhere',
};

describe('renamePrefix', () => {
  test('moves nested keys and markers, keeps metadata, leaves neighbours and the journal clean', async () => {
    const { store, journal } = await setup(BASIC);
    const progress: [number, number][] = [];
    const r = await renamePrefix({ store, journal, from: 'a', to: 'z/q', log, onProgress: (d, t) => progress.push([d, t]) });
    assert.equal(r.moved, 5);
    assert.deepEqual(await keysUnder(store), ['a.txt', 'a2/keep', 'ab', 'other/a/x.txt', 'z/q/', 'z/q/b/', 'z/q/b/c/d.bin', 'z/q/b/e', 'z/q/x.txt']);
    assert.equal(await text(store, 'z/q/b/c/d.bin'), 'deep');
    assert.deepEqual((await store.head('z/q/b/e')).metadata, { mode: '0640', tag: '5' });
    assert.deepEqual(progress.at(-1), [5, 5]);
    assert.deepEqual(journalFiles(journal), [], 'the record is removed at the end');
    await journal.close();
  });

  test('the rename record is on disk (durable) before the first copy', async () => {
    const { store, journal } = await setup(BASIC);
    let seen: RenameRecord | undefined;
    const hooked = withHook(store, async () => {
      if (seen) return;
      const names = journalFiles(journal);
      assert.equal(names.length, 1, names.join(' '));
      seen = JSON.parse(readFileSync(join(journal.dir, names[0]!), 'utf8')) as RenameRecord;
    });
    await renamePrefix({ store: hooked, journal, from: 'a/b', to: 'n', log });
    assert.deepEqual(seen && { type: seen.type, from: seen.from, to: seen.to }, { type: 'rename-dir', from: 'a/b', to: 'n' });
    assert.deepEqual(await keysUnder(store, 'n/'), ['n/', 'n/c/d.bin', 'n/e']);
    await journal.close();
  });

  test('a source changed after the listing is copied in its current version; a vanished one is skipped', async () => {
    const { store, journal } = await setup({ 'd/changed': 'old', 'd/gone': 'bye', 'd/same': 'same' });
    const hooked = withHook(store, async (src) => {
      if (src === 'd/changed') await store.put('d/changed', Buffer.from('new'));
      if (src === 'd/gone') await store.delete('d/gone');
    });
    const r = await renamePrefix({ store: hooked, journal, from: 'd', to: 'e', log });
    assert.equal(r.moved, 2);
    assert.deepEqual(await keysUnder(store), ['e/changed', 'e/same']);
    assert.equal(await text(store, 'e/changed'), 'new');
    await journal.close();
  });

  test('a failed copy deletes nothing and leaves the record; resuming finishes the rename', async () => {
    const { store, journal } = await setup(BASIC);
    const faulty = new FaultyStore(store);
    faulty.inject({ op: 'copy', key: (k) => k === 'a/b/e', action: { kind: 'fail', code: 'AccessDenied' }, times: 1 });
    await assert.rejects(renamePrefix({ store: faulty, journal, from: 'a', to: 'z', log, concurrency: 2 }), (e: unknown) => isStoreError(e, 'AccessDenied'));
    assert.equal((await keysUnder(store, 'a/')).length, 5, 'no source was deleted');
    const [name] = journalFiles(journal);
    const rec = JSON.parse(readFileSync(join(journal.dir, name!), 'utf8')) as RenameRecord;
    assert.equal(rec.type, 'rename-dir');
    await assert.rejects(renamePrefix({ store, journal, from: 'a', to: 'y', log, resume: rec }), /record to resume is for "a" -> "z"/);
    const r = await renamePrefix({ store, journal, from: 'a', to: 'z', log, resume: rec });
    assert.equal(r.moved, 5);
    assert.deepEqual(await keysUnder(store, 'a/'), []);
    assert.deepEqual(await keysUnder(store, 'z/'), ['z/', 'z/b/', 'z/b/c/d.bin', 'z/b/e', 'z/x.txt']);
    assert.deepEqual(journalFiles(journal), []);
    await journal.close();
  });

  test('deleteMany errors fail the rename with a StoreError naming the first key; resume completes it', async () => {
    const { store, journal } = await setup(BASIC);
    const faulty = new FaultyStore(store);
    faulty.inject({ op: 'deleteMany', key: (k) => k.startsWith('a/b/'), action: { kind: 'fail', code: 'Server' } });
    await assert.rejects(renamePrefix({ store: faulty, journal, from: 'a', to: 'z', log }), (e: unknown) => {
      assert.ok(isStoreError(e, 'Server'));
      assert.equal(e.key, 'a/b/');
      assert.match(e.message, /3 source key\(s\) could not be deleted, the first "a\/b\/"/);
      return true;
    });
    assert.deepEqual(await keysUnder(store, 'a/'), ['a/b/', 'a/b/c/d.bin', 'a/b/e']);
    const { renames } = await reload(journal);
    await renamePrefix({ store, journal: renames.journal, from: 'a', to: 'z', log, resume: renames.recs[0]! });
    assert.deepEqual(await keysUnder(store, 'a/'), []);
    assert.equal((await keysUnder(store, 'z/')).length, 5);
    await renames.journal.close();
  });

  test('an abort stops the copies, keeps the record, and the rename can be resumed', async () => {
    const keys: Record<string, string> = {};
    for (let i = 0; i < 200; i++) keys[`big/f${String(i).padStart(3, '0')}`] = `v${i}`;
    const { store, journal } = await setup(keys);
    const ac = new AbortController();
    const opts: RenamePrefixOptions = { store, journal, from: 'big', to: 'moved', log, concurrency: 4, signal: ac.signal, onProgress: (d) => d >= 40 && ac.abort() };
    await assert.rejects(renamePrefix(opts), (e: unknown) => isStoreError(e, 'Aborted'));
    assert.equal((await keysUnder(store, 'big/')).length, 200);
    const copiedBefore = (await keysUnder(store, 'moved/')).length;
    assert.ok(copiedBefore >= 40 && copiedBefore < 200, `${copiedBefore} copied before the abort`);
    const { renames } = await reload(journal);
    const r = await renamePrefix({ store, journal: renames.journal, from: 'big', to: 'moved', log, resume: renames.recs[0]! });
    assert.equal(r.moved, 200);
    assert.equal((await keysUnder(store, 'moved/')).length, 200);
    assert.equal(await text(store, 'moved/f123'), 'v123');
    await renames.journal.close();
  });

  test('progress: onProgress per batch; renames of 1,000+ keys log every 10% at info', async () => {
    const keys: Record<string, string> = {};
    for (let i = 0; i < 1234; i++) keys[`p/${i}`] = String(i);
    const { store, journal } = await setup(keys);
    const lines: { msg: string; level: number }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(JSON.parse(chunk.toString()) as { msg: string; level: number });
        cb();
      },
    });
    const calls: [number, number][] = [];
    await renamePrefix({ store, journal, from: 'p', to: 'q', log: pino({ level: 'info' }, sink), concurrency: 10, onProgress: (d, t) => calls.push([d, t]) });
    assert.equal(calls.length, Math.ceil(1234 / 10));
    assert.ok(calls.every(([d, t], i) => t === 1234 && (i === 0 || d > calls[i - 1]![0])));
    assert.deepEqual(calls.at(-1), [1234, 1234]);
    const pct = lines.filter((l) => /% copied/.test(l.msg)).map((l) => l.msg);
    assert.deepEqual(pct, [10, 20, 30, 40, 50, 60, 70, 80, 90, 100].map((p) => `rename: ${p}% copied`));
    assert.equal((await keysUnder(store, 'q/')).length, 1234);
    await journal.close();
  });

  test('an empty source moves nothing and leaves no record', async () => {
    const { store, journal } = await setup({ 'x/y': '1' });
    assert.deepEqual(await renamePrefix({ store, journal, from: 'nothing', to: 'x2', log }), { moved: 0 });
    assert.deepEqual(journalFiles(journal), []);
    await journal.close();
  });

  test('argument checks', async () => {
    const { store, journal } = await setup({});
    const bad = async (from: string, to: string, re: RegExp, extra: Partial<RenamePrefixOptions> = {}): Promise<void> => {
      await assert.rejects(renamePrefix({ store, journal, from, to, log, ...extra }), (e: unknown) => isStoreError(e, 'InvalidArgument') && re.test(e.message));
    };
    await bad('', 'b', /root/);
    await bad('a', '', /root/);
    await bad('a/', 'b', /trailing slash/);
    await bad('/a', 'b', /leading/);
    await bad('a', 'a', /the same/);
    await bad('a', 'a/b', /inside the other/);
    await bad('a/b', 'a', /inside the other/);
    await bad('a', 'b', /concurrency/, { concurrency: 0 });
    assert.deepEqual(journalFiles(journal), [], 'nothing was journaled');
    await journal.close();
  });

  test('crash: SIGKILL at random store calls over a file:// store, then resume; 300 keys all arrive intact', { timeout: 180_000 }, async (t) => {
    const rand = mulberry32(424242);
    const N = 300;
    const body = (rel: string): string => `${rel}\n`.repeat(1 + (rel.length % 5));
    const rels = ['', 'd1/']; // the from/ marker and a nested marker
    for (let i = 0; rels.length < N; i++) rels.push(`d${i % 7}/s${i % 3}/f${i}.txt`);
    const summary: string[] = [];
    for (let trial = 0; trial < 6; trial++) {
      const root = tmp();
      const bucket = join(root, 'bucket');
      const store = openStore(`file://${bucket}`, { durable: false });
      assert.ok(store instanceof LocalStore);
      for (const rel of rels) await store.put(`src/${rel}`, Buffer.from(rel.endsWith('/') || rel === '' ? '' : body(rel)));
      await store.put('srcx/keep', Buffer.from('neighbour'));
      const jdir = join(root, 'cache', 'write', 'store');
      const kills: string[] = [];
      for (let attempt = 0; attempt < 2; attempt++) {
        // trials 0 and 1 kill the first child in its deleteMany (call N + 2: list, N copies, deleteMany)
        const killAt = attempt === 0 && trial < 2 ? N + 2 : 1 + Math.floor(rand() * (N + 3));
        const mode = attempt === 0 ? 'start' : 'resume';
        const r = await runChild([bucket, jdir, 'src', 'dst', String(killAt), String(trial * 10 + attempt + 1), mode]);
        kills.push(r.signal === 'SIGKILL' ? `killed@${killAt}` : r.out.trim());
        assert.ok(r.signal === 'SIGKILL' || (r.code === 0 && /^(done|no record)/.test(r.out)), `child: ${r.code} ${r.signal} ${r.out}`);
      }
      // a restart: resume if the journal has the record; without one, nothing may have started
      // (all under src/, nothing under dst/) or everything must be done
      const journal = await Journal.open(jdir, log);
      const loaded = await journal.load();
      assert.deepEqual(loaded.problems, []);
      assert.ok(loaded.renames.length <= 1);
      const rec = loaded.renames[0];
      if (rec) await renamePrefix({ store, journal, from: 'src', to: 'dst', log, resume: rec });
      else {
        const [left, arrived] = [(await keysUnder(store, 'src/')).length, (await keysUnder(store, 'dst/')).length];
        assert.ok((left === N && arrived === 0) || (left === 0 && arrived === N), `trial ${trial}: no record, yet ${left} keys under src/ and ${arrived} under dst/`);
        if (left === N) await renamePrefix({ store, journal, from: 'src', to: 'dst', log });
      }
      assert.deepEqual(await keysUnder(store, 'src/'), [], `trial ${trial}: nothing left under src/`);
      const moved = await keysUnder(store, 'dst/');
      assert.equal(moved.length, N);
      assert.deepEqual(moved, rels.map((r) => `dst/${r}`).sort(), `trial ${trial}: every key under dst/`);
      for (const rel of rels) assert.equal(await text(store, `dst/${rel}`), rel.endsWith('/') || rel === '' ? '' : body(rel), rel);
      assert.equal(await text(store, 'srcx/keep'), 'neighbour');
      assert.deepEqual(journalFiles(journal), []);
      await journal.close();
      await store.close();
      summary.push(`${kills.join(',')}${rec ? ' +resume' : ''}`);
    }
    t.diagnostic(summary.join(' | '));
    assert.ok(summary.some((s) => s.includes('killed')), 'at least one child was killed');
  });
});

/** Close the journal and open it again (like a restart): its rename records. */
async function reload(j: Journal): Promise<{ renames: { journal: Journal; recs: RenameRecord[] } }> {
  await j.close();
  const journal = await Journal.open(j.dir, log);
  const { renames, problems } = await journal.load();
  assert.deepEqual(problems, []);
  assert.equal(renames.length, 1);
  return { renames: { journal, recs: renames } };
}

function runChild(args: string[]): Promise<{ code: number | null; signal: string | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, out }));
  });
}

