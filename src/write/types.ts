/**
 * Types shared by the write path (src/write/): the journal's records, upload plans and the
 * policies chosen by mount options. No logic here.
 *
 * The write path in one paragraph: a file that is changed is staged into a sparse local file
 * under the cache directory (`<cache>/write/<store-hash>/<id>.data`), fetching from the object
 * only the ranges it needs. A RangeSet records which bytes are present locally and which are
 * dirty (differ from the base object). A journal record (`<id>.json`, replaced atomically)
 * describes each staged file that must still reach the bucket. The upload plan turns
 * (size, dirty ranges, base object) into a single PUT or a multipart upload whose unchanged
 * parts are UploadPartCopy of the base. Sync policies decide when an upload runs; conflict
 * policies decide what happens when the object changed under us.
 */

/** Half-open byte interval [start, end). */
export type Span = readonly [start: number, end: number];

/** The object version a staged copy started from. Absent for a new file (upload with If-None-Match: *). */
export interface BaseVersion {
  etag: string;
  size: number;
}

/**
 * One staged file that still has to reach the bucket (or is being written).
 * state:
 *   'open'    being written; its bytes are not a complete version (after a crash it is NOT
 *             uploaded: it is moved to <cache>/write/recovered/<store>/ and logged).
 *   'closed'  a complete version (close() returned or fsync was called); must be uploaded.
 */
export interface PendingRecord {
  type: 'upload';
  /** Unique id; the staged bytes are in `<id>.data` next to the record. */
  id: string;
  /** Destination key in the store. */
  key: string;
  state: 'open' | 'closed';
  base?: BaseVersion;
  /** Size of the staged version. */
  size: number;
  /** User metadata the object gets (s3fs-compatible mode/uid/gid/mtime + xattrs). */
  metadata: Record<string, string>;
  /** Bytes that differ from base (everything, for a new file). Sorted, disjoint. */
  dirty: Span[];
  /** Bytes present in the data file (fetched or written). Sorted, disjoint; a superset of dirty. */
  present: Span[];
  /** A multipart upload started for this record (aborted at recovery if it was never completed). */
  uploadId?: string;
  /** Increases with every rewrite of the record. */
  seq: number;
  /** ms since epoch of the last change of the staged bytes. */
  changedAt: number;
}

/** A directory rename in progress (every key under `from` copied to `to`, then deleted). */
export interface RenameRecord {
  type: 'rename-dir';
  id: string;
  from: string;
  to: string;
  seq: number;
}

export type JournalRecord = PendingRecord | RenameRecord;

export type SyncPolicy = { kind: 'close' } | { kind: 'fsync' } | { kind: 'idle'; seconds: number } | { kind: 'exit' };
export type ConflictPolicy = 'keep-both' | 'overwrite' | 'fail';

export function parseSyncPolicy(s: string): SyncPolicy {
  if (s === 'close' || s === 'fsync' || s === 'exit') return { kind: s };
  const m = /^idle=(\d+(?:\.\d+)?)$/.exec(s);
  if (m) return { kind: 'idle', seconds: Number(m[1]) };
  throw new Error(`--sync: ${JSON.stringify(s)} is not close, fsync, exit or idle=<seconds>`);
}

/** One part of an upload plan. Part numbers start at 1 and are consecutive. */
export type PlannedPart =
  /** Bytes [start, end) of the new version come from the staged data file. */
  | { partNumber: number; start: number; end: number; from: 'local' }
  /** Bytes [start, end) of the new version are bytes [start, end) of the base object. */
  | { partNumber: number; start: number; end: number; from: 'base' };

export type UploadPlan =
  /** Small enough (or no base to reuse): one PUT of the whole staged file. */
  | { kind: 'put'; size: number }
  /** Same bytes as the base, only metadata differs: server-side copy onto itself. */
  | { kind: 'copy-self'; size: number }
  | { kind: 'multipart'; size: number; parts: PlannedPart[] };
