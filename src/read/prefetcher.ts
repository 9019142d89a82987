/**
 * Prefetcher: turns the kernel's READ requests on one open file handle (≤ 1 MiB each, several in
 * flight, not always in order) into a few large ranged fetches issued ahead of the reader, within
 * a global MemoryBudget. One Prefetcher per open handle; the caller pins the object version in
 * `fetch` (If-Match on the ETag seen at open), so every byte of one stream comes from one version.
 *
 * The design follows mountpoint-s3's prefetch.rs, adapted to a fetch that returns whole Buffers:
 *
 * Parts. Everything fetched or being fetched is a Part [start, end) in `parts`, sorted and
 * non-overlapping. A part is either read-ahead ('ahead') or the missing bytes of a read the kernel
 * is waiting for ('demand'). A read collects the parts covering its range, creating demand parts
 * for the gaps, waits for them and copies (or, for a read inside one part, slices) the bytes.
 *
 * Access pattern, per handle:
 * - 'random' (the initial mode): reads fetch exactly the bytes asked (no read-ahead, no rounding
 *   up), so 4 KiB random reads or a zip's central directory transfer about what is asked. A read
 *   that starts where one of the last few reads ended (`recentEnds`, which tolerates async reads
 *   arriving out of order) switches to 'sequential' with the window at `initialWindow`. A file
 *   read from offset 0 therefore starts read-ahead on its second read, not its first, so tools
 *   that only sniff a header do not pull a megabyte.
 * - 'sequential': `pos` is the furthest end of the stream's reads. A read starting in
 *   [pos - reorderTolerance, pos + maxForwardSeek] stays in the stream: slightly-behind reads are
 *   async kernel reads that raced, and a forward jump skips bytes (parts left more than
 *   reorderTolerance behind pos are dropped; bytes not yet requested are never fetched). Any other
 *   read (a backward seek, a big jump) resets: the parts it does not overlap are dropped (their
 *   fetches aborted, their budget released), the window goes back to `initialWindow` and the mode
 *   to 'random'.
 * - Read-ahead keeps [pos, pos + window) requested. It is issued only when less than half a
 *   window is left ahead, so each issue is at least half a window, split into parts of
 *   ≤ partSize fetched in parallel (boundaries rounded to `alignment`, e.g. the block size of the
 *   cache `fetch` reads through). Each time the reader consumes a whole window the window
 *   doubles, up to min(maxWindow, budget.max / 2). A part whose bytes are all local already
 *   (`isLocal`: in the disk cache) is skipped, not fetched: read-ahead hides network latency,
 *   and copying cached blocks into memory ahead of time only costs CPU, most of all when the
 *   kernel re-reads just the holes of its page cache.
 *
 * Memory (back-pressure): every byte held (in flight or buffered, not yet consumed) is reserved
 * from the budget first. Read-ahead only uses `tryReserve` (it never waits, and fails while
 * another caller waits in `reserve`, so read-ahead yields); when a part does not fit, read-ahead
 * stops and the window halves (not below initialWindow). A demand part tries the budget and
 * otherwise *borrows* (counted in budget.borrowed, never in used): a read the kernel waits for is
 * always served and cannot deadlock behind other handles' read-ahead, and borrowing is bounded by
 * the bytes of reads in flight. A part's bytes are released as soon as the reads have consumed
 * all of it, or it is dropped, fails, or the handle closes. Before giving up on a reservation a
 * prefetcher asks the budget to reclaim: other handles with no read in flight for
 * `idleReclaimMs` drop their buffered read-ahead (and restart at initialWindow when read again),
 * so files left open after a short read do not keep the budget from active readers.
 *
 * Errors: a failed fetch fails the reads waiting for its bytes with the fetch's own error (e.g.
 * StoreError PreconditionFailed when the object changed), and the part is dropped so later reads
 * fetch again. A read-ahead part that fails while nobody waits keeps its error (holding no
 * memory) until the first read that needs its bytes, which fails with it; the read after that
 * retries. A read's own AbortSignal (FUSE interrupt) rejects only that read with
 * StoreError('Aborted'); a demand fetch nobody else waits for is then aborted.
 *
 * Ownership and locking: a Prefetcher is owned by one file handle. Everything runs on the JS
 * thread, and state changes happen synchronously between awaits, so there is no lock; after each
 * await a read re-checks what may have changed (closed, part dropped or failed). Concurrent reads
 * on the same handle are allowed. A part is pinned by each read waiting on it or copying from it;
 * a dropped part is freed (budget released, fetch aborted if still running) only when unpinned,
 * except by close(), which aborts and frees everything at once and fails the waiting reads.
 *
 * Returned Buffers: a read that lies inside one part returns a slice of that part's Buffer
 * (zero-copy); it keeps the part's memory alive while the caller holds it, outside the budget's
 * accounting. Reply and drop it (the FUSE read path does); copy it if it must be kept.
 */
