/**
 * Journal: the crash-safe write-back journal of one store, a directory of small JSON records.
 *
 *   <dir>/lock                    owner process (DirLock, src/cache/dir-lock.ts)
 *   <dir>/<id>.json               one JournalRecord (PendingRecord or RenameRecord)
 *   <dir>/<id>.data               the staged bytes of an upload record (written by StagedFile)
 *   <dir>/<id>.<random>.tmp       a record being written (removed by load())
 *   <dir>/<id>.deleted            the data file of a remove() in progress (see below)
 *   <dir>/spare/s<hex>            spare inodes (see "Spare inodes")
 *   <dir>/spool/<n>.log           small versions kept whole, record and bytes in one frame
 *                                 (writeWithData; src/write/spool.ts)
 *   <dir>/../recovered/<basename(dir)>/<time>-<id>/   what setAside() moved out, with README.txt
 *
 * Ids come from newId(): base-36 time, a per-process counter and random hex, so they sort by
 * creation time and never contain '.' or '/'.
 *
 * Durability contract:
 * - A record is replaced atomically: written to a temp file, then renamed over `<id>.json`. A
 *   reader (load() after a crash) sees the old or the new record, never a torn one.
 * - write() without `durable` does no fsync. That is what the close/idle/exit sync modes use at
 *   close(): the record survives `kill -9` of objfs (and any crash of the process), because the
 *   data sits in the kernel's page cache, which outlives the process.
 * - write(rec, { durable: true }) also fsyncs the temp file before the rename and the directory
 *   after it, so the record survives a power cut once the call returns. Directory renames use
 *   it: a half-done rename of a prefix must be finished, never forgotten.
 * - After a power cut only what fsync() acknowledged is guaranteed, and fsync(2) on a file in
 *   the mount always uploads to the bucket first (the bucket is the durable copy, not the
 *   journal). Un-fsynced records and data files may be lost or stale after a power cut.
 *
 * remove(id) makes the record disappear before the data file, so a live record never points to
 * missing bytes: the data file is first renamed to `<id>.deleted`, then the record is unlinked,
 * then `<id>.deleted`. load() puts a `.deleted` back as `.data` when its record is still there
 * (the remove never happened) and deletes it otherwise (the remove was finished but for the
 * cleanup), so a crash in the middle of remove() never leaves an orphan behind.
 *
 * Spare inodes: remove() does not unlink the record and the (truncated) data file but moves them
 * into `spare/` (up to SPARE_MAX), and new data files and record temp files are made by renaming
 * a spare into place (adoptSpare) and opening it with O_TRUNC. On an ext4 without a journal (this
 * machine's root) every create scans the inodes deleted in the last minutes (find_inode_bit ->
 * recently_deleted, ~10% of all CPU while 1,000 small files went through idle mode), and each
 * small file cost two creates and two unlinks; with spares it costs renames. Spares never hold
 * anything that matters: their content is truncated when they are adopted, and a crash leaves at
 * worst a spare with old bytes. open() adopts the spares a previous process left.
 *
 * Spooled versions: writeWithData(rec, bytes) keeps a small version (a new file held in memory
 * until its close) as one frame of the spool instead of two files. Such an id then lives in the
 * spool only: write() of it rewrites its frame, remove() appends a drop, readSpooled() gives its
 * bytes, setAside() first turns it into the two ordinary files. load() turns every live frame a
 * previous process left into the ordinary two files (data first, then the record) and then
 * deletes the segments, so recovery and everything after it see only ordinary records; a crash
 * in the middle just does it again.
 *
 * Writers should write a record before or soon after creating `<id>.data`: at load() a data file
 * without a record is an orphan whose key is unknown; it is set aside, not deleted.
 *
 * Validation: records are checked with zod on write() (a bad record is a bug: it throws) and on
 * load(). Spans must be non-negative integer pairs with start < end, sorted and disjoint; that
 * `present` covers `dirty` is not checked (the uploader's business).
 *
 * Ownership / locking: one Journal per directory and per process tree; open() takes the
 * directory's DirLock and fails with JournalLockedError when another live Journal (in this or
 * another process) holds it. Inside the process, all operations on one id (write, remove,
 * setAside) run one at a time in call order; writes of an id that queue up behind a running one
 * are coalesced into the newest (durable if any of them asked for it), and a write whose seq is
 * lower than one already accepted for that id is dropped, so an older record never lands last.
 * Different ids proceed in parallel. load() must run before any write (it removes temp files).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, truncate, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { errCode, unlinkIfExists } from '../cache/block-files.js';
import { DirLock, DirLockedError } from '../cache/dir-lock.js';
import type { Logger } from '../util/logger.js';
import { Spool } from './spool.js';
import type { JournalRecord, PendingRecord, RenameRecord } from './types.js';

/** Another Journal (this process or another live one) owns the directory. */
export class JournalLockedError extends DirLockedError {
  constructor(dir: string, pid: number) {
    super(dir, pid);
    this.name = 'JournalLockedError';
    this.message =
      pid === process.pid
        ? `write-back journal ${dir} is already open in this process (two mounts of the same store?)`
        : `write-back journal ${dir} is in use by process ${pid} (another objfs mount of the same store with the same --cache-dir?)`;
  }
}

