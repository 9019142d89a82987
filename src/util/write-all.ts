/**
 * File writes: writeAll (all of a buffer at a position; FileHandle.write may write less than
 * asked) and the one rule for when a write goes through an O_DIRECT descriptor (directWorthIt),
 * used by the block cache. No state; callers own their handles.
 *
 * O_DIRECT skips the copy into page-cache pages (on this 2-core machine the largest single CPU
 * cost of large writes and cold reads). It needs offset, length and memory aligned to the disk's
 * logical block (4 KiB covers every disk), and it makes the write wait for the disk, which only
 * pays for large writes: 128 KiB direct writes were slower than buffered ones here.
 */
import type { FileHandle } from 'node:fs/promises';

export const DIRECT_ALIGN = 4096;
export const DIRECT_MIN = 512 * 1024;

/** Large enough and aligned (offset and length) for an O_DIRECT write; memory alignment is the caller's. */
export function directWorthIt(length: number, offset: number): boolean {
  return length >= DIRECT_MIN && length % DIRECT_ALIGN === 0 && offset % DIRECT_ALIGN === 0;
}

export async function writeAll(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off, position + off);
    off += bytesWritten;
  }
}
