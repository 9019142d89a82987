/**
 * The journal's spool (src/write/spool.ts, Journal.writeWithData): small versions journaled whole
 * as one frame. Round trip across a restart (load() turns frames into ordinary record + data
 * files and removes the segments), rewrite and remove of a spooled id, setAside, a torn tail
 * (ignored, not a problem), a damaged frame (a problem; the segment is kept aside), and the
 * space rules: segments are deleted once nothing in them is live, and a version that stays
 * pending while many others come and go does not pin the segments written after it.
 * (The SIGKILL test in journal.test.ts journals 40% of its uploads this way.)
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Journal } from '../../src/write/journal.js';
import { MAX_VERSION_BYTES, Spool } from '../../src/write/spool.js';
import type { PendingRecord } from '../../src/write/types.js';
import { silentLogger } from '../../src/util/logger.js';
import { journalDirs } from './helpers.js';

const newDir = journalDirs('objfs-spool-');
const log = silentLogger();

function rec(id: string, size: number, over: Partial<PendingRecord> = {}): PendingRecord {
  return {
    type: 'upload', id, key: `k/${id}`, state: 'closed', size, metadata: { mode: '0644' },
    dirty: size > 0 ? [[0, size]] : [], present: size > 0 ? [[0, size]] : [], seq: 1, changedAt: 1_700_000_000_000, ...over,
  };
}
const bytes = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255));
const segments = (dir: string): string[] => (existsSync(join(dir, 'spool')) ? readdirSync(join(dir, 'spool')).filter((n) => n.endsWith('.log')) : []);

/** A journal in a new directory holding versions of these sizes in its spool (bytes(size, seed i)), closed. */
async function spooled(sizes: number[]): Promise<{ dir: string; ids: string[]; segment: string }> {
  const dir = newDir();
  const j = await Journal.open(dir, log);
  await j.load();
  const ids: string[] = [];
  for (const [i, size] of sizes.entries()) {
    const id = j.newId();
    await j.writeWithData(rec(id, size), bytes(size, i));
    ids.push(id);
  }
  await j.close();
  return { dir, ids, segment: join(dir, 'spool', segments(dir)[0]!) };
}

