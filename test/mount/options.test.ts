/**
 * Mount options through real mounts served by child processes: --read-only (EROFS up front,
 * `ro` in the mount table, the bucket untouched), fsname/subtype, --daemon (returns once the mount
 * is ready; `objfs unmount` ends it), and a mount by an ordinary user through fusermount3.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it, type TestContext } from 'node:test';
import { forceUnmount, requireFuse, startMount, type MountHandle } from '../helpers/mount-harness.js';
import { mountsAt, readMountinfo } from '../helpers/mountinfo.js';
import { objfsBin, repoRoot } from '../helpers/paths.js';
import { getxattr, setxattr } from '../helpers/fsops.js';

const run = promisify(execFile);

async function tempBucket(files: Record<string, string>): Promise<{ dir: string; bucket: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'objfs-opt-'));
  const bucket = join(dir, 'bucket');
  await mkdir(bucket);
  for (const [k, v] of Object.entries(files)) {
    await mkdir(join(bucket, k, '..'), { recursive: true });
    await writeFile(join(bucket, k), v);
  }
  return { dir, bucket, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A file:// mount of a temp bucket holding `files`, with `args`; stopped and removed whatever fn does. */
async function withMount(files: Record<string, string>, args: string[], fn: (m: MountHandle, b: { dir: string; bucket: string }) => Promise<void>): Promise<void> {
  const b = await tempBucket(files);
  try {
    const m = await startMount({ remote: `file://${b.bucket}`, args: [...args, '--cache-dir', join(b.dir, 'cache')] });
    try {
      await fn(m, b);
    } finally {
      await m.stop();
    }
  } finally {
    await b.cleanup();
  }
}

/** False (and the test skipped with `why`) unless this process is root. */
function requireRoot(t: TestContext, why: string): boolean {
  if (process.getuid?.() === 0) return true;
  t.skip(why);
  return false;
}

async function failsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: { code?: string }) => e.code === code, `expected ${code}`);
}

