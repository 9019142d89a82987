/**
 * The three FUSE clients the S3 benchmark compares, each mounted as a child process in the
 * foreground (so its pid is known for memory sampling) with a fresh cache directory, and each
 * unmounted whatever happens: umount, wait for the process, then SIGTERM, SIGKILL, aborting the
 * FUSE connection and a lazy unmount as the last resorts.
 *
 * Options (stated in bench/README.md; extra ones from the environment):
 *   objfs   mount s3://BUCKET --endpoint --region us-east-1 --cache-dir FRESH --cache-size 2048
 *           (defaults otherwise) + $OBJFS_BENCH_OBJFS_ARGS
 *   s3fs    -f -o url=...,use_path_request_style,endpoint=us-east-1,passwd_file=... (no use_cache:
 *           s3fs's default, reads go through its temporary files; stat cache on by default)
 *           + -o $OBJFS_BENCH_S3FS_OPTS
 *   rclone  mount :s3 remote from a temp rclone.conf (provider Minio, env_auth false)
 *           --vfs-cache-mode full --cache-dir FRESH (defaults otherwise) + $OBJFS_BENCH_RCLONE_ARGS;
 *           (the objfs of $OBJFS_BENCH_OBJFS_ROOT when set, else of this checkout)
 *           "rclone-off" is the same with --vfs-cache-mode off (not run by default)
 *   objfs-idle  objfs with --sync idle=1 (the write benchmark's second objfs column)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { S3Target } from './direct.js';
import { NODE_FLAGS } from '../../src/cli/node-flags.js';
import { isMounted, runCmd, sleep, StepError } from './proc.js';

export type MountTool = 'objfs' | 'objfs-idle' | 's3fs' | 'rclone' | 'rclone-off';

export interface MountEnv {
  root: string;
  tmp: string;
  target: S3Target;
}

export interface Mounted {
  tool: MountTool;
  mp: string;
  cacheDir: string;
  child: ChildProcess;
  logFile: string;
}

const words = (s: string | undefined): string[] => (s ?? '').split(/\s+/).filter(Boolean);

/** The objfs checkout that is mounted: $OBJFS_BENCH_OBJFS_ROOT (e.g. a built copy of another commit), else this one. */
export const objfsRoot = (root: string): string => process.env.OBJFS_BENCH_OBJFS_ROOT || root;

/** The command line for each tool, for the report. */
export function describe(tool: MountTool): string {
  switch (tool) {
    case 'objfs':
    case 'objfs-idle':
      return ['objfs mount s3://BUCKET MP --endpoint URL --region us-east-1 --cache-dir FRESH --cache-size 2048 --log-level warn', ...(tool === 'objfs-idle' ? ['--sync', 'idle=1'] : []), ...words(process.env.OBJFS_BENCH_OBJFS_ARGS)].join(' ');
    case 's3fs':
      return `s3fs BUCKET MP -f -o url=URL,use_path_request_style,endpoint=us-east-1,passwd_file=FILE${process.env.OBJFS_BENCH_S3FS_OPTS ? ',' + process.env.OBJFS_BENCH_S3FS_OPTS : ''}`;
    case 'rclone':
    case 'rclone-off':
      return [`rclone mount bench:BUCKET MP --vfs-cache-mode ${tool === 'rclone' ? 'full' : 'off'} --cache-dir FRESH`, ...words(process.env.OBJFS_BENCH_RCLONE_ARGS)].join(' ');
  }
}

function command(tool: MountTool, env: MountEnv, mp: string, cacheDir: string, logFile: string): { cmd: string; args: string[]; childEnv: NodeJS.ProcessEnv } {
  const t = env.target;
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(base)) if (k.startsWith('AWS_')) delete base[k];
  switch (tool) {
    case 'objfs':
    case 'objfs-idle':
      return {
        cmd: process.execPath,
        args: [
          ...NODE_FLAGS,
          path.join(objfsRoot(env.root), 'bin', 'objfs.js'),
          'mount',
          `s3://${t.bucket}`,
          mp,
          '--endpoint',
          t.endpoint,
          '--region',
          t.region,
          '--cache-dir',
          cacheDir,
          '--cache-size',
          '2048',
          '--log-level',
          'warn',
          '--log-file',
          logFile,
          ...(tool === 'objfs-idle' ? ['--sync', 'idle=1'] : []),
          ...words(process.env.OBJFS_BENCH_OBJFS_ARGS),
        ],
        childEnv: { ...base, AWS_ACCESS_KEY_ID: t.accessKey, AWS_SECRET_ACCESS_KEY: t.secretKey },
      };
    case 's3fs': {
      const pw = path.join(env.tmp, 's3fs.passwd');
      fs.writeFileSync(pw, `${t.accessKey}:${t.secretKey}\n`, { mode: 0o600 });
      const extra = process.env.OBJFS_BENCH_S3FS_OPTS ? ',' + process.env.OBJFS_BENCH_S3FS_OPTS : '';
      return {
        cmd: 's3fs',
        args: [t.bucket, mp, '-f', '-o', `url=${t.endpoint},use_path_request_style,endpoint=${t.region},passwd_file=${pw},dbglevel=warn${extra}`],
        childEnv: base,
      };
    }
    case 'rclone':
    case 'rclone-off': {
      const conf = path.join(env.tmp, 'rclone.conf');
      fs.writeFileSync(
        conf,
        ['[bench]', 'type = s3', 'provider = Minio', 'env_auth = false', `access_key_id = ${t.accessKey}`, `secret_access_key = ${t.secretKey}`, `endpoint = ${t.endpoint}`, `region = ${t.region}`, ''].join('\n'),
        { mode: 0o600 },
      );
      // rclone 1.60 fails with LoadCustomCABundleError when AWS_CA_BUNDLE is set: base has no AWS_*
      return {
        cmd: 'rclone',
        args: [
          'mount',
          `bench:${t.bucket}`,
          mp,
          '--config',
          conf,
          '--cache-dir',
          cacheDir,
          '--vfs-cache-mode',
          tool === 'rclone' ? 'full' : 'off',
          '--log-level',
          'NOTICE',
          ...words(process.env.OBJFS_BENCH_RCLONE_ARGS),
        ],
        childEnv: base,
      };
    }
  }
}

