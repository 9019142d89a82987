/**
 * Child process of the crash test in test/write/dir-rename.test.ts:
 *
 *   node dir-rename-crash-child.js <bucketDir> <journalDir> <from> <to> <killAtOp> <seed> start|resume
 *
 * Opens a LocalStore over <bucketDir> (no fsync: a SIGKILL keeps the page cache) and the journal
 * (taking over the lock of a killed predecessor), then renames <from> to <to>: it resumes the
 * journal's rename record when there is one, else starts the rename ("start") or prints
 * "no record" and exits ("resume"). The store is wrapped so
 * that store call number <killAtOp> (list, copy, deleteMany...) schedules a SIGKILL of this very
 * process 0-3 ms later (seeded), which lands in the middle of whatever is in flight. Prints
 * "done <moved>" when the rename finished before that.
 */
import { LocalStore } from '../../src/store/local/local-store.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { Journal } from '../../src/write/journal.js';
import { renamePrefix } from '../../src/write/dir-rename.js';
import { silentLogger } from '../../src/util/logger.js';
import { mulberry32 } from '../../src/util/prng.js';

const [bucketDir, journalDir, from, to, killAtArg, seedArg, mode] = process.argv.slice(2);
if (bucketDir === undefined || journalDir === undefined || from === undefined || to === undefined) {
  throw new Error('usage: dir-rename-crash-child.js <bucketDir> <journalDir> <from> <to> <killAtOp> <seed>');
}
const killAt = Number(killAtArg);
const rand = mulberry32(Number(seedArg ?? 1));
const inner = new LocalStore(bucketDir, { durable: false });
let ops = 0;
const store = new Proxy(inner, {
  get(target, prop, receiver) {
    const v = Reflect.get(target, prop, receiver) as unknown;
    if (typeof v !== 'function') return v;
    return (...args: unknown[]) => {
      if (++ops === killAt) setTimeout(() => process.kill(process.pid, 'SIGKILL'), Math.floor(rand() * 4));
      return (v as (...a: unknown[]) => unknown).apply(target, args);
    };
  },
}) as ObjectStore;

const log = silentLogger();
const journal = await Journal.open(journalDir, log);
const { renames, problems } = await journal.load();
if (problems.length > 0) throw new Error(`journal problems: ${problems.join('; ')}`);
const resume = renames.find((r) => r.from === from && r.to === to);
if (!resume && mode === 'resume') {
  process.stdout.write('no record\n');
  process.exit(0);
}
const { moved } = await renamePrefix({ store, journal, from, to, log, concurrency: 8, ...(resume ? { resume } : {}) });
await journal.close();
process.stdout.write(`done ${moved}\n`);
