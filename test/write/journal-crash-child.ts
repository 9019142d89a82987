/**
 * Child process of test/write/journal.test.ts.
 *
 *   node journal-crash-child.js <dir> hold       open the journal, print "locked <pid>", wait to be killed
 *   node journal-crash-child.js <dir> try-open   open it: print "opened" (exit 0) or "refused: <msg>" (exit 3)
 *   node journal-crash-child.js <dir> loop <seed>
 *       open (taking over the lock a killed predecessor left), load(), remove what it finds,
 *       print "ready", then write records from 4 workers in a loop until killed with SIGKILL:
 *       each upload record starts as seq 0 ('open'), then its data file is written in full, then
 *       seqs 1..n follow (some fired without waiting, so writes queue up and coalesce); about
 *       half are removed at the end. About 40% of the uploads are journaled whole instead
 *       (writeWithData: record and bytes in the spool, seq 1), then rewritten with seqs 2..n.
 *       Rename records are written durable. Every record carries
 *       metadata.check = recordCheck(...) so the parent can tell a complete record from any mix.
 */
import { writeFile } from 'node:fs/promises';
import { Journal } from '../../src/write/journal.js';
import type { PendingRecord } from '../../src/write/types.js';
import { silentLogger } from '../../src/util/logger.js';
import { mulberry32 } from '../../src/util/prng.js';
import { dataByte, recordCheck } from './journal-helpers.js';

const [dir, mode, seedArg] = process.argv.slice(2);
if (dir === undefined || mode === undefined) throw new Error('usage: journal-crash-child.js <dir> hold|try-open|loop [seed]');

if (mode === 'try-open') {
  try {
    const j = await Journal.open(dir, silentLogger());
    process.stdout.write('opened\n');
    await j.close();
  } catch (e) {
    process.stdout.write(`refused: ${(e as Error).message}\n`);
    process.exitCode = 3;
  }
} else if (mode === 'hold') {
  await Journal.open(dir, silentLogger());
  process.stdout.write(`locked ${process.pid}\n`);
  setInterval(() => undefined, 1 << 30);
} else {
  const rand = mulberry32(Number(seedArg ?? 1));
  const journal = await Journal.open(dir, silentLogger());
  const found = await journal.load();
  if (found.problems.length > 0) process.stderr.write(`problems at start: ${found.problems.join('\n')}\n`);
  await Promise.all([...found.uploads, ...found.renames].map((r) => journal.remove(r.id)));
  process.stdout.write('ready\n');

  const upload = (id: string, seq: number, size: number): PendingRecord => {
    const key = `dir/file-${id}`;
    const state = seq === 0 ? 'open' : 'closed';
    return {
      type: 'upload',
      id,
      key,
      state,
      size,
      metadata: { 'objfs-check': recordCheck(id, key, seq, size), mode: '0644' },
      dirty: size > 0 ? [[0, size]] : [],
      present: size > 0 ? [[0, size]] : [],
      seq,
      changedAt: Date.now(),
      ...(seq % 3 === 2 ? { base: { etag: `"e${seq}"`, size: seq * 10 } } : {}),
    };
  };

  const worker = async (): Promise<void> => {
    for (;;) {
      const id = journal.newId();
      if (rand() < 0.15) {
        await journal.write({ type: 'rename-dir', id, from: `a/${id}`, to: `b/${id}`, seq: 0 }, { durable: true });
        if (rand() < 0.5) await journal.remove(id);
        continue;
      }
      const size = Math.floor(rand() * 65_536);
      const versions = 1 + Math.floor(rand() * 6);
      const pending: Promise<void>[] = [];
      let first = 1;
      if (rand() < 0.4) {
        // a small version journaled whole (the spool), then rewritten (renames, metadata)
        await journal.writeWithData(upload(id, 1, size), Buffer.alloc(size, dataByte(id)));
        first = 2;
      } else {
        await journal.write(upload(id, 0, 0));
        await writeFile(journal.dataPath(id), Buffer.alloc(size, dataByte(id)));
      }
      for (let seq = first; seq <= versions; seq++) {
        const p = journal.write(upload(id, seq, size));
        if (rand() < 0.5) await p;
        else pending.push(p);
      }
      await Promise.all(pending);
      if (rand() < 0.5) await journal.remove(id);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
}
