/**
 * Real objfs mounts for tests, each served by a CHILD process (never touch a mount from the
 * process that serves it: that deadlocks).
 *
 *   const m = await startMount({ remote: 'file:///tmp/bucket' });
 *   ... use m.mountpoint with node:fs, cp, diff ...
 *   await m.stop();   // SIGTERM, wait for a clean exit 0 and for the mount to be gone
 *
 * startMount spawns `node bin/objfs.js mount <remote> <mountpoint> --log-level warn ...args`
 * (foreground) and resolves once /proc/self/mountinfo shows a NEW mount of type fuse.objfs at the
 * mountpoint (20 s limit; if the child exits first it rejects with the exit status and the tail
 * of its stderr).
 *
 * stop() reports every deviation from a clean shutdown as an error (after cleaning up anyway):
 * not exiting within 15 s of SIGTERM, a non-zero exit, a process that died before stop(), and
 * above all a mount still present after the process exited (a stale mount is a bug); in those
 * cases the mount is cleared with `fusermount3 -uz` and the child SIGKILLed.
 *
 * Safety net: every live mount is kept in a module-level registry. On process exit, on
 * SIGINT/SIGTERM/SIGHUP, and on an uncaught exception that will end the process, whatever is
 * left is unmounted synchronously (`fusermount3 -uz`) and its child killed, so no test leaves a
 * mount behind even when it fails or the runner is interrupted. (When node:test itself handles
 * uncaught exceptions and keeps running, the cleanup waits for process exit instead, so mounts
 * other tests still use are not pulled away from under them.)
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { NODE_FLAGS } from '../../src/cli/node-flags.js';
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { mkdtemp, rmdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { TestContext } from 'node:test';
import { mountsAt, readMountinfo, readMountinfoSync, type MountinfoEntry } from './mountinfo.js';
import { objfsBin, repoRoot } from './paths.js';

export const OBJFS_FSTYPE = 'fuse.objfs';
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 15_000;
const POLL_MS = 50;
const OUTPUT_KEEP = 64 * 1024;

export interface StartMountOptions {
  /** e.g. "file:///abs/dir" */
  remote: string;
  /** An existing empty directory; a fresh temporary one (removed by stop) when omitted. */
  mountpoint?: string;
  /** Extra CLI arguments after the defaults. */
  args?: string[];
  /** Added to (and overriding) process.env for the child. */
  env?: NodeJS.ProcessEnv;
  /** --log-level for the child (default "warn"). */
  logLevel?: string;
  /** Time to wait for the mount to appear (default 20 s). */
  timeoutMs?: number;
  /** Filesystem type to wait for (default "fuse.objfs"). */
  fstype?: string;
  /**
   * Harness self-tests only: run this instead of `node bin/objfs.js mount ...`; the argument
   * "{mountpoint}" is replaced by the mountpoint.
   */
  command?: { file: string; args: string[] };
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface StopOptions {
  /** How long to wait for exit after SIGTERM (default 15 s). */
  timeoutMs?: number;
}

export interface MountHandle {
  /** The mountpoint, as the kernel reports it (real path). */
  readonly mountpoint: string;
  readonly remote: string;
  readonly child: ChildProcess;
  /** mountinfo id of this mount (distinguishes it from a stale mount at the same path). */
  readonly mountId: number;
  /** Resolves when the child exits. */
  readonly exited: Promise<ExitInfo>;
  /** What the child wrote (the last 64 KiB of each stream). */
  stderr(): string;
  stdout(): string;
  /** True while this very mount (by id) is in the mount table. */
  isMounted(): Promise<boolean>;
  /** SIGTERM and verify a clean shutdown; throws (after cleaning up) on anything else. */
  stop(opts?: StopOptions): Promise<void>;
  /**
   * Like stop() without sending the signal: for a process told to stop another way (e.g.
   * `objfs unmount`). Waits for its exit and judges it the same way.
   */
  waitForExit(opts?: StopOptions): Promise<void>;
  /**
   * Clean up without judging: SIGKILL the child if alive, unmount if still mounted. The kernel
   * reuses mount ids, so call it before another mount starts on the same mountpoint or after that
   * one has ended, never while a newer mount is live there.
   */
  dispose(): Promise<void>;
}

interface LiveEntry {
  mountpoint: string;
  fstype: string;
  child: ChildProcess;
  preexisting: Set<number>;
  mountId?: number;
  ownsMountpoint: boolean;
}

const live = new Set<LiveEntry>();
const everUsed = new Set<string>();
let handlersInstalled = false;

