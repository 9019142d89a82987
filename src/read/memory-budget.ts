/**
 * MemoryBudget: one global byte budget shared by every open file's prefetcher (and anything else
 * that buffers file data in memory), so the total held by read-ahead stays bounded however many
 * files are open. This is objfs's answer to "memory blow-up from prefetch" (mountpoint-s3,
 * geesefs): a prefetcher reserves bytes here before it issues a fetch, and releases them when the
 * data is consumed, dropped or fails.
 *
 * Design:
 * - `used` never exceeds `max`: `tryReserve` succeeds only if the bytes fit; `reserve` waits.
 * - Waiters are served strictly FIFO: a large request at the head is not starved by small ones
 *   behind it, and `tryReserve` does not jump the queue (it fails while anyone waits), so
 *   opportunistic users (read-ahead) yield to callers that must have memory.
 * - `reserve(n, signal)` is abortable: the waiter leaves the queue and the promise rejects with
 *   StoreError('Aborted'); asking for more than `max` rejects at once with a RangeError (it could
 *   never be granted).
 * - `borrow`/`repay` account for memory a caller must hold even though the budget is full (a
 *   read the kernel is waiting for): it is counted in `borrowed`, never in `used`, so the budget
 *   itself never over-commits and no reader deadlocks behind other files' read-ahead. Borrowing is
 *   bounded by the callers (a prefetcher borrows at most the bytes of reads in flight).
 * - Reclaim: holders of memory they could give back (a prefetcher's read-ahead on a handle
 *   nobody has read for a while) register a Reclaimer. When an opportunistic reservation fails,
 *   the caller may ask `reclaim(n)`, which calls the other reclaimers until n bytes are available;
 *   each decides for itself what it can drop and releases it through `release`. This keeps idle
 *   open files (a file manager that read a header and kept the file open) from pinning the budget
 *   that active readers need.
 * - `peak` is the highest `used` seen, for metrics and tests.
 *
 * Ownership and locking: everything runs on the JS thread and every method is synchronous except
 * the wait inside `reserve`, so there is no lock; state changes between awaits are atomic. Each
 * caller owns the bytes it reserved and must release exactly those (releasing more than is used
 * throws: it is an accounting bug, not a condition to tolerate).
 */
import { StoreError } from '../errors/store-error.js';

/** Gives back memory its owner can spare (through MemoryBudget.release); returns the bytes freed. */
export type Reclaimer = (wanted: number) => number;

interface Waiter {
  n: number;
  resolve: () => void;
  reject: (err: unknown) => void;
  /** Removes the abort listener. */
  cleanup: () => void;
}

function checkCount(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`MemoryBudget.${what}: byte count must be a non-negative integer, got ${n}`);
}

export class MemoryBudget {
  readonly max: number;
  private usedBytes = 0;
  private borrowedBytes = 0;
  private peakBytes = 0;
  /** FIFO queue of reserve() callers waiting for bytes. */
  private readonly waiters: Waiter[] = [];
  private readonly reclaimers = new Set<Reclaimer>();

  constructor(maxBytes: number) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) throw new RangeError(`MemoryBudget: maxBytes must be a positive integer, got ${maxBytes}`);
    this.max = maxBytes;
  }

  /** Bytes currently reserved (≤ max). */
  get used(): number {
    return this.usedBytes;
  }

  get available(): number {
    return this.max - this.usedBytes;
  }

  /** Bytes held outside the budget through borrow() (demand reads when the budget was full). */
  get borrowed(): number {
    return this.borrowedBytes;
  }

  /** Highest `used` ever seen. */
  get peak(): number {
    return this.peakBytes;
  }

  /** Number of reserve() calls waiting. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Reserve n bytes if they are free now and nobody is waiting; never waits. */
  tryReserve(n: number): boolean {
    checkCount(n, 'tryReserve');
    if (n === 0) return true;
    if (this.waiters.length > 0 || this.usedBytes + n > this.max) return false;
    this.take(n);
    return true;
  }

  /** Reserve n bytes, waiting (FIFO) until they are free. Rejects with StoreError('Aborted') if the signal fires first. */
  reserve(n: number, signal?: AbortSignal): Promise<void> {
    checkCount(n, 'reserve');
    if (n > this.max) return Promise.reject(new RangeError(`MemoryBudget.reserve: ${n} bytes can never fit in a budget of ${this.max}`));
    if (signal?.aborted) return Promise.reject(abortedError(signal));
    if (n === 0) return Promise.resolve();
    if (this.waiters.length === 0 && this.usedBytes + n <= this.max) {
      this.take(n);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.waiters.indexOf(waiter);
        if (i < 0) return; // already granted
        this.waiters.splice(i, 1);
        reject(abortedError(signal));
        this.drain(); // the head may have been blocking smaller requests behind it
      };
      const waiter: Waiter = {
        n,
        resolve,
        reject,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Give back n reserved bytes and wake waiters that now fit, in order. */
  release(n: number): void {
    checkCount(n, 'release');
    if (n > this.usedBytes) throw new RangeError(`MemoryBudget.release: releasing ${n} bytes but only ${this.usedBytes} are reserved`);
    this.usedBytes -= n;
    this.drain();
  }

  /** Record n bytes held outside the budget (always succeeds; see the module comment). */
  borrow(n: number): void {
    checkCount(n, 'borrow');
    this.borrowedBytes += n;
  }

  repay(n: number): void {
    checkCount(n, 'repay');
    if (n > this.borrowedBytes) throw new RangeError(`MemoryBudget.repay: repaying ${n} bytes but only ${this.borrowedBytes} are borrowed`);
    this.borrowedBytes -= n;
  }

  /** Register a Reclaimer; returns the function that unregisters it. */
  addReclaimer(r: Reclaimer): () => void {
    this.reclaimers.add(r);
    return () => {
      this.reclaimers.delete(r);
    };
  }

  /**
   * Ask the reclaimers (except the caller's own) to free memory until `n` bytes are available.
   * Reserves nothing: the caller tries again. Returns the bytes freed.
   */
  reclaim(n: number, except?: Reclaimer): number {
    checkCount(n, 'reclaim');
    let freed = 0;
    for (const r of [...this.reclaimers]) {
      if (this.available >= n && this.waiters.length === 0) break;
      if (r !== except) freed += r(n - this.available);
    }
    return freed;
  }

  private take(n: number): void {
    this.usedBytes += n;
    if (this.usedBytes > this.peakBytes) this.peakBytes = this.usedBytes;
  }

  private drain(): void {
    for (;;) {
      const head = this.waiters[0];
      if (!head || this.usedBytes + head.n > this.max) return;
      this.waiters.shift();
      head.cleanup();
      this.take(head.n);
      head.resolve();
    }
  }
}

function abortedError(signal: AbortSignal | undefined): StoreError {
  return new StoreError('Aborted', 'memory reservation aborted', { cause: signal?.reason });
}
