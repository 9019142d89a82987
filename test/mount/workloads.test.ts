/**
 * Real programs inside a real objfs mount, over a file:// bucket and over an s3:// bucket on
 * MinIO (the same cases for both):
 *   (a) an editor-like save: a swap file is open while a temp file is written, fsync'd and
 *       renamed over the original; the original has the new content and no temp is left, also
 *       after a remount; (a2) the same with vim's own save (in place), when vim is installed;
 *   (b) `tar x` of a generated 1,000-file archive (nested dirs, 0..64 KiB, made outside the
 *       mount), `diff -r` against the source, remount, `diff -r` again;
 *   (c) `git init`, add, `git commit`, `git fsck --full`, `git log`; after a remount `git fsck`
 *       and `git log` still succeed and `git status` is clean.
 * These exercise the write path and must keep passing as it is rebuilt. Each case has a first
 * part, then one remount (stop, start) serves all of them, then each case's second part checks
 * what survived; a second part is skipped when its first part failed.
 * Mounts run in child processes (test/helpers/mount-harness.ts); every mount is stopped in
 * `after`, MinIO too.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, open, readdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { existsSync } from 'node:fs';
import { after, before, describe, it, type TestContext } from 'node:test';
import { fuseUnavailableReason, startMount, tail, type MountHandle } from '../helpers/mount-harness.js';
import { createBucket, minioSuiteOptions, startMinio, type MinioServer } from '../helpers/minio.js';
import { mulberry32 } from '../../src/util/prng.js';

const STEP_MS = 120_000;
const FILES = 1000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8', maxBuffer: 64 << 20, timeout: STEP_MS, cwd: opts.cwd, env: { ...process.env, ...opts.env } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function mustRun(file: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  const r = await run(file, args, opts);
  assert.equal(r.code, 0, `${file} ${args.join(' ')} (in ${opts.cwd ?? '.'}) exited ${String(r.code)}:\n${(r.stderr + r.stdout).slice(0, 4000)}`);
  return r;
}

const onPath = (cmd: string): boolean => (process.env['PATH'] ?? '').split(delimiter).some((d) => d !== '' && existsSync(join(d, cmd)));
const vimBin = ['vim', 'vim.tiny'].find((b) => onPath(b));

/** A 1,000-file tree (nested dirs, 0..64 KiB mostly small, a few empty dirs) and its tar archive, outside any mount. */
async function makeArchive(work: string): Promise<{ src: string; archive: string }> {
  const src = join(work, 'tar-src');
  const rand = mulberry32(90210);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)]!;
  const names = ['alpha', 'beta', 'gamma', 'delta', 'with space', 'ünï'];
  for (let i = 0; i < FILES; i++) {
    const depth = Math.floor(rand() * 4);
    const dir = join(src, ...Array.from({ length: depth }, () => pick(names)));
    await mkdir(dir, { recursive: true });
    const r = rand();
    const size = r < 0.05 ? 0 : r > 0.97 ? 65_536 : Math.floor(rand() ** 3 * 65_537); // mostly small, as in real trees
    const body = Buffer.alloc(size);
    for (let o = 0; o < size; o += 4) {
      const v = (rand() * 0x1_0000_0000) >>> 0;
      for (let k = 0; k < 4 && o + k < size; k++) body[o + k] = (v >>> (8 * k)) & 0xff;
    }
    await writeFile(join(dir, `f${i}.${pick(['txt', 'bin', 'c'])}`), body);
  }
  for (const d of ['empty', 'alpha/empty too', 'beta/gamma/empty']) await mkdir(join(src, d), { recursive: true });
  const archive = join(work, 'tree.tar');
  await mustRun('tar', ['cf', archive, '-C', src, '.']);
  return { src, archive };
}

interface Backend {
  /** Mount options for the current run (called after `setup`). */
  mountOpts(): { remote: string; args: string[]; env: NodeJS.ProcessEnv };
  setup(work: string): Promise<void>;
  teardown(): Promise<void>;
}

const fileBackend = (): Backend => {
  let work = '';
  return {
    async setup(w) {
      work = w;
      await mkdir(join(work, 'bucket'));
    },
    mountOpts: () => ({ remote: `file://${join(work, 'bucket')}`, args: ['--cache-dir', join(work, 'cache')], env: { XDG_CACHE_HOME: join(work, 'xdg') } }),
    async teardown() {},
  };
};

const s3Backend = (): Backend => {
  let work = '';
  let minio: MinioServer | undefined;
  let bucket = '';
  return {
    async setup(w) {
      work = w;
      minio = await startMinio();
      bucket = await createBucket(minio);
    },
    mountOpts: () => ({
      remote: `s3://${bucket}`,
      args: ['--endpoint', minio!.endpoint, '--region', minio!.region, '--cache-dir', join(work, 'cache')],
      env: { AWS_ACCESS_KEY_ID: minio!.accessKey, AWS_SECRET_ACCESS_KEY: minio!.secretKey, AWS_EC2_METADATA_DISABLED: 'true', XDG_CACHE_HOME: join(work, 'xdg') },
    }),
    async teardown() {
      await minio?.stop();
    },
  };
};

