/**
 * Acceptance scenario through a real objfs mount of a file:// bucket:
 *   1. generate a deterministic tree (1,000 files from 0 B to 256 KiB plus a few MiB-sized ones,
 *      nested directories, names with spaces and unicode, modes, symlinks, a few xattrs);
 *   2. `cp -a` it into the mount and back out; `diff -r` finds no difference, and the metadata
 *      `diff` does not look at (modes, owners, ns mtimes, symlink targets, xattrs) is equal too;
 *   3. through the mount: rename a file and a directory, chmod, `touch -d` with nanoseconds,
 *      symlink, setxattr, delete, create; the same changes are applied to a local copy, and
 *      the two must agree;
 *   4. `objfs unmount`, mount again, and everything from 3 still holds;
 *   5. nothing of ours is left in /proc/mounts.
 * The cases run in order and share state; the mount is always stopped in `after`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readlink, rm, stat, symlink, writeFile, chmod, rename, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fuseUnavailableReason, leftoverMounts, startMount, type MountHandle } from '../helpers/mount-harness.js';
import { parseProcMounts } from '../helpers/mountinfo.js';
import { compareTrees, generateTree, type GeneratedTree } from '../helpers/tree.js';
import { getxattr, setxattr, utimens } from '../helpers/fsops.js';
import { objfsBin } from '../helpers/paths.js';

const STEP_TIMEOUT_MS = 10 * 60_000;
const TOUCH_DATE = '2001-02-03 04:05:06.123456789';
const TOUCH_NS = 981173106_123456789n; // TOUCH_DATE in UTC
const NEW_FILE_NS = 1_234_567_890_987654321n;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], env?: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8', maxBuffer: 64 << 20, timeout: STEP_TIMEOUT_MS, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function mustRun(file: string, args: string[], env?: NodeJS.ProcessEnv): Promise<Run> {
  const r = await run(file, args, env);
  assert.equal(r.code, 0, `${file} ${args.join(' ')} failed (${String(r.code)}):\n${r.stderr.slice(0, 4000)}`);
  return r;
}

async function diffR(a: string, b: string): Promise<void> {
  const r = await run('diff', ['-r', '--no-dereference', a, b]);
  assert.equal(r.code, 0, `diff -r ${a} ${b} found differences (exit ${String(r.code)}):\n${(r.stdout + r.stderr).slice(0, 4000)}`);
}

function assertNoDiffs(diffs: string[], what: string): void {
  assert.deepEqual(diffs.slice(0, 30), [], `${what}: ${diffs.length} difference(s)`);
}

/** The changes of step 3, as relative paths chosen from the generated tree (deterministic). */
interface ChangePlan {
  renameFile: [string, string];
  renameDir: [string, string];
  chmodFile: [string, number];
  chmodDir: [string, number];
  touchFile: string;
  newLink: [string, string]; // [path, target]
  xattr: [string, string, string]; // [path, name, value]
  deleteFile: string;
  deleteDir: string;
  newFile: [string, string];
}

function planChanges(g: GeneratedTree): ChangePlan {
  const under = (p: string, d: string): boolean => p === d || p.startsWith(`${d}/`);
  const filesUnder = (d: string): number => g.files.filter((f) => under(f, d)).length;
  const free = (d: string): boolean => !g.xattrFiles.some((f) => under(f, d));
  // directories with a real subtree (10..200 files below), not holding the xattr files
  const candidates = g.dirs.filter((d) => free(d) && filesUnder(d) >= 10 && filesUnder(d) <= 200);
  const dirToRename = candidates.find((d) => d.includes('/')) ?? candidates[0];
  const dirToDelete = candidates.find((d) => dirToRename !== undefined && !under(d, dirToRename) && !under(dirToRename, d));
  const dirToChmod = g.dirs.find((d) => d.includes('/') && !under(d, dirToRename ?? '') && !under(d, dirToDelete ?? ''));
  if (!dirToRename || !dirToDelete || !dirToChmod) throw new Error('tree too small for the change plan');
  const outside = g.files.filter((f) => !under(f, dirToRename) && !under(f, dirToDelete) && !g.xattrFiles.includes(f));
  const [f1, f2, f3, f4] = [outside[3], outside[40], outside[80], outside[120]];
  if (!f1 || !f2 || !f3 || !f4) throw new Error('tree too small for the change plan');
  return {
    renameFile: [f1, 'renamed file ✓.bin'],
    renameDir: [dirToRename, 'renamed dir ✓'],
    chmodFile: [f2, 0o604],
    chmodDir: [dirToChmod, 0o711],
    touchFile: f3,
    newLink: ['new link ➜', 'renamed file ✓.bin'],
    xattr: ['renamed file ✓.bin', 'user.acceptance', 'objfs ✓'],
    deleteFile: f4,
    deleteDir: dirToDelete,
    newFile: ['new file ünï.txt', 'created through the mount\n'],
  };
}

