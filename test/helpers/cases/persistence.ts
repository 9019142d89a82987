/**
 * Persistence cases of the conformance suite (registered by cases.ts): everything objfs persists
 * (content, holes, mode, uid/gid, nanosecond mtime, symlinks, xattrs, renames, deletions,
 * listings) must still be true after driver.remount().
 *
 * Order (node:test runs the cases of a describe block in sequence):
 *   1. setup: build the state and record what it must look like (including full stats);
 *   2. remount: driver.remount() when driver.canRemount, otherwise reported as SKIPPED with the
 *      reason, so a driver that cannot remount is never counted as having passed it;
 *   3. one check per area, which runs either way: after the remount, or in place.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type { DriverStat } from '../../conformance/driver.js';
import { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, expectCode, isRoot, mapLimit, seededBytes, sorted } from '../suite-kit.js';
import type { SuiteCtx } from './ctx.js';

interface State {
  base: string;
  contents: Map<string, Buffer>; // path -> exact content
  modes: Map<string, number>; // path -> mode & 0o7777
  owners: Map<string, [number, number]>;
  mtimes: Map<string, bigint>; // explicitly set with utimes
  links: Map<string, string>; // link path -> target
  xattrs: Map<string, Map<string, Buffer>>; // path -> user.* name -> value
  gone: string[]; // paths that must not exist
  listings: Map<string, string[]>; // dir -> exact entries
  stats: Map<string, { st: DriverStat; kind: 'file' | 'dir' | 'symlink'; mtime: boolean }>;
}

const SUFFIX = ' (after remount() when driver.canRemount, otherwise in place)';
const MANY = 1100;
const MiB = 1024 * 1024;

export function registerPersistenceCases(c: SuiteCtx): void {
  let state: State | undefined;
  let remounted = false;
  const need = (t: TestContext): State => {
    if (!state) throw new Error('the setup case failed; nothing to check');
    t.diagnostic(remounted ? `checked after ${c.d.name} remount` : `checked in place: ${c.d.name} did not remount`);
    return state;
  };

  c.it('setup: create the state that must persist', async () => {
    state = await buildState(c);
  });

  c.it('remount() when driver.canRemount', async (t) => {
    if (!state) throw new Error('the setup case failed; not remounting');
    if (!c.d.canRemount) return t.skip(`driver ${c.d.name} cannot remount (canRemount false): the checks below run in place`);
    await c.d.remount();
    remounted = true;
  });

  c.it(`file contents and sizes, including holes and multi-MiB files${SUFFIX}`, async (t) => {
    const s = need(t);
    for (const [p, want] of s.contents) {
      const got = await c.d.readFile(p);
      assert.ok(got.equals(want), `${p}: content differs (got ${got.length} bytes, want ${want.length})`);
      assert.equal((await c.d.stat(p)).size, want.length, `${p}: size`);
    }
  });

  c.it(`permission bits${SUFFIX}`, async (t) => {
    const s = need(t);
    for (const [p, mode] of s.modes) assert.equal((await c.d.lstat(p)).mode & 0o7777, mode, `${p}: mode ${mode.toString(8)}`);
  });

  c.it(`uid and gid${SUFFIX}`, async (t) => {
    const s = need(t);
    if (!isRoot()) return t.skip('needs root to chown');
    for (const [p, [uid, gid]] of s.owners) {
      const st = await c.d.stat(p);
      assert.deepEqual([st.uid, st.gid], [uid, gid], `${p}: uid/gid`);
    }
  });

  c.it(`nanosecond mtimes set with utimes${SUFFIX}`, async (t) => {
    const s = need(t);
    for (const [p, m] of s.mtimes) assert.equal((await c.d.stat(p)).mtimeNs, m, `${p}: mtime`);
  });

  c.it(`symlinks (type, size, target, following)${SUFFIX}`, async (t) => {
    const s = need(t);
    for (const [p, target] of s.links) {
      const st = await c.d.lstat(p);
      assert.equal(st.mode & S_IFMT, S_IFLNK, `${p}: S_IFLNK`);
      assert.equal(st.size, Buffer.byteLength(target), `${p}: size`);
      assert.equal(await c.d.readlink(p), target, `${p}: target`);
    }
    assert.deepEqual(await c.d.readFile(`${s.base}/link-rel`), s.contents.get(`${s.base}/small.txt`));
    assert.deepEqual(await c.d.readFile(`${s.base}/sub/link-up`), s.contents.get(`${s.base}/big.bin`));
    await expectCode(c.d.stat(`${s.base}/link-dangling`), 'ENOENT', 'dangling link still dangles');
  });

  c.it(`xattrs${SUFFIX}`, async (t) => {
    const s = need(t);
    for (const [p, attrs] of s.xattrs) {
      const names = (await c.d.listxattr(p)).filter((n) => n.startsWith('user.'));
      assert.deepEqual(sorted(names), sorted([...attrs.keys()]), `${p}: listxattr`);
      for (const [k, v] of attrs) assert.deepEqual(await c.d.getxattr(p, k), v, `${p}: ${k}`);
    }
    await expectCode(c.d.getxattr(`${s.base}/xattr-file`, 'user.removed'), 'ENODATA', 'removed xattr stays removed');
  });

  c.it(`renames (old names gone, new names complete)${SUFFIX}`, async (t) => {
    const s = need(t);
    for (const p of ['rename-src', 'rdir', 'rdir/x/y/f', 'over-src']) await expectCode(c.d.lstat(`${s.base}/${p}`), 'ENOENT', `old name ${p}`);
    assert.deepEqual(await c.d.readFile(`${s.base}/renamed`), Buffer.from('renamed file'));
    assert.deepEqual(await c.d.readFile(`${s.base}/over-dst`), Buffer.from('the source wins'));
    assert.deepEqual(await c.d.readFile(`${s.base}/moved/rdir2/x/y/f`), Buffer.from('deep in a renamed dir'));
    assert.deepEqual(await c.d.readFile(`${s.base}/moved/rdir2/g`), Buffer.from('top of a renamed dir'));
    assert.deepEqual(sorted(await c.d.readdir(`${s.base}/moved/rdir2`)), ['empty-sub', 'g', 'x']);
    assert.deepEqual(await c.d.readdir(`${s.base}/moved/rdir2/empty-sub`), []);
    assert.deepEqual(await c.d.readFile(`${s.base}/noreplace-dst`), Buffer.from('moved with RENAME_NOREPLACE'));
  });

  c.it(`deletions stay deleted${SUFFIX}`, async (t) => {
    const s = need(t);
    for (const p of s.gone) await expectCode(c.d.lstat(p), 'ENOENT', `deleted ${p}`);
  });

  c.it(`directory listings, including ${MANY} entries${SUFFIX}`, async (t) => {
    const s = need(t);
    for (const [dir, names] of s.listings) assert.deepEqual(sorted(await c.d.readdir(dir)), sorted(names), `listing of ${dir}`);
  });

  c.it(`stat (type, mode, size, uid, gid, mtime) unchanged${SUFFIX}`, async (t) => {
    const s = need(t);
    const diffs: string[] = [];
    for (const [p, { st: before, kind, mtime }] of s.stats) {
      const now = await c.d.lstat(p); // recorded with lstat too (same as stat except for symlinks)
      const fields: (keyof DriverStat)[] = ['mode', 'uid', 'gid'];
      if (kind !== 'dir') fields.push('size');
      if (mtime) fields.push('mtimeNs');
      for (const f of fields) if (now[f] !== before[f]) diffs.push(`${p} ${f}: ${String(before[f])} -> ${String(now[f])}`);
    }
    assert.deepEqual(diffs, [], 'stat fields changed');
  });

  c.it(`the filesystem is still writable and consistent${SUFFIX}`, async (t) => {
    const s = need(t);
    await c.d.writeFile(`${s.base}/after`, 'written after');
    await c.d.appendFile(`${s.base}/small.txt`, '+');
    assert.deepEqual(await c.d.readFile(`${s.base}/small.txt`), Buffer.concat([s.contents.get(`${s.base}/small.txt`) ?? Buffer.alloc(0), Buffer.from('+')]));
    await c.d.rename(`${s.base}/after`, `${s.base}/moved/after`);
    assert.deepEqual(await c.d.readFile(`${s.base}/moved/after`), Buffer.from('written after'));
  });
}

async function buildState(c: SuiteCtx): Promise<State> {
  const d = c.d;
  const base = await c.dir();
  const s: State = {
    base,
    contents: new Map(),
    modes: new Map(),
    owners: new Map(),
    mtimes: new Map(),
    links: new Map(),
    xattrs: new Map(),
    gone: [],
    listings: new Map(),
    stats: new Map(),
  };
  const put = async (rel: string, data: Buffer | string): Promise<void> => {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    await d.writeFile(`${base}/${rel}`, buf);
    s.contents.set(`${base}/${rel}`, buf);
  };

  // contents
  await put('small.txt', 'small content\n');
  await put('empty', '');
  await put('big.bin', seededBytes(11, 2 * MiB + MiB / 2 + 3));
  await d.mkdir(`${base}/sub`);
  await d.mkdir(`${base}/sub/deeper`);
  await put('sub/deeper/nested.txt', 'nested');
  await put('ünï cödé name.txt', 'unicode name');
  {
    const h = await d.open(`${base}/holey`, 'w');
    await h.pwrite(Buffer.from('A'), 0);
    await h.pwrite(Buffer.from('Z'), 3 * MiB + 1);
    await h.fsync();
    await h.close();
    const want = Buffer.alloc(3 * MiB + 2);
    want[0] = 0x41;
    want[3 * MiB + 1] = 0x5a;
    s.contents.set(`${base}/holey`, want);
  }
  {
    await d.writeFile(`${base}/overwritten`, 'v1 of the file, long');
    const h = await d.open(`${base}/overwritten`, 'r+');
    await h.pwrite(Buffer.from('V2'), 0);
    await h.ftruncate(12);
    await h.close();
    s.contents.set(`${base}/overwritten`, Buffer.from('V2 of the fi'));
  }
  await d.writeFile(`${base}/appended`, 'one');
  await d.appendFile(`${base}/appended`, ',two');
  await d.appendFile(`${base}/appended`, ',three');
  s.contents.set(`${base}/appended`, Buffer.from('one,two,three'));
  await d.writeFile(`${base}/truncated-up`, 'abc');
  await d.truncate(`${base}/truncated-up`, 100_000);
  s.contents.set(`${base}/truncated-up`, Buffer.concat([Buffer.from('abc'), Buffer.alloc(100_000 - 3)]));

  // modes
  for (const [rel, mode] of [['mode600', 0o600], ['mode755', 0o755], ['mode000', 0o000]] as const) {
    await put(rel, rel);
    await d.chmod(`${base}/${rel}`, mode);
    s.modes.set(`${base}/${rel}`, mode);
  }
  await d.mkdir(`${base}/dir700`);
  await d.chmod(`${base}/dir700`, 0o700);
  s.modes.set(`${base}/dir700`, 0o700);
  await d.mkdir(`${base}/dir750-full`);
  await d.writeFile(`${base}/dir750-full/inside`, 'in a non-empty dir');
  s.contents.set(`${base}/dir750-full/inside`, Buffer.from('in a non-empty dir'));
  await d.chmod(`${base}/dir750-full`, 0o750);
  s.modes.set(`${base}/dir750-full`, 0o750);
  if (isRoot()) {
    await put('mode4755', 'suid');
    await d.chmod(`${base}/mode4755`, 0o4755);
    s.modes.set(`${base}/mode4755`, 0o4755);
  }

  // owners
  if (isRoot()) {
    await put('owned', 'owned');
    await d.chown(`${base}/owned`, 1001, 2002);
    s.owners.set(`${base}/owned`, [1001, 2002]);
    await d.mkdir(`${base}/owned-dir`);
    await d.writeFile(`${base}/owned-dir/inside`, 'x');
    s.contents.set(`${base}/owned-dir/inside`, Buffer.from('x'));
    await d.chown(`${base}/owned-dir`, 3003, 4004);
    s.owners.set(`${base}/owned-dir`, [3003, 4004]);
  }

  // symlinks
  for (const [rel, target] of [
    ['link-rel', 'small.txt'],
    ['link-dangling', '/nonexistent/objfs/target'],
    ['sub/link-up', '../big.bin'],
    ['link-unicode', 'ünï/日本/🙂'],
  ] as const) {
    await d.symlink(target, `${base}/${rel}`);
    s.links.set(`${base}/${rel}`, target);
  }

  // xattrs
  await put('xattr-file', 'has xattrs');
  await d.setxattr(`${base}/xattr-file`, 'user.a', Buffer.from('alpha'));
  const bin = seededBytes(5, 600);
  await d.setxattr(`${base}/xattr-file`, 'user.bin', bin);
  await d.setxattr(`${base}/xattr-file`, 'user.removed', Buffer.from('gone'));
  await d.removexattr(`${base}/xattr-file`, 'user.removed');
  await d.setxattr(`${base}/xattr-file`, 'user.a', Buffer.from('alpha v2'), 'replace');
  s.xattrs.set(`${base}/xattr-file`, new Map([['user.a', Buffer.from('alpha v2')], ['user.bin', bin]]));
  await d.mkdir(`${base}/xattr-dir`);
  await d.setxattr(`${base}/xattr-dir`, 'user.d', Buffer.from('dir value'));
  s.xattrs.set(`${base}/xattr-dir`, new Map([['user.d', Buffer.from('dir value')]]));

  // renames
  await d.writeFile(`${base}/rename-src`, 'renamed file');
  await d.rename(`${base}/rename-src`, `${base}/renamed`);
  await d.mkdir(`${base}/rdir`);
  await d.mkdir(`${base}/rdir/x`);
  await d.mkdir(`${base}/rdir/x/y`);
  await d.mkdir(`${base}/rdir/empty-sub`);
  await d.writeFile(`${base}/rdir/x/y/f`, 'deep in a renamed dir');
  await d.writeFile(`${base}/rdir/g`, 'top of a renamed dir');
  await d.mkdir(`${base}/moved`);
  await d.rename(`${base}/rdir`, `${base}/moved/rdir2`);
  await d.writeFile(`${base}/over-src`, 'the source wins');
  await d.writeFile(`${base}/over-dst`, 'the old target, to be replaced');
  await d.rename(`${base}/over-src`, `${base}/over-dst`);
  await d.writeFile(`${base}/noreplace-src`, 'moved with RENAME_NOREPLACE');
  await d.rename(`${base}/noreplace-src`, `${base}/noreplace-dst`, 'noreplace');
  s.gone.push(`${base}/noreplace-src`);

  // deletions
  await d.writeFile(`${base}/deleted-file`, 'to be deleted');
  await d.unlink(`${base}/deleted-file`);
  await d.mkdir(`${base}/deleted-dir`);
  await d.writeFile(`${base}/deleted-dir/inner`, 'x');
  await d.symlink('x', `${base}/deleted-dir/link`);
  await d.unlink(`${base}/deleted-dir/inner`);
  await d.unlink(`${base}/deleted-dir/link`);
  await d.rmdir(`${base}/deleted-dir`);
  await d.writeFile(`${base}/deleted-link-target`, 'stays');
  await d.symlink('deleted-link-target', `${base}/deleted-link`);
  await d.unlink(`${base}/deleted-link`);
  s.contents.set(`${base}/deleted-link-target`, Buffer.from('stays'));
  s.gone.push(`${base}/deleted-file`, `${base}/deleted-dir`, `${base}/deleted-dir/inner`, `${base}/deleted-link`);

  // a big listing
  await d.mkdir(`${base}/many`);
  const many = Array.from({ length: MANY }, (_, i) => `file-${String(i).padStart(4, '0')}${i % 10 === 0 ? '-ü' : ''}`);
  await mapLimit(many, 16, (n) => d.writeFile(`${base}/many/${n}`, ''));
  s.listings.set(`${base}/many`, many);

  // explicit mtimes last, after every change inside the directories concerned
  await put('mtime-file', 'mtime');
  await d.utimes(`${base}/mtime-file`, 981173106_000000001n, 981173106_123456789n);
  s.mtimes.set(`${base}/mtime-file`, 981173106_123456789n);
  await d.mkdir(`${base}/mtime-dir`);
  await d.writeFile(`${base}/mtime-dir/inside`, 'x');
  s.contents.set(`${base}/mtime-dir/inside`, Buffer.from('x'));
  await d.utimes(`${base}/mtime-dir`, 1_111_111_111_222222222n, 1_111_111_111_222222222n);
  s.mtimes.set(`${base}/mtime-dir`, 1_111_111_111_222222222n);
  await d.utimes(`${base}/sub/deeper`, 1_500_000_000_000000000n, 1_500_000_000_000000999n);
  s.mtimes.set(`${base}/sub/deeper`, 1_500_000_000_000000999n);

  s.listings.set(`${base}/sub`, ['deeper', 'link-up']);
  s.listings.set(`${base}/moved`, ['rdir2']);
  s.listings.set(`${base}/mtime-dir`, ['inside']);
  s.listings.set(base, (await d.readdir(base)).filter((n) => n !== 'after'));

  // record full stats of everything except the big listing
  const record = async (p: string): Promise<void> => {
    const st = await d.lstat(p);
    const type = st.mode & S_IFMT;
    const kind = type === S_IFDIR ? 'dir' : type === S_IFLNK ? 'symlink' : type === S_IFREG ? 'file' : undefined;
    if (!kind) throw new Error(`setup: unexpected file type at ${p}`);
    // mtime: every file and every directory whose mtime was set explicitly after its last change
    s.stats.set(p, { st, kind, mtime: kind === 'file' || s.mtimes.has(p) });
  };
  const walk = async (dir: string): Promise<void> => {
    for (const n of await d.readdir(dir)) {
      const p = `${dir}/${n}`;
      if (p === `${base}/many`) continue;
      await record(p);
      if (((await d.lstat(p)).mode & S_IFMT) === S_IFDIR) await walk(p);
    }
  };
  await walk(base);
  // No assertions here: a broken feature must fail its own check below, not the whole setup.
  return s;
}
