/**
 * FileData: the local, writable copy of one file while it is being changed ("staging").
 * One FileData per inode (not per handle), so every handle of a file sees the same bytes.
 *
 * Design: the first change to a file (write, truncate, O_TRUNC, create) stages it into a sparse
 * file under the staging directory, downloading the current object first unless the change
 * replaces it all. Writes go to that file; an upload (close, fsync, or a path-level truncate)
 * sends it as one object. Memory use is bounded: downloads go in 8 MiB ranges, uploads stream
 * from the file (FileSlice bodies).
 *
 * Locking: `mutex` serialises staging, writes, truncation and upload of this file, so an upload
 * never reads a file a write is changing and two uploads never overlap. Reads of staged data take
 * the mutex too (cheap) so they never see a half-applied truncate.
 */
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Mutex } from '../util/mutex.js';
import type { ObjectStore } from '../store/object-store.js';

const DOWNLOAD_CHUNK = 8 * 1024 * 1024;

export class FileData {
  readonly mutex = new Mutex();
  private fh: FileHandle | undefined;
  private path: string | undefined;
  size = 0;
  dirty = false;

  constructor(private readonly stagingDir: string) {}

  get staged(): boolean {
    return this.fh !== undefined;
  }

  get stagePath(): string | undefined {
    return this.path;
  }

  /** Create the staging file; fill it from the object unless `empty`. Caller holds the mutex. */
  async stage(store: ObjectStore, key: string, etag: string | undefined, objectSize: number, empty: boolean, signal?: AbortSignal): Promise<void> {
    if (this.fh) return;
    const path = join(this.stagingDir, `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`);
    const fh = await open(path, 'w+', 0o600);
    try {
      if (!empty && objectSize > 0) {
        for (let off = 0; off < objectSize; off += DOWNLOAD_CHUNK) {
          const end = Math.min(objectSize, off + DOWNLOAD_CHUNK) - 1;
          const { body } = await store.get(key, { range: { start: off, end }, ...(etag ? { ifMatch: etag } : {}), signal });
          await fh.write(body, 0, body.length, off);
        }
      }
    } catch (e) {
      await fh.close().catch(() => undefined);
      await unlink(path).catch(() => undefined);
      throw e;
    }
    this.fh = fh;
    this.path = path;
    this.size = empty ? 0 : objectSize;
  }

  async read(size: number, offset: number): Promise<Buffer> {
    const fh = this.fh;
    if (!fh || offset >= this.size) return Buffer.alloc(0);
    const len = Math.min(size, this.size - offset);
    const buf = Buffer.allocUnsafe(len);
    let done = 0;
    while (done < len) {
      const { bytesRead } = await fh.read(buf, done, len - done, offset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    // bytes past the end of the sparse file's data (after a grow) read as zeros
    if (done < len) buf.fill(0, done);
    return buf;
  }

  async write(data: Buffer, offset: number): Promise<number> {
    const fh = this.fh;
    if (!fh) throw new Error('write to a file that is not staged');
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await fh.write(data, done, data.length - done, offset + done);
      done += bytesWritten;
    }
    this.size = Math.max(this.size, offset + data.length);
    this.dirty = true;
    return data.length;
  }

  async truncate(size: number): Promise<void> {
    const fh = this.fh;
    if (!fh) throw new Error('truncate of a file that is not staged');
    await fh.truncate(size);
    this.size = size;
    this.dirty = true;
  }

  /** Flush staged bytes to the local disk (before an upload, so a crash cannot lose acknowledged data). */
  async sync(): Promise<void> {
    await this.fh?.datasync();
  }

  /** Drop the staging file. Caller must know it is clean (or that the data is to be discarded). */
  async discard(): Promise<void> {
    const fh = this.fh;
    const path = this.path;
    this.fh = undefined;
    this.path = undefined;
    this.dirty = false;
    if (fh) await fh.close().catch(() => undefined);
    if (path) await unlink(path).catch(() => undefined);
  }
}
