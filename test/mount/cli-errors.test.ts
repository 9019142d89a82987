/**
 * `objfs mount` with bad input must exit non-zero with ONE clear line on stderr and leave nothing
 * mounted; `--help` must exit 0 and list the options with their defaults; and a stale mount
 * (the serving process killed with SIGKILL) must either be removed automatically (auto_unmount)
 * or be reported as "stale" by a new mount, which `--force` clears.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { forceUnmount, fuseUnavailableReason, leftoverMounts, OBJFS_FSTYPE, startMount, tail } from '../helpers/mount-harness.js';
import { mountsAt, readMountinfo } from '../helpers/mountinfo.js';
import { objfsBin, repoRoot } from '../helpers/paths.js';

const CLI_TIMEOUT_MS = 20_000;

interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Run the CLI; a run that does not end in time (e.g. it mounted) is stopped and reported. */
function runCli(args: string[], env?: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [objfsBin(), ...args], { cwd: repoRoot(), stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    }, CLI_TIMEOUT_MS);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** Non-zero exit, exactly one non-empty stderr line (no stack trace), matching `mention`. */
function assertOneLineFailure(r: CliResult, mention: RegExp, what: string): void {
  assert.equal(r.timedOut, false, `${what}: objfs did not exit within ${CLI_TIMEOUT_MS} ms (it probably mounted)`);
  assert.notEqual(r.code, 0, `${what}: exit code must be non-zero`);
  assert.equal(r.signal, null, `${what}: must exit, not die of ${String(r.signal)}`);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, `${what}: expected one line on stderr, got ${lines.length}:\n${tail(r.stderr, 15)}`);
  const line = lines[0] ?? '';
  assert.doesNotMatch(line, /^\s+at |\{"level"/, `${what}: not a stack trace or a JSON log line: ${line}`);
  assert.match(line, mention, `${what}: the message should say what is wrong: ${line}`);
}

async function assertNothingMountedAt(mp: string): Promise<void> {
  const found = mountsAt(await readMountinfo(), mp);
  if (found.length > 0) await forceUnmount(mp);
  assert.deepEqual(found, [], `nothing may be mounted at ${mp}`);
}

/** Pids of the direct children of `ppid` whose command name is `name` (from /proc). */
async function childrenNamed(ppid: number, name: string): Promise<number[]> {
  const out: number[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = await readFile(`/proc/${d}/stat`, 'utf8');
      const m = /^(\d+) \((.*)\) \S+ (\d+)/.exec(st);
      if (m && m[2] === name && Number(m[3]) === ppid) out.push(Number(m[1]));
    } catch {
      // gone
    }
  }
  return out;
}

const unavailable = fuseUnavailableReason();
const skip = unavailable && process.env['CI'] !== 'true' ? unavailable : false;

