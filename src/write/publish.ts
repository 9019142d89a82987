/**
 * publish(): send one staged version to the bucket, conditional on what it started from, and
 * apply the conflict policy when someone else changed the object meanwhile.
 *
 * Conditions: a version with a base is uploaded with If-Match <base ETag> (and its unchanged
 * ranges are UploadPartCopy'd from that same pinned version); a new file with If-None-Match: *,
 * so two writers never silently clobber each other. A 412 is a conflict:
 *   keep-both  our version goes up as `<key>.conflict-<UTC time>` (If-None-Match: *), logged;
 *              the original key keeps the other writer's version.
 *   overwrite  our version replaces whatever is there (unconditional).
 *   fail       ConflictError: the caller returns EIO and keeps the local copy.
 * keep-both and overwrite need every byte of our version locally: bytes still only in the old
 * base are fetched first (pinned to the base ETag). When the base itself was replaced that fetch
 * fails, and so does the publish (ConflictError naming the reason); the caller keeps the copy.
 *
 * Lost acknowledgements: every version carries its staged id in the `objfs-version` metadata
 * key. When a 412 comes back, a HEAD tells whether the object there is already this very version
 * (our own upload landed but its answer was lost: a crash before the journal record was removed,
 * a retried request); then it is success, not a conflict.
 *
 * The caller holds the staged file's mutex. No state of its own.
 */
import { isStoreError, StoreError } from '../errors/store-error.js';
import type { ObjectStore, WriteConditions } from '../store/object-store.js';
import type { Logger } from '../util/logger.js';
import type { StagedFile } from './staged-file.js';
import type { ConflictPolicy } from './types.js';
import { runUpload } from './uploader.js';

export interface PublishOptions {
  store: ObjectStore;
  log: Logger;
  conflict: ConflictPolicy;
  concurrency: number;
  signal?: AbortSignal;
  /** The multipart upload in progress changed (journal it so a crash can abort it). */
  onUploadId?(uploadId: string | undefined): void | Promise<void>;
}

export interface Published {
  /** Where our version is now: the key itself, or the conflict copy's key (keep-both). */
  key: string;
  etag: string;
  /** Set when a conflict was resolved by keep-both. */
  conflictKey?: string;
}

/** The object changed under us and the policy (or the circumstances) did not allow resolving it. */
export class ConflictError extends Error {
  constructor(message: string, readonly key: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConflictError';
  }
}

export function conflictKeyFor(key: string, now = new Date()): string {
  const t = now.toISOString().replace(/[-:]/g, '').replace(/\.(\d{3})Z$/, '$1Z');
  return `${key}.conflict-${t}`;
}

async function upload(sf: StagedFile, key: string, metadata: Record<string, string>, conditions: WriteConditions, useBase: boolean, o: PublishOptions): Promise<string> {
  const base = useBase ? sf.base : undefined;
  const { etag } = await runUpload({
    store: o.store,
    key,
    baseKey: sf.baseKey,
    ...(base ? { base } : {}),
    dataPath: sf.path,
    data: sf.bytes(),
    size: sf.size,
    dirty: base ? sf.dirty.spans() : [[0, sf.size]],
    present: sf.present.spans(),
    metadata,
    conditions,
    fill: async (spans, signal) => {
      for (const [s, e] of spans) await sf.fill(o.store, s, e, signal);
    },
    concurrency: o.concurrency,
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.onUploadId ? { onUploadId: o.onUploadId } : {}),
  });
  return etag;
}

/** User metadata key naming the staged version an object was uploaded from. */
export const VERSION_TAG = 'objfs-version';

export async function publish(sf: StagedFile, key: string, userMetadata: Record<string, string>, o: PublishOptions): Promise<Published> {
  const metadata = { ...userMetadata, [VERSION_TAG]: sf.id };
  const conditions: WriteConditions = sf.base ? { ifMatch: sf.base.etag } : { ifNoneMatch: '*' };
  try {
    return { key, etag: await upload(sf, key, metadata, conditions, true, o) };
  } catch (e) {
    if (!isStoreError(e, 'PreconditionFailed')) throw e;
    const there = await o.store.head(key, o.signal).catch(() => undefined);
    if (there && there.metadata?.[VERSION_TAG] === sf.id && there.size === sf.size) {
      o.log.info({ key, version: sf.id }, 'this version was already uploaded (its acknowledgement was lost)');
      return { key, etag: there.etag };
    }
    return resolveConflict(sf, key, metadata, o, e);
  }
}

async function resolveConflict(sf: StagedFile, key: string, metadata: Record<string, string>, o: PublishOptions, cause: StoreError): Promise<Published> {
  const what = sf.base ? `${key} changed in the bucket since this copy was read (ETag ${sf.base.etag})` : `${key} was created in the bucket by someone else meanwhile`;
  if (o.conflict === 'fail') throw new ConflictError(`conflict: ${what}`, key, { cause });
  try {
    await sf.fillAll(o.store, o.signal);
  } catch (e) {
    if (isStoreError(e, 'PreconditionFailed') || isStoreError(e, 'NotFound'))
      throw new ConflictError(`conflict: ${what}, and the unchanged parts of our version were only in the old object`, key, { cause: e });
    throw e;
  }
  if (o.conflict === 'overwrite') {
    o.log.warn({ key, reason: what }, 'conflict: overwriting the other version (--conflict overwrite)');
    return { key, etag: await upload(sf, key, metadata, {}, false, o) };
  }
  for (let attempt = 0; ; attempt++) {
    const conflictKey = conflictKeyFor(key, new Date(Date.now() + attempt));
    try {
      const etag = await upload(sf, conflictKey, metadata, { ifNoneMatch: '*' }, false, o);
      o.log.warn({ key, conflictKey, reason: what }, 'conflict: kept both versions; ours is the conflict copy (--conflict keep-both)');
      return { key: conflictKey, etag, conflictKey };
    } catch (e) {
      if (!isStoreError(e, 'PreconditionFailed') || attempt >= 3) throw e;
    }
  }
}
