/**
 * Small utilities shared by the conformance cases and the mount tests: errno assertions,
 * a seeded PRNG (so generated data and names are reproducible), a bounded-concurrency map,
 * and file-type helpers.
 */
import assert from 'node:assert/strict';
import { mulberry32 } from '../../src/util/prng.js';

export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;
export const S_IFIFO = 0o010000;

export function fileType(mode: number): 'file' | 'dir' | 'symlink' | 'fifo' | 'other' {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return 'file';
    case S_IFDIR:
      return 'dir';
    case S_IFLNK:
      return 'symlink';
    case S_IFIFO:
      return 'fifo';
    default:
      return 'other';
  }
}

/**
 * Assert that `p` rejects with an error whose `code` is one of `codes` (errno names).
 * `what` describes the operation for the failure message.
 */
export async function expectCode(p: Promise<unknown>, codes: string | string[], what: string): Promise<void> {
  const want = Array.isArray(codes) ? codes : [codes];
  let result: unknown;
  try {
    result = await p;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    assert.ok(
      typeof code === 'string' && want.includes(code),
      `${what}: expected ${want.join(' or ')}, got ${String(code)} (${(err as Error).message})`,
    );
    return;
  }
  assert.fail(`${what}: expected ${want.join(' or ')}, but it succeeded${result === undefined ? '' : ` (${JSON.stringify(result)})`}`);
}

/** Error code of a rejected promise, or undefined when it resolves. */
export async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return String((err as { code?: unknown }).code);
  }
}

export const prng = mulberry32;

export function randInt(rand: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rand() * (hi - lo + 1));
}

export function pick<T>(rand: () => number, items: readonly T[]): T {
  const v = items[Math.floor(rand() * items.length)];
  if (v === undefined) throw new Error('pick from an empty list');
  return v;
}

/** Deterministic pseudo-random bytes (fast: fills 32-bit words). */
export function seededBytes(seed: number, length: number): Buffer {
  const rand = prng(seed);
  const buf = Buffer.alloc(length);
  let i = 0;
  for (; i + 4 <= length; i += 4) buf.writeUInt32LE(Math.floor(rand() * 4294967296), i);
  for (; i < length; i++) buf[i] = Math.floor(rand() * 256);
  return buf;
}

/** Run fn over items with at most `limit` in flight; results in input order; first error wins. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  async function worker(): Promise<void> {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      out[i] = await fn(items[i] as T, i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, () => worker()));
  return out;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Sorted copy (for comparing directory listings, which come in any order). */
export function sorted(names: readonly string[]): string[] {
  return [...names].sort();
}
