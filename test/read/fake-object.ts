/**
 * A fake object for prefetcher tests: its bytes come from a generator over offsets (so a 1 GiB
 * object needs no 1 GiB buffer), and `fetch` records every call, can be delayed, can fail on
 * chosen ranges, can hang until aborted, and honours its AbortSignal.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { StoreError } from '../../src/errors/store-error.js';
import { MemoryBudget } from '../../src/read/memory-budget.js';
import { mulberry32 } from '../../src/util/prng.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;

export interface FetchCall {
  start: number;
  /** Inclusive, as passed to fetch. */
  end: number;
}

/** Deterministic PRNG (mulberry32) so failures reproduce. */
export const rng = mulberry32;

/** Bytes of a virtual object: a prime-length pseudo-random pattern repeated, shifted by seed. */
export class PatternBytes {
  private readonly pattern: Buffer;
  constructor(private readonly seed = 0) {
    const n = 65_521; // prime, so the pattern never lines up with power-of-two read sizes
    this.pattern = Buffer.alloc(n);
    const r = rng(seed + 1);
    for (let i = 0; i < n; i++) this.pattern[i] = Math.floor(r() * 256);
  }
  slice(offset: number, length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    const n = this.pattern.length;
    let done = 0;
    while (done < length) {
      const p = (offset + done + this.seed) % n;
      done += this.pattern.copy(out, done, p, Math.min(n, p + length - done));
    }
    return out;
  }
}

export interface FakeOptions {
  /** Delay of each fetch in ms (0: resolve on a later macrotask). */
  delay?: (start: number, end: number) => number;
  /** Return an error to make this call fail. */
  fail?: (start: number, end: number) => unknown;
  /** Never resolve: wait for the AbortSignal. */
  hang?: (start: number, end: number) => boolean;
}

export class FakeObject {
  readonly calls: FetchCall[] = [];
  inFlight = 0;
  maxInFlight = 0;
  aborted = 0;
  opts: FakeOptions;
  readonly bytes: PatternBytes;

  constructor(
    readonly size: number,
    seed = 0,
    opts: FakeOptions = {},
  ) {
    this.bytes = new PatternBytes(seed);
    this.opts = opts;
  }

  /** What the object holds at [offset, end). */
  expected(offset: number, end: number): Buffer {
    const e = Math.min(end, this.size);
    return offset >= e ? Buffer.alloc(0) : this.bytes.slice(offset, e - offset);
  }

  get bytesRequested(): number {
    return this.calls.reduce((a, c) => a + (c.end - c.start + 1), 0);
  }

  readonly fetch = async (start: number, end: number, signal: AbortSignal): Promise<Buffer> => {
    this.calls.push({ start, end });
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (start < 0 || end < start || end >= this.size) throw new StoreError('InvalidArgument', `bad range ${start}-${end} of ${this.size}`);
      if (this.opts.hang?.(start, end)) {
        await new Promise<never>((_, reject) => {
          if (signal.aborted) reject(signal.reason);
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        });
      }
      const ms = this.opts.delay?.(start, end) ?? 0;
      await sleep(ms, undefined, { signal });
      const err = this.opts.fail?.(start, end);
      if (err !== undefined) throw err;
      return this.bytes.slice(start, end - start + 1);
    } catch (e) {
      if (signal.aborted) {
        this.aborted++;
        throw new StoreError('Aborted', 'fetch aborted', { cause: e });
      }
      throw e;
    } finally {
      this.inFlight--;
    }
  };
}

/** A budget that checks its own invariant on every change and remembers the highest use. */
export class CheckedBudget extends MemoryBudget {
  maxSeen = 0;
  violations = 0;
  private note(): void {
    if (this.used > this.max || this.used < 0) this.violations++;
    this.maxSeen = Math.max(this.maxSeen, this.used);
  }
  override tryReserve(n: number): boolean {
    const ok = super.tryReserve(n);
    this.note();
    return ok;
  }
  override async reserve(n: number, signal?: AbortSignal): Promise<void> {
    await super.reserve(n, signal);
    this.note();
  }
  override release(n: number): void {
    super.release(n);
    this.note();
  }
}

/** Wait until the event loop has run pending timers and I/O a few times. */
export async function settle(ms = 5): Promise<void> {
  await sleep(ms);
}
