/**
 * The objfs POSIX conformance suite: the semantics objfs promises (docs/SEMANTICS.md), written
 * once against the PosixDriver interface and run over several drivers:
 *   - local-dir.test.ts: a plain directory on the kernel's own filesystem (opts.objfs = false).
 *     This validates the cases themselves: everything not marked objfs-specific must pass there.
 *   - mount.test.ts: a real FUSE mount of objfs over a file:// bucket (opts.objfs = true).
 *   - (vfs-driver: the Vfs in-process over the memory store, owned by the VFS authors.)
 *
 * Structure: one describe block per area, each with its own driver created in `before` and
 * cleaned up in `after` (which node:test runs even when cases fail). Each case works in its own
 * fresh directory, so cases never see each other's files. Cases whose expected result differs
 * from Linux on ext4 (objfs-specific choices: hard links, special files, RENAME_EXCHANGE,
 * non-user xattr namespaces) are registered with `objfsOnly` and skipped (visibly) otherwise.
 *
 * Some groups live in test/helpers/cases/ (model.ts, xattrs.ts, persistence.ts). The persistence
 * cases check state in place, then call
 * driver.remount() when driver.canRemount and check it again; when the driver cannot remount the
 * remount step is reported as skipped and the checks still run in place.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { PosixDriver } from './driver.js';
import {
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  expectCode,
  isRoot,
  mapLimit,
  seededBytes,
  sorted,
} from '../helpers/suite-kit.js';
import { registerPersistenceCases } from '../helpers/cases/persistence.js';
import { modelCases } from '../helpers/cases/model.js';
import { unsupportedCases, xattrCases } from '../helpers/cases/xattrs.js';
import type { CaseOptions, SuiteCtx } from '../helpers/cases/ctx.js';

export type MakeDriver = () => Promise<{ driver: PosixDriver; cleanup(): Promise<void> }>;
export type { SuiteCtx } from '../helpers/cases/ctx.js';

const CASE_TIMEOUT_MS = 180_000;
const HOOK_TIMEOUT_MS = 90_000;
/** The suite sets this umask around every group so modes given at create time are predictable. */
export const SUITE_UMASK = 0o022;

export function conformanceSuite(makeDriver: MakeDriver, opts: { objfs: boolean }): void {
  const group = (title: string, body: (ctx: SuiteCtx) => void): void => registerGroup(makeDriver, opts, title, body);

  group('regular files', filesCases);
  group('file content model (fast-check)', modelCases);
  group('directories', dirCases);
  group('large directories', bigDirCases);
  group('rename', renameCases);
  group('symlinks', symlinkCases);
  group('metadata: chmod, chown, utimes', metadataCases);
  group('names, lookups, inodes, statfs', namesCases);
  group('xattrs (user.* namespace)', xattrCases);
  group('unsupported node types (objfs-specific)', unsupportedCases);
  group('persistence (checked in place, then again after remount() when driver.canRemount)', registerPersistenceCases);
}

function registerGroup(makeDriver: MakeDriver, opts: { objfs: boolean }, title: string, body: (ctx: SuiteCtx) => void): void {
  describe(title, () => {
    let inst: { driver: PosixDriver; cleanup(): Promise<void> } | undefined;
    let prevUmask: number | undefined;
    let seq = 0;
    const slug = title.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').slice(0, 24).toLowerCase();
    const ctx: SuiteCtx = {
      objfs: opts.objfs,
      get d(): PosixDriver {
        if (!inst) throw new Error('no driver: makeDriver() failed in the before hook (see its error)');
        return inst.driver;
      },
      async dir(): Promise<string> {
        const p = `/${slug}-${++seq}`;
        await ctx.d.mkdir(p);
        return p;
      },
      it(name: string, fn: (t: TestContext) => Promise<void>, o: CaseOptions = {}): void {
        const skip =
          o.objfsOnly && !opts.objfs
            ? 'objfs-specific semantics (Linux on ext4 behaves differently)'
            : o.kernelOnly && opts.objfs
              ? 'kernel filesystems only (objfs refuses this; see the objfs-specific case)'
              : false;
        const label = o.objfsOnly ? `${name} [objfs-specific]` : o.kernelOnly ? `${name} [kernel fs only]` : name;
        it(label, { skip, timeout: o.timeoutMs ?? CASE_TIMEOUT_MS }, fn);
      },
    };
    before(
      async () => {
        prevUmask = process.umask(SUITE_UMASK);
        inst = await makeDriver();
      },
      { timeout: HOOK_TIMEOUT_MS },
    );
    after(
      async () => {
        if (prevUmask !== undefined) process.umask(prevUmask);
        const i = inst;
        inst = undefined;
        if (i) await i.cleanup();
      },
      { timeout: HOOK_TIMEOUT_MS },
    );
    body(ctx);
  });
}

const ascii = (s: string): Buffer => Buffer.from(s, 'utf8');

