/**
 * Crash tests through a real mount of a MinIO bucket: a child objfs is killed with SIGKILL at
 * random points (seeded) while a writer process writes 200 files (with rewrites of earlier ones)
 * in each of the `idle` and `exit` sync modes; the mount is restarted on the same cache directory
 * after each kill. At the end every file whose close() had returned must be in the bucket as its
 * last closed version, byte for byte, and every object must be exactly one complete version (no
 * mix of two). Then SIGTERM during writes: objfs uploads what is pending and exits 0.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { adminClient, createBucket, minioSuiteOptions, startMinio, type MinioServer } from '../helpers/minio.js';
import { fuseUnavailableReason, startMount, type MountHandle } from '../helpers/mount-harness.js';
import { parseVersion } from './crash-content.js';
import { mulberry32 } from '../../src/util/prng.js';

const FILES = 200;
const writerJs = new URL('./crash-writer.js', import.meta.url).pathname;

interface WriterRun {
  closed: [string, number][];
  /** Versions whose writing started (closed or not), in order. */
  started: [string, number][];
  done: boolean;
}

/** Run the writer until it finishes or the mount dies under it; `kill` decides when objfs dies. */
async function runWriter(dir: string, first: number, count: number, seed: number, kill: () => Promise<void>, killAfterMs: number): Promise<WriterRun> {
  const child = spawn(process.execPath, [writerJs, dir, String(first), String(count), String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  // 'close', not 'exit': every line the writer printed must be read before judging
  const exited = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  const timer = setTimeout(() => void kill(), killAfterMs);
  const code = await exited;
  clearTimeout(timer);
  const lines = (kind: string) => out.split('\n').filter((l) => l.startsWith(kind + ' ')).map((l) => {
    const [, name, v] = l.split(' ');
    return [name as string, Number(v)] as [string, number];
  });
  return { closed: lines('closed'), started: lines('start'), done: code === 0 };
}

/** Fold a writer run into the expectations (see check()). */
function record(run: WriterRun, lastClosed: Map<string, number>, inFlight: Map<string, Set<number>>): void {
  const closed = new Set(run.closed.map(([n, v]) => `${n}@${v}`));
  for (const [name, v] of run.started) {
    if (closed.has(`${name}@${v}`)) {
      lastClosed.set(name, v);
      inFlight.delete(name);
    } else {
      const s = inFlight.get(name) ?? new Set<number>();
      s.add(v);
      inFlight.set(name, s);
    }
  }
}

describe('crash safety through a mount (SIGKILL and SIGTERM while writing)', { ...minioSuiteOptions(), ...(fuseUnavailableReason() ? { skip: fuseUnavailableReason() } : {}) }, () => {
  let minio: MinioServer | undefined;
  let work = '';
  before(async () => {
    minio = await startMinio();
    work = await mkdtemp(join(tmpdir(), 'objfs-crash-'));
  });
  after(async () => {
    await minio?.stop();
    if (work && !process.env["OBJFS_TEST_KEEP"]) await rm(work, { recursive: true, force: true });
  });

  const env = () => ({ AWS_ACCESS_KEY_ID: minio!.accessKey, AWS_SECRET_ACCESS_KEY: minio!.secretKey, AWS_EC2_METADATA_DISABLED: 'true' });
  const mountArgs = (cacheDir: string, sync: string) => ['--endpoint', minio!.endpoint, '--region', minio!.region, '--cache-dir', cacheDir, '--sync', sync, '--metadata-ttl', '1'];

  async function bucketContents(bucket: string): Promise<Map<string, Buffer>> {
    const s3 = adminClient(minio!);
    const out = new Map<string, Buffer>();
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
      for (const o of page.Contents ?? []) {
        const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key! }));
        out.set(o.Key!, Buffer.from(await r.Body!.transformToByteArray()));
      }
      token = page.NextContinuationToken;
    } while (token);
    return out;
  }

  const logs: string[] = [];
  /**
   * lastClosed: the version of each file whose close() returned last. inFlight: versions started
   * after that one whose close() did not return (killed meanwhile): they may have landed too
   * (the upload or journal record was done, only the answer was lost), so they are accepted.
   */
  function check(contents: Map<string, Buffer>, lastClosed: Map<string, number>, inFlight = new Map<string, Set<number>>()): void {
    try {
      checkContents(contents, lastClosed, inFlight);
    } catch (e) {
      (e as Error).message += `\nmount logs (newest last):\n${logs.slice(-6).join('\n----\n').slice(-12000)}`;
      if (process.env['OBJFS_TEST_KEEP']) {
        const listing = [...contents].map(([k, b]) => `${k} ${b.length} ${b.subarray(0, 30).toString().split('\n')[0]}`).join('\n');
        void import('node:fs').then((fs) => fs.writeFileSync(join(work, `logs-${Date.now()}.txt`), `${logs.join('\n----\n')}\n==== bucket\n${listing}\n==== last closed\n${[...lastClosed].join('\n')}`));
      }
      throw e;
    }
  }
  function checkContents(contents: Map<string, Buffer>, lastClosed: Map<string, number>, inFlight: Map<string, Set<number>>): void {
    for (const [key, body] of contents) {
      const v = parseVersion(body);
      assert.ok(v, `${key} is not one complete version (${body.length} bytes, starts ${JSON.stringify(body.subarray(0, 40).toString())})`);
      assert.equal(v.name, key, `${key} holds the content of ${v.name}`);
    }
    for (const [name, v] of lastClosed) {
      const body = contents.get(name);
      assert.ok(body, `${name}: close() returned (version ${v}) but it is not in the bucket`);
      const got = parseVersion(body)?.v as number;
      assert.ok(got === v || inFlight.get(name)?.has(got), `${name}: the bucket has version ${got}, the last closed was ${v} (unacknowledged later versions: ${[...(inFlight.get(name) ?? [])].join(', ') || 'none'})`);
    }
  }

  for (const sync of ['idle=1', 'exit']) {
    it(`--sync ${sync}: SIGKILL at random points while writing ${FILES} files loses nothing close() acknowledged`, async () => {
      const bucket = await createBucket(minio!, `crash-${sync.replace(/[^a-z]/g, '')}`);
      const cacheDir = join(work, `cache-${sync}`);
      const rnd = mulberry32(sync === 'exit' ? 7 : 11);
      const lastClosed = new Map<string, number>();
      const inFlight = new Map<string, Set<number>>();
      let next = 0;
      let kills = 0;
      let mount: MountHandle | undefined;
      try {
        while (next < FILES) {
          mount = await startMount({ remote: `s3://${bucket}`, args: mountArgs(cacheDir, sync), env: env(), logLevel: 'info' });
          const m = mount;
          const killAfter = 150 + Math.floor(rnd() * 800);
          const run = await runWriter(m.mountpoint, next, FILES - next, Math.floor(rnd() * 1e9), async () => {
            m.child.kill('SIGKILL');
            kills++;
          }, killAfter);
          record(run, lastClosed, inFlight);
          next += run.closed.length + (run.done ? 0 : 1); // the file being written when killed is skipped
          await m.dispose();
          if (process.env['OBJFS_TEST_KEEP']) {
            const fs = await import('node:fs');
            const jdirs = fs.readdirSync(join(cacheDir, 'write')).filter((d) => d !== 'recovered');
            for (const jd of jdirs) for (const f of fs.readdirSync(join(cacheDir, 'write', jd)).filter((x) => x.endsWith('.json'))) {
              const r = JSON.parse(fs.readFileSync(join(cacheDir, 'write', jd, f), 'utf8')) as { key: string; state: string; size: number; changedAt: number; seq: number; id: string };
              const data = fs.readFileSync(join(cacheDir, 'write', jd, r.id + '.data')).subarray(0, 30).toString().split('\n')[0];
              logs.push(`journal: ${r.id} ${r.key} ${r.state} size ${r.size} changedAt ${r.changedAt} seq ${r.seq} data: ${data}`);
            }
          }
          logs.push(`run ending at file ${next} (closed ${run.closed.map((c) => c.join('@')).join(' ')}):\n${m.stderr()}`);
          mount = undefined;
        }
        // A last mount recovers whatever the last kill left, then a clean stop uploads the rest.
        mount = await startMount({ remote: `s3://${bucket}`, args: mountArgs(cacheDir, sync), env: env() });
        await mount.stop();
        logs.push(`final mount:\n${mount.stderr()}`);
        mount = undefined;
        assert.ok(kills >= 2, `only ${kills} kill(s) happened; the test did not exercise crashes`);
        check(await bucketContents(bucket), lastClosed, inFlight);
        assert.ok(lastClosed.size > 50, `only ${lastClosed.size} distinct files were closed`);
      } finally {
        await mount?.dispose();
      }
    });
  }

  it('SIGTERM while writing (--sync exit): everything closed is uploaded and objfs exits 0', async () => {
    const bucket = await createBucket(minio!, 'crash-term');
    const cacheDir = join(work, 'cache-term');
    const mountpoint = await mkdtemp(join(work, 'mp-'));
    const mount = await startMount({ remote: `s3://${bucket}`, mountpoint, args: mountArgs(cacheDir, 'exit'), env: env() });
    const lastClosed = new Map<string, number>();
    try {
      const run = await runWriter(mount.mountpoint, 0, FILES, 5, async () => {
        await mount.stop(); // SIGTERM, waits for exit 0 and the mount to be gone
      }, 800);
      record(run, lastClosed, new Map());
      logs.push(`SIGTERM run (closed ${run.closed.map((c) => c.join('@')).join(' ')}):\n${mount.stderr()}`);
      await sleep(100);
      assert.ok(lastClosed.size > 0);
      check(await bucketContents(bucket), lastClosed);
      assert.match(mount.stderr(), /uploading/);
    } finally {
      await mount.dispose();
    }
  });
});
