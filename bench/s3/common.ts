/**
 * Pieces shared by the S3 benchmark's parent (run.ts) and its reader child (reader.ts): the
 * data set's shape, the deterministic byte generator and the seeded random offsets, so the parent
 * can check what a child read through a mount against the same bytes read directly.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { mulberry32 } from '../../src/util/prng.js';

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** The objects the benchmark uploads (all under one bucket, no directory marker objects). */
export const DATA = {
  bigKey: 'big/1gib.bin',
  bigSize: GiB,
  lsPrefix: 'ls10k/',
  lsCount: 10_000,
  lsSize: 256,
  treePrefix: 'tree/',
  treeDirs: 100,
  treePerDir: 100,
  treeSize: 128,
  smallPrefix: 'small/',
  smallCount: 1_000,
  smallSize: 16 * 1024,
  /** size of one random read, and of the tail read (a zip's central directory at the end) */
  randSize: 4096,
  tailSize: 64 * 1024,
} as const;

export const lsKey = (i: number): string => `${DATA.lsPrefix}f${String(i).padStart(5, '0')}`;
export const treeKey = (d: number, i: number): string =>
  `${DATA.treePrefix}d${String(d).padStart(2, '0')}/f${String(i).padStart(3, '0')}`;
export const smallKey = (i: number): string => `${DATA.smallPrefix}f${String(i).padStart(4, '0')}.bin`;

/** Deterministic pseudo-random bytes: the AES-128-CTR key stream of a key derived from `seed`. */
export class ByteStream {
  private readonly cipher;
  constructor(seed: string) {
    const h = createHash('sha256').update(seed).digest();
    this.cipher = createCipheriv('aes-128-ctr', h.subarray(0, 16), h.subarray(16, 32));
  }
  next(n: number): Buffer {
    return this.cipher.update(Buffer.alloc(n));
  }
}

/** Seeded PRNG for the random-read offsets (same offsets for every tool). */
export const prng = mulberry32;

/** `n` offsets of DATA.randSize-aligned blocks inside the big object, from `seed`. */
export function randomOffsets(n: number, seed: number): number[] {
  const r = prng(seed);
  const blocks = DATA.bigSize / DATA.randSize;
  return Array.from({ length: n }, () => Math.floor(r() * blocks) * DATA.randSize);
}

/** Offsets at which the sequential reader samples 16 bytes (one per 64 MiB, plus the last 16). */
export function sampleOffsets(size: number): number[] {
  const out: number[] = [];
  for (let o = 0; o + 16 <= size; o += 64 * MiB) out.push(o);
  if (size >= 16) out.push(size - 16);
  return out;
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * A table cell: the median of the rounds, followed by their range when there are several
 * ("303 MB/s (276-330)"): on this 2-core machine single rounds of the same tool differ by 20-60%,
 * and a reader judging a ratio near its goal needs to see that.
 */
export function medianWithRange(xs: number[], fmt: (v: number) => string): string {
  const v = fmt(median(xs));
  if (xs.length < 2) return v;
  const lo = fmt(Math.min(...xs)).split(' ')[0];
  const hi = fmt(Math.max(...xs)).split(' ')[0];
  return `${v} (${lo}-${hi})`;
}

/**
 * Ratios of two tools' values round by round (both measured in the same round), e.g.
 * "0.41 0.45 0.52": whether a ratio of medians near its goal is steady or rests on one round.
 * Empty when there is one round, or when either tool has fewer samples than `rounds` (a failed
 * round leaves no sample, and which round it was is not recorded, so nothing pairs up safely).
 */
export function pairedRatios(a: number[], b: number[], rounds: number): string {
  if (rounds < 2 || a.length !== rounds || b.length !== rounds) return '';
  return a.map((x, i) => (x / b[i]!).toFixed(2)).join(' ');
}

export const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};
