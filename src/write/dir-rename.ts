/**
 * renamePrefix: rename a directory in an object store, i.e. move every key under `from/` to the
 * same relative key under `to/`, so that a crash at any point can be resumed without losing a key.
 *
 * Object stores have no rename: each key is copied server-side, then the sources are deleted.
 * The steps, and why each is safe to interrupt:
 *   1. A RenameRecord {from, to} is written to the journal durably (fsync) before the first
 *      copy. From then on the rename must be finished: at the next start the caller finds the
 *      record in Journal.load().renames and calls renamePrefix again with `resume`.
 *   2. Every key under `from/` is listed (no delimiter, so nested keys and the `from/` marker
 *      are included) and copied to `to/<rest>` with sourceIfMatch of the listed ETag, so the copy
 *      is the version that was listed. A source that changed or vanished since the listing
 *      (PreconditionFailed / NotFound) is listed again, once: its current version is copied, or,
 *      when it is gone, it is skipped (there is nothing left to move). A copy overwrites whatever
 *      is at the destination, which makes repeating it harmless.
 *   3. Only when every copy succeeded are the sources deleted (deleteMany, 1000 keys a call). A
 *      source is deleted only after its copy under `to/` exists, so a key is never lost: after a
 *      crash a key is under `from/` (copied again on resume), or under `to/`, or both.
 *   4. The record is removed.
 * Resuming repeats 2-4 on what is still under `from/`, so it is idempotent: running it any
 * number of times, interrupted anywhere, ends with everything under `to/` and nothing under
 * `from/`. Keys already moved by an earlier attempt are simply no longer listed.
 *
 * On an error (store failure, abort through `signal`) renamePrefix throws and leaves the record
 * in the journal: `to/` may already hold copies, so the caller must retry with `resume` (now or
 * at the next mount), never forget the rename. Errors of deleteMany become a StoreError naming
 * the first key that could not be deleted.
 *
 * Ownership / locking: none inside. The caller (the VFS) keeps other writers out of both
 * directories while a rename runs; a source key rewritten between its copy and the deletes would
 * lose that rewrite. The journal serialises its own record writes.
 *
 * Progress: onProgress(done, total) after every batch of `concurrency` finished copies and once
 * at the end of the copies; renames of 1,000 keys or more are also logged at info every 10%.
 */
import { StoreError, isStoreError } from '../errors/store-error.js';
import type { ObjectInfo, ObjectStore } from '../store/object-store.js';
import type { Logger } from '../util/logger.js';
import type { Journal } from './journal.js';
import type { RenameRecord } from './types.js';

export interface RenamePrefixOptions {
  store: ObjectStore;
  journal: Journal;
  /** Directory paths without leading or trailing slash; never '' (the root cannot be renamed). */
  from: string;
  to: string;
  log: Logger;
  /** Copies in flight at once (default 16). */
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?(done: number, total: number): void;
  /** The record of an interrupted rename (from Journal.load().renames): finish it. */
  resume?: RenameRecord;
}

/** Keys sent to one deleteMany call (the S3 limit). */
export const DELETE_BATCH = 1000;
/** Renames at least this large are logged at info every 10%. */
const LOG_PROGRESS_FROM = 1000;

