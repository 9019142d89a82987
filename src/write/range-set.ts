/**
 * RangeSet: a set of byte offsets stored as sorted, disjoint, non-adjacent half-open spans
 * [start, end). The write path uses one for the bytes present in a staged data file and one for
 * the bytes that differ from the base object (types.ts: PendingRecord.present / .dirty).
 *
 * Design:
 * - Two parallel number arrays (starts, ends) kept in canonical form: starts[i] < ends[i] <
 *   starts[i + 1]. Adjacent or overlapping spans are merged on add, so two sets holding the
 *   same bytes always have the same spans (spans() / toJSON() are canonical).
 * - Lookups are binary searches (O(log n)); add/remove/truncate splice the arrays (O(n) worst
 *   case, which is fine for the few thousand spans a staged file has).
 * - Offsets are non-negative safe integers; empty or inverted spans (start >= end) are no-ops
 *   for add/remove and are "covered" for has(). Anything else is a RangeError (a bug in the
 *   caller, not an I/O condition).
 *
 * Ownership / concurrency: a RangeSet is a plain mutable value owned by whoever created it;
 * nothing is shared (spans() and toJSON() return fresh arrays, fromSpans() copies its input).
 * No async, no locking. Use clone() to hand a snapshot to someone else.
 */
import type { Span } from './types.js';

export class RangeSet {
  private starts: number[] = [];
  private ends: number[] = [];
  private bytes = 0;

  /** A set holding the union of `spans` (any order, overlaps allowed). */
  static fromSpans(spans: Iterable<Span>): RangeSet {
    const s = new RangeSet();
    for (const [a, b] of spans) s.add(a, b);
    return s;
  }

  /** Number of bytes in the set. */
  get total(): number {
    return this.bytes;
  }

  /** Number of disjoint spans. */
  get count(): number {
    return this.starts.length;
  }

  get isEmpty(): boolean {
    return this.starts.length === 0;
  }

  /** One past the last byte in the set (0 when empty). */
  get end(): number {
    return this.ends.length === 0 ? 0 : this.ends[this.ends.length - 1]!;
  }

  clone(): RangeSet {
    const c = new RangeSet();
    c.starts = this.starts.slice();
    c.ends = this.ends.slice();
    c.bytes = this.bytes;
    return c;
  }

  /** Add [start, end). Returns this. */
  add(start: number, end: number): this {
    check(start, end);
    if (start >= end) return this;
    // First span that could touch [start, end): the first whose end >= start (adjacency merges).
    const i = this.firstEndAtOrAfter(start);
    // Last span that could touch: the last whose start <= end.
    const j = this.firstStartAfter(end) - 1;
    if (i > j) {
      this.starts.splice(i, 0, start);
      this.ends.splice(i, 0, end);
      this.bytes += end - start;
      return this;
    }
    const s = Math.min(start, this.starts[i]!);
    const e = Math.max(end, this.ends[j]!);
    let removed = 0;
    for (let k = i; k <= j; k++) removed += this.ends[k]! - this.starts[k]!;
    this.starts.splice(i, j - i + 1, s);
    this.ends.splice(i, j - i + 1, e);
    this.bytes += e - s - removed;
    return this;
  }

  /** Add every span of `other`. Returns this. */
  addAll(other: RangeSet | Iterable<Span>): this {
    const spans = other instanceof RangeSet ? other.spans() : other;
    for (const [a, b] of spans) this.add(a, b);
    return this;
  }