import { StoreError } from '../errors/store-error.js';
import type { Logger } from '../util/logger.js';
import type { MemoryBudget, Reclaimer } from './memory-budget.js';
import { waitUnlessAborted, type AccessMode, type FetchRange, type PrefetcherOptions, type PrefetchStats } from './types.js';

export type { AccessMode, FetchRange, PrefetcherOptions, PrefetchStats } from './types.js';

const KiB = 1024;
const MiB = 1024 * KiB;

type PartKind = 'ahead' | 'demand';

interface Part {
  start: number;
  /** Exclusive. */
  end: number;
  kind: PartKind;
  ctrl: AbortController;
  promise: Promise<Buffer>;
  state: 'pending' | 'ready' | 'failed';
  buf: Buffer | undefined;
  error: unknown;
  /** Bytes reserved from the budget / borrowed, still to give back (0 once freed). */
  reserved: number;
  borrowed: number;
  /** Bytes served to reads from this part (it is released when this reaches its length). */
  served: number;
  /** Reads waiting on or copying from this part. */
  pins: number;
  /** Out of `parts`; freed when pins reaches 0. */
  removed: boolean;
}

interface Segment {
  part: Part;
  start: number;
  end: number;
}

/** How many recent read ends are remembered to recognise a sequential read that arrived late. */
const RECENT_ENDS = 8;

function positiveInt(name: string, v: number | undefined, dflt: number): number {
  const x = v ?? dflt;
  if (!Number.isSafeInteger(x) || x <= 0) throw new RangeError(`Prefetcher: ${name} must be a positive integer, got ${x}`);
  return x;
}

function abortedError(message: string, cause?: unknown): StoreError {
  return new StoreError('Aborted', message, { cause });
}

export class Prefetcher {
  readonly size: number;
  private readonly fetchRange: FetchRange;
  private readonly isLocal: ((start: number, end: number) => boolean) | undefined;
  private readonly budget: MemoryBudget;
  private readonly initialWindow: number;
  private readonly windowCap: number;
  private readonly partSize: number;
  private readonly maxForwardSeek: number;
  private readonly reorderTolerance: number;
  private readonly alignment: number;
  private readonly idleReclaimMs: number;
  private readonly now: () => number;
  /** Registered with the budget; unregistered by close(). */
  private readonly reclaimer: Reclaimer;
  private readonly unregister: () => void;
  private lastReadAt: number;
  private activeReads = 0;
  private readonly log: Logger | undefined;
  /** Fires on close(): aborts every waiting read. */
  private readonly closeCtrl = new AbortController();

  /** Sorted by start, non-overlapping. */
  private readonly parts: Part[] = [];
  private mode: AccessMode = 'random';
  private window: number;
  /** Sequential: furthest end of the stream's reads. Random: end of the last read. */
  private pos = 0;
  /** Sequential: read-ahead has been requested up to here. */
  private requestedEnd = 0;
  /** Sequential: the window doubles when pos reaches this. */
  private growAt = 0;
  /** Ends of the last reads, newest last. */
  private readonly recentEnds: number[] = [];
  private closed = false;

