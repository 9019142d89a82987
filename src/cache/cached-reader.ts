/**
 * readThrough: read bytes [start, end] of one object version through the block cache.
 *
 * Design
 * - The range is split at block boundaries (block i covers [i*B, min((i+1)*B, size) - 1]; the
 *   last block of the object may be short). From cached blocks only the bytes inside the range are
 *   read (BlockCache.read, in parallel); a block that is not cached (or too short) is missing.
 * - Missing blocks are fetched with ranged GETs pinned to the version (ifMatch: etag). Runs of
 *   adjacent missing blocks are coalesced into one GET of at most `maxRequestBytes` (default
 *   8 MiB, at least one block), and at most `maxParallel` GETs (default 8) run at once. Each body
 *   must have exactly the requested length (else StoreError 'Unknown', nothing cached).
 * - The blocks fetched by one GET are handed to the cache together (BlockCache.putRun, one run
 *   file) before the call returns; the write runs in the background (once it lands, a second
 *   read of the range is served from disk), and a put that fails only means the blocks are not
 *   cached.
 * - The first failing GET aborts the others and its error propagates unchanged: PreconditionFailed
 *   means the object changed since `etag` was taken (the caller decides what to tell the user);
 *   Aborted when the caller's signal fired.
 * - Without a cache, or with an empty etag (no way to validate cached blocks), it is a plain
 *   ranged GET of exactly [start, end] (no block rounding).
 * - A range at or past the end of the object returns an empty buffer; `end` is clamped to size-1.
 *
 * Ownership: no state outside the call; the cache does its own accounting. The caller keeps the
 * object pinned (BlockCache.pin) while the file is open if its blocks must not be evicted.
 */
import { StoreError } from '../errors/store-error.js';
import type { ObjectStore } from '../store/object-store.js';
import type { BlockCache } from './block-cache.js';

export const DEFAULT_MAX_REQUEST_BYTES = 8 * 1024 * 1024;
export const DEFAULT_MAX_PARALLEL = 8;

export interface ReadThroughArgs {
  cache: BlockCache | undefined;
  store: ObjectStore;
  key: string;
  /** The version to read (ifMatch). '' disables caching (no validation possible). */
  etag: string;
  /** Size of that version in bytes. */
  size: number;
  start: number;
  /** Inclusive; clamped to size - 1. */
  end: number;
  signal?: AbortSignal;
  /** Largest single GET when fetching missing blocks (default 8 MiB; at least one block). */
  maxRequestBytes?: number;
  /** Most GETs in flight at once for this call (default 8). */
  maxParallel?: number;
}

interface Fetch {
  first: number;
  last: number;
}