export async function renamePrefix(opts: RenamePrefixOptions): Promise<{ moved: number }> {
  const { store, journal, from, to, log, signal } = opts;
  checkArgs(opts);
  const concurrency = opts.concurrency ?? 16;
  const rec: RenameRecord = opts.resume ?? { type: 'rename-dir', id: journal.newId(), from, to, seq: 0 };
  if (!opts.resume) await journal.write(rec, { durable: true });

  const sources = await listAll(store, `${from}/`, signal);
  const total = sources.length;
  const big = total >= LOG_PROGRESS_FROM;
  const ctx = { from, to, id: rec.id, keys: total };
  if (big || opts.resume) log.info(ctx, opts.resume ? 'rename: resuming an interrupted directory rename' : 'rename: moving a directory');
  else log.debug(ctx, 'rename: moving a directory');

  const destOf = (key: string): string => `${to}/${key.slice(from.length + 1)}`;
  const copied: string[] = [];
  let done = 0;
  let nextDecile = 1;
  let firstError: unknown;
  let next = 0;
  const progress = (): void => {
    done++;
    if (done % concurrency === 0 || done === total) opts.onProgress?.(done, total);
    if (big && done * 10 >= nextDecile * total) {
      log.info({ ...ctx, done }, `rename: ${nextDecile * 10}% copied`);
      nextDecile = Math.floor((done * 10) / total) + 1;
    }
  };
  const worker = async (): Promise<void> => {
    while (firstError === undefined && next < total) {
      const src = sources[next++]!;
      try {
        if (signal?.aborted) throw new StoreError('Aborted', `rename ${from}/ -> ${to}/ aborted`, { key: src.key, cause: signal.reason });
        if (await copyOne(store, src, destOf(src.key), signal, log)) copied.push(src.key);
        progress();
      } catch (e) {
        firstError ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  if (firstError !== undefined) {
    log.warn({ ...ctx, done, err: errText(firstError) }, 'rename: a copy failed; the rename stays in the journal to be resumed');
    throw firstError;
  }
  if (total === 0) opts.onProgress?.(0, 0);

  copied.sort();
  for (let i = 0; i < copied.length; i += DELETE_BATCH) {
    const batch = copied.slice(i, i + DELETE_BATCH);
    const r = await store.deleteMany(batch, signal);
    const bad = r.errors[0];
    if (bad !== undefined) {
      const code = isStoreError(bad.error) ? bad.error.code : 'Unknown';
      throw new StoreError(
        code,
        `rename ${from}/ -> ${to}/: ${r.errors.length} source key(s) could not be deleted, the first ${JSON.stringify(bad.key)}: ${bad.error.message}`,
        { key: bad.key, cause: bad.error },
      );
    }
  }
  await journal.remove(rec.id);
  if (big || opts.resume) log.info({ ...ctx, moved: copied.length }, 'rename: done');
  return { moved: copied.length };
}

function checkArgs(opts: RenamePrefixOptions): void {
  const { from, to, resume } = opts;
  const bad = (why: string): StoreError => new StoreError('InvalidArgument', `rename ${JSON.stringify(from)} -> ${JSON.stringify(to)}: ${why}`);
  for (const p of [from, to]) {
    if (p === '') throw bad('the root directory cannot be renamed or replaced');
    if (p.startsWith('/') || p.endsWith('/')) throw bad('directory paths are written without leading or trailing slash');
  }
  if (from === to) throw bad('source and destination are the same');
  if (to.startsWith(`${from}/`) || from.startsWith(`${to}/`)) throw bad('one directory is inside the other');
  if (resume && (resume.from !== from || resume.to !== to)) {
    throw bad(`the record to resume is for ${JSON.stringify(resume.from)} -> ${JSON.stringify(resume.to)}`);
  }
  const c = opts.concurrency;
  if (c !== undefined && (!Number.isInteger(c) || c < 1)) throw bad(`concurrency must be a positive integer, not ${c}`);
}

/** Every object under `prefix` (paged, no delimiter). */
async function listAll(store: ObjectStore, prefix: string, signal: AbortSignal | undefined): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  let token: string | undefined;
  do {
    const page = await store.list({ prefix, ...(token === undefined ? {} : { continuationToken: token }), ...(signal ? { signal } : {}) });
    out.push(...page.objects);
    token = page.nextToken;
  } while (token !== undefined);
  return out;
}

/**
 * Copy `src` (the listed version) to `dest`. When it changed or vanished meanwhile, look at it
 * once more: copy the current version, or return false when it is gone.
 */
async function copyOne(store: ObjectStore, src: ObjectInfo, dest: string, signal: AbortSignal | undefined, log: Logger): Promise<boolean> {
  const sig = signal ? { signal } : {};
  try {
    await store.copy(src.key, dest, { sourceIfMatch: src.etag, ...sig });
    return true;
  } catch (e) {
    if (!isStoreError(e, 'PreconditionFailed') && !isStoreError(e, 'NotFound')) throw e;
  }
  const page = await store.list({ prefix: src.key, maxKeys: 1, ...sig });
  const now = page.objects[0];
  if (now === undefined || now.key !== src.key) {
    log.debug({ key: src.key }, 'rename: a source key vanished during the rename; skipped');
    return false;
  }
  log.debug({ key: src.key, listed: src.etag, now: now.etag }, 'rename: a source key changed during the rename; copying its current version');
  await store.copy(src.key, dest, { sourceIfMatch: now.etag, ...sig });
  return true;
}

const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e));
