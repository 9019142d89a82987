/**
 * The bytes the write benchmark writes, computable at any offset without keeping a copy: an 8 MiB
 * seeded pseudo-random base repeated, with the absolute offset stamped (8 bytes, big-endian) at
 * the start of every 4 KiB block, so a block that lands at the wrong offset is caught. Shared by
 * the writer child (writer.ts), the direct SDK references and the checks in writes.ts.
 */
import { ByteStream, MiB } from './common.js';

const BASE = 8 * MiB;
const STAMP_EVERY = 4096;
const bases = new Map<string, Buffer>();

function base(seed: string): Buffer {
  let b = bases.get(seed);
  if (!b) {
    b = new ByteStream(`objfs-bench-s3/writes/${seed}`).next(BASE);
    bases.set(seed, b);
  }
  return b;
}

/** The `len` bytes at absolute offset `off` of the stream named `seed`. */
export function pattern(seed: string, off: number, len: number, into?: Buffer): Buffer {
  const out = into ?? Buffer.allocUnsafe(len);
  const src = base(seed);
  for (let p = 0; p < len; ) {
    const s = (off + p) % BASE;
    const n = Math.min(len - p, BASE - s);
    src.copy(out, p, s, s + n);
    p += n;
  }
  const stamp = Buffer.alloc(8);
  for (let s = Math.floor(off / STAMP_EVERY) * STAMP_EVERY; s < off + len; s += STAMP_EVERY) {
    stamp.writeBigUInt64BE(BigInt(s));
    const from = Math.max(s, off);
    const to = Math.min(s + 8, off + len);
    if (to > from) stamp.copy(out, from - off, from - s, to - s);
  }
  return out;
}

/** Offset of the first byte where `got` differs from the pattern at `off`, or -1. */
export function firstMismatch(seed: string, off: number, got: Buffer): number {
  const want = pattern(seed, off, got.length);
  if (want.equals(got)) return -1;
  for (let i = 0; i < got.length; i++) if (want[i] !== got[i]) return off + i;
  return off + got.length;
}

/** Name of small file i in the write benchmark's directories. */
export const smallName = (i: number): string => `f${String(i).padStart(4, '0')}.bin`;
