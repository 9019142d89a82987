/**
 * writeAll: write all of `buf` at `position` (FileHandle.write may write less than asked).
 * No state; the caller owns the handle.
 */
import type { FileHandle } from 'node:fs/promises';

export async function writeAll(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off, position + off);
    off += bytesWritten;
  }
}