  private readonly counters = {
    bytesFetched: 0,
    bytesServed: 0,
    fetchCalls: 0,
    readAheadCalls: 0,
    demandCalls: 0,
    failedFetches: 0,
    borrowedBytes: 0,
    resets: 0,
    localSkippedBytes: 0,
  };

  constructor(opts: PrefetcherOptions) {
    if (!Number.isSafeInteger(opts.size) || opts.size < 0) throw new RangeError(`Prefetcher: size must be a non-negative integer, got ${opts.size}`);
    this.size = opts.size;
    this.fetchRange = opts.fetch;
    this.isLocal = opts.isLocal;
    this.budget = opts.budget;
    this.initialWindow = positiveInt('initialWindow', opts.initialWindow, 1 * MiB);
    const maxWindow = positiveInt('maxWindow', opts.maxWindow, 64 * MiB);
    this.windowCap = Math.max(this.initialWindow, Math.min(maxWindow, Math.floor(opts.budget.max / 2)));
    this.partSize = positiveInt('partSize', opts.partSize, 8 * MiB);
    this.maxForwardSeek = positiveInt('maxForwardSeek', opts.maxForwardSeek, 16 * MiB);
    this.reorderTolerance = positiveInt('reorderTolerance', opts.reorderTolerance, 4 * MiB);
    this.alignment = positiveInt('alignment', opts.alignment, 1);
    this.idleReclaimMs = positiveInt('idleReclaimMs', opts.idleReclaimMs, 1000);
    this.now = opts.now ?? (() => performance.now());
    this.lastReadAt = this.now();
    this.reclaimer = () => this.reclaimIdle();
    this.unregister = opts.budget.addReclaimer(this.reclaimer);
    this.log = opts.log;
    this.window = this.initialWindow;
  }

