/**
 * The S3 read side end to end against a real MinIO: a bucket written by another tool (the SDK)
 * mounted by a child objfs process; listings with implicit directories and odd keys; byte-exact
 * reads; another client's changes seen after the metadata TTL; clear one-line failures for a
 * missing bucket and wrong credentials.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { PutObjectCommand, DeleteObjectCommand } from '@aws-sdk/client-s3';
import { adminClient, createBucket, requireMinio, startMinio, type MinioServer } from '../helpers/minio.js';
import { requireFuse, startMount, type MountHandle } from '../helpers/mount-harness.js';
import { mountsAt, readMountinfo } from '../helpers/mountinfo.js';
import { objfsBin } from '../helpers/paths.js';
import { NODE_FLAGS } from '../../src/cli/node-flags.js';

const run = promisify(execFile);

describe('s3 mount: read side against MinIO', () => {
  let minio: MinioServer | undefined;
  let bucket = '';
  let work = '';
  let mount: MountHandle | undefined;
  const big = randomBytes(20 * 1024 * 1024 + 12345);
  const env = () => ({ AWS_ACCESS_KEY_ID: minio!.accessKey, AWS_SECRET_ACCESS_KEY: minio!.secretKey, AWS_EC2_METADATA_DISABLED: 'true' });
  const put = (key: string, body: Buffer | string) => adminClient(minio!).send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));

  before(async () => {
    minio = await startMinio();
    bucket = await createBucket(minio, 'readside');
    work = await mkdtemp(join(tmpdir(), 'objfs-s3-'));
    await put('docs/readme.txt', 'hello from the SDK\n');
    await put('deep/a/b/c.txt', 'deep');
    await put('big.bin', big);
    await put('marker/', '');
    // (A key that is also a prefix, `a` and `a/b`, cannot be made on MinIO: it silently drops the
    // second. test/vfs/vfs.test.ts checks that case over the memory store.)
    await put('dots/x..y', 'dots inside a name are fine');
    await put('long/' + 'n'.repeat(250) + '.txt', 'a 254-byte name');
    await put('long/ok.txt', 'fine');
  });

  after(async () => {
    await mount?.stop().catch(() => undefined);
    await minio?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const startS3Mount = async (extra: string[] = []) =>
    startMount({
      remote: `s3://${bucket}`,
      args: ['--endpoint', minio!.endpoint, '--region', minio!.region, '--cache-dir', join(work, 'cache'), '--metadata-ttl', '1', ...extra],
      env: env(),
    });

  it('lists a bucket written by another tool: implicit dirs, markers, long names', async (t) => {
    if (!requireMinio(t) || !requireFuse(t)) return;
    mount = await startS3Mount();
    const mp = mount.mountpoint;
    assert.deepEqual((await readdir(mp)).sort(), ['big.bin', 'deep', 'docs', 'dots', 'long', 'marker']);
    assert.ok((await stat(join(mp, 'deep/a'))).isDirectory(), 'implicit directory');
    assert.equal((await readFile(join(mp, 'dots/x..y'))).toString(), 'dots inside a name are fine');
    assert.deepEqual((await readdir(join(mp, 'long'))).sort(), ['n'.repeat(250) + '.txt', 'ok.txt']);
    assert.deepEqual(await readdir(join(mp, 'marker')), []);
    assert.equal((await readFile(join(mp, 'deep/a/b/c.txt'))).toString(), 'deep');
    const { stdout } = await run('ls', ['-l', join(mp, 'docs')]);
    assert.match(stdout, /19 .* readme\.txt/);
  });

  it('reads a 20 MiB object byte for byte, twice (the second time from the caches)', async (t) => {
    if (!requireMinio(t) || !requireFuse(t) || !mount) return;
    const want = createHash('sha256').update(big).digest('hex');
    for (let i = 0; i < 2; i++) {
      const got: string = createHash("sha256").update(await readFile(join(mount.mountpoint, 'big.bin'))).digest('hex');
      assert.equal(got, want, `read ${i + 1}`);
    }
  });

  it("another client's new, changed and deleted objects are seen after the metadata TTL", async (t) => {
    if (!requireMinio(t) || !requireFuse(t) || !mount) return;
    const mp = mount.mountpoint;
    assert.equal((await readFile(join(mp, 'docs/readme.txt'))).toString(), 'hello from the SDK\n');
    await put('docs/readme.txt', 'changed by someone else\n');
    await put('docs/new.txt', 'new');
    await adminClient(minio!).send(new DeleteObjectCommand({ Bucket: bucket, Key: 'deep/a/b/c.txt' }));
    await sleep(2500);
    assert.equal((await readFile(join(mp, 'docs/readme.txt'))).toString(), 'changed by someone else\n');
    assert.deepEqual((await readdir(join(mp, 'docs'))).sort(), ['new.txt', 'readme.txt']);
    await assert.rejects(stat(join(mp, 'deep/a/b/c.txt')), { code: 'ENOENT' });
    await mount.stop();
    mount = undefined;
  });

  it('a missing bucket and wrong credentials fail with one clear line and mount nothing', async (t) => {
    if (!requireMinio(t) || !requireFuse(t)) return;
    const mp = join(work, 'mnt-bad');
    await mkdir(mp, { recursive: true });
    const base = ['mount', '--endpoint', minio!.endpoint, '--region', minio!.region, '--cache-dir', join(work, 'cache2')];
    const attempt = async (remote: string, envv: NodeJS.ProcessEnv) => {
      try {
        await run(process.execPath, [...NODE_FLAGS, objfsBin(), base[0]!, remote, mp, ...base.slice(1)], { env: { ...process.env, ...envv }, timeout: 60_000 });
        return { code: 0, stderr: '' };
      } catch (e) {
        return { code: (e as { code: number }).code, stderr: String((e as { stderr: string }).stderr) };
      }
    };
    const missing = await attempt('s3://no-such-bucket-objfs', env());
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr.trim().split('\n').length, 1, missing.stderr);
    assert.match(missing.stderr, /no-such-bucket-objfs/);
    const denied = await attempt(`s3://${bucket}`, { ...env(), AWS_SECRET_ACCESS_KEY: 'wrong-secret' });
    assert.equal(denied.code, 1);
    assert.equal(denied.stderr.trim().split('\n').length, 1, denied.stderr);
    assert.match(denied.stderr, /denied|credentials|signature/i);
    assert.doesNotMatch(denied.stderr, /wrong-secret/, 'secrets are never echoed');
    assert.equal(mountsAt(await readMountinfo(), mp).length, 0);
  });
});