  /** Remove [start, end). Returns this. */
  remove(start: number, end: number): this {
    check(start, end);
    if (start >= end) return this;
    // Spans overlapping [start, end) (adjacent ones are untouched).
    const i = this.firstEndAfter(start);
    const j = this.firstStartAtOrAfter(end) - 1;
    if (i > j) return this;
    const headStart = this.starts[i]!;
    const tailEnd = this.ends[j]!;
    let removed = 0;
    for (let k = i; k <= j; k++) removed += this.ends[k]! - this.starts[k]!;
    const newStarts: number[] = [];
    const newEnds: number[] = [];
    if (headStart < start) {
      newStarts.push(headStart);
      newEnds.push(start);
    }
    if (tailEnd > end) {
      newStarts.push(end);
      newEnds.push(tailEnd);
    }
    this.starts.splice(i, j - i + 1, ...newStarts);
    this.ends.splice(i, j - i + 1, ...newEnds);
    for (let k = 0; k < newStarts.length; k++) removed -= newEnds[k]! - newStarts[k]!;
    this.bytes -= removed;
    return this;
  }

  /** Drop every byte at offset >= size. Returns this. */
  truncate(size: number): this {
    check(size, size);
    return this.remove(size, Math.max(size, this.end));
  }

  /** True when every byte of [start, end) is in the set (an empty range is always covered). */
  has(start: number, end: number): boolean {
    check(start, end);
    if (start >= end) return true;
    const i = this.firstEndAfter(start);
    return i < this.starts.length && this.starts[i]! <= start && this.ends[i]! >= end;
  }

  /** The parts of [start, end) that are NOT in the set, in order. */
  missing(start: number, end: number): Span[] {
    check(start, end);
    const out: Span[] = [];
    let pos = start;
    for (let i = this.firstEndAfter(start); i < this.starts.length && pos < end; i++) {
      const s = this.starts[i]!;
      if (s >= end) break;
      if (s > pos) out.push([pos, s]);
      pos = Math.max(pos, this.ends[i]!);
    }
    if (pos < end) out.push([pos, end]);
    return out;
  }

  /** The parts of [start, end) that ARE in the set, in order. */
  within(start: number, end: number): Span[] {
    check(start, end);
    const out: Span[] = [];
    if (start >= end) return out;
    for (let i = this.firstEndAfter(start); i < this.starts.length; i++) {
      const s = this.starts[i]!;
      if (s >= end) break;
      out.push([Math.max(s, start), Math.min(this.ends[i]!, end)]);
    }
    return out;
  }

  /** Number of bytes of [start, end) in the set. */
  countIn(start: number, end: number): number {
    let n = 0;
    for (const [a, b] of this.within(start, end)) n += b - a;
    return n;
  }

  /** The spans, sorted, disjoint, adjacent ones merged (a fresh array). */
  spans(): Span[] {
    return this.starts.map((s, i) => [s, this.ends[i]!] as const);
  }

  toJSON(): Span[] {
    return this.spans();
  }

  equals(other: RangeSet): boolean {
    if (other.starts.length !== this.starts.length) return false;
    for (let i = 0; i < this.starts.length; i++) {
      if (other.starts[i] !== this.starts[i] || other.ends[i] !== this.ends[i]) return false;
    }
    return true;
  }

  toString(): string {
    return `{${this.spans()
      .map(([a, b]) => `[${a},${b})`)
      .join(' ')}}`;
  }

  // ---------------------------------------------------------------------------------------------

  /** Index of the first span with end >= x (spans.length if none). */
  private firstEndAtOrAfter(x: number): number {
    return lowerBound(this.ends, x, false);
  }

  /** Index of the first span with end > x. */
  private firstEndAfter(x: number): number {
    return lowerBound(this.ends, x, true);
  }

  /** Index of the first span with start > x. */
  private firstStartAfter(x: number): number {
    return lowerBound(this.starts, x, true);
  }

  /** Index of the first span with start >= x. */
  private firstStartAtOrAfter(x: number): number {
    return lowerBound(this.starts, x, false);
  }
}

/** First index i with a[i] >= x (strict=false) or a[i] > x (strict=true); a is ascending. */
function lowerBound(a: number[], x: number, strict: boolean): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const v = a[mid]!;
    if (strict ? v <= x : v < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function check(start: number, end: number): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < 0) {
    throw new RangeError(`RangeSet: offsets must be non-negative safe integers, not [${start}, ${end})`);
  }
}