  /**
   * The bytes [offset, min(offset + length, size)); empty at or after EOF. Rejects with the
   * failing fetch's error, or StoreError('Aborted') if `signal` fires or the handle is closed.
   */
  async read(offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`Prefetcher.read: bad offset ${offset}`);
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`Prefetcher.read: bad length ${length}`);
    if (this.closed) throw abortedError('read on a closed prefetcher');
    if (signal?.aborted) throw abortedError('read aborted', signal.reason);
    const end = Math.min(offset + length, this.size);
    if (offset >= end) return Buffer.alloc(0);

    this.lastReadAt = this.now();
    this.observe(offset, end);
    const segs = this.collect(offset, end); // throws a kept read-ahead failure; pins on success
    this.readAhead(); // after the demand parts, so the bytes waited for are requested first
    this.activeReads++;
    try {
      await this.waitFor(segs, signal);
    } catch (err) {
      this.unpinAll(segs);
      throw err;
    } finally {
      this.activeReads--;
      this.lastReadAt = this.now();
    }
    return this.serve(segs, end - offset);
  }

  /** Abort in-flight fetches, fail waiting reads, release all budget. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unregister();
    this.closeCtrl.abort();
    for (const p of this.parts.splice(0)) {
      p.removed = true;
      if (p.state === 'pending') p.ctrl.abort();
      this.free(p);
    }
    // Parts already out of `parts` but still pinned are freed when their reads unpin them; the
    // reads are woken by closeCtrl at once, so that is the same turn of the event loop.
  }

  stats(): PrefetchStats {
    let held = 0;
    for (const p of this.parts) held += p.reserved + p.borrowed;
    return { ...this.counters, heldBytes: held, window: this.window, mode: this.mode };
  }

  // --- access pattern ------------------------------------------------------------------------

  private observe(offset: number, end: number): void {
    if (this.mode === 'sequential') {
      if (offset < this.pos - this.reorderTolerance || offset > this.pos + this.maxForwardSeek) {
        this.reset(offset, end);
      } else {
        this.pos = Math.max(this.pos, end);
        this.dropWhere((p) => p.end <= this.pos - this.reorderTolerance && p.pins === 0);
        if (this.pos >= this.growAt && this.window < this.windowCap) {
          this.window = Math.min(this.window * 2, this.windowCap);
          this.growAt = this.pos + this.window;
          this.log?.debug({ window: this.window, pos: this.pos }, 'prefetch: window grows');
        }
      }
    } else if (this.recentEnds.includes(offset)) {
      this.mode = 'sequential';
      this.window = this.initialWindow;
      this.pos = end;
      this.requestedEnd = end;
      this.growAt = offset + this.window;
      this.log?.debug({ offset }, 'prefetch: sequential access, read-ahead starts');
    } else {
      this.pos = end;
      this.dropWhere((p) => p.end <= offset || p.start >= end); // nothing buffered is of use to a random reader
    }
    this.recentEnds.push(end);
    if (this.recentEnds.length > RECENT_ENDS) this.recentEnds.shift();
  }

  private reset(offset: number, end: number): void {
    this.log?.debug({ offset, pos: this.pos, window: this.window }, 'prefetch: seek out of the stream, read-ahead reset');
    this.counters.resets++;
    this.mode = 'random';
    this.window = this.initialWindow;
    this.pos = end;
    this.requestedEnd = 0;
    this.recentEnds.length = 0;
    this.dropWhere((p) => p.end <= offset || p.start >= end);
  }

  // --- parts ---------------------------------------------------------------------------------

  /** Pin the parts covering [offset, end), creating demand parts for the gaps. */
  private collect(offset: number, end: number): Segment[] {
    const failed = this.parts.find((p) => p.state === 'failed' && p.start < end && p.end > offset);
    if (failed) {
      this.remove(failed); // reported once; the next read fetches again
      throw failed.error;
    }
    const segs: Segment[] = [];
    let cur = offset;
    let i = this.firstEndingAfter(offset);
    while (cur < end) {
      const p = this.parts[i];
      if (p && p.start <= cur) {
        const segEnd = Math.min(end, p.end);
        segs.push({ part: p, start: cur, end: segEnd });
        cur = segEnd;
        i++;
        continue;
      }
      const gapEnd = Math.min(end, p ? p.start : end);
      for (const [s, e] of this.pieces(cur, gapEnd, 1)) {
        let reserved = 0;
        let borrowed = 0;
        if (this.reserve(e - s)) reserved = e - s;
        else {
          borrowed = e - s;
          this.budget.borrow(borrowed);
          this.counters.borrowedBytes += borrowed;
        }
        const part = this.startFetch(s, e, 'demand', reserved, borrowed, i);
        i++;
        segs.push({ part, start: s, end: e });
      }
      cur = gapEnd;
    }
    for (const s of segs) s.part.pins++;
    return segs;
  }

  /** Keep [pos, pos + window) requested, in parts of ≤ partSize, as far as the budget allows. */
  private readAhead(): void {
    if (this.mode !== 'sequential' || this.closed) return;
    const from = Math.max(this.requestedEnd, this.pos);
    if (from >= this.size || this.requestedEnd - this.pos >= this.window / 2) return;
    const target = Math.min(this.size, this.roundUp(this.pos + this.window));
    let cur = from;
    let i = this.firstEndingAfter(cur);
    while (cur < target) {
      const p = this.parts[i];
      if (p && p.start <= cur) {
        cur = p.end;
        i++;
        continue;
      }
      const gapEnd = Math.min(target, p ? p.start : target);
      for (const [s, e] of this.pieces(cur, gapEnd, this.alignment)) {
        if (this.isLocal?.(s, e)) {
          this.counters.localSkippedBytes += e - s;
          this.requestedEnd = e; // a read of these bytes is a demand part served from disk
          continue;
        }
        if (!this.reserve(e - s)) {
          this.window = Math.max(this.initialWindow, Math.floor(this.window / 2));
          this.growAt = this.pos + this.window;
          this.log?.debug({ window: this.window, used: this.budget.used, max: this.budget.max }, 'prefetch: memory budget full, window shrinks');
          return;
        }
        this.startFetch(s, e, 'ahead', e - s, 0, i);
        i++;
        this.requestedEnd = e;
      }
      cur = gapEnd;
    }
    this.requestedEnd = Math.max(this.requestedEnd, cur);
  }

  /** tryReserve, asking idle handles to give memory back if it does not fit. */
  private reserve(n: number): boolean {
    if (this.budget.tryReserve(n)) return true;
    this.budget.reclaim(n, this.reclaimer);
    return this.budget.tryReserve(n);
  }

  /** The Reclaimer: an idle handle (no read in flight for idleReclaimMs) drops what it buffered. */
  private reclaimIdle(): number {
    if (this.closed || this.activeReads > 0 || this.now() - this.lastReadAt < this.idleReclaimMs) return 0;
    let freed = 0;
    for (const p of this.parts.filter((q) => q.pins === 0)) {
      freed += p.reserved;
      this.remove(p);
    }
    if (freed === 0) return 0;
    this.requestedEnd = this.pos;
    this.window = this.initialWindow;
    this.growAt = this.pos + this.window;
    this.log?.debug({ freed }, 'prefetch: idle handle gave its read-ahead back under memory pressure');
    return freed;
  }

  /** Split [start, end) into near-equal pieces of at most partSize, inner boundaries rounded down to `align`. */
  private pieces(start: number, end: number, align: number): [number, number][] {
    const n = Math.ceil((end - start) / this.partSize);
    const len = Math.ceil((end - start) / n);
    const out: [number, number][] = [];
    for (let s = start; s < end; ) {
      let e = Math.min(end, s + len);
      const aligned = Math.floor(e / align) * align;
      if (e < end && aligned > s) e = aligned;
      out.push([s, e]);
      s = e;
    }
    return out;
  }

  private roundUp(n: number): number {
    return Math.ceil(n / this.alignment) * this.alignment;
  }

  /** Index of the first part whose end is after `offset`. */
  private firstEndingAfter(offset: number): number {
    const i = this.parts.findIndex((p) => p.end > offset);
    return i < 0 ? this.parts.length : i;
  }

  private startFetch(start: number, end: number, kind: PartKind, reserved: number, borrowed: number, index: number): Part {
    const ctrl = new AbortController();
    const part: Part = {
      start,
      end,
      kind,
      ctrl,
      promise: Promise.resolve(Buffer.alloc(0)),
      state: 'pending',
      buf: undefined,
      error: undefined,
      reserved,
      borrowed,
      served: 0,
      pins: 0,
      removed: false,
    };
    this.parts.splice(index, 0, part);
    this.counters.fetchCalls++;
    if (kind === 'ahead') this.counters.readAheadCalls++;
    else this.counters.demandCalls++;
    part.promise = this.runFetch(part);
    part.promise.catch(() => {}); // a read-ahead failure nobody waits for is kept, not unhandled
    return part;
  }

  private async runFetch(part: Part): Promise<Buffer> {
    const len = part.end - part.start;
    try {
      // Called a microtask later, so even a synchronous throw settles the part after the
      // calling read has pinned it.
      await Promise.resolve();
      if (part.ctrl.signal.aborted) throw abortedError('fetch aborted before it started', part.ctrl.signal.reason);
      let buf = await this.fetchRange(part.start, part.end - 1, part.ctrl.signal);
      if (buf.length < len) {
        throw new StoreError('Unknown', `short read: fetch of bytes ${part.start}-${part.end - 1} returned ${buf.length} of ${len} bytes`);
      }
      if (buf.length > len) buf = buf.subarray(0, len);
      this.counters.bytesFetched += len;
      part.state = 'ready';
      part.buf = buf; // also when dropped meanwhile: reads still pinning it are served from it
      return buf;
    } catch (err) {
      part.state = 'failed';
      part.error = err;
      if (!part.removed) {
        this.counters.failedFetches++;
        this.log?.debug({ start: part.start, end: part.end, kind: part.kind, err }, 'prefetch: fetch failed');
      }
      this.giveBack(part); // a failed part holds no data
      // Reads waiting now get this error; drop the part so the reads after them retry. Kept
      // (holding no memory) if nobody waits: the first read needing its bytes reports it.
      if (part.pins > 0) this.remove(part);
      throw err;
    }
  }

  /** Take a part out of `parts`; abort its fetch if no read waits on it; free it once unpinned. */
  private remove(part: Part): void {
    if (part.removed) return;
    part.removed = true;
    const i = this.parts.indexOf(part);
    if (i >= 0) this.parts.splice(i, 1);
    if (part.pins === 0 && part.state === 'pending') part.ctrl.abort();
    this.free(part);
  }

  private dropWhere(pred: (p: Part) => boolean): void {
    for (const p of this.parts.filter(pred)) this.remove(p);
  }

  /** Release a removed part's memory once no read uses it; close() frees pinned parts too. */
  private free(part: Part): void {
    if (!part.removed || (part.pins > 0 && !this.closed)) return;
    this.giveBack(part);
    part.buf = undefined;
  }

  private giveBack(part: Part): void {
    if (part.reserved > 0) this.budget.release(part.reserved);
    if (part.borrowed > 0) this.budget.repay(part.borrowed);
    part.reserved = 0;
    part.borrowed = 0;
  }

  private unpin(part: Part): void {
    part.pins--;
    if (part.pins === 0 && part.kind === 'demand' && part.state === 'pending' && !part.removed) {
      this.remove(part); // an aborted read's own fetch: nobody else wants it
      return;
    }
    if (part.removed && part.pins === 0) {
      if (part.state === 'pending') part.ctrl.abort();
      this.free(part);
    }
  }

  private unpinAll(segs: Segment[]): void {
    for (const s of segs) this.unpin(s.part);
  }

  // --- serving -------------------------------------------------------------------------------

  private async waitFor(segs: Segment[], signal: AbortSignal | undefined): Promise<void> {
    const pending = segs.filter((s) => s.part.state !== 'ready').map((s) => s.part.promise);
    if (pending.length > 0) {
      await waitUnlessAborted(Promise.all(pending), signal ? [signal, this.closeCtrl.signal] : [this.closeCtrl.signal], () =>
        this.closed ? abortedError('prefetcher closed') : abortedError('read aborted', signal?.reason),
      );
    }
    if (this.closed) throw abortedError('prefetcher closed');
    if (signal?.aborted) throw abortedError('read aborted', signal.reason);
  }

  private serve(segs: Segment[], length: number): Buffer {
    if (this.closed) {
      // close() ran between the wait and here and freed the parts
      this.unpinAll(segs);
      throw abortedError('prefetcher closed');
    }
    const slices: Buffer[] = [];
    for (const s of segs) {
      const p = s.part;
      if (!p.buf) throw new Error(`prefetcher: part ${p.start}-${p.end} has no data after a successful wait`); // a bug
      slices.push(p.buf.subarray(s.start - p.start, s.end - p.start));
      p.served += s.end - s.start;
    }
    const out = slices.length === 1 ? slices[0]! : Buffer.concat(slices, length);
    for (const s of segs) {
      this.unpin(s.part);
      if (s.part.served >= s.part.end - s.part.start) this.remove(s.part);
    }
    this.counters.bytesServed += out.length;
    return out;
  }
}