// ---------------------------------------------------------------------------------------------
// Regular files
// ---------------------------------------------------------------------------------------------
function filesCases(c: SuiteCtx): void {
  c.it('create, write, read back; stat says regular file, size, nlink 1', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'hello, objfs\n');
    assert.deepEqual(await c.d.readFile(`${dir}/f`), ascii('hello, objfs\n'));
    const st = await c.d.stat(`${dir}/f`);
    assert.equal(st.mode & S_IFMT, S_IFREG, 'S_IFREG');
    assert.equal(st.size, 13);
    assert.equal(st.nlink, 1);
    assert.deepEqual(await c.d.readdir(dir), ['f']);
  });

  c.it('empty file: size 0, reads empty', async () => {
    const dir = await c.dir();
    const h = await c.d.open(`${dir}/e`, 'w');
    await h.close();
    assert.equal((await c.d.stat(`${dir}/e`)).size, 0);
    assert.equal((await c.d.readFile(`${dir}/e`)).length, 0);
  });

  c.it('create mode is honoured (minus the umask)', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/a`, 'x', 0o640);
    assert.equal((await c.d.stat(`${dir}/a`)).mode & 0o7777, 0o640);
    await c.d.writeFile(`${dir}/b`, 'x', 0o666);
    assert.equal((await c.d.stat(`${dir}/b`)).mode & 0o7777, 0o666 & ~SUITE_UMASK);
    const h = await c.d.open(`${dir}/c`, 'w', 0o700);
    await h.close();
    assert.equal((await c.d.stat(`${dir}/c`)).mode & 0o7777, 0o700);
  });

  c.it('overwrite with shorter content replaces it (O_TRUNC via writeFile)', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'a long first version of the file');
    await c.d.writeFile(`${dir}/f`, 'short');
    assert.deepEqual(await c.d.readFile(`${dir}/f`), ascii('short'));
    assert.equal((await c.d.stat(`${dir}/f`)).size, 5);
  });

  // In a mount, a write-only handle of a file it creates or truncates bypasses the page cache
  // (FOPEN_DIRECT_IO): what it writes must still be what every other handle reads.
  c.it('write-only handle of a new file: a reader opened meanwhile, pwrite back, fstat and a reopen all see its bytes', async () => {
    const dir = await c.dir();
    const MiB = 1024 * 1024;
    const body = seededBytes(77, 3 * MiB + 5);
    const w = await c.d.open(`${dir}/f`, 'w');
    try {
      for (let o = 0; o < body.length; o += MiB) assert.equal(await w.pwrite(body.subarray(o, o + MiB), o), Math.min(MiB, body.length - o));
      assert.equal((await w.fstat()).size, body.length);
      const r = await c.d.open(`${dir}/f`, 'r');
      try {
        assert.deepEqual(await r.pread(body.length + 10, 0), body, 'a reader opened while the writer is open');
        assert.equal(await w.pwrite(ascii('HEAD'), 0), 4); // a header patched at the end, as muxers do
        body.write('HEAD', 0);
        assert.deepEqual(await r.pread(8, 0), body.subarray(0, 8), 'the same reader after the writer went back');
      } finally {
        await r.close();
      }
    } finally {
      await w.close();
    }
    assert.deepEqual(await c.d.readFile(`${dir}/f`), body);
    await c.d.writeFile(`${dir}/f`, 'short'); // O_TRUNC of an existing file, write-only
    await c.d.appendFile(`${dir}/f`, '+tail');
    assert.deepEqual(await c.d.readFile(`${dir}/f`), ascii('short+tail'));
    assert.equal((await c.d.stat(`${dir}/f`)).size, 10);
  });

  c.it('pwrite at offsets overwrites in place; size grows only past EOF', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, '0123456789');
    const h = await c.d.open(`${dir}/f`, 'r+');
    try {
      assert.equal(await h.pwrite(ascii('AB'), 3), 2);
      assert.equal((await h.fstat()).size, 10);
      await h.pwrite(ascii('XYZ'), 9);
      assert.equal((await h.fstat()).size, 12);
      assert.deepEqual(await h.pread(100, 0), ascii('012AB5678XYZ'));
      assert.deepEqual(await h.pread(4, 2), ascii('2AB5'));
    } finally {
      await h.close();
    }
    assert.deepEqual(await c.d.readFile(`${dir}/f`), ascii('012AB5678XYZ'));
  });

  c.it('write past EOF leaves a hole that reads as zeros', async () => {
    const dir = await c.dir();
    const h = await c.d.open(`${dir}/f`, 'w+');
    const far = 1024 * 1024 + 10;
    try {
      await h.pwrite(ascii('head'), 0);
      await h.pwrite(ascii('mid'), 5000);
      await h.pwrite(ascii('tail'), far);
      assert.equal((await h.fstat()).size, far + 4);
    } finally {
      await h.close();
    }
    const data = await c.d.readFile(`${dir}/f`);
    assert.equal(data.length, far + 4);
    const expected = Buffer.alloc(far + 4);
    expected.write('head', 0);
    expected.write('mid', 5000);
    expected.write('tail', far);
    assert.ok(data.equals(expected), 'holes must read as zeros');
  });

  c.it('reads at and past EOF return short / empty', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'abcdef');
    const h = await c.d.open(`${dir}/f`, 'r');
    try {
      assert.deepEqual(await h.pread(10, 4), ascii('ef'));
      assert.equal((await h.pread(10, 6)).length, 0);
      assert.equal((await h.pread(10, 1000)).length, 0);
    } finally {
      await h.close();
    }
  });

  c.it('O_APPEND: appendFile and writes on an "a" handle go to the end', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'hello');
    await c.d.appendFile(`${dir}/f`, ', world');
    await c.d.appendFile(`${dir}/new`, 'created by append');
    const h = await c.d.open(`${dir}/f`, 'a');
    try {
      // Linux: with O_APPEND, pwrite appends regardless of the offset given.
      await h.pwrite(ascii('!'), 0);
      await h.pwrite(ascii('?'), 2);
    } finally {
      await h.close();
    }
    assert.deepEqual(await c.d.readFile(`${dir}/f`), ascii('hello, world!?'));
    assert.deepEqual(await c.d.readFile(`${dir}/new`), ascii('created by append'));
  });

  c.it('O_TRUNC: opening "w" on an existing file empties it at once', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'some content');
    const h = await c.d.open(`${dir}/f`, 'w');
    try {
      assert.equal((await h.fstat()).size, 0);
      await h.pwrite(ascii('new'), 0);
    } finally {
      await h.close();
    }
    assert.deepEqual(await c.d.readFile(`${dir}/f`), ascii('new'));
  });

  c.it('O_EXCL: "wx" fails with EEXIST on an existing file or directory, creates otherwise', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'keep');
    await c.d.mkdir(`${dir}/d`);
    await expectCode(c.d.open(`${dir}/f`, 'wx'), 'EEXIST', 'open wx existing file');
    await expectCode(c.d.open(`${dir}/d`, 'wx'), 'EEXIST', 'open wx existing dir');
    assert.deepEqual(await c.d.readFile(`${dir}/f`), ascii('keep'));
    const h = await c.d.open(`${dir}/g`, 'wx');
    await h.pwrite(ascii('fresh'), 0);
    await h.close();
    assert.deepEqual(await c.d.readFile(`${dir}/g`), ascii('fresh'));
  });

  c.it('truncate: grow reads zeros, shrink keeps the prefix, 0 empties', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'abcdef');
    await c.d.truncate(`${dir}/f`, 10);
    assert.deepEqual(await c.d.readFile(`${dir}/f`), Buffer.concat([ascii('abcdef'), Buffer.alloc(4)]));
    await c.d.truncate(`${dir}/f`, 3);
    assert.deepEqual(await c.d.readFile(`${dir}/f`), ascii('abc'));
    assert.equal((await c.d.stat(`${dir}/f`)).size, 3);
    // grow after shrink: the cut bytes must not come back
    await c.d.truncate(`${dir}/f`, 6);
    assert.deepEqual(await c.d.readFile(`${dir}/f`), Buffer.concat([ascii('abc'), Buffer.alloc(3)]));
    await c.d.truncate(`${dir}/f`, 0);
    assert.equal((await c.d.readFile(`${dir}/f`)).length, 0);
    await expectCode(c.d.truncate(`${dir}/missing`, 0), 'ENOENT', 'truncate missing');
  });

  c.it('ftruncate on an open handle, then write after the new end', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, '0123456789');
    const h = await c.d.open(`${dir}/f`, 'r+');
    try {
      await h.ftruncate(4);
      assert.equal((await h.fstat()).size, 4);
      await h.pwrite(ascii('Z'), 6);
      assert.deepEqual(await h.pread(20, 0), Buffer.concat([ascii('0123'), Buffer.alloc(2), ascii('Z')]));
      await h.ftruncate(2 * 1024 * 1024);
      assert.equal((await h.fstat()).size, 2 * 1024 * 1024);
    } finally {
      await h.close();
    }
    const data = await c.d.readFile(`${dir}/f`);
    assert.equal(data.length, 2 * 1024 * 1024);
    assert.ok(data.subarray(7).equals(Buffer.alloc(data.length - 7)), 'grown part reads as zeros');
  });

  c.it('fsync succeeds and the data is readable through a new handle', async () => {
    const dir = await c.dir();
    const h = await c.d.open(`${dir}/f`, 'w');
    try {
      await h.pwrite(ascii('synced data'), 0);
      await h.fsync();
      const r = await c.d.open(`${dir}/f`, 'r');
      try {
        assert.deepEqual(await r.pread(100, 0), ascii('synced data'));
      } finally {
        await r.close();
      }
      await h.pwrite(ascii('!'), 11);
      await h.fsync();
    } finally {
      await h.close();
    }
    assert.deepEqual(await c.d.readFile(`${dir}/f`), ascii('synced data!'));
  });

  c.it('multi-MiB content round-trips exactly, including reads at odd offsets', async () => {
    const dir = await c.dir();
    const data = seededBytes(7, 3 * 1024 * 1024 + 123);
    await c.d.writeFile(`${dir}/big`, data);
    assert.equal((await c.d.stat(`${dir}/big`)).size, data.length);
    assert.ok((await c.d.readFile(`${dir}/big`)).equals(data), 'whole-file read');
    const h = await c.d.open(`${dir}/big`, 'r');
    try {
      for (const [off, len] of [[0, 1], [131071, 3], [1048575, 2], [2 * 1048576 - 7, 300000], [data.length - 5, 100]] as const) {
        assert.ok((await h.pread(len, off)).equals(data.subarray(off, off + len)), `pread(${len}, ${off})`);
      }
    } finally {
      await h.close();
    }
  });

  c.it('open for reading only: writes fail with EBADF; missing file: ENOENT', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'ro');
    const h = await c.d.open(`${dir}/f`, 'r');
    try {
      await expectCode(h.pwrite(ascii('x'), 0), 'EBADF', 'pwrite on O_RDONLY');
    } finally {
      await h.close();
    }
    assert.deepEqual(await c.d.readFile(`${dir}/f`), ascii('ro'));
    await expectCode(c.d.open(`${dir}/missing`, 'r'), 'ENOENT', 'open r missing');
    await expectCode(c.d.open(`${dir}/missing`, 'r+'), 'ENOENT', 'open r+ missing');
    await expectCode(c.d.readFile(`${dir}/missing`), 'ENOENT', 'readFile missing');
  });

  c.it('writing updates mtime and size', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'v1');
    const old = 1_000_000_000n * 1_000_000_000n; // 2001-09-09
    await c.d.utimes(`${dir}/f`, old, old);
    assert.equal((await c.d.stat(`${dir}/f`)).mtimeNs, old);
    const h = await c.d.open(`${dir}/f`, 'r+');
    await h.pwrite(ascii('version 2'), 0);
    await h.close();
    const st = await c.d.stat(`${dir}/f`);
    assert.ok(st.mtimeNs > old, `mtime must move forward after a write (got ${st.mtimeNs})`);
    assert.equal(st.size, 9);
  });

  c.it('files opened on a directory: EISDIR', async () => {
    const dir = await c.dir();
    await expectCode(c.d.readFile(dir), 'EISDIR', 'readFile on a directory');
    await expectCode(c.d.open(dir, 'w'), 'EISDIR', 'open w on a directory');
    await expectCode(c.d.open(dir, 'r+'), 'EISDIR', 'open r+ on a directory');
    await expectCode(c.d.writeFile(dir, 'x'), 'EISDIR', 'writeFile on a directory');
  });
}

// ---------------------------------------------------------------------------------------------
// Directories
// ---------------------------------------------------------------------------------------------
function dirCases(c: SuiteCtx): void {
  c.it('mkdir: S_IFDIR, empty listing; EEXIST on an existing dir or file', async () => {
    const dir = await c.dir();
    await c.d.mkdir(`${dir}/d`);
    const st = await c.d.stat(`${dir}/d`);
    assert.equal(st.mode & S_IFMT, S_IFDIR);
    assert.deepEqual(await c.d.readdir(`${dir}/d`), []);
    await expectCode(c.d.mkdir(`${dir}/d`), 'EEXIST', 'mkdir existing dir');
    await c.d.writeFile(`${dir}/f`, 'x');
    await expectCode(c.d.mkdir(`${dir}/f`), 'EEXIST', 'mkdir over a file');
    assert.equal((await c.d.stat(`${dir}/f`)).mode & S_IFMT, S_IFREG);
  });

  c.it('mkdir mode is honoured', async () => {
    const dir = await c.dir();
    await c.d.mkdir(`${dir}/d`, 0o750);
    assert.equal((await c.d.stat(`${dir}/d`)).mode & 0o777, 0o750);
    await c.d.mkdir(`${dir}/e`, 0o777);
    assert.equal((await c.d.stat(`${dir}/e`)).mode & 0o777, 0o777 & ~SUITE_UMASK);
  });

  c.it('nested mkdir; ENOENT for a missing parent, ENOTDIR under a file', async () => {
    const dir = await c.dir();
    await c.d.mkdir(`${dir}/a`);
    await c.d.mkdir(`${dir}/a/b`);
    await c.d.mkdir(`${dir}/a/b/c`);
    await c.d.writeFile(`${dir}/a/b/c/f`, 'deep');
    assert.deepEqual(await c.d.readFile(`${dir}/a/b/c/f`), ascii('deep'));
    await expectCode(c.d.mkdir(`${dir}/missing/x`), 'ENOENT', 'mkdir with missing parent');
    await c.d.writeFile(`${dir}/file`, 'x');
    await expectCode(c.d.mkdir(`${dir}/file/x`), 'ENOTDIR', 'mkdir under a file');
  });

  c.it('rmdir: removes an empty dir; ENOTEMPTY, ENOTDIR, ENOENT otherwise', async () => {
    const dir = await c.dir();
    await c.d.mkdir(`${dir}/empty`);
    await c.d.rmdir(`${dir}/empty`);
    await expectCode(c.d.stat(`${dir}/empty`), 'ENOENT', 'stat after rmdir');
    assert.deepEqual(await c.d.readdir(dir), []);
    await c.d.mkdir(`${dir}/withfile`);
    await c.d.writeFile(`${dir}/withfile/f`, 'x');
    await expectCode(c.d.rmdir(`${dir}/withfile`), 'ENOTEMPTY', 'rmdir dir with a file');
    await c.d.mkdir(`${dir}/withdir`);
    await c.d.mkdir(`${dir}/withdir/sub`);
    await expectCode(c.d.rmdir(`${dir}/withdir`), 'ENOTEMPTY', 'rmdir dir with a subdir');
    await expectCode(c.d.rmdir(`${dir}/withfile/f`), 'ENOTDIR', 'rmdir on a file');
    await expectCode(c.d.rmdir(`${dir}/missing`), 'ENOENT', 'rmdir missing');
    assert.deepEqual(await c.d.readFile(`${dir}/withfile/f`), ascii('x'));
    // emptied, it can go
    await c.d.unlink(`${dir}/withfile/f`);
    await c.d.rmdir(`${dir}/withfile`);
    assert.deepEqual(await c.d.readdir(dir), ['withdir']);
  });

  c.it('unlink: removes a file; EISDIR on a directory; ENOENT when missing', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'x');
    await c.d.mkdir(`${dir}/d`);
    await c.d.unlink(`${dir}/f`);
    await expectCode(c.d.stat(`${dir}/f`), 'ENOENT', 'stat after unlink');
    await expectCode(c.d.unlink(`${dir}/d`), 'EISDIR', 'unlink a directory');
    await expectCode(c.d.unlink(`${dir}/f`), 'ENOENT', 'unlink missing');
    assert.deepEqual(await c.d.readdir(dir), ['d']);
  });

  c.it('readdir lists files, directories and symlinks (no . or ..)', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/file`, 'x');
    await c.d.mkdir(`${dir}/sub`);
    await c.d.symlink('file', `${dir}/link`);
    await c.d.writeFile(`${dir}/sub/inner`, 'y');
    assert.deepEqual(sorted(await c.d.readdir(dir)), ['file', 'link', 'sub']);
    assert.deepEqual(await c.d.readdir(`${dir}/sub`), ['inner']);
  });

  c.it('readdir: ENOTDIR on a file, ENOENT when missing', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'x');
    await expectCode(c.d.readdir(`${dir}/f`), 'ENOTDIR', 'readdir on a file');
    await expectCode(c.d.readdir(`${dir}/missing`), 'ENOENT', 'readdir missing');
  });

  c.it('names with spaces, unicode and punctuation round-trip through readdir', async () => {
    const dir = await c.dir();
    const names = ['with space', 'ünïcödé', '日本語のファイル', 'emoji 🙂', 'dots.in.name', '-dash', 'semi;colon', "quote'single", 'back\\slash', 'tab\there', '#hash', 'a=b&c', '.hidden'];
    for (const n of names) await c.d.writeFile(`${dir}/${n}`, n);
    assert.deepEqual(sorted(await c.d.readdir(dir)), sorted(names));
    for (const n of names) assert.deepEqual(await c.d.readFile(`${dir}/${n}`), ascii(n), n);
  });
}