describe('objfs mount: bad input fails with one clear line and mounts nothing', { skip }, () => {
  let work = '';
  let bucket = '';
  before(async () => {
    if (unavailable) throw new Error(`cannot run in CI: ${unavailable}`);
    work = await mkdtemp(join(tmpdir(), 'objfs-cli-'));
    bucket = join(work, 'bucket');
    await mkdir(bucket);
  });
  after(async () => {
    if (work && (await leftoverMounts()).length === 0) await rm(work, { recursive: true, force: true });
  });

  it('missing mountpoint directory', async () => {
    const mp = join(work, 'no-such-mountpoint');
    const r = await runCli(['mount', `file://${bucket}`, mp]);
    assertOneLineFailure(r, /no-such-mountpoint|does not exist|no such/i, 'missing mountpoint');
    await assertNothingMountedAt(mp);
  });

  it('mountpoint that is a non-empty directory', async () => {
    const mp = join(work, 'full');
    await mkdir(mp);
    await writeFile(join(mp, 'something'), 'x');
    const r = await runCli(['mount', `file://${bucket}`, mp]);
    assertOneLineFailure(r, /empty|full/i, 'non-empty mountpoint');
    await assertNothingMountedAt(mp);
    assert.deepEqual(await readdir(mp), ['something'], 'the directory is untouched');
  });

  it('mountpoint that is a file', async () => {
    const mp = join(work, 'a-file');
    await writeFile(mp, 'x');
    const r = await runCli(['mount', `file://${bucket}`, mp]);
    assertOneLineFailure(r, /a-file|directory/i, 'mountpoint is a file');
    await assertNothingMountedAt(mp);
  });

  it('remote file:///does/not/exist', async () => {
    const mp = join(work, 'mp-remote-missing');
    await mkdir(mp);
    const r = await runCli(['mount', 'file:///does/not/exist', mp]);
    assertOneLineFailure(r, /\/does\/not\/exist/, 'missing bucket directory');
    await assertNothingMountedAt(mp);
  });

  it('unknown option', async () => {
    const mp = join(work, 'mp-unknown-option');
    await mkdir(mp);
    const r = await runCli(['mount', `file://${bucket}`, mp, '--no-such-option']);
    assertOneLineFailure(r, /--no-such-option/, 'unknown option');
    await assertNothingMountedAt(mp);
  });

  it('bad option value', async () => {
    const mp = join(work, 'mp-bad-value');
    await mkdir(mp);
    const r = await runCli(['mount', `file://${bucket}`, mp, '--metadata-ttl', 'soon']);
    assertOneLineFailure(r, /metadata-ttl|soon/, 'bad --metadata-ttl value');
    await assertNothingMountedAt(mp);
  });

  it('unsupported remote scheme', async () => {
    const mp = join(work, 'mp-scheme');
    await mkdir(mp);
    const r = await runCli(['mount', 'gopher://example.org/bucket', mp]);
    assertOneLineFailure(r, /gopher/, 'unsupported scheme');
    await assertNothingMountedAt(mp);
  });

  it('missing arguments', async () => {
    const r = await runCli(['mount']);
    assertOneLineFailure(r, /remote|argument/i, 'no arguments');
  });
});

describe('objfs --help', { skip }, () => {
  it('objfs --help exits 0 and lists the commands', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0, `exit code; stderr: ${r.stderr}`);
    assert.match(r.stdout, /\bmount\b/);
    assert.match(r.stdout, /\bunmount\b/);
  });

  it('help piped into a reader that stops early (`objfs mount --help | head -1`) ends quietly', async () => {
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [objfsBin(), 'mount', '--help'], { cwd: repoRoot(), stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stdout.destroy(); // the reader is gone before objfs writes: its writes get EPIPE
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      child.on('exit', (code) => resolve({ code, stderr }));
    });
    assert.equal(r.stderr, '', 'no stack trace for a closed pipe');
    assert.equal(r.code, 0);
  });

  it('objfs mount --help exits 0 and lists every option with its default', async () => {
    const r = await runCli(['mount', '--help']);
    assert.equal(r.code, 0, `exit code; stderr: ${r.stderr}`);
    const help = r.stdout;
    // One block per option: from its flag to the next flag.
    const blocks = new Map<string, string>();
    const parts = help.split(/\n(?=\s{2}--?[a-z])/);
    for (const p of parts) {
      const m = /^\s{2}(?:-\w, )?(--[a-z-]+)/.exec(p);
      if (m?.[1]) blocks.set(m[1], p.replace(/\s+/g, ' '));
    }
    for (const flag of ['--log-level', '--read-only', '--metadata-ttl', '--allow-other', '--force']) {
      assert.ok(blocks.has(flag), `${flag} listed in:\n${help}`);
    }
    for (const flag of ['--log-level', '--metadata-ttl']) {
      assert.match(blocks.get(flag) ?? '', /default/i, `${flag} shows its default: ${blocks.get(flag) ?? ''}`);
    }
  });
});

