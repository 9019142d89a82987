/**
 * A MinIO server for the S3 benchmark: on 127.0.0.1 at a free port, with a data directory the
 * caller owns (on tmpfs when possible, so the server's disk is not what is measured), random root
 * credentials, the console off. Finds the binary in $MINIO_BIN, on PATH or in $(go env GOPATH)/bin;
 * runs scripts/install-minio.sh when it is missing.
 *
 * Deleted objects are not freed at once: MinIO moves them to <data>/.minio.sys/tmp/.trash and
 * purges that lazily (minutes later). On tmpfs the trash of one write bench run held ~12 GiB of
 * RAM and the machine went into reclaim, which slowed every tool (seen 2026-11-22: 1 GiB through
 * objfs 155 -> 290 MB/s once the trash was emptied). purgeTrash() empties it; the write bench calls
 * it after each cleanup, when MinIO has already let go of those files.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sleep } from './proc.js';

export interface Minio {
  endpoint: string;
  port: number;
  accessKey: string;
  secretKey: string;
  dataDir: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Free the space of deleted objects now (see the module comment). */
export function purgeTrash(dataDir: string): void {
  const trash = path.join(dataDir, '.minio.sys', 'tmp', '.trash');
  let names: string[];
  try {
    names = fs.readdirSync(trash);
  } catch {
    return; // nothing deleted yet
  }
  for (const n of names) fs.rmSync(path.join(trash, n), { recursive: true, force: true });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

function minioCandidates(): string[] {
  const out: string[] = [];
  if (process.env.MINIO_BIN) out.push(process.env.MINIO_BIN);
  for (const d of (process.env.PATH ?? '').split(':')) if (d) out.push(path.join(d, 'minio'));
  out.push(path.join(process.env.GOPATH ?? path.join(os.homedir(), 'go'), 'bin', 'minio'));
  const gp = spawnSync('go', ['env', 'GOPATH'], { encoding: 'utf8' });
  if (gp.status === 0 && gp.stdout.trim()) out.push(path.join(gp.stdout.trim(), 'bin', 'minio'));
  return out;
}

const executable = (f: string): boolean => {
  try {
    fs.accessSync(f, fs.constants.X_OK);
    return fs.statSync(f).isFile();
  } catch {
    return false;
  }
};

function findMinio(root: string): string | undefined {
  const found = minioCandidates().find(executable);
  if (found) return found;
  const script = path.join(root, 'scripts', 'install-minio.sh');
  if (!fs.existsSync(script)) return undefined;
  console.log(`setup: minio not found: running scripts/install-minio.sh (builds it with go install)`);
  const r = spawnSync('bash', [script], { stdio: 'inherit', timeout: 20 * 60 * 1000 });
  if (r.status !== 0) return undefined;
  return minioCandidates().find(executable);
}

export async function startMinio(root: string, dataDir: string, logFile: string): Promise<Minio> {
  const bin = findMinio(root);
  if (!bin) throw new Error('no minio binary: set MINIO_BIN or run scripts/install-minio.sh');
  const port = await freePort();
  const consolePort = await freePort();
  const accessKey = 'bench' + randomBytes(6).toString('hex');
  const secretKey = randomBytes(18).toString('base64url');
  fs.mkdirSync(dataDir, { recursive: true });
  const log = fs.openSync(logFile, 'a');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MINIO_ROOT_USER: accessKey,
    MINIO_ROOT_PASSWORD: secretKey,
    MINIO_BROWSER: 'off',
    MINIO_UPDATE: 'off',
  };
  const child = spawn(bin, ['server', dataDir, '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${consolePort}`, '--quiet'], {
    stdio: ['ignore', log, log],
    env,
  });
  fs.closeSync(log);
  const endpoint = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const ok = await Promise.race([exited.then(() => true), sleep(10000).then(() => false)]);
    if (!ok) {
      child.kill('SIGKILL');
      await exited;
    }
  };
  const until = Date.now() + 60000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`minio exited (${child.exitCode}) at start; see ${logFile}`);
    try {
      const r = await fetch(`${endpoint}/minio/health/ready`, { signal: AbortSignal.timeout(2000) });
      if (r.status === 200) break;
    } catch {
      /* not yet */
    }
    if (Date.now() > until) {
      await stop();
      throw new Error(`minio did not become ready within 60 s; see ${logFile}`);
    }
    await sleep(200);
  }
  return { endpoint, port, accessKey, secretKey, dataDir, child, stop };
}