function bigDirCases(c: SuiteCtx): void {
  c.it('readdir of 1,200 entries with long names lists every entry exactly once', async () => {
    const dir = await c.dir();
    const names = Array.from({ length: 1200 }, (_, i) => `entry-${String(i).padStart(5, '0')}-${'x'.repeat(60)}-${i % 7 === 0 ? 'ünï' : 'plain'}`);
    await mapLimit(names, 16, async (n, i) => {
      if (i % 50 === 0) await c.d.mkdir(`${dir}/${n}`);
      else await c.d.writeFile(`${dir}/${n}`, '');
    });
    const listed = await c.d.readdir(dir);
    assert.equal(listed.length, names.length, 'entry count');
    assert.equal(new Set(listed).size, listed.length, 'no duplicates');
    assert.deepEqual(sorted(listed), sorted(names));
    // delete every other entry; the listing must follow
    const removed = names.filter((_, i) => i % 2 === 1);
    await mapLimit(removed, 16, (n) => c.d.unlink(`${dir}/${n}`));
    const rest = names.filter((_, i) => i % 2 === 0);
    assert.deepEqual(sorted(await c.d.readdir(dir)), sorted(rest));
  });
}

// ---------------------------------------------------------------------------------------------
// rename
// ---------------------------------------------------------------------------------------------
function renameCases(c: SuiteCtx): void {
  c.it('file to a new name in the same directory', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/a`, 'content a');
    await c.d.rename(`${dir}/a`, `${dir}/b`);
    await expectCode(c.d.stat(`${dir}/a`), 'ENOENT', 'old name');
    assert.deepEqual(await c.d.readFile(`${dir}/b`), ascii('content a'));
    assert.deepEqual(await c.d.readdir(dir), ['b']);
  });

  c.it('file into another directory', async () => {
    const dir = await c.dir();
    await c.d.mkdir(`${dir}/x`);
    await c.d.mkdir(`${dir}/y`);
    await c.d.writeFile(`${dir}/x/f`, 'moving');
    await c.d.rename(`${dir}/x/f`, `${dir}/y/g`);
    assert.deepEqual(await c.d.readdir(`${dir}/x`), []);
    assert.deepEqual(await c.d.readdir(`${dir}/y`), ['g']);
    assert.deepEqual(await c.d.readFile(`${dir}/y/g`), ascii('moving'));
  });

  c.it('file over an existing file replaces it', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/src`, 'new content');
    await c.d.writeFile(`${dir}/dst`, 'old content that is longer');
    await c.d.rename(`${dir}/src`, `${dir}/dst`);
    assert.deepEqual(await c.d.readFile(`${dir}/dst`), ascii('new content'));
    assert.equal((await c.d.stat(`${dir}/dst`)).size, 11);
    assert.deepEqual(await c.d.readdir(dir), ['dst']);
  });

  c.it('file over an existing directory: EISDIR, both unchanged', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'file');
    await c.d.mkdir(`${dir}/d`);
    await expectCode(c.d.rename(`${dir}/f`, `${dir}/d`), 'EISDIR', 'rename file over dir');
    assert.deepEqual(await c.d.readFile(`${dir}/f`), ascii('file'));
    assert.equal((await c.d.stat(`${dir}/d`)).mode & S_IFMT, S_IFDIR);
  });

  c.it('directory over a file: ENOTDIR, both unchanged', async () => {
    const dir = await c.dir();
    await c.d.mkdir(`${dir}/d`);
    await c.d.writeFile(`${dir}/d/inner`, 'i');
    await c.d.writeFile(`${dir}/f`, 'file');
    await expectCode(c.d.rename(`${dir}/d`, `${dir}/f`), 'ENOTDIR', 'rename dir over file');
    assert.deepEqual(await c.d.readFile(`${dir}/f`), ascii('file'));
    assert.deepEqual(await c.d.readFile(`${dir}/d/inner`), ascii('i'));
  });

  c.it('directory over an empty directory replaces it', async () => {
    const dir = await c.dir();
    await c.d.mkdir(`${dir}/src`);
    await c.d.writeFile(`${dir}/src/f`, 'from src');
    await c.d.mkdir(`${dir}/dst`);
    await c.d.rename(`${dir}/src`, `${dir}/dst`);
    await expectCode(c.d.stat(`${dir}/src`), 'ENOENT', 'old dir name');
    assert.deepEqual(await c.d.readdir(`${dir}/dst`), ['f']);
    assert.deepEqual(await c.d.readFile(`${dir}/dst/f`), ascii('from src'));
    assert.deepEqual(await c.d.readdir(dir), ['dst']);
  });

  c.it('directory over a non-empty directory: ENOTEMPTY, both unchanged', async () => {
    const dir = await c.dir();
    await c.d.mkdir(`${dir}/src`);
    await c.d.writeFile(`${dir}/src/a`, 'a');
    await c.d.mkdir(`${dir}/dst`);
    await c.d.writeFile(`${dir}/dst/b`, 'b');
    await expectCode(c.d.rename(`${dir}/src`, `${dir}/dst`), 'ENOTEMPTY', 'rename dir over non-empty dir');
    assert.deepEqual(await c.d.readdir(`${dir}/src`), ['a']);
    assert.deepEqual(await c.d.readdir(`${dir}/dst`), ['b']);
  });

  c.it('renaming a directory moves its whole subtree', async () => {
    const dir = await c.dir();
    const files = ['f0', 'a/f1', 'a/b/f2', 'a/b/c/f3', 'a/b/c/d/f4', 'e/f5'];
    await c.d.mkdir(`${dir}/top`);
    for (const d of ['a', 'a/b', 'a/b/c', 'a/b/c/d', 'e', 'empty']) await c.d.mkdir(`${dir}/top/${d}`);
    await c.d.symlink('../f0', `${dir}/top/a/ln`);
    for (const f of files) await c.d.writeFile(`${dir}/top/${f}`, `content of ${f}`);
    await c.d.mkdir(`${dir}/elsewhere`);
    await c.d.rename(`${dir}/top`, `${dir}/elsewhere/moved`);
    await expectCode(c.d.stat(`${dir}/top`), 'ENOENT', 'old dir');
    await expectCode(c.d.stat(`${dir}/top/a/b/f2`), 'ENOENT', 'old nested file');
    for (const f of files) assert.deepEqual(await c.d.readFile(`${dir}/elsewhere/moved/${f}`), ascii(`content of ${f}`), f);
    assert.deepEqual(sorted(await c.d.readdir(`${dir}/elsewhere/moved`)), ['a', 'e', 'empty', 'f0']);
    assert.deepEqual(sorted(await c.d.readdir(`${dir}/elsewhere/moved/a`)), ['b', 'f1', 'ln']);
    assert.deepEqual(await c.d.readdir(`${dir}/elsewhere/moved/empty`), []);
    assert.equal(await c.d.readlink(`${dir}/elsewhere/moved/a/ln`), '../f0');
    assert.deepEqual(await c.d.readFile(`${dir}/elsewhere/moved/a/ln`), ascii('content of f0'));
    // the moved tree stays fully usable
    await c.d.writeFile(`${dir}/elsewhere/moved/a/b/c/new`, 'new');
    await c.d.rename(`${dir}/elsewhere/moved/a/b/c/d/f4`, `${dir}/f4-out`);
    assert.deepEqual(await c.d.readFile(`${dir}/f4-out`), ascii('content of a/b/c/d/f4'));
    assert.deepEqual(sorted(await c.d.readdir(`${dir}/elsewhere/moved/a/b/c`)), ['d', 'f3', 'new']);
  });

  c.it('directory into its own subdirectory: EINVAL', async () => {
    const dir = await c.dir();
    await c.d.mkdir(`${dir}/a`);
    await c.d.mkdir(`${dir}/a/b`);
    await expectCode(c.d.rename(`${dir}/a`, `${dir}/a/b/c`), 'EINVAL', 'rename into own subtree');
    assert.deepEqual(await c.d.readdir(`${dir}/a`), ['b']);
  });

  c.it('ENOENT for a missing source or target parent, ENOTDIR for a file as target parent', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'x');
    await expectCode(c.d.rename(`${dir}/missing`, `${dir}/g`), 'ENOENT', 'missing source');
    await expectCode(c.d.rename(`${dir}/f`, `${dir}/nodir/g`), 'ENOENT', 'missing target parent');
    await expectCode(c.d.rename(`${dir}/f`, `${dir}/f/g`), 'ENOTDIR', 'target parent is a file');
    assert.deepEqual(await c.d.readdir(dir), ['f']);
  });

  c.it('rename onto itself is a no-op', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'same');
    await c.d.rename(`${dir}/f`, `${dir}/f`);
    assert.deepEqual(await c.d.readFile(`${dir}/f`), ascii('same'));
  });

  c.it('a symlink renames as a link (target text unchanged)', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/target`, 't');
    await c.d.symlink('target', `${dir}/l1`);
    await c.d.rename(`${dir}/l1`, `${dir}/l2`);
    assert.equal(await c.d.readlink(`${dir}/l2`), 'target');
    assert.equal((await c.d.lstat(`${dir}/l2`)).mode & S_IFMT, S_IFLNK);
    assert.deepEqual(sorted(await c.d.readdir(dir)), ['l2', 'target']);
  });

  c.it('RENAME_NOREPLACE: EEXIST when the target exists, works when it is absent', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/a`, 'A');
    await c.d.writeFile(`${dir}/b`, 'B');
    await expectCode(c.d.rename(`${dir}/a`, `${dir}/b`, 'noreplace'), 'EEXIST', 'noreplace onto a file');
    await c.d.mkdir(`${dir}/d`);
    await expectCode(c.d.rename(`${dir}/a`, `${dir}/d`, 'noreplace'), 'EEXIST', 'noreplace onto a dir');
    assert.deepEqual(await c.d.readFile(`${dir}/a`), ascii('A'));
    assert.deepEqual(await c.d.readFile(`${dir}/b`), ascii('B'));
    await c.d.rename(`${dir}/a`, `${dir}/c`, 'noreplace');
    await expectCode(c.d.stat(`${dir}/a`), 'ENOENT', 'source after noreplace rename');
    assert.deepEqual(await c.d.readFile(`${dir}/c`), ascii('A'));
    await c.d.rename(`${dir}/d`, `${dir}/d2`, 'noreplace');
    assert.deepEqual(sorted(await c.d.readdir(dir)), ['b', 'c', 'd2']);
  });

  c.it(
    'RENAME_EXCHANGE: EINVAL, both unchanged',
    async () => {
      const dir = await c.dir();
      await c.d.writeFile(`${dir}/a`, 'A');
      await c.d.writeFile(`${dir}/b`, 'B');
      await expectCode(c.d.rename(`${dir}/a`, `${dir}/b`, 'exchange'), 'EINVAL', 'exchange');
      assert.deepEqual(await c.d.readFile(`${dir}/a`), ascii('A'));
      assert.deepEqual(await c.d.readFile(`${dir}/b`), ascii('B'));
    },
    { objfsOnly: true },
  );
}