describe('mount options', () => {
  it('--read-only: EROFS for every change, ro in the mount table, bucket untouched', async (t) => {
    if (!requireFuse(t)) return;
    await withMount({ 'f.txt': 'keep', 'd/g.txt': 'also' }, ['--read-only'], async (m, b) => {
      const mp = m.mountpoint;
      const { readFile, writeFile: wf, mkdir: md, rename, unlink, chmod, symlink, utimes, rmdir, truncate } = await import('node:fs/promises');
      assert.equal((await readFile(join(mp, 'f.txt'))).toString(), 'keep');
      await failsWith(wf(join(mp, 'new.txt'), 'x'), 'EROFS');
      await failsWith(wf(join(mp, 'f.txt'), 'x'), 'EROFS');
      await failsWith(md(join(mp, 'nd')), 'EROFS');
      await failsWith(rename(join(mp, 'f.txt'), join(mp, 'g.txt')), 'EROFS');
      await failsWith(unlink(join(mp, 'f.txt')), 'EROFS');
      await failsWith(rmdir(join(mp, 'd')), 'EROFS');
      await failsWith(chmod(join(mp, 'f.txt'), 0o600), 'EROFS');
      await failsWith(symlink('f.txt', join(mp, 'l')), 'EROFS');
      await failsWith(utimes(join(mp, 'f.txt'), 1, 1), 'EROFS');
      await failsWith(truncate(join(mp, 'f.txt'), 0), 'EROFS');
      const entry = mountsAt(await readMountinfo(), mp, 'fuse.objfs')[0];
      assert.ok(entry, 'mounted');
      assert.match(entry.options, /(^|,)ro(,|$)/, `mount options ${entry.options}`);
      assert.match(entry.source, /^objfs:file:\/\//, `fsname ${entry.source}`);
      assert.deepEqual((await readdir(b.bucket)).filter((n) => n !== '.objfs').sort(), ['d', 'f.txt']);
    });
  });

  for (const args of [[], ['--no-xattr']]) {
    it(`${args.length ? args.join(' ') : 'by default'}: extended attributes are refused with EOPNOTSUPP, everything else works`, async (t) => {
      if (!requireFuse(t)) return;
      await withMount({ 'f.txt': 'x' }, args, async (m) => {
        const f = join(m.mountpoint, 'f.txt');
        await failsWith(setxattr(f, 'user.a', Buffer.from('1')), 'EOPNOTSUPP');
        await failsWith(getxattr(f, 'user.a'), 'EOPNOTSUPP');
        await failsWith(getxattr(f, 'user.a'), 'EOPNOTSUPP'); // now answered by the kernel itself
        const { stdout } = await run('ls', ['-l', m.mountpoint]);
        assert.match(stdout, /f\.txt/);
        const { readFile } = await import('node:fs/promises');
        assert.equal((await readFile(f)).toString(), 'x');
      });
    });
  }

  it('--xattr: user.* attributes are kept; other namespaces are absent (ENODATA) and refused on set', async (t) => {
    if (!requireFuse(t)) return;
    await withMount({ 'f.txt': 'x' }, ['--xattr'], async (m) => {
      const f = join(m.mountpoint, 'f.txt');
      await setxattr(f, 'user.a', Buffer.from('1'));
      assert.deepEqual(await getxattr(f, 'user.a'), Buffer.from('1'));
      await failsWith(getxattr(f, 'user.none'), 'ENODATA');
      await failsWith(getxattr(f, 'security.selinux'), 'ENODATA');
      await failsWith(getxattr(f, 'trusted.x'), 'ENODATA');
      await failsWith(setxattr(f, 'trusted.x', Buffer.from('1')), 'EOPNOTSUPP');
      assert.deepEqual(await getxattr(f, 'user.a'), Buffer.from('1'));
    });
  });

  it('as root, the mount\'s kernel read-ahead is raised to 1 MiB (the default 128 KiB caps READs at 128 KiB)', async (t) => {
    if (!requireFuse(t)) return;
    if (!requireRoot(t, 'needs root: only root may write /sys/class/bdi/*/read_ahead_kb (objfs then leaves the default)')) return;
    await withMount({ 'f.txt': 'x' }, [], async (m) => {
      const [entry] = mountsAt(await readMountinfo(), m.mountpoint, 'fuse.objfs');
      assert.ok(entry, 'mount listed');
      const { readFile } = await import('node:fs/promises');
      const file = `/sys/class/bdi/${entry.device}/read_ahead_kb`;
      let kb = 0;
      for (let i = 0; i < 50 && kb !== 1024; i++, await new Promise((r) => setTimeout(r, 20))) kb = Number((await readFile(file, 'utf8')).trim());
      assert.equal(kb, 1024);
    });
  });

  it('--daemon returns once the mount is ready; objfs unmount ends it and the server exits', async (t) => {
    if (!requireFuse(t)) return;
    const b = await tempBucket({ 'hello.txt': 'hi' });
    const mp = join(b.dir, 'mnt');
    await mkdir(mp);
    try {
      await run(process.execPath, [objfsBin(), 'mount', `file://${b.bucket}`, mp, '--daemon', '--cache-dir', join(b.dir, 'cache')], { timeout: 30_000 });
      // no waiting: the mount must be usable the moment --daemon returned
      assert.equal(mountsAt(await readMountinfo(), mp, 'fuse.objfs').length, 1);
      const { readFile } = await import('node:fs/promises');
      assert.equal((await readFile(join(mp, 'hello.txt'))).toString(), 'hi');
      await run(process.execPath, [objfsBin(), 'unmount', mp], { timeout: 30_000 });
      assert.equal(mountsAt(await readMountinfo(), mp).length, 0);
    } finally {
      if (mountsAt(await readMountinfo(), mp).length > 0) await forceUnmount(mp);
      await b.cleanup();
    }
  });

  it('an ordinary user mounts through fusermount3 and owns the files it creates', async (t) => {
    if (!requireFuse(t)) return;
    if (!requireRoot(t, 'needs root to switch to the user nobody')) return;
    const b = await tempBucket({ 'x.txt': 'x' });
    const mp = join(b.dir, 'mnt');
    await mkdir(mp);
    for (const p of [b.dir, b.bucket, mp, join(b.bucket, 'x.txt')]) await chown(p, 65534, 65534);
    const asNobody = (cmd: string, args: string[]) => run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', cmd, ...args], { timeout: 30_000, cwd: '/' });
    // fusermount3 opens /dev/fuse with the user's rights. Debian's default is mode 0666; some
    // containers have 0600. Check the refusal is one clear line, then use the usual mode.
    const devMode = (await stat('/dev/fuse')).mode & 0o777;
    // The user must reach the checkout to run objfs: a clone inside a private directory (mktemp -d
    // is 0700) is not searchable by others. Grant o+x on exactly those ancestors, restore after.
    const widened: [string, number][] = [];
    try {
      for (let dir = repoRoot(); ; dir = join(dir, '..')) {
        const mode = (await stat(dir)).mode & 0o7777;
        if ((mode & 0o001) === 0) {
          widened.push([dir, mode]);
          await chmod(dir, mode | 0o001);
        }
        if (dir === '/') break;
      }
      if ((devMode & 0o006) !== 0o006) {
        await assert.rejects(asNobody(process.execPath, [objfsBin(), 'mount', `file://${b.bucket}`, mp, '--cache-dir', join(b.dir, 'cache')]), (e: { stderr?: string }) =>
          /^objfs: \/dev\/fuse \(mode 0\d+\) is not usable by uid 65534: .*chmod 0666 \/dev\/fuse/.test(e.stderr ?? '') && (e.stderr ?? '').trim().split('\n').length === 1);
        await chmod('/dev/fuse', 0o666);
      }
      await asNobody(process.execPath, [objfsBin(), 'mount', `file://${b.bucket}`, mp, '--daemon', '--cache-dir', join(b.dir, 'cache')]);
      const entry = mountsAt(await readMountinfo(), mp, 'fuse.objfs')[0];
      assert.ok(entry, 'mounted by nobody');
      assert.match(entry.superOptions, /user_id=65534/, entry.superOptions);
      await asNobody('sh', ['-c', `echo made-by-nobody > '${mp}/n.txt'`]);
      const { stdout } = await asNobody('stat', ['-c', '%u %s', join(mp, 'n.txt')]);
      assert.equal(stdout.trim(), '65534 15');
      await asNobody(process.execPath, [objfsBin(), 'unmount', mp]);
      assert.equal(mountsAt(await readMountinfo(), mp).length, 0);
    } finally {
      if (mountsAt(await readMountinfo(), mp).length > 0) await forceUnmount(mp);
      await chmod('/dev/fuse', devMode);
      for (const [dir, mode] of widened) await chmod(dir, mode);
      await b.cleanup();
    }
  });
});