const tail = (file: string): string => {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-3).join(' / ').slice(0, 400);
  } catch {
    return '';
  }
};

/** Mount `tool` on a fresh mountpoint with a fresh cache directory; ready once `stat MP` answers. */
export async function mount(tool: MountTool, env: MountEnv, seq: number): Promise<Mounted> {
  const mp = fs.mkdtempSync(path.join(env.tmp, `mp-${tool}-${seq}-`));
  const cacheDir = fs.mkdtempSync(path.join(env.tmp, `cache-${tool}-${seq}-`));
  const logFile = path.join(env.tmp, `log-${tool}-${seq}.txt`);
  const { cmd, args, childEnv } = command(tool, env, mp, cacheDir, logFile);
  const log = fs.openSync(logFile, 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', log, log], env: childEnv });
  fs.closeSync(log);
  const m: Mounted = { tool, mp, cacheDir, child, logFile };
  child.on('error', () => undefined);
  try {
    const until = Date.now() + 60000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new StepError(`mount failed (${tool} exited ${child.exitCode ?? child.signalCode}): ${tail(logFile)}`);
      }
      if (isMounted(mp)) {
        const r = await runCmd('stat', ['-c', '%i', mp], { timeoutMs: 20000 }).catch(() => undefined);
        if (r?.code === 0) return m;
      }
      if (Date.now() > until) throw new StepError(`mount failed: ${tool} not ready after 60 s: ${tail(logFile)}`);
      await sleep(100);
    }
  } catch (e) {
    await unmount(m);
    throw e;
  }
}

/** The FUSE connection of a mount, from /proc/self/mountinfo (its device minor). */
function fuseConnection(mp: string): string | undefined {
  try {
    for (const l of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const f = l.split(' ');
      if (f[4] === mp && f[2]?.startsWith('0:')) return f[2].slice(2);
    }
  } catch {
    /* ignore */
  }
  return undefined;
}

function abortFuse(mp: string): void {
  const conn = fuseConnection(mp);
  if (!conn) return;
  if (!fs.existsSync('/sys/fs/fuse/connections/' + conn)) {
    void runCmd('mount', ['-t', 'fusectl', 'none', '/sys/fs/fuse/connections'], { timeoutMs: 5000 }).catch(() => undefined);
  }
  try {
    fs.writeFileSync(`/sys/fs/fuse/connections/${conn}/abort`, '1');
  } catch {
    /* not there */
  }
}

/** Unmount and stop the tool; never throws. Returns a note when something had to be forced. */
export async function unmount(m: Mounted): Promise<string | undefined> {
  const notes: string[] = [];
  const exited = new Promise<void>((r) => (m.child.exitCode !== null || m.child.signalCode !== null ? r() : m.child.once('exit', () => r())));
  const waitExit = (ms: number) => Promise.race([exited.then(() => true), sleep(ms).then(() => false)]);
  if (isMounted(m.mp)) {
    const r = await runCmd('umount', [m.mp], { timeoutMs: 20000 }).catch((e: Error) => ({ code: -1, stderr: e.message }));
    if (r.code !== 0) notes.push(`umount: ${r.stderr.trim()}`);
  }
  if (!(await waitExit(15000))) {
    notes.push('SIGTERM');
    m.child.kill('SIGTERM');
    if (!(await waitExit(5000))) {
      notes.push('SIGKILL');
      abortFuse(m.mp);
      m.child.kill('SIGKILL');
      await waitExit(5000);
    }
  }
  if (isMounted(m.mp)) {
    notes.push('lazy unmount');
    abortFuse(m.mp);
    await runCmd('fusermount3', ['-uz', m.mp], { timeoutMs: 10000 }).catch(() => undefined);
    if (isMounted(m.mp)) await runCmd('umount', ['-l', m.mp], { timeoutMs: 10000 }).catch(() => undefined);
  }
  if (!isMounted(m.mp)) {
    try {
      fs.rmdirSync(m.mp);
    } catch {
      /* busy: left behind */
    }
  }
  fs.rmSync(m.cacheDir, { recursive: true, force: true });
  return notes.length ? notes.join(', ') : undefined;
}