describe('journal spool', () => {
  test('writeWithData: no per-version files; after a restart load() gives ordinary records with their bytes and the segments are gone', async () => {
    const dir = newDir();
    const j = await Journal.open(dir, log);
    await j.load();
    const a = j.newId();
    const b = j.newId();
    const e = j.newId();
    await j.writeWithData(rec(a, 5000), bytes(5000, 1));
    await j.writeWithData(rec(b, 70_000), bytes(70_000, 2));
    await j.writeWithData(rec(e, 0), Buffer.alloc(0));
    assert.ok(j.isSpooled(a) && j.isSpooled(b) && j.isSpooled(e));
    assert.ok(j.readSpooled(b).equals(bytes(70_000, 2)));
    assert.ok(j.readSpooled(b, 65_000, 80_000).equals(bytes(70_000, 2).subarray(65_000)), 'a range, cut at the end');
    assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith('.json') || n.endsWith('.data')), []);
    assert.equal(segments(dir).length, 1);
    await j.close(); // like a crash: nothing is cleaned up at close

    const j2 = await Journal.open(dir, log);
    const got = await j2.load();
    assert.deepEqual(got.problems, []);
    assert.deepEqual(got.uploads.map((u) => u.id).sort(), [a, b, e].sort());
    assert.deepEqual(got.uploads.find((u) => u.id === b), rec(b, 70_000));
    assert.ok(readFileSync(j2.dataPath(a)).equals(bytes(5000, 1)));
    assert.ok(readFileSync(j2.dataPath(b)).equals(bytes(70_000, 2)));
    assert.equal(statSync(j2.dataPath(e)).size, 0);
    assert.deepEqual(segments(dir), []);
    assert.ok(!j2.isSpooled(a), 'an ordinary record now');
    await j2.close();
  });

  test('a rewrite keeps the bytes under the new record; remove() ends the version; a later seq wins', async () => {
    const dir = newDir();
    const j = await Journal.open(dir, log);
    await j.load();
    const a = j.newId();
    const b = j.newId();
    await j.writeWithData(rec(a, 100), bytes(100, 3));
    await j.writeWithData(rec(b, 100), bytes(100, 4));
    await j.write(rec(a, 100, { key: 'renamed/a', seq: 2 }));
    await j.write(rec(a, 100, { key: 'stale', seq: 1 })); // older than what was accepted: dropped
    await j.remove(b);
    assert.ok(!j.isSpooled(b));
    await j.close();

    const j2 = await Journal.open(dir, log);
    const got = await j2.load();
    assert.deepEqual(got.uploads.map((u) => [u.id, u.key, u.seq]), [[a, 'renamed/a', 2]]);
    assert.ok(readFileSync(j2.dataPath(a)).equals(bytes(100, 3)));
    assert.ok(!existsSync(j2.dataPath(b)));
    await j2.close();
  });

  test('setAside of a spooled version writes its record and bytes into the recovered directory', async () => {
    const dir = newDir();
    const j = await Journal.open(dir, log);
    await j.load();
    const a = j.newId();
    await j.writeWithData(rec(a, 300), bytes(300, 5));
    const where = await j.setAside(a, 'a test reason');
    assert.ok(!j.isSpooled(a));
    assert.ok(readFileSync(join(where, `${a}.data`)).equals(bytes(300, 5)));
    assert.equal(JSON.parse(readFileSync(join(where, `${a}.json`), 'utf8')).key, `k/${a}`);
    assert.match(readFileSync(join(where, 'README.txt'), 'utf8'), /a test reason/);
    await j.close();
    const j2 = await Journal.open(dir, log);
    assert.deepEqual((await j2.load()).uploads, []);
    await j2.close();
  });

  test('a torn last frame (a crash inside the append) is ignored without a problem; the frames before it load', async () => {
    const { dir, ids: [a], segment: seg } = await spooled([1000, 9000]);
    truncateSync(seg, statSync(seg).size - 4096); // the kernel stopped the writev between pages

    const j2 = await Journal.open(dir, log);
    const got = await j2.load();
    assert.deepEqual(got.problems, []);
    assert.deepEqual(got.uploads.map((u) => u.id), [a]);
    assert.ok(readFileSync(j2.dataPath(a!)).equals(bytes(1000, 0)));
    assert.deepEqual(segments(dir), []);
    await j2.close();
  });

  test('a damaged frame is a problem: the frames before it load, the segment is kept in recovered/', async () => {
    const { dir, ids: [a], segment: seg } = await spooled([1000, 1000]);
    const raw = readFileSync(seg);
    raw[raw.length - 10] = raw[raw.length - 10]! ^ 0xff; // a byte of b's data
    writeFileSync(seg, raw);

    const j2 = await Journal.open(dir, log);
    const got = await j2.load();
    assert.deepEqual(got.uploads.map((u) => u.id), [a]);
    assert.equal(got.problems.length, 1);
    assert.match(got.problems[0]!, /checksum/);
    const kept = readdirSync(join(dir, '..', 'recovered', 'store1'));
    assert.equal(kept.length, 1);
    assert.ok(readFileSync(join(dir, '..', 'recovered', 'store1', kept[0]!)).equals(raw), 'the damaged segment is kept as it was');
    await j2.close();
  });

  test('space: dead segments are deleted; a long-pending version does not pin later segments', () => {
    const dir = join(newDir(), 'spool');
    const s = new Spool(dir);
    const size = MAX_VERSION_BYTES / 2;
    s.append(rec('keeper', 100), bytes(100, 10)); // pending all along (exit mode)
    let maxSegments = 0;
    for (let i = 0; i < 200; i++) {
      const id = `v${i}`;
      s.append(rec(id, size), bytes(size, i));
      if (i >= 3) s.drop(`v${i - 3}`); // a few in flight at a time
      maxSegments = Math.max(maxSegments, s.segmentCount);
    }
    // 100 MiB went through; at most ~two segments of 16 MiB are ever on disk.
    assert.ok(maxSegments <= 3, `segments on disk at most ${maxSegments}`);
    const onDisk = readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    assert.ok(onDisk <= 40 * 1024 * 1024, `${onDisk} bytes on disk`);
    assert.ok(s.read('keeper').equals(bytes(100, 10)));
    s.close();
    const again = new Spool(dir).load();
    assert.deepEqual(again.problems, []);
    assert.deepEqual(again.entries.map((e) => (e.rec as PendingRecord).id).sort(), ['keeper', 'v197', 'v198', 'v199']);
    assert.ok(again.entries.find((e) => (e.rec as PendingRecord).id === 'keeper')!.data.equals(bytes(100, 10)));
  });
});
