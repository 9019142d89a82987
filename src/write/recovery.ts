/**
 * Crash recovery: before a mount serves anything, finish what the journal says a previous run of
 * objfs left undone for this store.
 *
 * - Directory renames in progress are resumed (src/write/dir-rename.ts; idempotent). Pending
 *   versions journaled under the old name are uploaded under the new one.
 * - 'closed' upload records are versions a close() or fsync() acknowledged: each is uploaded
 *   with the same conditions and conflict policy as at run time. When a key has several records
 *   (a crash between journaling a newer version and removing the older one), only the newest is
 *   uploaded: with copy-on-write versions (staged-file.ts) it contains the older one's changes.
 * - 'open' records were being written when objfs stopped: no program finished them, so they are
 *   not uploaded; they are set aside under <cache>/write/recovered/<store>/ with a README, and logged.
 * - A multipart upload a record names is aborted first (its parts would otherwise cost storage).
 *
 * Anything that fails stays in the journal (the next mount tries again) and is reported; the
 * caller decides whether to mount anyway (cli/mount.ts refuses, so nothing is served from a
 * bucket that lacks acknowledged data).
 *
 * Runs before the mount exists: no concurrency with the VFS; uploads run `parallel` at a time.
 */
import type { ObjectStore } from '../store/object-store.js';
import type { Logger } from '../util/logger.js';
import { renamePrefix } from './dir-rename.js';
import type { Journal } from './journal.js';
import { ConflictError, publish } from './publish.js';
import { StagedFile } from './staged-file.js';
import { mapLimit } from '../util/limiter.js';
import type { ConflictPolicy, PendingRecord } from './types.js';

export interface RecoveryOptions {
  journal: Journal;
  store: ObjectStore;
  log: Logger;
  conflict: ConflictPolicy;
  concurrency: number;
  /** Files uploaded at once. */
  parallel?: number;
  progress?(done: number, total: number, key: string): void;
}

export interface RecoveryResult {
  uploaded: string[];
  renamed: number;
  /** Directories under <cache>/write/recovered/<store>/ holding data that was not uploaded, with why. */
  setAside: { key: string; dir: string; reason: string }[];
  failed: { key: string; error: string }[];
  problems: string[];
}

export async function recover(o: RecoveryOptions): Promise<RecoveryResult> {
  const { journal, store, log } = o;
  const loaded = await journal.load();
  const res: RecoveryResult = { uploaded: [], renamed: 0, setAside: [], failed: [], problems: loaded.problems };
  for (const p of loaded.problems) log.warn({ problem: p }, 'journal: set aside an unreadable entry');

  for (const r of loaded.renames) {
    log.info({ from: r.from, to: r.to }, 'resuming a directory rename interrupted by a crash');
    try {
      await renamePrefix({ store, journal, from: r.from, to: r.to, log, resume: r });
      res.renamed++;
    } catch (e) {
      res.failed.push({ key: r.from + '/', error: `rename to ${r.to}/: ${(e as Error).message}` });
    }
  }

  // Versions journaled under a directory that a resumed rename moved belong at the new name.
  for (const r of loaded.renames) {
    for (const rec of loaded.uploads) if (rec.key.startsWith(r.from + '/')) rec.key = r.to + rec.key.slice(r.from.length);
  }

  const aside = async (rec: PendingRecord, reason: string) => {
    const dir = await journal.setAside(rec.id, reason);
    log.warn({ key: rec.key, keptIn: dir, reason }, 'journal: version not uploaded, kept aside');
    res.setAside.push({ key: rec.key, dir, reason });
  };

  // Newest record per key wins; older ones are superseded versions.
  const newest = new Map<string, PendingRecord>();
  const superseded: PendingRecord[] = [];
  for (const rec of loaded.uploads) {
    if (rec.uploadId) await store.abortMultipart(rec.key, rec.uploadId).catch(() => undefined);
    if (rec.state === 'open') {
      await aside(rec, 'objfs stopped while this file was being written (it was never closed), so it was not uploaded');
      continue;
    }
    const prev = newest.get(rec.key);
    if (prev && (prev.changedAt > rec.changedAt || (prev.changedAt === rec.changedAt && prev.seq > rec.seq))) superseded.push(rec);
    else {
      if (prev) superseded.push(prev);
      newest.set(rec.key, rec);
    }
  }
  for (const rec of superseded) await journal.remove(rec.id);

  const todo = [...newest.values()];
  let done = 0;
  await mapLimit(todo, o.parallel ?? 8, async (rec) => {
    let sf: StagedFile | undefined;
    try {
      sf = await StagedFile.fromRecord(journal, rec);
      await publish(sf, rec.key, rec.metadata, { store, log, conflict: o.conflict, concurrency: o.concurrency });
      await sf.close();
      await journal.remove(rec.id);
      res.uploaded.push(rec.key);
    } catch (e) {
      await sf?.close();
      if (e instanceof ConflictError) await aside(rec, e.message);
      else {
        log.error({ key: rec.key, err: e }, 'journal: could not upload a pending version; it stays in the journal');
        res.failed.push({ key: rec.key, error: (e as Error).message });
      }
    }
    o.progress?.(++done, todo.length, rec.key);
  });
  if (res.uploaded.length > 0) log.info({ count: res.uploaded.length }, 'journal: uploaded versions left by a previous run');
  return res;
}
