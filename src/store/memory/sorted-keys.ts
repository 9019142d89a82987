/**
 * SortedKeys: the ordered key index of the memory store, a list of sorted chunks (the layout of
 * Python's sortedcontainers). Insert and delete cost O(log n + chunk size); seeking to the first
 * key that satisfies a monotone predicate costs O(log n); walking from a cursor is O(1) per key.
 * Listing therefore never sorts the whole key set, whatever its size.
 *
 * Order is compareKeys() (UTF-8 byte order). Cursors are plain {chunk, offset} pairs and are only
 * valid until the next insert/delete: callers walk synchronously (no await) between seek and use.
 * Ownership: one instance belongs to one MemoryStore; no shared state.
 */
import { compareKeys } from './s3-rules.js';

export interface Cursor {
  chunk: number;
  offset: number;
}

const DEFAULT_CHUNK = 1024;

export class SortedKeys {
  private chunks: string[][] = [];
  private count = 0;

  /** `chunkSize`: target chunk length (chunks split at twice that); small values are for tests. */
  constructor(private readonly chunkSize = DEFAULT_CHUNK) {}

  get size(): number {
    return this.count;
  }

  /** Insert key if absent. Returns true when it was added. */
  add(key: string): boolean {
    if (this.chunks.length === 0) {
      this.chunks.push([key]);
      this.count = 1;
      return true;
    }
    const ci = this.chunkFor(key);
    const chunk = this.chunks[ci]!;
    const i = lowerBoundIn(chunk, key);
    if (i < chunk.length && chunk[i] === key) return false;
    chunk.splice(i, 0, key);
    this.count++;
    if (chunk.length > 2 * this.chunkSize) this.chunks.splice(ci, 1, chunk.slice(0, this.chunkSize), chunk.slice(this.chunkSize));
    return true;
  }

  /** Remove key if present. Returns true when it was removed. */
  delete(key: string): boolean {
    if (this.chunks.length === 0) return false;
    const ci = this.chunkFor(key);
    const chunk = this.chunks[ci]!;
    const i = lowerBoundIn(chunk, key);
    if (i >= chunk.length || chunk[i] !== key) return false;
    chunk.splice(i, 1);
    this.count--;
    if (chunk.length === 0) this.chunks.splice(ci, 1);
    return true;
  }

  /**
   * Cursor at the first key for which `before(key)` is false. `before` must be monotone over the
   * order: true for a (possibly empty) run of smallest keys, then false.
   */
  seek(before: (key: string) => boolean): Cursor {
    let lo = 0;
    let hi = this.chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const chunk = this.chunks[mid]!;
      if (before(chunk[chunk.length - 1]!)) lo = mid + 1;
      else hi = mid;
    }
    if (lo === this.chunks.length) return { chunk: lo, offset: 0 };
    const chunk = this.chunks[lo]!;
    let a = 0;
    let b = chunk.length;
    while (a < b) {
      const mid = (a + b) >>> 1;
      if (before(chunk[mid]!)) a = mid + 1;
      else b = mid;
    }
    return { chunk: lo, offset: a };
  }

  /** First key >= s. */
  lowerBound(s: string): Cursor {
    return this.seek((k) => compareKeys(k, s) < 0);
  }

  /** First key > s. */
  upperBound(s: string): Cursor {
    return this.seek((k) => compareKeys(k, s) <= 0);
  }

  /** First key that is greater than p and does not start with p (the end of p's subtree). */
  afterPrefix(p: string): Cursor {
    return this.seek((k) => compareKeys(k, p) < 0 || k.startsWith(p));
  }

  /** Key at the cursor, or undefined at the end. */
  at(c: Cursor): string | undefined {
    return this.chunks[c.chunk]?.[c.offset];
  }

  /** The cursor of the next key (may be the end). */
  next(c: Cursor): Cursor {
    const chunk = this.chunks[c.chunk];
    if (chunk !== undefined && c.offset + 1 < chunk.length) return { chunk: c.chunk, offset: c.offset + 1 };
    return { chunk: c.chunk + 1, offset: 0 };
  }

  /** Compare two cursors (for "is a before b"). */
  static compare(a: Cursor, b: Cursor): number {
    return a.chunk !== b.chunk ? a.chunk - b.chunk : a.offset - b.offset;
  }

  /** Every key in order (tests and debugging). */
  *keys(): Generator<string> {
    for (const c of this.chunks) yield* c;
  }

  /** Index of the chunk that holds (or would hold) key: the first whose last key is >= key. */
  private chunkFor(key: string): number {
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const chunk = this.chunks[mid]!;
      if (compareKeys(chunk[chunk.length - 1]!, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function lowerBoundIn(chunk: string[], key: string): number {
  let a = 0;
  let b = chunk.length;
  while (a < b) {
    const mid = (a + b) >>> 1;
    if (compareKeys(chunk[mid]!, key) < 0) a = mid + 1;
    else b = mid;
  }
  return a;
}
