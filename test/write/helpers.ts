/**
 * Helpers of the upload engine tests: temporary staged files, seeded random bytes, a store
 * wrapper with hooks and an in-flight counter, a fill() that fetches base bytes like the write
 * path does (ranged GET pinned with If-Match), and checks that a multipart upload is gone.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { after } from 'node:test';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isStoreError } from '../../src/errors/store-error.js';
import { FaultyStore } from '../../src/store/faulty/faulty-store.js';
import type { CompletedPart, ObjectStore, PutBody, WriteConditions } from '../../src/store/object-store.js';
import { mulberry32 } from '../../src/util/prng.js';
import type { Span } from '../../src/write/types.js';

export const MiB = 1024 * 1024;

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'objfs-upload-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * A maker of fresh journal directories `<root>/write/store1` (so recovered/ lands in
 * `<root>/write/recovered/store1`); every root is removed after the calling file's tests.
 */
export function journalDirs(prefix: string): () => string {
  const roots: string[] = [];
  after(() => {
    for (const r of roots) rmSync(r, { recursive: true, force: true });
  });
  return () => {
    const root = mkdtempSync(join(tmpdir(), prefix));
    roots.push(root);
    return join(root, 'write', 'store1');
  };
}

/** `n` pseudo-random bytes from `seed` (fast: 4 bytes per draw). */
export function randomBytesSeeded(n: number, seed: number): Buffer {
  const rand = mulberry32(seed);
  const buf = Buffer.alloc(n);
  let i = 0;
  for (; i + 4 <= n; i += 4) buf.writeUInt32LE(Math.floor(rand() * 0x1_0000_0000), i);
  for (; i < n; i++) buf[i] = Math.floor(rand() * 256);
  return buf;
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/**
 * Write a staged data file of `size` bytes holding `content`'s bytes only inside `present`
 * (holes elsewhere, like a lazily staged file).
 */
export async function writeStaged(path: string, content: Buffer, present: readonly Span[]): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.truncate(content.length);
    for (const [s, e] of present) if (e > s) await fh.write(content, s, e - s, s);
  } finally {
    await fh.close();
  }
}

export async function writeAt(path: string, data: Buffer, offset: number): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.write(data, 0, data.length, offset);
  } finally {
    await fh.close();
  }
}

/** A fill() like the write path's: ranged GETs of the base pinned to its ETag, recorded in `calls`. */
export function baseFill(store: ObjectStore, baseKey: string, etag: string, path: string): { fill: (spans: Span[], signal?: AbortSignal) => Promise<void>; calls: Span[][]; concurrent: { max: number } } {
  const calls: Span[][] = [];
  const concurrent = { max: 0 };
  let active = 0;
  const fill = async (spans: Span[], signal?: AbortSignal): Promise<void> => {
    calls.push(spans.map((s) => [s[0], s[1]] as const));
    active++;
    concurrent.max = Math.max(concurrent.max, active);
    try {
      for (const [s, e] of spans) {
        const { body } = await store.get(baseKey, { range: { start: s, end: e - 1 }, ifMatch: etag, ...(signal ? { signal } : {}) });
        await writeAt(path, body, s);
      }
    } finally {
      active--;
    }
  };
  return { fill, calls, concurrent };
}

/** The multipart upload `uploadId` no longer exists (aborted or completed). */
export async function assertNoUpload(store: ObjectStore, key: string, uploadId: string | undefined): Promise<void> {
  assert.ok(uploadId !== undefined, 'no upload id was reported');
  await assert.rejects(store.abortMultipart(key, uploadId), (e: unknown) => isStoreError(e, 'NoSuchUpload'));
}

export async function rejectsCode(p: Promise<unknown>, code: string): Promise<unknown> {
  let err: unknown;
  await assert.rejects(p, (e: unknown) => {
    err = e;
    return isStoreError(e) && e.code === code;
  });
  return err;
}

/** A FaultyStore that can run a hook before complete and counts parts in flight. */
export class HookStore extends FaultyStore {
  beforeComplete: (() => Promise<void>) | undefined;
  inflight = 0;
  maxInflight = 0;
  /** Parts whose FileSlice carried its bytes in memory; each was checked against the file. */
  partsFromMemory = 0;

  override async completeMultipart(key: string, uploadId: string, parts: CompletedPart[], conditions?: WriteConditions & { signal?: AbortSignal }): Promise<{ etag: string }> {
    const hook = this.beforeComplete;
    this.beforeComplete = undefined;
    await hook?.();
    return super.completeMultipart(key, uploadId, parts, conditions);
  }

  override async uploadPart(key: string, uploadId: string, partNumber: number, body: PutBody, signal?: AbortSignal): Promise<CompletedPart> {
    if (!Buffer.isBuffer(body) && body.buffers) {
      // The in-memory bytes must be exactly the slice's bytes of the file (the file is the truth).
      const fh = await open(body.path, 'r');
      try {
        const want = Buffer.alloc(body.length);
        await fh.read(want, 0, body.length, body.start);
        assert.ok(Buffer.concat(body.buffers).equals(want), `part ${partNumber}: in-memory bytes differ from the file`);
      } finally {
        await fh.close();
      }
      this.partsFromMemory++;
    }
    return this.counted(() => super.uploadPart(key, uploadId, partNumber, body, signal));
  }

  override async uploadPartCopy(
    key: string,
    uploadId: string,
    partNumber: number,
    source: { key: string; range?: { start: number; end: number }; ifMatch?: string },
    signal?: AbortSignal,
  ): Promise<CompletedPart> {
    return this.counted(() => super.uploadPartCopy(key, uploadId, partNumber, source, signal));
  }

  private async counted<T>(fn: () => Promise<T>): Promise<T> {
    this.inflight++;
    this.maxInflight = Math.max(this.maxInflight, this.inflight);
    try {
      return await fn();
    } finally {
      this.inflight--;
    }
  }
}

/** Every upload id reported to onUploadId, in order (undefined entries for "cleared"). */
export function uploadIdLog(): { log: (string | undefined)[]; onUploadId: (id: string | undefined) => void; last: () => string | undefined } {
  const log: (string | undefined)[] = [];
  return { log, onUploadId: (id) => void log.push(id), last: () => log.filter((x) => x !== undefined).at(-1) };
}