// ---------------------------------------------------------------------------------------------
// symlinks
// ---------------------------------------------------------------------------------------------
function symlinkCases(c: SuiteCtx): void {
  c.it('symlink, readlink, lstat: S_IFLNK with size = target length in bytes', async () => {
    const dir = await c.dir();
    for (const [name, target] of [['l1', 'some/target/path'], ['l2', 'ünïcödé/日本'], ['l3', '/absolute/elsewhere'], ['l4', 'x'.repeat(300)]] as const) {
      await c.d.symlink(target, `${dir}/${name}`);
      assert.equal(await c.d.readlink(`${dir}/${name}`), target);
      const st = await c.d.lstat(`${dir}/${name}`);
      assert.equal(st.mode & S_IFMT, S_IFLNK, `${name} is a symlink`);
      assert.equal(st.size, Buffer.byteLength(target), `${name} size`);
    }
  });

  c.it('stat and reads follow a symlink (relative targets resolve from the link directory)', async () => {
    const dir = await c.dir();
    await c.d.mkdir(`${dir}/real`);
    await c.d.writeFile(`${dir}/real/f`, 'through the link');
    await c.d.mkdir(`${dir}/links`);
    await c.d.symlink('../real/f', `${dir}/links/to-file`);
    await c.d.symlink('../real', `${dir}/links/to-dir`);
    const st = await c.d.stat(`${dir}/links/to-file`);
    assert.equal(st.mode & S_IFMT, S_IFREG);
    assert.equal(st.size, 16);
    assert.deepEqual(await c.d.readFile(`${dir}/links/to-file`), ascii('through the link'));
    assert.equal((await c.d.stat(`${dir}/links/to-dir`)).mode & S_IFMT, S_IFDIR);
    assert.deepEqual(await c.d.readdir(`${dir}/links/to-dir`), ['f']);
    assert.deepEqual(await c.d.readFile(`${dir}/links/to-dir/f`), ascii('through the link'));
    // writing through a link changes the target
    await c.d.writeFile(`${dir}/links/to-file`, 'written via link');
    assert.deepEqual(await c.d.readFile(`${dir}/real/f`), ascii('written via link'));
  });

  c.it('dangling symlink: lstat works, stat and read give ENOENT', async () => {
    const dir = await c.dir();
    await c.d.symlink('nowhere', `${dir}/dangling`);
    assert.equal((await c.d.lstat(`${dir}/dangling`)).mode & S_IFMT, S_IFLNK);
    await expectCode(c.d.stat(`${dir}/dangling`), 'ENOENT', 'stat dangling');
    await expectCode(c.d.readFile(`${dir}/dangling`), 'ENOENT', 'read dangling');
    assert.deepEqual(await c.d.readdir(dir), ['dangling']);
  });

  c.it('symlink over an existing name: EEXIST', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'x');
    await c.d.symlink('a', `${dir}/l`);
    await expectCode(c.d.symlink('t', `${dir}/f`), 'EEXIST', 'symlink over file');
    await expectCode(c.d.symlink('t', `${dir}/l`), 'EEXIST', 'symlink over symlink');
    assert.equal(await c.d.readlink(`${dir}/l`), 'a');
  });

  c.it('readlink: EINVAL on a non-link, ENOENT when missing', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'x');
    await expectCode(c.d.readlink(`${dir}/f`), 'EINVAL', 'readlink file');
    await expectCode(c.d.readlink(dir), 'EINVAL', 'readlink dir');
    await expectCode(c.d.readlink(`${dir}/missing`), 'ENOENT', 'readlink missing');
  });

  c.it('unlink removes the link, not its target', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/target`, 'stays');
    await c.d.symlink('target', `${dir}/l`);
    await c.d.unlink(`${dir}/l`);
    await expectCode(c.d.lstat(`${dir}/l`), 'ENOENT', 'lstat after unlink');
    assert.deepEqual(await c.d.readFile(`${dir}/target`), ascii('stays'));
  });
}

// ---------------------------------------------------------------------------------------------
// metadata
// ---------------------------------------------------------------------------------------------
function metadataCases(c: SuiteCtx): void {
  c.it('chmod on files: permission bits persisted exactly (no umask)', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'x');
    for (const mode of [0o600, 0o755, 0o640, 0o000, 0o777, 0o444, 0o712]) {
      await c.d.chmod(`${dir}/f`, mode);
      const st = await c.d.stat(`${dir}/f`);
      assert.equal(st.mode & 0o7777, mode, `mode ${mode.toString(8)}`);
      assert.equal(st.mode & S_IFMT, S_IFREG, 'type bits unchanged');
    }
  });

  c.it('chmod on directories', async () => {
    const dir = await c.dir();
    await c.d.mkdir(`${dir}/d`);
    for (const mode of [0o700, 0o755, 0o711, 0o777]) {
      await c.d.chmod(`${dir}/d`, mode);
      const st = await c.d.stat(`${dir}/d`);
      assert.equal(st.mode & 0o7777, mode, `mode ${mode.toString(8)}`);
      assert.equal(st.mode & S_IFMT, S_IFDIR);
    }
  });

  c.it('chmod and chown of a non-empty directory hold, also after listing its parent', async (t) => {
    const dir = await c.dir();
    await c.d.mkdir(`${dir}/d`);
    await c.d.writeFile(`${dir}/d/inner`, 'x');
    await c.d.mkdir(`${dir}/d/sub`);
    await c.d.chmod(`${dir}/d`, 0o750);
    assert.equal((await c.d.stat(`${dir}/d`)).mode & 0o7777, 0o750, 'right after chmod');
    assert.deepEqual(await c.d.readdir(dir), ['d']);
    assert.equal((await c.d.stat(`${dir}/d`)).mode & 0o7777, 0o750, 'after readdir of the parent');
    assert.deepEqual(sorted(await c.d.readdir(`${dir}/d`)), ['inner', 'sub']);
    assert.equal((await c.d.stat(`${dir}/d`)).mode & 0o7777, 0o750, 'after readdir of itself');
    if (!isRoot()) return t.diagnostic('not root: chown part skipped');
    await c.d.chown(`${dir}/d`, 2345, 6789);
    await c.d.readdir(dir);
    const st = await c.d.stat(`${dir}/d`);
    assert.deepEqual([st.uid, st.gid], [2345, 6789], 'uid/gid after readdir of the parent');
  });

  c.it('setuid, setgid and sticky bits persisted (as root)', async (t) => {
    if (!isRoot()) return t.skip('needs root'); // non-root cannot always set setgid
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'x');
    await c.d.chmod(`${dir}/f`, 0o4755);
    assert.equal((await c.d.stat(`${dir}/f`)).mode & 0o7777, 0o4755);
    await c.d.chmod(`${dir}/f`, 0o2750);
    assert.equal((await c.d.stat(`${dir}/f`)).mode & 0o7777, 0o2750);
    await c.d.mkdir(`${dir}/d`);
    await c.d.chmod(`${dir}/d`, 0o1777);
    assert.equal((await c.d.stat(`${dir}/d`)).mode & 0o7777, 0o1777);
  });

  c.it('chown: uid and gid persisted on files, directories and symlink targets (as root)', async (t) => {
    if (!isRoot()) return t.skip('needs root');
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'x');
    await c.d.mkdir(`${dir}/d`);
    await c.d.chown(`${dir}/f`, 1234, 5678);
    await c.d.chown(`${dir}/d`, 4321, 8765);
    let st = await c.d.stat(`${dir}/f`);
    assert.deepEqual([st.uid, st.gid], [1234, 5678]);
    st = await c.d.stat(`${dir}/d`);
    assert.deepEqual([st.uid, st.gid], [4321, 8765]);
    await c.d.chown(`${dir}/f`, 0, 0);
    st = await c.d.stat(`${dir}/f`);
    assert.deepEqual([st.uid, st.gid], [0, 0]);
    // chown follows a symlink to its target
    await c.d.symlink('f', `${dir}/l`);
    await c.d.chown(`${dir}/l`, 777, 888);
    st = await c.d.stat(`${dir}/f`);
    assert.deepEqual([st.uid, st.gid], [777, 888]);
    // a new file is owned by the caller
    await c.d.writeFile(`${dir}/mine`, 'x');
    st = await c.d.stat(`${dir}/mine`);
    assert.deepEqual([st.uid, st.gid], [process.getuid?.() ?? 0, process.getgid?.() ?? 0]);
  });

  c.it('utimes: nanosecond mtime persisted exactly (files and directories)', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'x');
    await c.d.mkdir(`${dir}/d`);
    const cases: bigint[] = [
      981173106_123456789n, // 2001-02-03 04:05:06.123456789
      1_700_000_000_000000001n,
      1_600_000_000_999999999n,
      4_102_444_800_500000000n, // 2100-01-01, past 2038
      1_000_000_000_000000000n,
    ];
    for (const m of cases) {
      await c.d.utimes(`${dir}/f`, m - 5n, m);
      assert.equal((await c.d.stat(`${dir}/f`)).mtimeNs, m, `file mtime ${m} (stat)`);
      assert.equal((await c.d.lstat(`${dir}/f`)).mtimeNs, m, `file mtime ${m} (lstat)`);
      await c.d.utimes(`${dir}/d`, m, m);
      assert.equal((await c.d.stat(`${dir}/d`)).mtimeNs, m, `dir mtime ${m} (stat)`);
      assert.equal((await c.d.lstat(`${dir}/d`)).mtimeNs, m, `dir mtime ${m} (lstat)`);
    }
    // follows symlinks
    await c.d.symlink('f', `${dir}/l`);
    await c.d.utimes(`${dir}/l`, 1_234_567_890_000000007n, 1_234_567_890_000000007n);
    assert.equal((await c.d.stat(`${dir}/f`)).mtimeNs, 1_234_567_890_000000007n);
  });

  c.it('mtime set by utimes survives a listing of the parent directory', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'x');
    await c.d.mkdir(`${dir}/d`);
    await c.d.writeFile(`${dir}/d/inner`, 'y');
    const m = 1_111_111_111_222222222n;
    await c.d.utimes(`${dir}/f`, m, m);
    await c.d.utimes(`${dir}/d`, m, m);
    assert.deepEqual(sorted(await c.d.readdir(dir)), ['d', 'f']);
    assert.equal((await c.d.stat(`${dir}/f`)).mtimeNs, m, 'file mtime after readdir of its parent');
    assert.equal((await c.d.stat(`${dir}/d`)).mtimeNs, m, 'dir mtime after readdir of its parent');
    assert.deepEqual(await c.d.readdir(`${dir}/d`), ['inner']);
    assert.equal((await c.d.stat(`${dir}/d`)).mtimeNs, m, 'dir mtime after readdir of itself');
  });

  c.it('mtime set by utimes survives close of another handle that did not write', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'content');
    const m = 981173106_123456789n;
    await c.d.utimes(`${dir}/f`, m, m);
    const h = await c.d.open(`${dir}/f`, 'r');
    assert.deepEqual(await h.pread(100, 0), ascii('content'));
    await h.close();
    assert.equal((await c.d.stat(`${dir}/f`)).mtimeNs, m);
  });
}

// ---------------------------------------------------------------------------------------------
// names, lookups, inodes, statfs
// ---------------------------------------------------------------------------------------------
function namesCases(c: SuiteCtx): void {
  c.it('names of 255 bytes work; 256 bytes give ENAMETOOLONG (ASCII and multi-byte)', async () => {
    const dir = await c.dir();
    const ok = 'n'.repeat(255);
    const okMulti = 'é'.repeat(127) + 'z'; // 254 + 1 bytes
    const long = 'n'.repeat(256);
    const longMulti = 'é'.repeat(128); // 256 bytes
    await c.d.writeFile(`${dir}/${ok}`, 'ok');
    await c.d.mkdir(`${dir}/${okMulti}`);
    assert.deepEqual(sorted(await c.d.readdir(dir)), sorted([ok, okMulti]));
    assert.deepEqual(await c.d.readFile(`${dir}/${ok}`), ascii('ok'));
    await expectCode(c.d.writeFile(`${dir}/${long}`, 'x'), 'ENAMETOOLONG', 'create 256-byte name');
    await expectCode(c.d.writeFile(`${dir}/${longMulti}`, 'x'), 'ENAMETOOLONG', 'create 256-byte multibyte name');
    await expectCode(c.d.mkdir(`${dir}/${long}`), 'ENAMETOOLONG', 'mkdir 256-byte name');
    await expectCode(c.d.symlink('t', `${dir}/${long}`), 'ENAMETOOLONG', 'symlink 256-byte name');
    await expectCode(c.d.rename(`${dir}/${ok}`, `${dir}/${long}`), 'ENAMETOOLONG', 'rename to 256-byte name');
    await expectCode(c.d.stat(`${dir}/${long}`), 'ENAMETOOLONG', 'stat 256-byte name');
    assert.deepEqual(sorted(await c.d.readdir(dir)), sorted([ok, okMulti]));
    await c.d.unlink(`${dir}/${ok}`);
    await c.d.rmdir(`${dir}/${okMulti}`);
  });

  c.it('ENOENT for missing components, ENOTDIR for a file used as a directory', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/file`, 'x');
    await expectCode(c.d.stat(`${dir}/missing`), 'ENOENT', 'stat missing');
    await expectCode(c.d.stat(`${dir}/missing/x`), 'ENOENT', 'stat under missing');
    await expectCode(c.d.lstat(`${dir}/missing/x`), 'ENOENT', 'lstat under missing');
    await expectCode(c.d.writeFile(`${dir}/missing/f`, 'x'), 'ENOENT', 'create under missing');
    await expectCode(c.d.stat(`${dir}/file/x`), 'ENOTDIR', 'stat under a file');
    await expectCode(c.d.writeFile(`${dir}/file/f`, 'x'), 'ENOTDIR', 'create under a file');
    await expectCode(c.d.readFile(`${dir}/file/`), 'ENOTDIR', 'file with a trailing slash');
  });

  c.it('inode numbers: stable for a path during a mount, distinct between live entries', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/a`, 'a');
    await c.d.writeFile(`${dir}/b`, 'b');
    await c.d.mkdir(`${dir}/d`);
    await c.d.symlink('a', `${dir}/l`);
    const a1 = (await c.d.stat(`${dir}/a`)).ino;
    const a2 = (await c.d.stat(`${dir}/a`)).ino;
    assert.equal(a1, a2, 'same path, same ino');
    const h = await c.d.open(`${dir}/a`, 'r');
    assert.equal((await h.fstat()).ino, a1, 'fstat ino matches stat');
    await h.close();
    const inos = [a1, (await c.d.stat(`${dir}/b`)).ino, (await c.d.stat(`${dir}/d`)).ino, (await c.d.lstat(`${dir}/l`)).ino, (await c.d.stat(dir)).ino];
    assert.equal(new Set(inos).size, inos.length, `distinct inos: ${inos.join(', ')}`);
    assert.equal((await c.d.stat(`${dir}/l`)).ino, a1, 'stat through the link gives the target ino');
    // a write does not change the ino
    await c.d.appendFile(`${dir}/a`, 'more');
    assert.equal((await c.d.stat(`${dir}/a`)).ino, a1, 'ino unchanged by a write');
    assert.equal((await c.d.stat(`${dir}/d`)).ino, inos[2], 'dir ino stable');
  });

  c.it('statfs: namemax 255, blocks > 0, bsize > 0', async () => {
    const dir = await c.dir();
    const s = await c.d.statfs('/');
    assert.equal(s.namemax, 255);
    assert.ok(s.blocks > 0, `blocks ${s.blocks}`);
    assert.ok(s.bsize > 0, `bsize ${s.bsize}`);
    const s2 = await c.d.statfs(dir);
    assert.equal(s2.namemax, 255);
  });
}