async function applyChanges(root: string, p: ChangePlan): Promise<void> {
  const at = (rel: string): string => join(root, rel);
  await rename(at(p.renameFile[0]), at(p.renameFile[1]));
  await rename(at(p.renameDir[0]), at(p.renameDir[1]));
  await chmod(at(p.chmodFile[0]), p.chmodFile[1]);
  await chmod(at(p.chmodDir[0]), p.chmodDir[1]);
  await mustRun('touch', ['-d', TOUCH_DATE, at(p.touchFile)], { TZ: 'UTC' });
  await symlink(p.newLink[1], at(p.newLink[0]));
  await setxattr(at(p.xattr[0]), p.xattr[1], Buffer.from(p.xattr[2]));
  await unlink(at(p.deleteFile));
  await rm(at(p.deleteDir), { recursive: true });
  await writeFile(at(p.newFile[0]), p.newFile[1]);
  await utimens(at(p.newFile[0]), NEW_FILE_NS, NEW_FILE_NS);
}

/** Direct checks of each change (clearer failures than the tree comparison). */
async function checkChanges(root: string, p: ChangePlan, src: string): Promise<void> {
  const at = (rel: string): string => join(root, rel);
  const gone = async (rel: string): Promise<void> => {
    await assert.rejects(stat(at(rel)), (e: NodeJS.ErrnoException) => e.code === 'ENOENT', `${rel} must be gone`);
  };
  assert.ok((await readFile(at(p.renameFile[1]))).equals(await readFile(join(src, p.renameFile[0]))), 'renamed file content');
  await gone(p.renameFile[0]);
  assert.ok((await stat(at(p.renameDir[1]))).isDirectory(), 'renamed dir');
  await gone(p.renameDir[0]);
  assert.equal((await stat(at(p.chmodFile[0]))).mode & 0o7777, p.chmodFile[1], 'chmod file');
  assert.equal((await stat(at(p.chmodDir[0]))).mode & 0o7777, p.chmodDir[1], 'chmod dir');
  assert.equal((await stat(at(p.touchFile), { bigint: true })).mtimeNs, TOUCH_NS, 'touch -d mtime with nanoseconds');
  assert.equal(await readlink(at(p.newLink[0])), p.newLink[1], 'new symlink target');
  assert.deepEqual(await getxattr(at(p.xattr[0]), p.xattr[1]), Buffer.from(p.xattr[2]), 'xattr');
  await gone(p.deleteFile);
  await gone(p.deleteDir);
  assert.equal(await readFile(at(p.newFile[0]), 'utf8'), p.newFile[1], 'new file');
  assert.equal((await stat(at(p.newFile[0]), { bigint: true })).mtimeNs, NEW_FILE_NS, 'new file mtime');
}

const unavailable = fuseUnavailableReason();

