/**
 * readRange: `length` bytes at `offset` of a file, read into one fresh Buffer (fewer only where
 * the file ends). Opens and closes the file itself; no state.
 */
import { open } from 'node:fs/promises';

export async function readRange(path: string, offset: number, length: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done === length ? buf : buf.subarray(0, done);
  } finally {
    await fh.close();
  }
}
