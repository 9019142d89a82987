/**
 * A real MinIO server for S3 tests, on loopback only:
 *
 *   if (!requireMinio(t)) return;            // or: before(...) + a skip when unavailable
 *   const minio = await startMinio();
 *   const bucket = await createBucket(minio); // fresh bucket, unique name
 *   ... new S3Store({ bucket, endpoint: minio.endpoint, credentials: minioCredentials(minio) }) ...
 *   await minio.stop();                      // kills the server, removes its data directory
 *
 * startMinio() picks two free ports on 127.0.0.1 (API and console), makes a temporary data
 * directory, and runs `minio server --quiet --address 127.0.0.1:P --console-address
 * 127.0.0.1:P2 DIR` with fixed test credentials, the browser, update checks and call-home off.
 * It resolves once GET /minio/health/live answers 200 (60 s limit; if the process exits first it
 * rejects with its exit status and the tail of its output). A port taken in the meantime by
 * someone else makes MinIO exit at once; start-up is then tried again on new ports (3 tries).
 *
 * Finding the binary: `minio` on PATH, else $GOPATH/bin, ~/go/bin, `go env GOPATH`/bin
 * (scripts/install-minio.sh builds it there). requireMinio(t) skips a test with the reason when
 * there is none, but with CI=true it throws: a CI run must not silently skip the S3 tests.
 *
 * Safety net (like mount-harness.ts): every live server is in a module-level registry; on process
 * exit and on SIGINT/SIGTERM/SIGHUP whatever is left is SIGKILLed and its data directory removed
 * synchronously. Ownership: the registry belongs to this module; servers are only added by
 * startMinio and removed by stop() or the safety net.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { TestContext } from 'node:test';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutBucketPolicyCommand,
  S3Client,
} from '@aws-sdk/client-s3';

export interface MinioServer {
  /** http://127.0.0.1:PORT */
  readonly endpoint: string;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly region: string;
  readonly dataDir: string;
  readonly pid: number;
  /** Kill the server and remove its data directory. Idempotent. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;
const OUTPUT_KEEP = 16 * 1024;
const ACCESS_KEY = 'objfs-test-admin';
const SECRET_KEY = 'objfs-test-secret-do-not-use';
const REGION = 'us-east-1';

interface Live {
  child: ChildProcess;
  dataDir: string;
}
const live = new Set<Live>();
let handlersInstalled = false;
let cachedBinary: string | null | undefined;

/** Path of the minio binary, or undefined when there is none. */
export function minioBinary(): string | undefined {
  if (cachedBinary !== undefined) return cachedBinary ?? undefined;
  const candidates: string[] = [];
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) if (dir !== '') candidates.push(join(dir, 'minio'));
  if (process.env['GOPATH']) for (const p of process.env['GOPATH'].split(delimiter)) candidates.push(join(p, 'bin', 'minio'));
  candidates.push(join(homedir(), 'go', 'bin', 'minio'));
  let found = candidates.find((c) => existsSync(c));
  if (found === undefined) {
    try {
      const gopath = execFileSync('go', ['env', 'GOPATH'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      const c = join(gopath.split(delimiter)[0] ?? '', 'bin', 'minio');
      if (gopath !== '' && existsSync(c)) found = c;
    } catch {
      // no Go: nothing more to look at
    }
  }
  cachedBinary = found ?? null;
  return found;
}

/** Why MinIO tests cannot run here, or undefined when they can. */
export function minioUnavailableReason(): string | undefined {
  return minioBinary() === undefined ? 'no minio binary on PATH or in $(go env GOPATH)/bin (run scripts/install-minio.sh)' : undefined;
}

export const minioAvailable = (): boolean => minioUnavailableReason() === undefined;

/**
 * Gate for a test (or a suite's first test): true when MinIO is available; otherwise skips `t`
 * with the reason and returns false -- except with CI=true, where a missing MinIO is a failure.
 */
export function requireMinio(t: TestContext): boolean {
  const reason = minioUnavailableReason();
  if (!reason) return true;
  if (process.env['CI'] === 'true') throw new Error(`S3 tests cannot run in CI: ${reason}`);
  t.diagnostic(`skipping: ${reason}`);
  t.skip(reason);
  return false;
}

/** Options for describe()/test(): `{ skip: reason }` when MinIO is missing (throws under CI=true). */
export function minioSuiteOptions(): { skip?: string } {
  const reason = minioUnavailableReason();
  if (!reason) return {};
  if (process.env['CI'] === 'true') throw new Error(`S3 tests cannot run in CI: ${reason}`);
  return { skip: reason };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function healthy(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/minio/health/live`, { signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** Start a fresh MinIO server (see the module doc). */
export async function startMinio(): Promise<MinioServer> {
  const bin = minioBinary();
  if (bin === undefined) throw new Error(minioUnavailableReason());
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(bin);
    } catch (e) {
      lastError = e as Error;
      if (!/exited/.test(lastError.message)) break; // only a lost port race is worth another try
    }
  }
  throw lastError ?? new Error('minio: start failed');
}

async function startOnce(bin: string): Promise<MinioServer> {
  const port = await freePort();
  let consolePort = await freePort();
  while (consolePort === port) consolePort = await freePort();
  const dataDir = await mkdtemp(join(tmpdir(), 'objfs-minio-'));
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(bin, ['server', '--quiet', '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${consolePort}`, dataDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      MINIO_ROOT_USER: ACCESS_KEY,
      MINIO_ROOT_PASSWORD: SECRET_KEY,
      MINIO_BROWSER: 'off',
      MINIO_UPDATE: 'off',
      MINIO_CALLHOME_ENABLE: 'off',
      MINIO_REGION: REGION,
    },
  });
  const entry: Live = { child, dataDir };
  live.add(entry);
  installHandlers();
  let output = '';
  const keep = (b: Buffer): void => {
    output = (output + b.toString('utf8')).slice(-OUTPUT_KEEP);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(`minio exited (${signal ?? `code ${code}`}) during start-up: ${output.trim().split('\n').slice(-8).join(' | ')}`));
    child.once('error', (e) => resolve(`minio exited: could not run ${bin}: ${e.message}`));
  });
  let exitMessage: string | undefined;
  void exited.then((m) => (exitMessage = m));

  const stop = async (): Promise<void> => {
    if (!live.has(entry)) return;
    live.delete(entry);
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await gone;
      clearTimeout(t);
    }
    await rm(dataDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (exitMessage !== undefined) {
      await stop();
      throw new Error(exitMessage);
    }
    if (await healthy(endpoint)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`minio did not become ready at ${endpoint} within ${START_TIMEOUT_MS / 1000} s: ${output.trim().slice(-2000)}`);
    }
    await sleep(100);
  }
  // Keep draining the pipes (a full pipe would block the server) but stop accumulating.
  child.stdout?.removeListener('data', keep);
  child.stderr?.removeListener('data', keep);
  child.stdout?.resume();
  child.stderr?.resume();
  return { endpoint, accessKey: ACCESS_KEY, secretKey: SECRET_KEY, region: REGION, dataDir, pid: child.pid ?? -1, stop };
}

