/**
 * planUpload: turns (size, dirty ranges, base object, store limits) into an UploadPlan
 * (types.ts): one PUT, a server-side copy onto itself, or a multipart upload whose parts are
 * either bytes of the staged file ('local') or an UploadPartCopy of the base ('base').
 *
 * Rules:
 * - No base, or size <= smallFileThreshold (default 8 MiB): 'put'. (A new file larger than a
 *   single PUT may be -- limits.maxPartSize -- becomes a multipart upload of local parts.)
 * - Base, nothing dirty, same size, size <= limits.maxPartSize (5 GiB on S3, the CopyObject
 *   limit): 'copy-self' (only the metadata changes).
 * - Otherwise 'multipart'. The parts cover [0, size) in order. Local bytes are the dirty bytes
 *   plus the growth [base.size, size); everything else in [0, min(base.size, size)) may be copied
 *   from the base. Local regions are kept as small as the store allows: a region shorter than
 *   minPartSize is widened (to the right, up to the end of the object) to minPartSize, since every
 *   part but the last must have at least that many bytes; a clean gap between two local regions
 *   (or before the first one) shorter than minPartSize cannot be a copy part, so it becomes local
 *   too. A clean gap at the end may be of any size (it is the last part). Copy parts are as large
 *   as allowed (maxCopyPartSize, default limits.maxPartSize; a longer gap is cut into equal
 *   parts); local regions are cut by the part-size ladder (part-sizes.ts).
 * - Too many parts (many scattered edits): the smallest clean gap kept as a copy part is doubled
 *   (gaps below it become local) until the plan fits in limits.maxParts. At the end of that road
 *   the whole object is one local region, which the ladder fits in 10,000 parts up to ~4 TiB;
 *   beyond that planUpload throws StoreError TooLarge.
 *
 * An edit of 1 MiB in the middle of a big object thus sends 5 MiB (S3's minimum part size) and
 * copies the rest server-side.
 *
 * Pure function, no state, no I/O.
 */
import { StoreError } from '../errors/store-error.js';
import { countParts, splitRange, type StoreLimits } from './part-sizes.js';
import { RangeSet } from './range-set.js';
import type { BaseVersion, PlannedPart, Span, UploadPlan } from './types.js';

export const DEFAULT_SMALL_FILE_THRESHOLD = 8 * 1024 * 1024;

export interface PlanInput {
  /** Size of the new version. */
  size: number;
  /** Bytes that differ from the base (any order; clipped to size). Ignored without a base. */
  dirty: readonly Span[];
  /** The version the staged copy started from; absent for a new file. */
  base?: BaseVersion | undefined;
  limits: StoreLimits;
  /** At or below this size, always a single PUT (default 8 MiB). */
  smallFileThreshold?: number | undefined;
  /** Largest UploadPartCopy part (default and upper bound: limits.maxPartSize). */
  maxCopyPartSize?: number | undefined;
}

export function planUpload(input: PlanInput): UploadPlan {
  const { size, base, limits } = input;
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`planUpload: bad size ${size}`);
  if (size > limits.maxObjectSize) {
    throw new StoreError('TooLarge', `an object of ${size} bytes exceeds the store's limit of ${limits.maxObjectSize}`);
  }
  const threshold = Math.min(input.smallFileThreshold ?? DEFAULT_SMALL_FILE_THRESHOLD, limits.maxPartSize);
  if (base === undefined || size <= threshold) {
    // Small: one PUT. Larger new files: parallel parts (a single PUT would be one stream).
    if (size <= threshold) return { kind: 'put', size };
    return { kind: 'multipart', size, parts: multipart(size, new RangeSet().add(0, size), 0, input) };
  }
  const dirty = RangeSet.fromSpans(input.dirty).truncate(size);
  if (dirty.isEmpty && size === base.size && size <= limits.maxPartSize) return { kind: 'copy-self', size };
  const reusable = Math.min(base.size, size);
  const local = dirty.add(reusable, size);
  return { kind: 'multipart', size, parts: multipart(size, local, reusable, input) };
}

