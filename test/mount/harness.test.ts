/**
 * Tests of the mount harness itself (test/helpers/mount-harness.ts, mountinfo.ts), independent of
 * objfs: mountinfo parsing, and start / stop / failure / stale / exit-cleanup behaviour with a
 * minimal libfuse3 filesystem (test/tools/fakefs.c, type fuse.objfs-fake).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it, before, type TestContext } from 'node:test';
import { mountsAt, parseMountinfo, parseProcMounts, readMountinfo, unescapeMountField } from '../helpers/mountinfo.js';
import { leftoverMounts, liveMountCount, startMount, type MountHandle } from '../helpers/mount-harness.js';
import { FAKEFS_FSTYPE, fakefsPath } from '../helpers/fakefs.js';
import { repoRoot } from '../helpers/paths.js';

describe('mountinfo parsing', () => {
  const sample = [
    '22 27 0:21 / /proc rw,relatime - proc proc rw',
    '36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue',
    '50 27 0:45 / /tmp/with\\040space\\011tab\\134back rw,nosuid,nodev,relatime - fuse.objfs objfs:file:///srv/b rw,user_id=0,group_id=0',
    'garbage line without separator',
    '',
  ].join('\n');

  it('parses fields, optional fields and the separator', () => {
    const e = parseMountinfo(sample);
    assert.equal(e.length, 3);
    assert.deepEqual(e[0], { id: 22, parentId: 27, device: '0:21', root: '/', mountpoint: '/proc', options: 'rw,relatime', fstype: 'proc', source: 'proc', superOptions: 'rw' });
    assert.equal(e[1]?.fstype, 'ext3');
    assert.equal(e[1]?.root, '/mnt1');
    assert.equal(e[1]?.source, '/dev/root');
  });

  it('unescapes octal escapes in paths', () => {
    assert.equal(unescapeMountField('a\\040b\\012c\\134d'), 'a b\nc\\d');
    const e = parseMountinfo(sample)[2];
    assert.equal(e?.mountpoint, '/tmp/with space\ttab\\back');
    assert.equal(e?.fstype, 'fuse.objfs');
    assert.equal(e?.source, 'objfs:file:///srv/b');
  });

  it('mountsAt filters by path and type', () => {
    const e = parseMountinfo(sample);
    assert.equal(mountsAt(e, '/proc').length, 1);
    assert.equal(mountsAt(e, '/proc', 'ext4').length, 0);
    assert.equal(mountsAt(e, '/tmp/with space\ttab\\back', 'fuse.objfs')[0]?.id, 50);
  });

  it('parses /proc/mounts lines', () => {
    const m = parseProcMounts('objfs:file:///b /tmp/a\\040b fuse.objfs rw 0 0\nproc /proc proc rw 0 0\n');
    assert.deepEqual(m[0], { source: 'objfs:file:///b', mountpoint: '/tmp/a b', fstype: 'fuse.objfs' });
  });

  it('reads this process mount table (has /)', async () => {
    assert.ok((await readMountinfo()).some((m) => m.mountpoint === '/'));
  });
});

describe('mount harness with a fake FUSE filesystem', () => {
  let fakefs = '';
  let unavailable: string | undefined;
  before(async () => {
    if (!existsSync('/dev/fuse')) unavailable = '/dev/fuse missing';
    else {
      try {
        fakefs = await fakefsPath();
      } catch (e) {
        unavailable = `cannot build fakefs (libfuse3-dev missing?): ${(e as Error).message.split('\n')[0]}`;
      }
    }
  });
  const gate = (t: TestContext): boolean => {
    if (!unavailable) return true;
    if (process.env['CI'] === 'true') throw new Error(unavailable);
    t.skip(unavailable);
    return false;
  };
  const fake = (mode?: string, timeoutMs?: number): Promise<MountHandle> =>
    startMount({ remote: 'fake://', fstype: FAKEFS_FSTYPE, command: { file: fakefs, args: ['{mountpoint}', ...(mode ? [mode] : [])] }, ...(timeoutMs ? { timeoutMs } : {}) });

  it('starts, serves from a child, stops cleanly, removes its temp mountpoint', async (t) => {
    if (!gate(t)) return;
    const m = await fake();
    assert.ok(await m.isMounted());
    assert.equal(await readFile(join(m.mountpoint, 'hello'), 'utf8'), 'hello from fakefs\n');
    assert.deepEqual(await readdir(m.mountpoint), ['hello']);
    await m.stop();
    assert.equal(await m.isMounted(), false);
    assert.equal(existsSync(m.mountpoint), false, 'temp mountpoint removed');
    assert.equal((await m.exited).code, 0);
    await m.stop(); // idempotent
  });

  it('uses a given mountpoint and leaves it in place', async (t) => {
    if (!gate(t)) return;
    const dir = await mkdtemp(join(tmpdir(), 'objfs-harness-mp-'));
    const m = await startMount({ remote: 'fake://', mountpoint: dir, fstype: FAKEFS_FSTYPE, command: { file: fakefs, args: ['{mountpoint}'] } });
    await m.stop();
    assert.ok(existsSync(dir));
    await rmdir(dir);
  });

  it('rejects with the exit status and stderr when the child exits before mounting', async (t) => {
    if (!gate(t)) return;
    await assert.rejects(fake('fail'), (e: Error) => {
      assert.match(e.message, /exit code 3/);
      assert.match(e.message, /simulated start-up failure/);
      return true;
    });
    assert.equal(liveMountCount(), 0);
  });

  it('rejects after the time limit when nothing mounts, and kills the child', async (t) => {
    if (!gate(t)) return;
    await assert.rejects(fake('never', 800), /no fuse.objfs-fake mount after 800 ms/);
    assert.equal(liveMountCount(), 0);
  });

  it('stop(): a child that ignores SIGTERM is reported, killed and unmounted', async (t) => {
    if (!gate(t)) return;
    const m = await fake('ignore-term');
    await assert.rejects(m.stop({ timeoutMs: 1000 }), /did not exit within 1000 ms of SIGTERM/);
    assert.equal(await m.isMounted(), false);
    const x = await m.exited; // unmounted first, so it may end on its own before the SIGKILL lands
    assert.ok(x.code !== null || x.signal !== null);
  });

  it('stop(): a non-zero exit is reported', async (t) => {
    if (!gate(t)) return;
    const m = await fake('exit-7');
    await assert.rejects(m.stop(), /exit code 7/);
    assert.equal(await m.isMounted(), false);
  });

  it('stop(): a process killed with SIGKILL leaves a stale mount, which is reported and cleared', async (t) => {
    if (!gate(t)) return;
    const m = await fake();
    m.child.kill('SIGKILL');
    await m.exited;
    assert.ok(await m.isMounted(), 'fakefs has no auto_unmount: the mount is stale now');
    await assert.rejects(m.stop(), (e: Error) => {
      assert.match(e.message, /already exited \(signal SIGKILL\)/);
      assert.match(e.message, /stale mount/);
      return true;
    });
    assert.equal(await m.isMounted(), false);
    assert.equal(existsSync(m.mountpoint), false);
  });

  it('waitForExit(): a process unmounted from outside exits 0 and is judged clean', async (t) => {
    if (!gate(t)) return;
    const m = await fake();
    const r = spawn('fusermount3', ['-u', m.mountpoint], { stdio: 'ignore' });
    await new Promise((res) => r.on('exit', res));
    await m.waitForExit({ timeoutMs: 5000 });
    assert.equal(await m.isMounted(), false);
    assert.equal((await m.exited).code, 0);
  });

  it('dispose(): cleans up without judging', async (t) => {
    if (!gate(t)) return;
    const m = await fake();
    m.child.kill('SIGKILL');
    await m.exited;
    await m.dispose();
    assert.equal(await m.isMounted(), false);
  });

  for (const how of ['exit', 'SIGINT', 'SIGTERM', 'uncaught'] as const) {
    it(`a process that leaves a mount behind (${how}) still unmounts it on the way out`, async (t) => {
      if (!gate(t)) return;
      const harness = pathToFileURL(join(repoRoot(), 'dist', 'test', 'helpers', 'mount-harness.js')).href;
      const script = `
        const { startMount } = await import(${JSON.stringify(harness)});
        const m = await startMount({ remote: 'fake://', fstype: ${JSON.stringify(FAKEFS_FSTYPE)}, command: { file: ${JSON.stringify(fakefs)}, args: ['{mountpoint}'] } });
        process.stdout.write(JSON.stringify({ mountpoint: m.mountpoint, pid: m.child.pid }) + '\\n');
        const how = ${JSON.stringify(how)};
        if (how === 'exit') process.exit(0);
        if (how === 'uncaught') setTimeout(() => { throw new Error('boom'); }, 10);
        setInterval(() => {}, 1000);
      `;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stderr.on('data', (b: Buffer) => (err += b.toString()));
      const info = await new Promise<{ mountpoint: string; pid: number }>((resolve, reject) => {
        child.stdout.on('data', (b: Buffer) => {
          out += b.toString();
          const line = out.split('\n')[0];
          if (out.includes('\n') && line) resolve(JSON.parse(line) as { mountpoint: string; pid: number });
        });
        child.on('exit', (code) => {
          if (!out.includes('\n')) reject(new Error(`helper exited ${String(code)} early: ${err}`));
        });
      });
      if (how === 'SIGINT' || how === 'SIGTERM') child.kill(how);
      const exit = await new Promise<{ code: number | null; signal: string | null }>((r) => {
        if (child.exitCode !== null || child.signalCode !== null) r({ code: child.exitCode, signal: child.signalCode });
        else child.on('exit', (code, signal) => r({ code, signal }));
      });
      t.diagnostic(`helper ended with ${JSON.stringify(exit)}`);
      if (how === 'SIGINT' || how === 'SIGTERM') assert.equal(exit.signal, how, 'the signal is re-raised after cleanup');
      if (how === 'uncaught') assert.notEqual(exit.code, 0);
      const still = mountsAt(await readMountinfo(), info.mountpoint);
      assert.deepEqual(still, [], `mount left at ${info.mountpoint}`);
      // the fakefs child was killed too (a zombie waiting for its new parent to reap it counts as dead)
      const running = async (): Promise<boolean> => {
        try {
          const st = await readFile(`/proc/${info.pid}/stat`, 'utf8');
          return !/^\d+ \(.*\) [ZX]/.test(st);
        } catch {
          return false;
        }
      };
      for (let i = 0; i < 20 && (await running()); i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(await running(), false, `fakefs pid ${info.pid} still running`);
      await rmdir(info.mountpoint).catch(() => undefined);
    });
  }

  it('nothing of ours is left mounted', async () => {
    assert.deepEqual(await leftoverMounts(), []);
  });
});
