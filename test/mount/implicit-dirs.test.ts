/**
 * Implicit directories (no marker object, only keys below them) through a real mount with
 * --metadata-ttl 0, over a file:// bucket and over an s3:// bucket on MinIO:
 *   - `rm -r` of an implicit directory of 200 files (and an implicit sub-directory) exits 0: the
 *     directory stays until its rmdir although the store stops showing it with its last key;
 *   - `mv` of an implicit directory of 200 files exits 0, everything is under the new name, and
 *     the mount logs no MaxListenersExceededWarning (the copies share the request's signal).
 * The objects are put through the store API (as another tool would), so no marker exists.
 * Mounts run in child processes (test/helpers/mount-harness.ts); everything is stopped in `after`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fuseUnavailableReason, startMount, tail, type MountHandle } from '../helpers/mount-harness.js';
import { createBucket, minioCredentials, minioSuiteOptions, startMinio, type MinioServer } from '../helpers/minio.js';
import { openStore } from '../../src/store/open-store.js';
import type { ObjectStore } from '../../src/store/object-store.js';

const STEP_MS = 120_000;
const FILES = 200;

function run(file: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8', timeout: STEP_MS }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

/** FILES objects under `dir/` (the last 20 in `dir/sub/`), put 16 at a time. */
async function seed(store: ObjectStore, dir: string): Promise<void> {
  const keys = Array.from({ length: FILES }, (_, i) => (i < FILES - 20 ? `${dir}/f${i}` : `${dir}/sub/g${i}`));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < keys.length) {
      const key = keys[next++]!;
      await store.put(key, Buffer.from(`content of ${key}\n`));
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

async function keysUnder(store: ObjectStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    const page = await store.list({ prefix, ...(token === undefined ? {} : { continuationToken: token }) });
    out.push(...page.objects.map((o) => o.key));
    token = page.nextToken;
  } while (token !== undefined);
  return out;
}

interface Backend {
  setup(work: string): Promise<void>;
  store(): ObjectStore;
  mountOpts(): { remote: string; args: string[]; env: NodeJS.ProcessEnv };
  teardown(): Promise<void>;
}

const fileBackend = (): Backend => {
  let work = '';
  let store: ObjectStore | undefined;
  const remote = (): string => `file://${join(work, 'bucket')}`;
  return {
    async setup(w) {
      work = w;
      await mkdir(join(work, 'bucket'));
      store = openStore(remote());
    },
    store: () => store!,
    mountOpts: () => ({ remote: remote(), args: ['--cache-dir', join(work, 'cache'), '--metadata-ttl', '0'], env: { XDG_CACHE_HOME: join(work, 'xdg') } }),
    async teardown() {
      await store?.close();
    },
  };
};

const s3Backend = (): Backend => {
  let work = '';
  let minio: MinioServer | undefined;
  let bucket = '';
  let store: ObjectStore | undefined;
  return {
    async setup(w) {
      work = w;
      minio = await startMinio();
      bucket = await createBucket(minio);
      store = openStore(`s3://${bucket}`, { s3: { endpoint: minio.endpoint, region: minio.region, credentials: minioCredentials(minio) } });
    },
    store: () => store!,
    mountOpts: () => ({
      remote: `s3://${bucket}`,
      args: ['--endpoint', minio!.endpoint, '--region', minio!.region, '--cache-dir', join(work, 'cache'), '--metadata-ttl', '0'],
      env: { AWS_ACCESS_KEY_ID: minio!.accessKey, AWS_SECRET_ACCESS_KEY: minio!.secretKey, AWS_EC2_METADATA_DISABLED: 'true', XDG_CACHE_HOME: join(work, 'xdg') },
    }),
    async teardown() {
      await store?.close();
      await minio?.stop();
    },
  };
};

const fuseMissing = fuseUnavailableReason();
const fuseSkip = fuseMissing && process.env['CI'] !== 'true' ? fuseMissing : false;

function suite(name: string, backend: Backend, suiteOpts: { skip?: string | boolean }): void {
  describe(`implicit directories in a mount (--metadata-ttl 0): ${name}`, { concurrency: 1, ...suiteOpts, ...(fuseSkip ? { skip: fuseSkip } : {}) }, () => {
    let work = '';
    let m: MountHandle | undefined;
    const mnt = (): string => {
      if (!m) throw new Error('no mount (set-up failed)');
      return m.mountpoint;
    };

    before(
      async () => {
        if (fuseMissing) throw new Error(`real-mount tests cannot run in CI: ${fuseMissing}`);
        work = await mkdtemp(join(tmpdir(), 'objfs-implicit-'));
        await backend.setup(work);
        await seed(backend.store(), 'rm');
        await seed(backend.store(), 'mv');
        m = await startMount(backend.mountOpts());
      },
      { timeout: STEP_MS },
    );
    after(
      async () => {
        const h = m;
        m = undefined;
        try {
          if (h) await h.stop(); // stop() cleans up (SIGKILL, lazy unmount) before it reports a bad exit
        } finally {
          await backend.teardown();
          if (work) await rm(work, { recursive: true, force: true });
        }
      },
      { timeout: STEP_MS },
    );

    it(`rm -r of an implicit directory of ${FILES} files exits 0 and leaves nothing`, { timeout: STEP_MS }, async () => {
      assert.deepEqual((await keysUnder(backend.store(), 'rm/')).filter((k) => k.endsWith('/')), [], 'no marker objects');
      const r = await run('rm', ['-r', join(mnt(), 'rm')]);
      assert.equal(r.code, 0, `rm -r exited ${String(r.code)}: ${r.out.slice(0, 2000)}\n--- mount stderr ---\n${tail(m?.stderr() ?? '', 15)}`);
      assert.deepEqual(await keysUnder(backend.store(), 'rm/'), []);
      assert.deepEqual((await readdir(mnt())).sort(), ['mv']);
    });

    it(`mv of an implicit directory of ${FILES} files moves everything and logs no MaxListenersExceededWarning`, { timeout: STEP_MS }, async () => {
      const r = await run('mv', [join(mnt(), 'mv'), join(mnt(), 'moved')]);
      assert.equal(r.code, 0, `mv exited ${String(r.code)}: ${r.out.slice(0, 2000)}`);
      assert.deepEqual(await keysUnder(backend.store(), 'mv/'), []);
      assert.equal((await keysUnder(backend.store(), 'moved/')).length, FILES);
      assert.equal((await readdir(join(mnt(), 'moved'))).length, FILES - 20 + 1);
      assert.doesNotMatch(m?.stderr() ?? '', /MaxListenersExceededWarning/);
    });
  });
}

suite('file://', fileBackend(), {});
suite('s3:// (MinIO)', s3Backend(), minioSuiteOptions());