// ---------------------------------------------------------------------------------------------
// prerequisites
// ---------------------------------------------------------------------------------------------

function onPath(cmd: string): boolean {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      if (statSync(join(dir, cmd)).isFile()) return true;
    } catch {
      // not here
    }
  }
  return false;
}

/** Path of a built native addon (*.node under native/build), or undefined. */
export function nativeAddonPath(): string | undefined {
  const roots = [join(repoRoot(), 'native', 'build'), join(repoRoot(), 'native', 'prebuilds'), join(repoRoot(), 'build')];
  const find = (dir: string, depth: number): string | undefined => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return undefined;
    }
    for (const n of names) {
      const p = join(dir, n);
      if (n.endsWith('.node')) return p;
      if (depth > 0 && !n.startsWith('.')) {
        try {
          if (statSync(p).isDirectory()) {
            const r = find(p, depth - 1);
            if (r) return r;
          }
        } catch {
          // vanished
        }
      }
    }
    return undefined;
  };
  for (const r of roots) {
    const p = find(r, 3);
    if (p) return p;
  }
  return undefined;
}

/** Why real mounts cannot run here, or undefined when they can. */
export function fuseUnavailableReason(): string | undefined {
  const missing: string[] = [];
  if (!existsSync('/dev/fuse')) missing.push('/dev/fuse is missing');
  if (!onPath('fusermount3')) missing.push('fusermount3 is not installed (apt-get install fuse3)');
  if (!existsSync(objfsBin())) missing.push('bin/objfs.js is missing');
  else if (!existsSync(join(repoRoot(), 'dist', 'src', 'cli', 'main.js'))) missing.push('the CLI is not built (dist/src/cli/main.js missing: npm run build)');
  if (!nativeAddonPath()) missing.push('the native addon is not built (no *.node under native/build: npm run build:native)');
  return missing.length > 0 ? missing.join('; ') : undefined;
}

/**
 * Gate for a test that needs real mounts: returns true when they can run. Otherwise, in CI
 * (CI=true) it throws so the run fails; elsewhere it marks the test skipped with the reason.
 */
export function requireFuse(t: TestContext): boolean {
  const reason = fuseUnavailableReason();
  if (!reason) return true;
  if (process.env['CI'] === 'true') throw new Error(`real-mount tests cannot run in CI: ${reason}`);
  t.diagnostic(`skipping: ${reason}`);
  t.skip(reason);
  return false;
}

// ---------------------------------------------------------------------------------------------
// unmount helpers
// ---------------------------------------------------------------------------------------------

function runQuiet(file: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 30_000, encoding: 'utf8' }, (err, stdout, stderr) => resolve({ ok: !err, out: `${stdout}${stderr}`.trim() }));
  });
}

/** Lazy-unmount whatever is on top at `mountpoint` (fusermount3 -uz, then umount -l). */
export async function forceUnmount(mountpoint: string): Promise<string> {
  const r = await runQuiet('fusermount3', ['-uz', mountpoint]);
  if (r.ok) return '';
  const r2 = await runQuiet('umount', ['-l', mountpoint]);
  return r2.ok ? '' : `fusermount3 -uz: ${r.out}; umount -l: ${r2.out}`;
}

export function forceUnmountSync(mountpoint: string): void {
  for (const [file, args] of [['fusermount3', ['-uz', mountpoint]], ['umount', ['-l', mountpoint]]] as const) {
    try {
      execFileSync(file, args, { stdio: 'ignore', timeout: 10_000 });
      return;
    } catch {
      // try the next
    }
  }
}

