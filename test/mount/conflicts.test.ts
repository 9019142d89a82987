/**
 * Conflicts with a second writer, through a real mount of a MinIO bucket: a program has a file
 * open for writing in the mount while another client (the SDK) replaces the object; at close the
 * --conflict policy decides. One case per policy, plus two new files of the same name.
 * Mounts run in child processes (test/helpers/mount-harness.ts).
 */
import assert from 'node:assert/strict';
import { open, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { adminClient, createBucket, minioSuiteOptions, startMinio, type MinioServer } from '../helpers/minio.js';
import { fuseUnavailableReason, startMount } from '../helpers/mount-harness.js';

describe('conflicts through a mount: the mount and the SDK write the same object', { ...minioSuiteOptions(), ...(fuseUnavailableReason() ? { skip: fuseUnavailableReason() } : {}) }, () => {
  let minio: MinioServer | undefined;
  let work = '';
  before(async () => {
    minio = await startMinio();
    work = await mkdtemp(join(tmpdir(), 'objfs-conflict-'));
  });
  after(async () => {
    await minio?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const env = () => ({ AWS_ACCESS_KEY_ID: minio!.accessKey, AWS_SECRET_ACCESS_KEY: minio!.secretKey, AWS_EC2_METADATA_DISABLED: 'true' });
  const s3 = () => adminClient(minio!);
  const get = async (bucket: string, key: string) => (await (await s3().send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString());
  const put = (bucket: string, key: string, body: string) => s3().send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  const keys = async (bucket: string) => ((await s3().send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((o) => o.Key!).sort();

  async function race(policy: string, newFile = false) {
    const bucket = await createBucket(minio!, `conflict-${policy}${newFile ? '-new' : ''}`);
    if (!newFile) await put(bucket, 'doc.txt', 'base version');
    const mount = await startMount({
      remote: `s3://${bucket}`, env: env(),
      args: ['--endpoint', minio!.endpoint, '--region', minio!.region, '--cache-dir', join(work, policy + (newFile ? '-new' : '')), '--conflict', policy, '--metadata-ttl', '1'],
    });
    let closeError: NodeJS.ErrnoException | undefined;
    try {
      const fh = await open(join(mount.mountpoint, 'doc.txt'), newFile ? 'wx' : 'r+');
      await fh.write(Buffer.from('OURS'), 0, 4, 0);
      await put(bucket, 'doc.txt', 'their version, written meanwhile');
      await fh.close().catch((e: NodeJS.ErrnoException) => (closeError = e));
      await mount.stop();
    } finally {
      await mount.dispose();
    }
    return { bucket, closeError, stderr: mount.stderr() };
  }

  it('keep-both (default): theirs stays under the name, ours is the conflict copy', async () => {
    const { bucket, closeError } = await race('keep-both');
    assert.equal(closeError, undefined);
    assert.equal(await get(bucket, 'doc.txt'), 'their version, written meanwhile');
    const copies = (await keys(bucket)).filter((k) => k.startsWith('doc.txt.conflict-'));
    assert.equal(copies.length, 1, `keys: ${(await keys(bucket)).join(', ')}`);
    assert.equal(await get(bucket, copies[0]!), 'OURS version');
  });

  it('overwrite: ours replaces theirs', async () => {
    const { bucket, closeError } = await race('overwrite');
    assert.equal(closeError, undefined);
    assert.equal(await get(bucket, 'doc.txt'), 'OURS version');
    assert.deepEqual(await keys(bucket), ['doc.txt']);
  });

  it('fail: close() returns EIO, theirs stays, ours is kept locally and the log says where', async () => {
    const { bucket, closeError, stderr } = await race('fail');
    assert.equal(closeError?.code, 'EIO');
    assert.equal(await get(bucket, 'doc.txt'), 'their version, written meanwhile');
    assert.deepEqual(await keys(bucket), ['doc.txt']);
    assert.match(stderr, /conflict.*kept in/);
  });

  it('two new files of the same name (If-None-Match): neither is lost (keep-both)', async () => {
    const { bucket, closeError } = await race('keep-both', true);
    assert.equal(closeError, undefined);
    assert.equal(await get(bucket, 'doc.txt'), 'their version, written meanwhile');
    const copies = (await keys(bucket)).filter((k) => k.startsWith('doc.txt.conflict-'));
    assert.equal(copies.length, 1);
    assert.equal(await get(bucket, copies[0]!), 'OURS');
  });
});
