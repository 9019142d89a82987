/**
 * Part size ladder of multipart uploads: the size of a part depends on its part number, so that
 * small files get small parts (fast first byte, cheap retries, little re-sent on a failure) while
 * one file can still reach >= 1 TiB within S3's 10,000 parts:
 *
 *   parts    1..1000    8 MiB   (the first 8 GiB)
 *   parts 1001..2000   64 MiB   (the next 64 GiB)
 *   parts 2001..      512 MiB   (8,000 of them: ~4 TiB)
 *
 * Every ladder size is clamped to the store's [minPartSize, maxPartSize].
 *
 * splitRange() cuts one byte range into consecutive ladder parts. It keeps the store's rules for
 * parts that are not the last of the object: every part it makes is >= minPartSize (unless the
 * whole range is smaller, then it is one part) and <= maxPartSize. A short remainder at the end
 * is merged into the previous part, or, when that would exceed maxPartSize, the previous part
 * lends it bytes so both are valid.
 *
 * Pure functions, no state.
 */
import type { ObjectStore } from '../store/object-store.js';

export type StoreLimits = ObjectStore['limits'];
export type PartSizeLimits = Pick<StoreLimits, 'minPartSize' | 'maxPartSize'>;

const MiB = 1024 * 1024;

/** The ladder: parts numbered up to `through` (inclusive) have `size` bytes. */
export const PART_LADDER: readonly { readonly through: number; readonly size: number }[] = Object.freeze([
  { through: 1000, size: 8 * MiB },
  { through: 2000, size: 64 * MiB },
  { through: Number.POSITIVE_INFINITY, size: 512 * MiB },
]);

/** A part of a range: bytes [start, end) go into part `partNumber`. */
export interface PartRange {
  partNumber: number;
  start: number;
  end: number;
}

/** Size of part `partNumber` (1-based) on the ladder, clamped to the store's part size limits. */
export function partSizeFor(partNumber: number, limits: PartSizeLimits): number {
  if (!Number.isSafeInteger(partNumber) || partNumber < 1) throw new RangeError(`part number must be >= 1, not ${partNumber}`);
  let size = PART_LADDER[PART_LADDER.length - 1]!.size;
  for (const step of PART_LADDER) {
    if (partNumber <= step.through) {
      size = step.size;
      break;
    }
  }
  return clamp(size, limits);
}

/**
 * Cut [start, end) into consecutive ladder parts numbered from `firstPartNumber`. Every part is
 * within [minPartSize, maxPartSize], except a range shorter than minPartSize, which is one part.
 * An empty range gives no parts.
 */
export function splitRange(start: number, end: number, firstPartNumber: number, limits: PartSizeLimits): PartRange[] {
  const out: PartRange[] = [];
  forEachPart(start, end, firstPartNumber, limits, (p) => out.push(p));
  return out;
}

/** How many parts splitRange(start, end, firstPartNumber, limits) makes (without building them). */
export function countParts(start: number, end: number, firstPartNumber: number, limits: PartSizeLimits): number {
  let n = 0;
  forEachPart(start, end, firstPartNumber, limits, () => n++);
  return n;
}

/** Bytes that parts firstPartNumber..maxParts of the ladder hold in all. */
export function ladderCapacity(firstPartNumber: number, limits: StoreLimits): number {
  let total = 0;
  let n = firstPartNumber;
  for (const step of PART_LADDER) {
    if (n > limits.maxParts) break;
    if (n > step.through) continue;
    const last = Math.min(step.through, limits.maxParts);
    total += (last - n + 1) * clamp(step.size, limits);
    n = last + 1;
  }
  return total;
}

function forEachPart(start: number, end: number, firstPartNumber: number, limits: PartSizeLimits, emit: (p: PartRange) => void): void {
  if (!(Number.isSafeInteger(start) && Number.isSafeInteger(end) && start >= 0)) throw new RangeError(`bad range [${start}, ${end})`);
  if (end <= start) return;
  const { minPartSize: min, maxPartSize: max } = effective(limits);
  let n = firstPartNumber;
  let pos = start;
  // Parts are emitted one behind, so the last one can still absorb a short remainder.
  let pending: PartRange | undefined;
  const push = (s: number, e: number): void => {
    if (pending) emit(pending);
    pending = { partNumber: n++, start: s, end: e };
  };
  while (pos < end) {
    const size = partSizeFor(n, limits);
    const rest = end - pos;
    if (rest > size && rest - size >= min) {
      // A full ladder part that leaves a valid remainder.
      push(pos, pos + size);
      pos += size;
      continue;
    }
    // What is left becomes the final part(s).
    if (pending !== undefined && rest < min) {
      // Too short on its own: give it to the previous part, which lends bytes back if it
      // would grow past max (then both are >= min, as max >= 2 * min).
      const p: PartRange = pending;
      if (end - p.start <= max) p.end = end;
      else {
        p.end = end - min;
        push(end - min, end);
      }
    } else if (rest <= max) {
      push(pos, end);
    } else {
      push(pos, end - min);
      push(end - min, end);
    }
    pos = end;
  }
  if (pending) emit(pending);
}

function clamp(size: number, limits: PartSizeLimits): number {
  const { minPartSize, maxPartSize } = effective(limits);
  return Math.min(Math.max(size, minPartSize), maxPartSize);
}

/** Limits made usable: min >= 1, max >= 2 * min (so a too-big part can always be cut in two valid ones). */
function effective(limits: PartSizeLimits): { minPartSize: number; maxPartSize: number } {
  const minPartSize = Math.max(1, limits.minPartSize);
  const maxPartSize = Math.max(limits.maxPartSize, 2 * minPartSize);
  return { minPartSize, maxPartSize };
}