export async function readThrough(args: ReadThroughArgs): Promise<Buffer> {
  const { cache, store, key, etag, size, signal } = args;
  if (!Number.isSafeInteger(args.start) || !Number.isSafeInteger(args.end) || args.start < 0) {
    throw new StoreError('InvalidArgument', `${key}: invalid range ${args.start}-${args.end}`, { key });
  }
  const start = args.start;
  const end = Math.min(args.end, size - 1);
  if (start >= size || end < start) return Buffer.alloc(0);
  const ifMatch = etag === '' ? {} : { ifMatch: etag };

  if (cache === undefined || etag === '') {
    const { body } = await store.get(key, { range: { start, end }, ...ifMatch, signal });
    return checkLength(body, end - start + 1, key, start, end);
  }

  const B = cache.blockSize;
  const first = Math.floor(start / B);
  const last = Math.floor(end / B);
  const blockLen = (i: number): number => Math.min(B, size - i * B);
  /** The part of block i inside [start, end], relative to the block. */
  const within = (i: number): { from: number; to: number } => ({ from: Math.max(start, i * B) - i * B, to: Math.min(end, i * B + blockLen(i) - 1) - i * B });
  // pieces[n]: the bytes of block first+n that lie inside [start, end] (undefined: missing).
  const pieces: (Buffer | undefined)[] = await Promise.all(
    Array.from({ length: last - first + 1 }, (_, n) => {
      const { from, to } = within(first + n);
      return cache.read(key, etag, first + n, from, to - from + 1);
    }),
  );

  const fetches = planFetches(pieces, first, Math.max(1, Math.floor((args.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES) / B)));
  if (fetches.length > 0) {
    const ac = new AbortController();
    const onAbort = (): void => ac.abort(signal?.reason);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await runLimited(fetches, args.maxParallel ?? DEFAULT_MAX_PARALLEL, ac, async (f) => {
        const rs = f.first * B;
        const re = Math.min((f.last + 1) * B, size) - 1;
        const { body } = await store.get(key, { range: { start: rs, end: re }, ...ifMatch, signal: ac.signal });
        checkLength(body, re - rs + 1, key, rs, re);
        const blocks: Buffer[] = [];
        for (let i = f.first; i <= f.last; i++) {
          const off = (i - f.first) * B;
          const block = body.subarray(off, off + blockLen(i));
          const { from, to } = within(i);
          pieces[i - first] = block.subarray(from, to + 1);
          blocks.push(block);
        }
        // The blocks of one GET are stored as one run (one file). Written in the background: the
        // reader does not wait for the local disk (putRun never throws; cache.settle() waits for
        // writes in flight).
        void cache.putRun(key, etag, f.first, blocks);
      });
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  if (pieces.length === 1 && pieces[0] !== undefined) return pieces[0];
  const joined = adjacentView(pieces, end - start + 1);
  if (joined !== undefined) return joined;
  const out = Buffer.allocUnsafe(end - start + 1);
  let at = 0;
  for (const p of pieces) {
    if (p === undefined) throw new Error(`readThrough: a block of ${key} is missing after the fetch`); // cannot happen
    at += p.copy(out, at);
  }
  if (at !== out.length) throw new Error(`readThrough: assembled ${at} bytes of ${key}, expected ${out.length}`); // cannot happen
  return out;
}

/**
 * When the pieces lie back to back in one memory region (the blocks of one GET body: the common
 * case of a read-ahead part fetched whole), a view of that region instead of a copy: a copy of
 * every part was half of the fresh memory a cold read allocated, and fresh external memory is
 * what drives V8's major GCs. undefined: not one region (e.g. some blocks came from the disk).
 */
function adjacentView(pieces: readonly (Buffer | undefined)[], length: number): Buffer | undefined {
  const first = pieces[0];
  if (first === undefined) return undefined;
  let at = first.byteOffset;
  for (const p of pieces) {
    if (p === undefined || p.buffer !== first.buffer || p.byteOffset !== at) return undefined;
    at += p.length;
  }
  if (at - first.byteOffset !== length) return undefined;
  return Buffer.from(first.buffer, first.byteOffset, length);
}

/** Runs of consecutive missing blocks, split into GETs of at most `maxBlocks` blocks. */
function planFetches(blocks: readonly (Buffer | undefined)[], first: number, maxBlocks: number): Fetch[] {
  const out: Fetch[] = [];
  let run: Fetch | undefined;
  blocks.forEach((b, n) => {
    const i = first + n;
    if (b !== undefined) {
      run = undefined;
      return;
    }
    if (run !== undefined && run.last - run.first + 1 < maxBlocks) run.last = i;
    else out.push((run = { first: i, last: i }));
  });
  return out;
}

/** Run `work` over `items` with at most `limit` at once; the first failure aborts `ac` and is thrown. */
async function runLimited<T>(items: readonly T[], limit: number, ac: AbortController, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (e) {
        if (failure === undefined) {
          failure = { error: e };
          ac.abort(e);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure !== undefined) throw failure.error;
}

function checkLength(body: Buffer, want: number, key: string, start: number, end: number): Buffer {
  if (body.length !== want) {
    throw new StoreError('Unknown', `${key}: ranged GET ${start}-${end} returned ${body.length} bytes, expected ${want} (size changed under the same ETag?)`, {
      key,
    });
  }
  return body;
}
