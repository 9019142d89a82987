/**
 * Deterministic file versions for the crash tests: version v of `name` has a header line naming
 * itself and its size, then bytes derived from (name, v). parseVersion() tells whether a buffer
 * is exactly one complete version (never a mix of two).
 */
import { createHash } from 'node:crypto';

export function versionContent(name: string, v: number): Buffer {
  const seed = createHash('sha256').update(`${name}:${v}`).digest();
  const size = 100 + (seed.readUInt32LE(0) % (256 * 1024)) + (seed[4]! % 16 === 0 ? 6 * 1024 * 1024 : 0);
  const header = Buffer.from(`${name} v${v} size ${size}\n`);
  const body = Buffer.alloc(size);
  header.copy(body);
  for (let off = header.length, k = 0; off < size; off += 32, k++) {
    const block = createHash('sha256').update(seed).update(String(k)).digest();
    block.copy(body, off, 0, Math.min(32, size - off));
  }
  return body;
}

/** The (name, version) this buffer is exactly, or undefined if it is not one complete version. */
export function parseVersion(buf: Buffer): { name: string; v: number } | undefined {
  const nl = buf.indexOf(10);
  if (nl < 0 || nl > 200) return undefined;
  const m = /^(\S+) v(\d+) size (\d+)$/.exec(buf.subarray(0, nl).toString());
  if (!m) return undefined;
  const name = m[1] as string;
  const v = Number(m[2]);
  if (Number(m[3]) !== buf.length) return undefined;
  return versionContent(name, v).equals(buf) ? { name, v } : undefined;
}