const fuseMissing = fuseUnavailableReason();
const fuseSkip = fuseMissing && process.env['CI'] !== 'true' ? fuseMissing : false;

let shared: { work: string; src: string; archive: string } | undefined;
before(
  async () => {
    if (fuseSkip) return;
    if (fuseMissing) throw new Error(`real-mount tests cannot run in CI: ${fuseMissing}`);
    const work = await mkdtemp(join(tmpdir(), 'objfs-workloads-'));
    shared = { work, ...(await makeArchive(work)) };
  },
  { timeout: STEP_MS },
);
after(async () => {
  if (shared) await rm(shared.work, { recursive: true, force: true });
});

function workloads(name: string, tag: string, backend: Backend, suiteOpts: { skip?: string | boolean }): void {
  describe(`workloads in a mount: ${name}`, { concurrency: 1, ...suiteOpts, ...(fuseSkip ? { skip: fuseSkip } : {}) }, () => {
    let work = '';
    let m: MountHandle | undefined;
    /** Every mount of this suite, so a failure can show what the mount processes logged. */
    const mounts: MountHandle[] = [];
    const mnt = (): string => {
      if (!m) throw new Error('no mount (an earlier step failed)');
      return m.mountpoint;
    };
    const mount = async (): Promise<void> => {
      m = await startMount(backend.mountOpts());
      mounts.push(m);
    };
    /** Run a case; on failure add the tail of the mount processes' stderr to the error. */
    const withLog = (fn: (t: TestContext) => Promise<void>) => async (t: TestContext): Promise<void> => {
      const from = mounts.length;
      try {
        await fn(t);
      } catch (e) {
        const logs = mounts.slice(Math.max(0, from - 1)).map((h) => tail(h.stderr(), 15)).filter((x) => x !== '');
        if (e instanceof Error && logs.length > 0) e.message += `\n--- mount stderr (tail) ---\n${logs.join('\n---\n')}`;
        throw e;
      }
    };
    const remount = async (): Promise<void> => {
      const old = m;
      m = undefined;
      await old?.stop(); // clean exit 0, mount gone; uploads on close are done by then
      await mount();
    };

    before(
      async () => {
        if (!shared) throw new Error('setup failed');
        work = await mkdtemp(join(shared.work, `${tag}-`));
        await backend.setup(work);
        await mount();
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
        }
      },
      { timeout: STEP_MS },
    );

    /** Which cases got through their first part (their second part runs after the remount). */
    const passed = { edit: false, vim: false, tar: false, git: false };
    const skipUnless = (ok: boolean, t: TestContext): boolean => {
      if (!ok) t.skip('its first part did not pass');
      return ok;
    };
    const editNext = 'second version\n'.repeat(1000);
    const gitEnv = (): NodeJS.ProcessEnv => ({ HOME: join(work, 'home'), GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' });
    const git = (args: string[], cwd: string): Promise<Run> =>
      mustRun('git', ['-c', 'user.name=Objfs Test', '-c', 'user.email=test@objfs.invalid', ...args], { cwd, env: gitEnv() });
    const vimTodo = vimBin ? {} : { skip: 'vim is not installed (scripts/setup.sh installs vim-tiny)' };

    it('(a) editor-like save: swap file open, temp file written, fsync, renamed over the original', { timeout: STEP_MS }, withLog(async () => {
      const dir = join(mnt(), 'edit');
      await mkdir(dir);
      const file = join(dir, 'notes.txt');
      await writeFile(file, 'first version\n');
      const swp = await open(join(dir, '.notes.txt.swp'), 'w', 0o600);
      await swp.write('swap contents');
      await swp.sync();
      const tmp = join(dir, '.notes.txt.tmp-4f2a');
      const fh = await open(tmp, 'wx', 0o644);
      await fh.writeFile(editNext);
      await fh.sync();
      await fh.close();
      await rename(tmp, file);
      await swp.close();
      await unlink(join(dir, '.notes.txt.swp'));
      assert.equal(await readFile(file, 'utf8'), editNext);
      assert.deepEqual((await readdir(dir)).sort(), ['notes.txt']);
      passed.edit = true;
    }));

    // vim rewrites the file in place: open(O_WRONLY|O_CREAT), ftruncate(0), write, fsync, fchmod, close.
    it('(a2) vim saves an edit, 5 files in a row, each read back at once', { timeout: STEP_MS, ...vimTodo }, withLog(async () => {
      const dir = join(mnt(), 'vim');
      await mkdir(dir);
      for (let i = 0; i < 5; i++) {
        const name = `file${i}.txt`;
        await writeFile(join(dir, name), 'old line\n');
        // -c cq: when the write fails vim exits with an error instead of waiting for input
        await mustRun(vimBin as string, ['-u', 'NONE', '-i', 'NONE', '-N', '-es', '-c', '%s/old/new/', '-c', 'wq', '-c', 'cq', name], { cwd: dir });
        assert.equal(await readFile(join(dir, name), 'utf8'), 'new line\n', `${name} right after the save`);
      }
      passed.vim = true;
    }));

    it(`(b) tar x of a ${FILES}-file archive, then diff -r`, { timeout: STEP_MS }, withLog(async (t) => {
      if (!shared) throw new Error('setup failed');
      const dest = join(mnt(), 'tar');
      await mkdir(dest);
      const t0 = Date.now();
      await mustRun('tar', ['xf', shared.archive, '-C', dest]);
      const t1 = Date.now();
      await mustRun('diff', ['-r', shared.src, dest]);
      t.diagnostic(`tar x ${t1 - t0} ms, diff -r ${Date.now() - t1} ms`);
      passed.tar = true;
    }));

    it('(c) git init, add, commit (twice), fsck --full, log', { timeout: STEP_MS }, withLog(async () => {
      const repo = join(mnt(), 'repo');
      await mkdir(repo);
      await mkdir(join(work, 'home'), { recursive: true });
      await git(['init', '-q', '-b', 'main'], repo);
      for (let i = 0; i < 20; i++) await writeFile(join(repo, `file${i}.txt`), `line ${i}\n`.repeat(i * 50 + 1));
      await mkdir(join(repo, 'src', 'lib'), { recursive: true });
      await writeFile(join(repo, 'src', 'lib', 'code.c'), 'int main(void) { return 0; }\n');
      await git(['add', '.'], repo);
      await git(['commit', '-q', '-m', 'first commit through objfs'], repo);
      await writeFile(join(repo, 'file3.txt'), 'changed\n');
      await git(['commit', '-q', '-a', '-m', 'second commit'], repo);
      await git(['fsck', '--full', '--strict'], repo);
      assert.equal((await git(['log', '--format=%s'], repo)).stdout, 'second commit\nfirst commit through objfs\n');
      passed.git = true;
    }));

    it('remount: the mount stops cleanly (exit 0, nothing left mounted) and starts again', { timeout: STEP_MS }, withLog(async () => {
      await remount();
    }));

    it('(a) after the remount: the original has the new content, no temp or swap file is left', { timeout: STEP_MS }, withLog(async (t) => {
      if (!skipUnless(passed.edit, t)) return;
      const dir = join(mnt(), 'edit');
      assert.equal(await readFile(join(dir, 'notes.txt'), 'utf8'), editNext);
      assert.deepEqual((await readdir(dir)).sort(), ['notes.txt']);
    }));

    it('(a2) after the remount: vim\'s saves are there, no swap or backup file is left', { timeout: STEP_MS, ...vimTodo }, withLog(async (t) => {
      if (!skipUnless(passed.vim, t)) return;
      const dir = join(mnt(), 'vim');
      for (let i = 0; i < 5; i++) assert.equal(await readFile(join(dir, `file${i}.txt`), 'utf8'), 'new line\n', `file${i}.txt`);
      assert.deepEqual((await readdir(dir)).sort(), [0, 1, 2, 3, 4].map((i) => `file${i}.txt`));
    }));

    it('(b) after the remount: diff -r finds no difference', { timeout: STEP_MS }, withLog(async (t) => {
      if (!skipUnless(passed.tar, t) || !shared) return;
      const t0 = Date.now();
      await mustRun('diff', ['-r', shared.src, join(mnt(), 'tar')]);
      t.diagnostic(`diff -r ${Date.now() - t0} ms`);
    }));

    it('(c) after the remount: git fsck --full, log and a clean status', { timeout: STEP_MS }, withLog(async (t) => {
      if (!skipUnless(passed.git, t)) return;
      const repo = join(mnt(), 'repo');
      await git(['fsck', '--full', '--strict'], repo);
      assert.equal((await git(['log', '--format=%s'], repo)).stdout, 'second commit\nfirst commit through objfs\n');
      assert.equal((await git(['status', '--porcelain'], repo)).stdout, '', 'the work tree matches the last commit');
      assert.equal(await readFile(join(repo, 'file3.txt'), 'utf8'), 'changed\n');
    }));
  });
}

// The two backends run side by side (each suite's cases run in order); most of the time is spent
// waiting on fsync and HTTP, so this roughly halves the wall time on two cores.
describe('real programs in objfs mounts', { concurrency: 2 }, () => {
  workloads('file://', 'file', fileBackend(), {});
  workloads('s3:// (MinIO)', 's3', s3Backend(), minioSuiteOptions());
});
