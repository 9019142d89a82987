/**
 * Public types of the read prefetcher (options, stats, the fetch callback) and one small helper.
 * No state.
 */
import type { Logger } from '../util/logger.js';
import type { MemoryBudget } from './memory-budget.js';

/** Fetch bytes [start, endInclusive] of the pinned object version. */
export type FetchRange = (start: number, endInclusive: number, signal: AbortSignal) => Promise<Buffer>;

export interface PrefetcherOptions {
  /** Object size in bytes (reads are clamped to it). */
  size: number;
  fetch: FetchRange;
  budget: MemoryBudget;
  /** First read-ahead window (default 1 MiB). */
  initialWindow?: number;
  /** Largest read-ahead window (default 64 MiB); also capped at budget.max / 2. */
  maxWindow?: number;
  /** Largest byte count of one fetch call (default 8 MiB). */
  partSize?: number;
  /** A forward jump up to this far keeps the sequential stream (default 16 MiB). */
  maxForwardSeek?: number;
  /** A read starting up to this far before the stream's furthest read still belongs to it (default 4 MiB). */
  reorderTolerance?: number;
  /**
   * Read-ahead part boundaries are rounded to multiples of this (default 1: none). Set it to the
   * block size of the cache `fetch` reads through, so two parts never both fetch one block.
   */
  alignment?: number;
  /**
   * True when all bytes [start, end) are already local (in the disk cache `fetch` reads
   * through). Read-ahead skips such ranges: fetching them early only copies disk to memory, and
   * the kernel may already hold most of them (a re-read of a file whose page cache was partly
   * reclaimed asks only for the holes). Default: nothing is local.
   */
  isLocal?: (start: number, end: number) => boolean;
  /** Under memory pressure, read-ahead of a handle idle this long is given back (default 1000 ms). */
  idleReclaimMs?: number;
  /** Clock in ms (tests); default performance.now. */
  now?: () => number;
  log?: Logger;
}

export type AccessMode = 'sequential' | 'random';

export interface PrefetchStats {
  /** Bytes received from successful fetch calls. */
  bytesFetched: number;
  /** Bytes returned by read(). */
  bytesServed: number;
  fetchCalls: number;
  readAheadCalls: number;
  demandCalls: number;
  failedFetches: number;
  /** Demand bytes fetched outside the budget because it was full (cumulative). */
  borrowedBytes: number;
  /** Bytes this handle holds now (reserved + borrowed). */
  heldBytes: number;
  /** Current read-ahead window. */
  window: number;
  mode: AccessMode;
  /** Times the stream was reset (backward seek, big jump). */
  resets: number;
  /** Read-ahead bytes not fetched because they were already local (isLocal). */
  localSkippedBytes: number;
}

/**
 * Wait for `p`, but reject with `onAbort()` as soon as one of `signals` fires (p keeps running;
 * its outcome is then ignored). Listeners are removed either way.
 */
export function waitUnlessAborted<T>(p: Promise<T>, signals: AbortSignal[], onAbort: () => unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => {
      cleanup();
      reject(onAbort());
    };
    const cleanup = (): void => {
      for (const s of signals) s.removeEventListener('abort', abort);
    };
    if (signals.some((s) => s.aborted)) {
      p.catch(() => {}); // its outcome is ignored
      reject(onAbort());
      return;
    }
    for (const s of signals) s.addEventListener('abort', abort, { once: true });
    p.then(
      (v) => {
        cleanup();
        resolve(v);
      },
      (err: unknown) => {
        cleanup();
        reject(err);
      },
    );
  });
}
