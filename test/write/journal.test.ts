/**
 * Journal (src/write/journal.ts): round trip, atomic replace, per-id ordering, what load() does
 * with torn records, orphans, temp files and interrupted removes, setAside, the directory lock
 * (same process and another process), and a crash test: a child writing records in a loop is
 * killed with SIGKILL 20 times at seeded random moments; after each kill load() finds only
 * complete, valid records and no problems.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { DirLockedError } from '../../src/cache/dir-lock.js';
import { Journal, JournalLockedError } from '../../src/write/journal.js';
import type { PendingRecord, RenameRecord } from '../../src/write/types.js';
import { silentLogger } from '../../src/util/logger.js';
import { mulberry32 } from '../../src/util/prng.js';
import { dataByte, recordCheck } from './journal-helpers.js';
import { journalDirs } from './helpers.js';

const newDir = journalDirs('objfs-journal-');
const log = silentLogger();
const CHILD = fileURLToPath(new URL('./journal-crash-child.js', import.meta.url));

function upload(id: string, over: Partial<PendingRecord> = {}): PendingRecord {
  return {
    type: 'upload',
    id,
    key: `docs/${id}.txt`,
    state: 'closed',
    size: 100,
    metadata: { mode: '0644' },
    dirty: [[0, 10], [50, 100]],
    present: [[0, 100]],
    seq: 1,
    changedAt: 1_700_000_000_000,
    ...over,
  };
}

/** The journal's own files (spare/ holds recycled inodes, checked by its own test). */
const files = (dir: string): string[] => readdirSync(dir).filter((n) => n !== 'spare').sort();
const spares = (dir: string): string[] => readdirSync(join(dir, 'spare')).sort();
const recordOnDisk = (dir: string, id: string): PendingRecord => JSON.parse(readFileSync(join(dir, `${id}.json`), 'utf8')) as PendingRecord;
const recoveredDirs = (dir: string): string[] => {
  const base = join(dir, '..', 'recovered', 'store1');
  return existsSync(base) ? readdirSync(base).map((n) => join(base, n)) : [];
};

