/**
 * writeAll / writevAll: write all of `buf` (or of several buffers, in order) at `position`
 * (FileHandle.write and writev may write less than asked). No state; the caller owns the handle.
 */
import type { FileHandle } from 'node:fs/promises';

export async function writeAll(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off, position + off);
    off += bytesWritten;
  }
}

/** writev all of `bufs` at `position`, in order (FileHandle.writev may write less than asked). */
export async function writevAll(fh: FileHandle, bufs: readonly Buffer[], position: number): Promise<void> {
  const rest = bufs.filter((b) => b.length > 0);
  let pos = position;
  while (rest.length > 0) {
    const { bytesWritten } = await fh.writev(rest, pos);
    pos += bytesWritten;
    let n = bytesWritten;
    while (rest.length > 0 && n >= rest[0]!.length) n -= rest.shift()!.length;
    if (n > 0) rest[0] = rest[0]!.subarray(n);
  }
}
