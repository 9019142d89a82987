/**
 * The read path of the Vfs over the real S3 store on MinIO, in process (no FUSE), with a
 * FaultyStore counting bytes: lazy range reads (a zip's central directory), ETag pinning, and
 * exact bytes through injected 500s, resets and hangs (a fault proxy in front of MinIO).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { adminClient, createBucket, requireMinio, startMinio, type MinioServer } from '../helpers/minio.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { S3Store } from '../../src/store/s3/s3-store.js';
import { FaultyStore } from '../../src/store/faulty/faulty-store.js';
import { VfsDriver } from '../conformance/vfs-driver.js';
import { BlockCache } from '../../src/cache/block-cache.js';
import { PutObjectCommand } from '@aws-sdk/client-s3';

describe('vfs over S3 (MinIO): read path', () => {
  let minio: MinioServer | undefined;
  let proxy: FaultProxy | undefined;
  let bucket = '';
  let work = '';
  const store = (endpoint?: string) =>
    new S3Store({
      bucket, endpoint: endpoint ?? minio!.endpoint, region: minio!.region,
      credentials: { accessKeyId: minio!.accessKey, secretAccessKey: minio!.secretKey },
      retryBaseDelayMs: 10, retryMaxDelayMs: 50, idleTimeoutMs: 2000, requestTimeoutMs: 3000, maxAttempts: 8,
    });

  before(async () => {
    minio = await startMinio();
    bucket = await createBucket(minio, 'vfsread');
    work = await mkdtemp(join(tmpdir(), 'objfs-s3vfs-'));
  });
  after(async () => {
    await proxy?.close();
    await minio?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('reading the end of a 256 MiB "zip" transfers a few MiB, not the file', async (t) => {
    if (!requireMinio(t)) return;
    const size = 256 * 1024 * 1024;
    const file = join(work, 'zip');
    const body = Buffer.alloc(size);
    for (let off = 0; off < size; off += 1 << 20) randomBytes(4096).copy(body, off);
    await writeFile(file, body);
    const s3 = store();
    await s3.put('archive.zip', { path: file, start: 0, length: size });
    const faulty = new FaultyStore(s3);
    const cache = await BlockCache.open({ dir: join(work, 'cache-zip'), maxBytes: 64 << 20 });
    const d = await VfsDriver.create({ store: faulty, blockCache: cache });
    try {
      const f = await d.open('/archive.zip', 'r');
      const tail = await f.pread(64 * 1024, size - 64 * 1024); // end of central directory
      assert.ok(tail.equals(body.subarray(size - 64 * 1024)));
      for (const off of [10 << 20, 100 << 20, 200 << 20]) assert.ok((await f.pread(30, off)).equals(body.subarray(off, off + 30)));
      await f.close();
      const got = faulty.stats().bytesOut;
      assert.ok(got <= 8 * 1024 * 1024, `transferred ${got} bytes for a 256 MiB object`);
    } finally {
      await d.cleanup();
      await cache.close();
    }
  });

  it('reads stay pinned to the version seen at open', async (t) => {
    if (!requireMinio(t)) return;
    const s3 = store();
    await s3.put('pinned', randomBytes(3 << 20));
    const d = await VfsDriver.create({ store: s3 });
    try {
      const f = await d.open('/pinned', 'r');
      await f.pread(4096, 0);
      await adminClient(minio!).send(new PutObjectCommand({ Bucket: bucket, Key: 'pinned', Body: randomBytes(3 << 20) }));
      await assert.rejects(f.pread(4096, 2 << 20), { code: 'EIO' });
      await f.close();
    } finally {
      await d.cleanup();
    }
  });

  it('exact bytes through injected 500s, 503s, connection resets and hangs', async (t) => {
    if (!requireMinio(t)) return;
    const data = randomBytes(24 * 1024 * 1024 + 777);
    await store().put('faulty.bin', data);
    proxy = await startFaultProxy(minio!.endpoint);
    const s3 = store(proxy.endpoint);
    const d = await VfsDriver.create({ store: s3 });
    try {
      // object GETs only (a LIST is a GET too): faults land on the ranged reads, spread over parts
      const isGet = (r: { method: string; url: string }) => r.method === 'GET' && r.url.includes('/faulty.bin') && !r.url.includes('list-type');
      // at most 6 faults in a row, so even a request that meets them all succeeds within 8 attempts
      proxy.inject({ fault: 'status', status: 500, times: 2, match: isGet });
      proxy.inject({ fault: 'status', status: 503, times: 1, match: isGet });
      proxy.inject({ fault: 'reset', times: 2, match: isGet });
      proxy.inject({ fault: 'hang', times: 1, match: isGet });
      const got = await d.readFile('/faulty.bin');
      assert.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(data).digest('hex'));
      assert.ok(proxy.stats.faults >= 6, `faults injected: ${proxy.stats.faults}`);
    } finally {
      await d.cleanup();
      await s3.close();
    }
  });
});