describe('journal', () => {
  test('open creates the directory 0700; newId is unique and sorts by creation', async () => {
    const dir = newDir();
    const j = await Journal.open(dir, log);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    const ids = Array.from({ length: 2000 }, () => j.newId());
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(ids).size, ids.length);
    assert.match(ids[0]!, /^[0-9a-z-]+$/);
    assert.equal(j.dataPath('abc'), join(dir, 'abc.data'));
    await j.close();
    assert.ok(!existsSync(join(dir, 'lock')), 'close releases the lock');
  });

  test('round trip: records written, reopened and loaded; uploads sorted by changedAt', async () => {
    const dir = newDir();
    const j = await Journal.open(dir, log);
    const a = upload(j.newId(), { changedAt: 3000, base: { etag: '"abc"', size: 70 }, uploadId: 'up-1' });
    const b = upload(j.newId(), { changedAt: 1000, state: 'open', dirty: [], present: [], size: 0 });
    const r: RenameRecord = { type: 'rename-dir', id: j.newId(), from: 'a/b', to: 'c', seq: 0 };
    await j.write(a);
    await j.write(b);
    await j.write(r, { durable: true });
    writeFileSync(j.dataPath(a.id), 'x'.repeat(100));
    await j.close();
    const j2 = await Journal.open(dir, log);
    const got = await j2.load();
    assert.deepEqual(got, { uploads: [b, a], renames: [r], problems: [] });
    assert.ok(existsSync(j2.dataPath(a.id)), 'the data file is left alone');
    await j2.close();
  });

  test('write replaces atomically: a concurrent reader never sees a partial record; no temp file is left', async () => {
    const dir = newDir();
    const j = await Journal.open(dir, log);
    const id = j.newId();
    const big = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, 'v'.repeat(100)]));
    await j.write(upload(id, { seq: 0, metadata: big }));
    let stop = false;
    let reads = 0;
    const reader = (async () => {
      while (!stop) {
        const rec = JSON.parse(await readFile(join(dir, `${id}.json`), 'utf8')) as PendingRecord;
        assert.equal(Object.keys(rec.metadata).length, 300);
        reads++;
      }
    })();
    for (let seq = 1; seq <= 150; seq++) await j.write(upload(id, { seq, metadata: big }), { durable: seq % 50 === 0 });
    stop = true;
    await reader;
    assert.ok(reads > 0);
    assert.equal(recordOnDisk(dir, id).seq, 150);
    assert.deepEqual(files(dir), [`${id}.json`, 'lock']);
    await j.close();
  });

  test('per-id ordering: concurrent writes land newest last; an older seq never overwrites a newer one', async () => {
    const dir = newDir();
    const j = await Journal.open(dir, log);
    const ids = Array.from({ length: 8 }, () => j.newId());
    // in order, none awaited: each queues behind the previous one
    await Promise.all(ids.flatMap((id) => Array.from({ length: 40 }, (_, seq) => j.write(upload(id, { seq }), { durable: seq === 20 }))));
    for (const id of ids) assert.equal(recordOnDisk(dir, id).seq, 39, id);
    // shuffled seqs: the highest accepted one wins, stale ones are dropped
    const rand = mulberry32(7);
    const id = ids[0]!;
    const seqs = Array.from({ length: 60 }, (_, i) => 100 + i).sort(() => rand() - 0.5);
    await Promise.all(seqs.map((seq) => j.write(upload(id, { seq }))));
    assert.equal(recordOnDisk(dir, id).seq, 159);
    await j.write(upload(id, { seq: 10 }));
    assert.equal(recordOnDisk(dir, id).seq, 159, 'a write older than the record on disk is dropped');
    // a remove queued between writes is kept in order
    const p1 = j.write(upload(id, { seq: 160 }));
    const p2 = j.remove(id);
    const p3 = j.write(upload(id, { seq: 0, key: 'again' }));
    await Promise.all([p1, p2, p3]);
    assert.equal(recordOnDisk(dir, id).key, 'again');
    assert.ok(!files(dir).some((f) => f.endsWith('.tmp')));
    await j.close();
  });

  test('invalid records are refused by write()', async () => {
    const j = await Journal.open(newDir(), log);
    await assert.rejects(j.write(upload('x', { size: -1 })), /invalid record/);
    await assert.rejects(j.write(upload('x', { dirty: [[5, 9], [0, 3]] })), /sorted and disjoint/);
    await assert.rejects(j.write(upload('../x')), /invalid record/);
    await assert.rejects(j.write({ type: 'rename-dir', id: 'r', from: 'a/', to: 'b', seq: 0 }), /invalid record/);
    await j.close();
    await assert.rejects(async () => j.write(upload('y')), /closed/);
  });

  test('remove: record then data; keepData; an interrupted remove is finished or undone at load', async () => {
    const dir = newDir();
    const j = await Journal.open(dir, log);
    const [a, b, c, d] = [j.newId(), j.newId(), j.newId(), j.newId()];
    for (const id of [a, b]) {
      await j.write(upload(id));
      writeFileSync(j.dataPath(id), 'data');
    }
    await j.remove(a);
    await j.remove(b, { keepData: true });
    await j.remove('never-existed');
    assert.deepEqual(files(dir), [`${b}.data`, 'lock']);
    // crash states of remove(): data renamed aside but record still there / record already gone
    await j.write(upload(c));
    writeFileSync(join(dir, `${c}.deleted`), 'c bytes');
    writeFileSync(join(dir, `${d}.deleted`), 'd bytes');
    await j.close();
    const j2 = await Journal.open(dir, log);
    const got = await j2.load();
    assert.deepEqual(got.uploads.map((u) => u.id), [c]);
    assert.equal(readFileSync(j2.dataPath(c), 'utf8'), 'c bytes', 'the record is live: its data is put back');
    assert.ok(!existsSync(join(dir, `${d}.deleted`)), 'a finished remove is cleaned up');
    assert.equal(got.problems.length, 1, 'only the keepData file is an orphan');
    assert.match(got.problems[0]!, new RegExp(`${b}\\.data: a data file with no journal record`));
    await j2.close();
  });

  test('torn, corrupt and mismatched records are set aside with their data and a README', async () => {
    const dir = newDir();
    const j = await Journal.open(dir, log);
    const good = upload(j.newId());
    await j.write(good);
    const [torn, invalid, mismatch] = [j.newId(), j.newId(), j.newId()];
    const full = JSON.stringify(upload(torn));
    writeFileSync(join(dir, `${torn}.json`), full.slice(0, full.length >> 1));
    writeFileSync(join(dir, `${torn}.data`), 'torn data');
    writeFileSync(join(dir, `${invalid}.json`), JSON.stringify(upload(invalid, { dirty: [[0, 0]] })));
    writeFileSync(join(dir, `${mismatch}.json`), JSON.stringify(upload('someone-else')));
    writeFileSync(join(dir, 'weird name.json'), '{}');
    writeFileSync(join(dir, `${good.id}.1234abcd.tmp`), '{"half":');
    await j.close();

    const j2 = await Journal.open(dir, log);
    const got = await j2.load();
    assert.deepEqual(got.uploads, [good]);
    assert.equal(got.problems.length, 4, got.problems.join('\n'));
    assert.match(got.problems.find((p) => p.startsWith(`${torn}.json`)) ?? '', /not valid JSON/);
    assert.match(got.problems.find((p) => p.startsWith(`${invalid}.json`)) ?? '', /dirty\.0: a span must have start < end/);
    assert.match(got.problems.find((p) => p.startsWith(`${mismatch}.json`)) ?? '', /does not match its file name/);
    assert.match(got.problems.find((p) => p.startsWith('weird name.json')) ?? '', /not a journal id/);
    assert.deepEqual(files(dir), [`${good.id}.json`, 'lock'], 'temp file removed, bad records moved out');

    const tornDir = recoveredDirs(dir).find((d) => d.endsWith(`-${torn}`));
    assert.ok(tornDir, 'the torn record has a recovered directory');
    assert.deepEqual(files(tornDir), [`${torn}.data`, `${torn}.json`, 'README.txt']);
    assert.equal(readFileSync(join(tornDir, `${torn}.data`), 'utf8'), 'torn data');
    const readme = readFileSync(join(tornDir, 'README.txt'), 'utf8');
    assert.match(readme, /reason: +not valid JSON/);
    assert.match(readme, /key: +\(unknown: the record does not parse\)/);
    const mmDir = recoveredDirs(dir).find((d) => d.endsWith(`-${mismatch}`));
    assert.match(readFileSync(join(mmDir!, 'README.txt'), 'utf8'), /key: +docs\/someone-else\.txt/);
    assert.ok(got.problems.every((p) => p.includes('moved to ')));
    await j2.close();
  });

  test('a data file without a record is an orphan: set aside and described', async () => {
    const dir = newDir();
    const j = await Journal.open(dir, log);
    const id = j.newId();
    writeFileSync(j.dataPath(id), 'orphan bytes');
    const got = await j.load();
    assert.equal(got.problems.length, 1);
    assert.match(got.problems[0]!, new RegExp(`^${id}\\.data: a data file with no journal record .*moved to .*recovered/store1/.*-${id}$`));
    const where = recoveredDirs(dir)[0]!;
    assert.equal(readFileSync(join(where, `${id}.data`), 'utf8'), 'orphan bytes');
    assert.match(readFileSync(join(where, 'README.txt'), 'utf8'), /key: +\(unknown: there is no record\)/);
    assert.deepEqual(files(dir), ['lock']);
    await j.close();
  });

  test('spare inodes: remove() recycles record and data (data truncated); new files adopt them, emptied; kept across reopen', async () => {
    const dir = newDir();
    const j = await Journal.open(dir, log);
    await j.load();
    const id = j.newId();
    writeFileSync(j.dataPath(id), 'x'.repeat(5000));
    await j.write(upload(id));
    await j.remove(id);
    assert.deepEqual(files(dir), ['lock']);
    const sp = spares(dir);
    assert.equal(sp.length, 2, 'the record and the data file became spares');
    const sizes = sp.map((n) => statSync(join(dir, 'spare', n)).size).sort((a, b) => a - b);
    assert.equal(sizes[0], 0, 'the data file was truncated before it became a spare');
    const inodes = new Set(sp.map((n) => statSync(join(dir, 'spare', n)).ino));
    // A record write adopts one spare (its temp file); the record holds exactly the new content.
    const id2 = j.newId();
    await j.write(upload(id2, { size: 7 }));
    assert.equal(recordOnDisk(dir, id2).size, 7);
    assert.ok(inodes.has(statSync(join(dir, `${id2}.json`)).ino), 'the record is a recycled inode');
    assert.equal(spares(dir).length, 1);
    await j.close();
    // A new process adopts what is left (callers open an adopted file with O_TRUNC).
    const j2 = await Journal.open(dir, log);
    await j2.load();
    const path = j2.dataPath(j2.newId());
    assert.equal(await j2.adoptSpare(path), true);
    assert.ok(inodes.has(statSync(path).ino));
    assert.equal(spares(dir).length, 0);
    assert.equal(await j2.adoptSpare(j2.dataPath(j2.newId())), false, 'none left');
    await j2.close();
  });

  test('setAside moves record and data with a README naming the reason and the key', async () => {
    const dir = newDir();
    const j = await Journal.open(dir, log);
    const rec = upload(j.newId(), { state: 'open', key: 'notes/draft.md' });
    await j.write(rec);
    writeFileSync(j.dataPath(rec.id), 'half written');
    const where = await j.setAside(rec.id, 'the file was still being written when objfs stopped');
    assert.ok(where.startsWith(join(dir, '..', 'recovered', 'store1')));
    assert.deepEqual(files(where), [`${rec.id}.data`, `${rec.id}.json`, 'README.txt']);
    const readme = readFileSync(join(where, 'README.txt'), 'utf8');
    assert.match(readme, /reason: +the file was still being written when objfs stopped/);
    assert.match(readme, /key: +notes\/draft\.md/);
    assert.deepEqual(files(dir), ['lock']);
    // the same id again (a second version set aside in the same millisecond gets its own directory)
    await j.write(upload(rec.id, { seq: 2 }));
    const where2 = await j.setAside(rec.id, 'again');
    assert.notEqual(where2, where);
    await assert.rejects(async () => j.setAside('../../etc', 'no'), /not a journal id/);
    await j.close();
  });

  test('one owner per directory: a second open in this process is refused until close', async () => {
    const dir = newDir();
    const j = await Journal.open(dir, log);
    await assert.rejects(Journal.open(dir, log), (e: unknown) => {
      assert.ok(e instanceof JournalLockedError && e instanceof DirLockedError);
      assert.match(e.message, /already open in this process/);
      return true;
    });
    await j.close();
    await (await Journal.open(dir, log)).close();
  });

  test('one owner per directory: across processes, both ways; a killed owner\'s lock is taken over', async () => {
    const dir = newDir();
    // the child holds it
    const child = spawn(process.execPath, [CHILD, dir, 'hold'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<void>((r) => child.on('exit', () => r()));
    await new Promise<void>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (s: string) => s.includes('locked') && resolve());
      child.on('exit', (code) => reject(new Error(`child exited early (${code})`)));
    });
    await assert.rejects(Journal.open(dir, log), new RegExp(`in use by process ${child.pid}`));
    child.kill('SIGKILL');
    await exited;
    // we hold it
    const j = await Journal.open(dir, log);
    const r = await runChild([dir, 'try-open']);
    assert.equal(r.code, 3, r.out);
    assert.match(r.out, new RegExp(`refused: write-back journal .* is in use by process ${process.pid}`));
    await j.close();
    const r2 = await runChild([dir, 'try-open']);
    assert.equal(r2.code, 0, r2.out);
  });

  test('crash: a writer killed with SIGKILL 20 times leaves only complete, valid records', { timeout: 120_000 }, async (t) => {
    const dir = newDir();
    const rand = mulberry32(20240611);
    let seen = 0;
    let withData = 0;
    for (let round = 0; round < 20; round++) {
      const delay = 5 + Math.floor(rand() * 200);
      const r = await runChild([dir, 'loop', String(round + 1)], { killAfterReadyMs: delay });
      assert.equal(r.signal, 'SIGKILL', `round ${round}: the child must be killed, it exited: ${r.out}`);
      const j = await Journal.open(dir, log);
      const got = await j.load();
      assert.deepEqual(got.problems, [], `round ${round} (killed ${delay} ms after ready)`);
      const names = files(dir);
      assert.ok(!names.some((n) => n.endsWith('.tmp') || n.endsWith('.deleted')), `round ${round}: leftovers ${names.join(' ')}`);
      for (const u of got.uploads) {
        assert.equal(u.metadata['objfs-check'], recordCheck(u.id, u.key, u.seq, u.size), `round ${round}: ${u.id} is one complete version`);
        if (u.seq >= 1) {
          // the data file was complete before seq 1 was written
          const data = readFileSync(j.dataPath(u.id));
          assert.ok(data.equals(Buffer.alloc(u.size, dataByte(u.id))), `${u.id}: the data file holds the ${u.size} bytes written`);
          withData++;
        }
      }
      for (const x of got.renames) assert.equal(x.to, `b/${x.id}`);
      seen += got.uploads.length + got.renames.length;
      await j.close();
    }
    t.diagnostic(`${seen} records found after 20 kills (${withData} with complete data checked)`);
    assert.ok(seen > 0, 'the child wrote records before being killed');
  });
});

/** Run the child; with killAfterReadyMs, SIGKILL it that long after it prints "ready". */
function runChild(args: string[], opts: { killAfterReadyMs?: number } = {}): Promise<{ code: number | null; signal: string | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const onData = (s: string): void => {
      out += s;
      if (opts.killAfterReadyMs !== undefined && out.includes('ready\n') && !out.includes('(kill scheduled)')) {
        out += '(kill scheduled)';
        setTimeout(() => child.kill('SIGKILL'), opts.killAfterReadyMs);
      }
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, out }));
  });
}