/** Static credentials of the server's root user, in the shape S3StoreOptions.credentials takes. */
export const minioCredentials = (m: MinioServer): { accessKeyId: string; secretAccessKey: string } => ({
  accessKeyId: m.accessKey,
  secretAccessKey: m.secretKey,
});

/** An SDK client for the server's root user (test set-up: buckets, policies). Destroy it after use. */
export function adminClient(m: MinioServer): S3Client {
  // Same as S3Store: no "future SDK versions need Node 22" warning in test output.
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  return new S3Client({
    endpoint: m.endpoint,
    region: m.region,
    forcePathStyle: true,
    credentials: minioCredentials(m),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Create a bucket (a fresh unique name unless `name` is given) and return its name. */
export async function createBucket(m: MinioServer, name?: string): Promise<string> {
  const bucket = name ?? `objfs-test-${randomBytes(6).toString('hex')}`;
  const client = adminClient(m);
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
  return bucket;
}

/** Empty a bucket (objects and unfinished uploads) and delete it. */
export async function deleteBucket(m: MinioServer, bucket: string): Promise<void> {
  const client = adminClient(m);
  try {
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
      const keys = (page.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [{ Key: o.Key }]));
      if (keys.length > 0) await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    for (const u of uploads.Uploads ?? []) {
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }));
    }
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
}

/** Let anyone (unsigned requests) list the bucket and read its objects. */
export async function makeBucketPublicRead(m: MinioServer, bucket: string): Promise<void> {
  const policy = {
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Principal: { AWS: ['*'] }, Action: ['s3:GetBucketLocation', 's3:ListBucket'], Resource: [`arn:aws:s3:::${bucket}`] },
      { Effect: 'Allow', Principal: { AWS: ['*'] }, Action: ['s3:GetObject'], Resource: [`arn:aws:s3:::${bucket}/*`] },
    ],
  };
  const client = adminClient(m);
  try {
    await client.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(policy) }));
  } finally {
    client.destroy();
  }
}

/** Synchronous last-resort cleanup of every live server (process exit, signals). */
export function stopAllMinioSync(): void {
  for (const e of [...live]) {
    live.delete(e);
    try {
      if (e.child.exitCode === null && e.child.signalCode === null) e.child.kill('SIGKILL');
    } catch {
      // already gone
    }
    try {
      rmSync(e.dataDir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', stopAllMinioSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      stopAllMinioSync();
      if (process.listenerCount(sig) === 1) {
        process.removeListener(sig, onSignal);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, onSignal);
  }
}