describe('acceptance: a 1,000-file tree through a real objfs mount', { skip: unavailable && process.env['CI'] !== 'true' ? unavailable : false }, () => {
  let work = '';
  let src = '';
  let expected = '';
  let bucket = '';
  let mnt = '';
  let m: MountHandle | undefined;
  let gen: GeneratedTree | undefined;
  let plan: ChangePlan | undefined;
  const env = (): NodeJS.ProcessEnv => ({ XDG_CACHE_HOME: join(work, 'cache') });

  before(
    async () => {
      if (unavailable) throw new Error(`real-mount tests cannot run in CI: ${unavailable}`);
      work = await mkdtemp(join(tmpdir(), 'objfs-tree-'));
      src = join(work, 'src');
      bucket = join(work, 'bucket');
      mnt = join(work, 'mnt');
      for (const d of [src, bucket, mnt, join(work, 'cache')]) await mkdir(d);
      gen = await generateTree(src, { seed: 1234, files: 1000 });
      plan = planChanges(gen);
      m = await startMount({ remote: `file://${bucket}`, mountpoint: mnt, args: ['--xattr'], env: env() });
    },
    { timeout: STEP_TIMEOUT_MS },
  );

  after(
    async () => {
      const h = m;
      m = undefined;
      let error: unknown;
      if (h) await h.stop().catch(async (e: unknown) => {
        error = e;
        await h.dispose();
      });
      if ((await leftoverMounts()).length === 0) await rm(work, { recursive: true, force: true });
      if (error) throw error;
    },
    { timeout: 120_000 },
  );

  it('cp -a into the mount and back out: diff -r finds no difference', { timeout: STEP_TIMEOUT_MS }, async (t) => {
    if (!gen) throw new Error('setup failed');
    t.diagnostic(`${gen.files.length} files, ${gen.dirs.length} dirs, ${gen.symlinks.length} symlinks, ${(gen.totalBytes / 1048576).toFixed(1)} MiB`);
    await mustRun('cp', ['-a', src, join(mnt, 'tree')]);
    await mustRun('cp', ['-a', join(mnt, 'tree'), join(work, 'out')]);
    await diffR(src, join(work, 'out'));
    await diffR(src, join(mnt, 'tree'));
  });

  it('the round trip keeps modes, owners, sizes, ns mtimes, symlink targets and xattrs', { timeout: STEP_TIMEOUT_MS }, async () => {
    if (!gen) throw new Error('setup failed');
    assertNoDiffs(await compareTrees(src, join(work, 'out'), { dirMtimes: false, xattrPaths: gen.xattrFiles }), 'src vs copied back out');
  });

  it('the copy in the mount keeps directory modes and mtimes set by cp -a', { timeout: STEP_TIMEOUT_MS }, async () => {
    assertNoDiffs(await compareTrees(src, join(mnt, 'tree'), { dirMtimes: true, xattrPaths: [] }), 'src vs mount (with directory mtimes)');
  });

  it('rename, chmod, touch -d, symlink, xattr, delete and create through the mount', { timeout: STEP_TIMEOUT_MS }, async () => {
    if (!gen || !plan) throw new Error('setup failed');
    expected = join(work, 'expected');
    await mustRun('cp', ['-a', src, expected]);
    await applyChanges(expected, plan);
    await applyChanges(join(mnt, 'tree'), plan);
    await checkChanges(join(mnt, 'tree'), plan, src);
    await diffR(expected, join(mnt, 'tree'));
    assertNoDiffs(await compareTrees(expected, join(mnt, 'tree'), { dirMtimes: false, xattrPaths: [...gen.xattrFiles, plan.xattr[0]] }), 'after changes');
  });

  it('after `objfs unmount` and a new mount, every change still holds', { timeout: STEP_TIMEOUT_MS }, async () => {
    if (!gen || !plan || !m || !expected) throw new Error('earlier steps failed');
    const r = await run(process.execPath, [objfsBin(), 'unmount', mnt]);
    assert.equal(r.code, 0, `objfs unmount exited ${String(r.code)}: ${r.stderr}`);
    const old = m;
    m = undefined;
    await old.waitForExit(); // exit code 0, mount gone (else: stale mount reported)
    m = await startMount({ remote: `file://${bucket}`, mountpoint: mnt, args: ['--xattr'], env: env() });
    await checkChanges(join(mnt, 'tree'), plan, src);
    await diffR(expected, join(mnt, 'tree'));
    assertNoDiffs(await compareTrees(expected, join(mnt, 'tree'), { dirMtimes: false, xattrPaths: [...gen.xattrFiles, plan.xattr[0]] }), 'after remount');
  });

  it('stopping the mount leaves nothing of ours in /proc/mounts', { timeout: 120_000 }, async () => {
    const h = m;
    m = undefined;
    if (h) await h.stop();
    const mounts = parseProcMounts(await readFile('/proc/mounts', 'utf8'));
    const ours = mounts.filter((x) => x.mountpoint.startsWith(work) || x.source.includes(bucket));
    assert.deepEqual(ours, [], 'mounts of this test still present');
    assert.deepEqual(await leftoverMounts(), []);
  });
});