/** Spare inodes kept at most (empty data files and old record files: a few MiB at most). */
const SPARE_MAX = 4096;

const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

const int = z.number().int().nonnegative();
const span = z.tuple([int, int]).refine(([s, e]) => s < e, 'a span must have start < end');
const spans = z.array(span).refine((a) => a.every((s, i) => i === 0 || a[i - 1]![1] < s[0]), 'spans must be sorted and disjoint');
const id = z.string().regex(SAFE_ID, 'not a journal id');
const dirPath = z.string().min(1).refine((p) => !p.startsWith('/') && !p.endsWith('/'), 'a directory path without leading or trailing slash');

const pendingSchema = z.object({
  type: z.literal('upload'), id, key: z.string().min(1), state: z.enum(['open', 'closed']),
  base: z.object({ etag: z.string().min(1), size: int }).optional(), size: int,
  metadata: z.record(z.string(), z.string()), dirty: spans, present: spans,
  uploadId: z.string().min(1).optional(), seq: int, changedAt: z.number().nonnegative(),
});

const renameSchema = z
  .object({ type: z.literal('rename-dir'), id, from: dirPath, to: dirPath, seq: int })
  .refine((r) => r.from !== r.to, 'from and to are the same');

const recordSchema = z.discriminatedUnion('type', [pendingSchema, renameSchema]);

// Compile-time check that the schema's output is a JournalRecord.
const _typeCheck = (r: z.infer<typeof recordSchema>): JournalRecord => r;
void _typeCheck;

/** A short, one-line description of a zod failure. */
function describeIssues(e: z.ZodError): string {
  return e.issues
    .slice(0, 3)
    .map((i) => `${i.path.length > 0 ? i.path.join('.') : 'record'}: ${i.message}`)
    .join('; ');
}

interface IdQueue {
  tail: Promise<void>;
  /** Operations queued or running. */
  ops: number;
  /** A write queued behind the running operation and not started yet (later writes join it). */
  waiting: QueuedWrite | undefined;
}

interface QueuedWrite {
  rec: JournalRecord;
  durable: boolean;
  done?: Promise<void>;
}

export interface LoadResult {
  /** Upload records, oldest change first. */
  uploads: PendingRecord[];
  /** Directory renames in progress, oldest first. */
  renames: RenameRecord[];
  /** One line per record or data file that was set aside (what and where to). */
  problems: string[];
}

export class Journal {
  private readonly queues = new Map<string, IdQueue>();
  /** Highest seq accepted (written or queued) per id. */
  private readonly seqs = new Map<string, number>();
  private lastMs = 0;
  private counter = 0;
  private closed = false;
  /** Paths of spare inodes in spare/ (see "Spare inodes"). */
  private readonly spares: string[] = [];

  private constructor(
    readonly dir: string,
    private readonly log: Logger,
    private readonly lock: DirLock,
    private readonly spool: Spool,
  ) {}

  private get spareDir(): string {
    return join(this.dir, 'spare');
  }