/** Bytes of the staged file a plan uploads (the rest is copied server-side or is nothing). */
export function localBytes(plan: UploadPlan): number {
  if (plan.kind === 'put') return plan.size;
  if (plan.kind === 'copy-self') return 0;
  let n = 0;
  for (const p of plan.parts) if (p.from === 'local') n += p.end - p.start;
  return n;
}

// -----------------------------------------------------------------------------------------------

interface Limits {
  min: number;
  maxCopy: number;
  maxParts: number;
  store: StoreLimits;
}

/** Parts of a multipart plan; `local` holds every byte that cannot come from the base. */
function multipart(size: number, local: RangeSet, reusable: number, input: PlanInput): PlannedPart[] {
  const min = Math.max(1, input.limits.minPartSize);
  const maxCopy = Math.max(Math.min(input.maxCopyPartSize ?? input.limits.maxPartSize, input.limits.maxPartSize), 2 * min);
  const lim: Limits = { min, maxCopy, maxParts: input.limits.maxParts, store: input.limits };
  const spans = reusable === 0 ? [] : local.spans();
  if (reusable > 0) {
    for (let minGap = min; minGap <= size; minGap *= 2) {
      const parts = build(size, widen(spans, size, min, minGap), lim);
      if (parts !== undefined) return parts;
    }
  }
  // Last resort (or nothing to copy): the whole object from the staged file.
  const parts = build(size, [[0, size]], lim);
  if (parts === undefined) throw tooManyParts(size, lim);
  return parts;
}

/**
 * The local regions of the plan: `spans` widened so every region that does not end the object
 * has >= min bytes, and merged across every clean gap shorter than `minGap` that is not at the
 * end of the object (with minGap > min, the one at the end too: a fallback for the part count).
 */
function widen(spans: readonly Span[], size: number, min: number, minGap: number): [number, number][] {
  const out: [number, number][] = [];
  for (const [s, e] of spans) {
    const last = out[out.length - 1];
    if (last !== undefined && s - last[1] < minGap) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
    const cur = out[out.length - 1]!;
    if (cur[1] - cur[0] < min && cur[1] < size) cur[1] = Math.min(cur[0] + min, size);
  }
  const first = out[0];
  if (first !== undefined && first[0] < minGap) first[0] = 0;
  const last = out[out.length - 1];
  if (last !== undefined && minGap > min && size - last[1] < minGap) last[1] = size;
  return out;
}

/** Parts for these local regions (the rest are copy parts), or undefined when over maxParts. */
function build(size: number, regions: readonly (readonly [number, number])[], lim: Limits): PlannedPart[] | undefined {
  const parts: PlannedPart[] = [];
  let pos = 0;
  const copy = (start: number, end: number): boolean => {
    const k = Math.ceil((end - start) / lim.maxCopy);
    if (parts.length + k > lim.maxParts) return false;
    for (let i = 0; i < k; i++) {
      const s = start + Math.floor(((end - start) * i) / k);
      const e = start + Math.floor(((end - start) * (i + 1)) / k);
      parts.push({ partNumber: parts.length + 1, start: s, end: e, from: 'base' });
    }
    return true;
  };
  for (const [s, e] of regions) {
    if (s > pos && !copy(pos, s)) return undefined;
    const n = parts.length + 1;
    if (n - 1 + countParts(s, e, n, lim.store) > lim.maxParts) return undefined;
    for (const p of splitRange(s, e, n, lim.store)) parts.push({ ...p, from: 'local' });
    pos = e;
  }
  if (pos < size && !copy(pos, size)) return undefined;
  return parts;
}

function tooManyParts(size: number, lim: Limits): StoreError {
  return new StoreError('TooLarge', `an object of ${size} bytes does not fit in ${lim.maxParts} parts of the part size ladder`);
}