describe('stale mount after kill -9', { skip }, () => {
  let work = '';
  before(async () => {
    if (unavailable) throw new Error(`cannot run in CI: ${unavailable}`);
    work = await mkdtemp(join(tmpdir(), 'objfs-stale-'));
  });
  after(async () => {
    if (work && (await leftoverMounts()).length === 0) await rm(work, { recursive: true, force: true });
  });

  it('is removed automatically, or reported as stale and cleared by --force', { timeout: 120_000 }, async (t) => {
    const bucket = join(work, 'bucket');
    const mp = join(work, 'mnt');
    const cacheHome = join(work, 'cache');
    for (const d of [bucket, mp, cacheHome]) await mkdir(d);
    const env = { XDG_CACHE_HOME: cacheHome };
    const first = await startMount({ remote: `file://${bucket}`, mountpoint: mp, env });
    await writeFile(join(mp, 'before-kill'), 'x');
    first.child.kill('SIGKILL');
    await first.exited;

    // auto_unmount (fusermount3 watching the session) would remove it within a moment
    let stale = true;
    for (let i = 0; i < 50 && stale; i++) {
      stale = await first.isMounted();
      if (stale) await new Promise((r) => setTimeout(r, 100));
    }
    try {
      if (!stale) {
        t.diagnostic('the mount went away by itself after SIGKILL (auto_unmount): no stale mount');
        assert.deepEqual(mountsAt(await readMountinfo(), mp, OBJFS_FSTYPE), []);
      } else {
        t.diagnostic('the mount stayed after SIGKILL: checking stale detection and --force');
        const r = await runCli(['mount', `file://${bucket}`, mp, '--log-level', 'warn'], env);
        assertOneLineFailure(r, /stale/i, 'mount over a stale mount without --force');
        const now = mountsAt(await readMountinfo(), mp, OBJFS_FSTYPE);
        assert.deepEqual(now.map((m) => m.id), [first.mountId], 'only the old stale mount is there');
      }
      // Either way a new mount must work there now (with --force when it was stale).
      const second = await startMount({ remote: `file://${bucket}`, mountpoint: mp, env, args: stale ? ['--force'] : [] });
      try {
        // (mount ids are reused by the kernel, so liveness is shown by use: a stale mount gives ENOTCONN)
        assert.equal(mountsAt(await readMountinfo(), mp, OBJFS_FSTYPE).length, 1, 'exactly one objfs mount at the mountpoint');
        assert.ok((await readdir(mp)).includes('before-kill'), 'the new mount serves the bucket');
      } finally {
        await second.stop();
      }
    } finally {
      // after second.stop(): first's mount id may have been reused by second's mount
      await first.dispose();
    }
    assert.deepEqual(mountsAt(await readMountinfo(), mp), [], 'nothing left at the mountpoint');
  });
  it('a truly stale mount (server and its auto-unmount helper killed) is reported as "stale"; --force clears it', { timeout: 120_000 }, async (t) => {
    const bucket = join(work, 'bucket2');
    const mp = join(work, 'mnt2');
    const cacheHome = join(work, 'cache2');
    for (const d of [bucket, mp, cacheHome]) await mkdir(d);
    const env = { XDG_CACHE_HOME: cacheHome };
    const first = await startMount({ remote: `file://${bucket}`, mountpoint: mp, env });
    try {
      await writeFile(join(mp, 'before-kill'), 'x');
      const helpers = await childrenNamed(first.child.pid ?? -1, 'fusermount3');
      t.diagnostic(`auto-unmount helpers killed first: ${helpers.join(', ') || 'none'}`);
      for (const pid of helpers) process.kill(pid, 'SIGKILL');
      first.child.kill('SIGKILL');
      await first.exited;
      await new Promise((r) => setTimeout(r, 500));
      assert.ok(await first.isMounted(), 'the mount must be stale now (nothing left to unmount it)');

      const r = await runCli(['mount', `file://${bucket}`, mp, '--log-level', 'warn'], env);
      assertOneLineFailure(r, /stale/i, 'mount over a stale mount without --force');
      t.diagnostic(`message: ${r.stderr.trim()}`);
      assert.deepEqual(mountsAt(await readMountinfo(), mp, OBJFS_FSTYPE).map((m) => m.id), [first.mountId], 'only the stale mount is there');

      const second = await startMount({ remote: `file://${bucket}`, mountpoint: mp, env, args: ['--force'] });
      try {
        assert.equal(mountsAt(await readMountinfo(), mp, OBJFS_FSTYPE).length, 1, 'the stale mount was replaced, not stacked under');
        assert.ok((await readdir(mp)).includes('before-kill'), 'the new mount serves the bucket');
      } finally {
        await second.stop();
      }
    } finally {
      await first.dispose();
    }
    assert.deepEqual(mountsAt(await readMountinfo(), mp), [], 'nothing left at the mountpoint');
  });
});