  /**
   * Give `path` (which must not exist) an inode from the spare pool, by rename; false when there
   * is none. The caller opens it with O_TRUNC: a spare's old bytes mean nothing.
   */
  async adoptSpare(path: string): Promise<boolean> {
    const s = this.spares.pop();
    if (s === undefined) return false;
    try {
      await rename(s, path);
      return true;
    } catch {
      return false; // gone (removed by hand?): the caller creates a new file
    }
  }

  /** Move `path` into the spare pool (true), or say it is not there (true); false: unlink it yourself. */
  private async recycle(path: string, truncateFirst: boolean): Promise<boolean> {
    if (this.spares.length >= SPARE_MAX) return false;
    const s = join(this.spareDir, `s${randomBytes(8).toString('hex')}`);
    try {
      if (truncateFirst) await truncate(path, 0);
      await rename(path, s);
    } catch (e) {
      return errCode(e) === 'ENOENT';
    }
    this.spares.push(s);
    return true;
  }

  /** Create the directory (0700) if needed and take its lock; JournalLockedError when held. */
  static async open(dir: string, log: Logger): Promise<Journal> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    try {
      const { lock, replacedStale } = await DirLock.acquire(dir);
      if (replacedStale) log.info({ dir, pid: replacedStale.pid }, 'write-back journal: took over the lock of a process that is gone');
      let spool: Spool;
      try {
        spool = new Spool(join(dir, 'spool'));
      } catch (e) {
        await lock.release();
        throw e;
      }
      const j = new Journal(dir, log, lock, spool);
      await mkdir(j.spareDir, { recursive: true, mode: 0o700 });
      for (const name of await readdir(j.spareDir)) if (j.spares.length < SPARE_MAX) j.spares.push(join(j.spareDir, name));
      return j;
    } catch (e) {
      if (e instanceof DirLockedError) throw new JournalLockedError(dir, e.pid);
      throw e;
    }
  }

  /** A new record id: sortable by creation time, unique. */
  newId(): string {
    const now = Date.now();
    if (now === this.lastMs) this.counter++;
    else {
      this.lastMs = now;
      this.counter = 0;
    }
    return `${now.toString(36).padStart(9, '0')}-${this.counter.toString(36).padStart(4, '0')}-${randomBytes(4).toString('hex')}`;
  }

  dataPath(id: string): string {
    return join(this.dir, `${id}.data`);
  }

  private recordPath(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  /** Replace the record `<id>.json` atomically (see the durability contract at the top). */
  write(rec: JournalRecord, opts: { durable?: boolean } = {}): Promise<void> {
    this.checkOpen();
    const parsed = recordSchema.safeParse(rec);
    if (!parsed.success) return Promise.reject(new Error(`journal: refusing to write an invalid record ${JSON.stringify(rec.id)}: ${describeIssues(parsed.error)}`));
    const durable = opts.durable === true;
    const max = this.seqs.get(rec.id);
    if (max !== undefined && rec.seq < max) {
      this.log.debug({ id: rec.id, seq: rec.seq, newer: max }, 'journal: dropped a write older than one already accepted');
      return this.queues.get(rec.id)?.tail ?? Promise.resolve();
    }
    this.seqs.set(rec.id, rec.seq);
    const q = this.queues.get(rec.id);
    if (q?.waiting) {
      // Not started yet: the newest record is the only one that needs to land.
      q.waiting.rec = rec;
      q.waiting.durable ||= durable;
      if (q.waiting.done) return q.waiting.done;
    }
    const w: QueuedWrite = { rec, durable };
    const run = async (): Promise<void> => {
      const current = this.queues.get(rec.id);
      if (current?.waiting === w) current.waiting = undefined; // from now on later writes queue anew
      await this.writeNow(w.rec, w.durable);
    };
    return (w.done = this.enqueue(rec.id, run, w));
  }

  /**
   * Journal a small version whose bytes are given (a new file held in memory): record and bytes
   * go into the spool as one frame (see "Spooled versions"). The caller must not change `data`
   * before the promise settles. Same seq rules as write().
   */
  writeWithData(rec: PendingRecord, data: Buffer): Promise<void> {
    this.checkOpen();
    const parsed = pendingSchema.safeParse(rec);
    if (!parsed.success) return Promise.reject(new Error(`journal: refusing to write an invalid record ${JSON.stringify(rec.id)}: ${describeIssues(parsed.error)}`));
    const max = this.seqs.get(rec.id);
    if (max !== undefined && rec.seq < max) return this.queues.get(rec.id)?.tail ?? Promise.resolve();
    this.seqs.set(rec.id, rec.seq);
    return this.enqueue(rec.id, async () => {
      this.spool.append(rec, data);
    });
  }

  /** Whether `id` is a spooled version. */
  isSpooled(id: string): boolean {
    return this.spool.has(id);
  }

  /** Bytes [start, end) of a spooled version, all by default (synchronous: at most spool.MAX_VERSION_BYTES). */
  readSpooled(id: string, start?: number, end?: number): Buffer {
    return this.spool.read(id, start, end);
  }

  /** Remove the record, then (unless keepData) its data file. Missing files are fine. */
  remove(id: string, opts: { keepData?: boolean } = {}): Promise<void> {
    this.checkOpen();
    this.checkId(id);
    this.seqs.delete(id);
    return this.enqueue(id, async () => {
      if (this.spool.has(id)) return this.spool.drop(id);
      const tomb = join(this.dir, `${id}.deleted`);
      const tombstoned = opts.keepData !== true && (await renameIfExists(this.dataPath(id), tomb));
      if (!(await this.recycle(this.recordPath(id), false))) await unlinkIfExists(this.recordPath(id));
      if (tombstoned && !(await this.recycle(tomb, true))) await unlinkIfExists(tomb);
    });
  }

  /**
   * Move the record and the data file of `id` to `<dir>/../recovered/<basename(dir)>/<time>-<id>/`
   * with a README.txt giving the reason and the key; returns that directory.
   */
  setAside(id: string, reason: string): Promise<string> {
    this.checkOpen();
    this.checkId(id);
    this.seqs.delete(id);
    let where = '';
    return this.enqueue(id, async () => {
      await this.unspool(id);
      where = await this.moveAside(id, reason);
    }).then(() => where);
  }

  /**
   * Read every record (call once, after open() and before any write). Temp files are removed;
   * records that do not parse or validate, and data files without a record, are set aside and
   * described in `problems`.
   */
  async load(): Promise<LoadResult> {
    this.checkOpen();
    const names = await readdir(this.dir);
    const present = new Set(names);
    const addName = (n: string): void => {
      names.push(n);
      present.add(n);
    };
    const out: LoadResult = { uploads: [], renames: [], problems: [] };
    const fromSpool = await this.loadSpool(out.problems);
    for (const name of fromSpool) if (!present.has(name)) addName(name);
    const tmps = names.filter((n) => n.endsWith('.tmp'));
    for (const name of tmps) await unlinkIfExists(join(this.dir, name));
    // Interrupted remove(): finish it, or undo it when the record is still there.
    for (const name of names) {
      if (!name.endsWith('.deleted')) continue;
      const stem = name.slice(0, -'.deleted'.length);
      if (present.has(`${stem}.json`) && !present.has(`${stem}.data`)) {
        await rename(join(this.dir, name), this.dataPath(stem));
        present.add(`${stem}.data`);
      } else {
        await unlinkIfExists(join(this.dir, name));
      }
    }
    const aside = async (stem: string, what: string, reason: string): Promise<void> => {
      const where = await this.moveAside(stem, reason);
      const line = `${what}: ${reason}; moved to ${where}`;
      out.problems.push(line);
      this.log.warn({ dir: this.dir, id: stem, where }, `write-back journal: ${line}`);
    };
    for (const name of names) {
      if (!name.endsWith('.json')) continue;
      const stem = name.slice(0, -'.json'.length);
      const rec = await this.readRecord(stem);
      if (typeof rec === 'string') await aside(stem, name, rec);
      else {
        this.seqs.set(rec.id, rec.seq);
        if (rec.type === 'upload') out.uploads.push(rec);
        else out.renames.push(rec);
      }
    }
    for (const name of names) {
      if (!name.endsWith('.data')) continue;
      const stem = name.slice(0, -'.data'.length);
      if (present.has(`${stem}.json`)) continue; // its record was loaded, or set aside with it
      await aside(stem, name, 'a data file with no journal record (its key is unknown: a file being written when objfs stopped?)');
    }
    const byId = (a: { id: string }, b: { id: string }): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
    out.uploads.sort((a, b) => a.changedAt - b.changedAt || byId(a, b));
    out.renames.sort(byId);
    if (tmps.length > 0) this.log.info({ dir: this.dir, removed: tmps.length }, 'write-back journal: removed temp files of interrupted record writes');
    return out;
  }

  /** Wait for the queued operations, then release the lock. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.queues.values()].map((q) => q.tail));
    this.spool.close();
    await this.lock.release();
  }

  // -------------------------------------------------------------------------------------------

  private checkOpen(): void {
    if (this.closed) throw new Error(`write-back journal ${this.dir} is closed`);
  }

  private checkId(id: string): void {
    if (!SAFE_ID.test(id)) throw new Error(`journal: ${JSON.stringify(id)} is not a journal id`);
  }

  /** Run `fn` after every operation already queued for `id`. */
  private enqueue(id: string, fn: () => Promise<void>, waiting?: IdQueue['waiting']): Promise<void> {
    let q = this.queues.get(id);
    if (!q) {
      q = { tail: Promise.resolve(), ops: 0, waiting: undefined };
      this.queues.set(id, q);
    }
    const queue = q;
    queue.ops++;
    queue.waiting = waiting; // an operation other than a write ends the coalescing window
    const done = queue.tail.then(fn);
    const settle = (): void => {
      if (--queue.ops === 0 && this.queues.get(id) === queue) this.queues.delete(id);
    };
    queue.tail = done.then(settle, settle);
    return done;
  }

  /**
   * Turn what the spool holds from a previous process into ordinary files (data, then record),
   * then delete the segments. Returns the names of the files written; problems get one line each.
   */
  private async loadSpool(problems: string[]): Promise<string[]> {
    const { entries, problems: damage, damaged, torn } = this.spool.load();
    const names: string[] = [];
    if (damaged.length > 0) {
      const { parent, stamp } = await this.recoveredDir();
      for (const p of damaged) await rename(p, join(parent, `${stamp}-spool-${basename(p)}`));
      for (const line of damage) {
        const l = `${line}; the segment is kept in ${parent}`;
        problems.push(l);
        this.log.warn({ dir: this.dir }, `write-back journal: ${l}`);
      }
    }
    for (const line of torn) this.log.info({ dir: this.dir }, `write-back journal: ${line}`);
    let orphan = 0;
    for (const { rec, data } of entries) {
      const id = (rec as { id?: unknown }).id;
      const stem = typeof id === 'string' && SAFE_ID.test(id) ? id : `spool-orphan-${orphan++}`;
      await writeFile(this.dataPath(stem), data, { mode: 0o600 });
      names.push(`${stem}.data`);
      if (stem !== id) continue; // a data file with no usable record: set aside by load()
      await this.writeNow(rec as JournalRecord, false, true); // unvalidated as yet: load() checks it like any record
      names.push(`${stem}.json`);
    }
    this.spool.clear();
    if (entries.length > 0) this.log.info({ dir: this.dir, versions: entries.length }, 'write-back journal: took the spooled versions of a previous run');
    return names;
  }

  /** A spooled version becomes the two ordinary files (before setting it aside). */
  private async unspool(id: string): Promise<void> {
    const rec = this.spool.record(id);
    if (!rec) return;
    await writeFile(this.dataPath(id), this.spool.read(id), { mode: 0o600 });
    await this.writeNow(rec, false, true);
    this.spool.drop(id);
  }

  private async writeNow(rec: JournalRecord, durable: boolean, toFile = false): Promise<void> {
    if (!toFile && rec.type === 'upload' && this.spool.has(rec.id)) return this.spool.rewrite(rec);
    const tmp = join(this.dir, `${rec.id}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      const fh = await open(tmp, (await this.adoptSpare(tmp)) ? 'w' : 'wx', 0o600);
      try {
        await fh.writeFile(`${JSON.stringify(rec)}\n`);
        if (durable) await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.recordPath(rec.id));
    } catch (e) {
      await unlinkIfExists(tmp).catch(() => undefined);
      throw e;
    }
    if (durable) await syncDir(this.dir);
  }

  /** The valid record `<stem>.json`, or why it is not one. */
  private async readRecord(stem: string): Promise<JournalRecord | string> {
    if (!SAFE_ID.test(stem)) return 'the file name is not a journal id';
    let text: string;
    try {
      text = await readFile(this.recordPath(stem), 'utf8');
    } catch (e) {
      return `unreadable (${errCode(e) ?? (e as Error).message})`;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return `not valid JSON (${text.length} bytes: a torn or corrupted record)`;
    }
    const parsed = recordSchema.safeParse(value);
    if (!parsed.success) return `not a valid journal record: ${describeIssues(parsed.error)}`;
    if (parsed.data.id !== stem) return `the record's id ${JSON.stringify(parsed.data.id)} does not match its file name`;
    return parsed.data;
  }

  /** `<dir>/../recovered/<basename(dir)>/` (created) and a time stamp for names in it. */
  private async recoveredDir(): Promise<{ parent: string; stamp: string }> {
    const parent = join(dirname(this.dir), 'recovered', basename(this.dir));
    await mkdir(parent, { recursive: true, mode: 0o700 });
    return { parent, stamp: new Date().toISOString().replace(/:/g, '-') };
  }

  private async moveAside(stem: string, reason: string): Promise<string> {
    const { parent, stamp } = await this.recoveredDir();
    let dest = join(parent, `${stamp}-${stem}`);
    for (let n = 2; ; n++) {
      try {
        await mkdir(dest, { mode: 0o700 });
        break;
      } catch (e) {
        if (errCode(e) !== 'EEXIST' || n > 100) throw e;
        dest = join(parent, `${stamp}-${stem}-${n}`);
      }
    }
    const key = await this.describeKey(stem);
    const moved: string[] = [];
    for (const suffix of ['.json', '.data']) {
      if (await renameIfExists(join(this.dir, `${stem}${suffix}`), join(dest, `${stem}${suffix}`))) moved.push(`${stem}${suffix}`);
    }
    const readme = `objfs set this aside instead of uploading or deleting it.

reason:     ${reason}
key:        ${key}
journal:    ${this.dir}
record id:  ${stem}
set aside:  ${new Date().toISOString()}
files:      ${moved.length > 0 ? moved.join(', ') : '(none were left)'}

${stem}.json is the journal record (key, size, base version, which byte ranges are "dirty"
(changed) and "present" in the data file). ${stem}.data holds the staged bytes; when the
record lists "present" ranges, only those bytes are meaningful (the rest are holes).
Nothing reads this directory again: copy out what you want to keep, then delete it.
`;
    await writeFile(join(dest, 'README.txt'), readme, { mode: 0o600 });
    return dest;
  }

  /** The key named by `<stem>.json` as far as it can be read, for the README. */
  private async describeKey(stem: string): Promise<string> {
    try {
      const v = JSON.parse(await readFile(this.recordPath(stem), 'utf8')) as Record<string, unknown>;
      if (typeof v['key'] === 'string') return v['key'];
      if (typeof v['from'] === 'string' && typeof v['to'] === 'string') return `(directory rename) ${v['from']}/ -> ${v['to']}/`;
      return '(unknown: the record names none)';
    } catch (e) {
      return errCode(e) === 'ENOENT' ? '(unknown: there is no record)' : '(unknown: the record does not parse)';
    }
  }
}

/** rename; false when the source does not exist. */
async function renameIfExists(from: string, to: string): Promise<boolean> {
  try {
    await rename(from, to);
    return true;
  } catch (e) {
    if (errCode(e) === 'ENOENT') return false;
    throw e;
  }
}

/** fsync a directory so a rename in it is durable. File systems that cannot are let off. */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch (e) {
    const c = errCode(e);
    if (c !== 'EINVAL' && c !== 'ENOTSUP' && c !== 'EOPNOTSUPP' && c !== 'EISDIR') throw e;
  } finally {
    await fh.close();
  }
}