/** Ids of the mounts at `mountpoint` that this entry is responsible for. */
function ownedMounts(entries: MountinfoEntry[], e: LiveEntry): MountinfoEntry[] {
  const at = mountsAt(entries, e.mountpoint, e.fstype);
  if (e.mountId !== undefined) return at.filter((m) => m.id === e.mountId);
  return at.filter((m) => !e.preexisting.has(m.id));
}

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Synchronous last-resort cleanup of every registered mount (process exit, signals). */
export function cleanupAllSync(): void {
  let entries: MountinfoEntry[] = [];
  try {
    entries = readMountinfoSync();
  } catch {
    // fall through: unmount blindly below
  }
  for (const e of [...live]) {
    live.delete(e);
    // Unmount first (lazy, never blocks), then kill: killing first could leave a stale mount.
    if (entries.length === 0 || ownedMounts(entries, e).length > 0) forceUnmountSync(e.mountpoint);
    if (alive(e.child)) {
      try {
        e.child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', cleanupAllSync);
  process.on('uncaughtExceptionMonitor', () => {
    // Only when nobody handles it (the process is about to die); node:test handles them itself.
    if (process.listenerCount('uncaughtException') === 0) cleanupAllSync();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      cleanupAllSync();
      if (process.listenerCount(sig) === 1) {
        // we were the only handler: restore the default action and re-raise
        process.removeListener(sig, onSignal);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, onSignal);
  }
}

/** objfs mounts still present at any mountpoint this process ever used (should be none at the end). */
export async function leftoverMounts(): Promise<MountinfoEntry[]> {
  const entries = await readMountinfo();
  return entries.filter((m) => everUsed.has(m.mountpoint) && m.fstype.startsWith('fuse'));
}

/** Number of mounts the harness still considers live (for harness self-tests). */
export function liveMountCount(): number {
  return live.size;
}

// ---------------------------------------------------------------------------------------------
// start / stop
// ---------------------------------------------------------------------------------------------

function ring(): { push(b: Buffer): void; text(): string } {
  let buf = '';
  return {
    push(b: Buffer) {
      buf += b.toString('utf8');
      if (buf.length > OUTPUT_KEEP * 2) buf = buf.slice(-OUTPUT_KEEP);
    },
    text: () => buf.slice(-OUTPUT_KEEP),
  };
}

export function tail(text: string, lines = 20): string {
  const all = text.trimEnd().split('\n');
  return all.slice(-lines).join('\n');
}

function describeExit(x: ExitInfo): string {
  return x.signal ? `signal ${x.signal}` : `exit code ${String(x.code)}`;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)))]).finally(() => clearTimeout(timer));
}

export async function startMount(opts: StartMountOptions): Promise<MountHandle> {
  installHandlers();
  const fstype = opts.fstype ?? OBJFS_FSTYPE;
  let ownsMountpoint = false;
  let mp = opts.mountpoint;
  if (mp === undefined) {
    mp = await mkdtemp(join(tmpdir(), 'objfs-mnt-'));
    ownsMountpoint = true;
  }
  // The kernel reports the real path; resolve it now, before anything is mounted there.
  let mountpoint: string;
  try {
    mountpoint = realpathSync(mp);
  } catch {
    mountpoint = mp; // a missing mountpoint: let the CLI report it
  }
  everUsed.add(mountpoint);
  const preexisting = new Set(mountsAt(await readMountinfo(), mountpoint, fstype).map((m) => m.id));

  const file = opts.command?.file ?? process.execPath;
  const args = opts.command?.args.map((a) => (a === '{mountpoint}' ? mp : a)) ?? [...NODE_FLAGS, objfsBin(), 'mount', opts.remote, mp, '--log-level', opts.logLevel ?? 'warn', ...(opts.args ?? [])];
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env }, cwd: repoRoot() });
  const out = ring();
  const err = ring();
  child.stdout?.on('data', (b: Buffer) => out.push(b));
  child.stderr?.on('data', (b: Buffer) => err.push(b));
  const exited = new Promise<ExitInfo>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
    child.on('error', (e) => {
      err.push(Buffer.from(`spawn error: ${e.message}\n`));
      resolve({ code: -1, signal: null });
    });
  });
  const entry: LiveEntry = { mountpoint, fstype, child, preexisting, ownsMountpoint };
  live.add(entry);

  const removeOwnedMountpoint = async (): Promise<void> => {
    if (!ownsMountpoint) return;
    if (mountsAt(await readMountinfo(), mountpoint).length > 0) return; // never remove under a mount
    await rmdir(mountpoint).catch(() => undefined);
  };

  // Wait for the new mount, the child's exit, or the time limit.
  const deadline = Date.now() + (opts.timeoutMs ?? START_TIMEOUT_MS);
  let exitInfo: ExitInfo | undefined;
  void exited.then((x) => (exitInfo = x));
  let mountId: number | undefined;
  for (;;) {
    const at = mountsAt(await readMountinfo(), mountpoint, fstype);
    const found = at.filter((m) => !preexisting.has(m.id));
    if (found.length > 0) {
      mountId = found[found.length - 1]?.id;
      break;
    }
    // A mount that was there before (a stale one, e.g. for --force) may have been replaced by a
    // new mount that got the same id (the kernel reuses ids). A stale mount answers ENOTCONN; one
    // that answers a stat is the new one.
    const top = at[at.length - 1];
    if (top && preexisting.has(top.id) && (await withTimeout(stat(mountpoint).then(() => true, () => false), 1000)) === true) {
      mountId = top.id;
      break;
    }
    if (exitInfo) {
      live.delete(entry);
      await removeOwnedMountpoint();
      throw new Error(`objfs mount of ${opts.remote} on ${mp} exited with ${describeExit(exitInfo)} before mounting; stderr:\n${tail(err.text()) || '(empty)'}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await withTimeout(exited, 5000);
      const left = ownedMounts(await readMountinfo(), entry);
      if (left.length > 0) await forceUnmount(mountpoint);
      live.delete(entry);
      await removeOwnedMountpoint();
      throw new Error(`objfs mount of ${opts.remote} on ${mp}: no ${fstype} mount after ${opts.timeoutMs ?? START_TIMEOUT_MS} ms; stderr:\n${tail(err.text()) || '(empty)'}`);
    }
    await sleep(POLL_MS);
  }
  entry.mountId = mountId;
  if (mountId === undefined) throw new Error('unreachable: mount id');
  const theMountId: number = mountId;

  // The mount is in the table once the kernel accepted it, possibly before the server answered
  // INIT. Wait until it answers a stat of its root (async: a hung server blocks only a pool thread).
  const ready = await withTimeout(
    stat(mountpoint).then(
      () => undefined,
      (e: NodeJS.ErrnoException) => e.code ?? e.message,
    ),
    Math.max(deadline - Date.now(), 2000),
  );
  if (ready !== undefined) {
    if (alive(child)) child.kill('SIGKILL');
    await withTimeout(exited, 5000);
    if (mountsAt(await readMountinfo(), mountpoint).some((m) => m.id === theMountId)) await forceUnmount(mountpoint);
    live.delete(entry);
    await removeOwnedMountpoint();
    const why = ready === 'timeout' ? 'did not answer a stat of its root in time' : `stat of its root failed with ${ready}`;
    throw new Error(`objfs mount of ${opts.remote} on ${mp}: mounted but ${why}; stderr:\n${tail(err.text()) || '(empty)'}`);
  }

  const isMounted = async (): Promise<boolean> => mountsAt(await readMountinfo(), mountpoint).some((m) => m.id === theMountId);

  let stopping: Promise<void> | undefined;
  const finish = async (problems: string[]): Promise<void> => {
    if (await isMounted()) {
      problems.push('stale mount: the mount was still present after the process exited; cleared with fusermount3 -uz');
      const e = await forceUnmount(mountpoint);
      if (e) problems.push(`could not clear it: ${e}`);
    }
    live.delete(entry);
    await removeOwnedMountpoint();
  };

  /** SIGTERM (signal=true) or just wait (the process was told to stop another way), then judge. */
  const shutdown = async (signal: boolean, limit: number): Promise<void> => {
    const problems: string[] = [];
    const how = signal ? ' of SIGTERM' : '';
    if (exitInfo && signal) {
      problems.push(`the mount process had already exited (${describeExit(exitInfo)}) before stop()`);
    } else {
      if (signal) child.kill('SIGTERM');
      const r = await withTimeout(exited, limit);
      if (r === 'timeout') {
        problems.push(`did not exit within ${limit} ms${how}; killed with SIGKILL`);
        // unmount before killing so the kill cannot leave a stale mount behind
        if (await isMounted()) await forceUnmount(mountpoint);
        child.kill('SIGKILL');
        await withTimeout(exited, 5000);
      } else if (r.code !== 0) {
        problems.push(`exited with ${describeExit(r)}${signal ? ' after SIGTERM' : ''} (expected exit code 0)`);
      }
    }
    await finish(problems);
    if (problems.length > 0) {
      throw new Error(`objfs mount ${mountpoint}: ${problems.join('; ')}\n--- stderr (tail) ---\n${tail(err.text()) || '(empty)'}`);
    }
  };

  const handle: MountHandle = {
    mountpoint,
    remote: opts.remote,
    child,
    mountId: theMountId,
    exited,
    stderr: () => err.text(),
    stdout: () => out.text(),
    isMounted,
    stop(stopOpts?: StopOptions): Promise<void> {
      stopping ??= shutdown(true, stopOpts?.timeoutMs ?? STOP_TIMEOUT_MS);
      return stopping;
    },
    waitForExit(stopOpts?: StopOptions): Promise<void> {
      stopping ??= shutdown(false, stopOpts?.timeoutMs ?? STOP_TIMEOUT_MS);
      return stopping;
    },
    async dispose(): Promise<void> {
      if (alive(child)) {
        if (await isMounted()) await forceUnmount(mountpoint);
        child.kill('SIGKILL');
        await withTimeout(exited, 5000);
      }
      if (await isMounted()) await forceUnmount(mountpoint);
      live.delete(entry);
      await removeOwnedMountpoint();
    },
  };
  return handle;
}
