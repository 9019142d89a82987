/**
 * Conformance groups (registered by test/conformance/cases.ts): user.* xattrs, and node types
 * objfs refuses (hard links, FIFOs) next to what a kernel filesystem does with them.
 */
import assert from 'node:assert/strict';
import { S_IFMT, codeOf, expectCode, seededBytes, sorted } from '../suite-kit.js';
import type { SuiteCtx } from './ctx.js';

const ascii = (s: string): Buffer => Buffer.from(s, 'utf8');
// ---------------------------------------------------------------------------------------------
// xattrs
// ---------------------------------------------------------------------------------------------
const userNames = (names: string[]): string[] => sorted(names.filter((n) => n.startsWith('user.')));

export function xattrCases(c: SuiteCtx): void {
  c.it('set, get, list, remove on a file (text, binary, unicode name)', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'x');
    const values: Record<string, Buffer> = {
      'user.text': ascii('hello'),
      'user.binary': Buffer.from([0, 1, 2, 0, 255, 254, 0]),
      'user.mid': seededBytes(3, 500),
      'user.ünï': ascii('unicode name'),
    };
    for (const [k, v] of Object.entries(values)) await c.d.setxattr(`${dir}/f`, k, v);
    for (const [k, v] of Object.entries(values)) assert.deepEqual(await c.d.getxattr(`${dir}/f`, k), v, k);
    assert.deepEqual(userNames(await c.d.listxattr(`${dir}/f`)), sorted(Object.keys(values)));
    await c.d.removexattr(`${dir}/f`, 'user.binary');
    await expectCode(c.d.getxattr(`${dir}/f`, 'user.binary'), 'ENODATA', 'get removed');
    assert.deepEqual(userNames(await c.d.listxattr(`${dir}/f`)), sorted(['user.text', 'user.mid', 'user.ünï']));
    assert.deepEqual(await c.d.readFile(`${dir}/f`), ascii('x'), 'content untouched');
  });

  // A kernel filesystem keeps a 3,000-byte value; objfs caps all user metadata of an object at
  // 2 KiB (S3's limit, docs/SEMANTICS.md) and refuses more with ENOSPC, changing nothing.
  c.it('a value of a few KiB (3,000 bytes) round-trips', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'x');
    const big = seededBytes(4, 3000);
    await c.d.setxattr(`${dir}/f`, 'user.big', big);
    assert.deepEqual(await c.d.getxattr(`${dir}/f`, 'user.big'), big);
    assert.deepEqual(userNames(await c.d.listxattr(`${dir}/f`)), ['user.big']);
  }, { kernelOnly: true });

  c.it('objfs: a 1,000-byte value round-trips; beyond the 2 KiB metadata limit is ENOSPC and changes nothing', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'x');
    const kb = seededBytes(5, 1000);
    await c.d.setxattr(`${dir}/f`, 'user.kb', kb);
    await expectCode(c.d.setxattr(`${dir}/f`, 'user.big', seededBytes(4, 3000)), 'ENOSPC', 'over the limit');
    assert.deepEqual(await c.d.getxattr(`${dir}/f`, 'user.kb'), kb);
    assert.deepEqual(userNames(await c.d.listxattr(`${dir}/f`)), ['user.kb']);
  }, { objfsOnly: true });

  c.it('empty value', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'x');
    await c.d.setxattr(`${dir}/f`, 'user.empty', Buffer.alloc(0));
    assert.equal((await c.d.getxattr(`${dir}/f`, 'user.empty')).length, 0);
    assert.ok((await c.d.listxattr(`${dir}/f`)).includes('user.empty'));
  });

  c.it('plain set replaces an existing value', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'x');
    await c.d.setxattr(`${dir}/f`, 'user.k', ascii('first, longer value'));
    await c.d.setxattr(`${dir}/f`, 'user.k', ascii('second'));
    assert.deepEqual(await c.d.getxattr(`${dir}/f`, 'user.k'), ascii('second'));
    assert.deepEqual(userNames(await c.d.listxattr(`${dir}/f`)), ['user.k']);
  });

  c.it('XATTR_CREATE: EEXIST on an existing name; XATTR_REPLACE: ENODATA on a missing one', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'x');
    await c.d.setxattr(`${dir}/f`, 'user.a', ascii('1'), 'create');
    await expectCode(c.d.setxattr(`${dir}/f`, 'user.a', ascii('2'), 'create'), 'EEXIST', 'create existing');
    assert.deepEqual(await c.d.getxattr(`${dir}/f`, 'user.a'), ascii('1'));
    await expectCode(c.d.setxattr(`${dir}/f`, 'user.b', ascii('2'), 'replace'), 'ENODATA', 'replace missing');
    await expectCode(c.d.getxattr(`${dir}/f`, 'user.b'), 'ENODATA', 'replace missing must not create');
    await c.d.setxattr(`${dir}/f`, 'user.a', ascii('3'), 'replace');
    assert.deepEqual(await c.d.getxattr(`${dir}/f`, 'user.a'), ascii('3'));
  });

  c.it('get or remove a missing name: ENODATA; on a missing file: ENOENT', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'x');
    await expectCode(c.d.getxattr(`${dir}/f`, 'user.none'), 'ENODATA', 'get missing');
    await expectCode(c.d.removexattr(`${dir}/f`, 'user.none'), 'ENODATA', 'remove missing');
    await expectCode(c.d.getxattr(`${dir}/nofile`, 'user.x'), 'ENOENT', 'get on missing file');
    await expectCode(c.d.setxattr(`${dir}/nofile`, 'user.x', ascii('v')), 'ENOENT', 'set on missing file');
    assert.deepEqual(userNames(await c.d.listxattr(`${dir}/f`)), []);
  });

  c.it('xattrs on a directory', async () => {
    const dir = await c.dir();
    await c.d.mkdir(`${dir}/d`);
    await c.d.setxattr(`${dir}/d`, 'user.dir', ascii('on a dir'));
    assert.deepEqual(await c.d.getxattr(`${dir}/d`, 'user.dir'), ascii('on a dir'));
    assert.deepEqual(userNames(await c.d.listxattr(`${dir}/d`)), ['user.dir']);
    await c.d.removexattr(`${dir}/d`, 'user.dir');
    assert.deepEqual(userNames(await c.d.listxattr(`${dir}/d`)), []);
  });

  c.it('xattrs follow the file through a rename', async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'x');
    await c.d.setxattr(`${dir}/f`, 'user.tag', ascii('kept'));
    await c.d.rename(`${dir}/f`, `${dir}/g`);
    assert.deepEqual(await c.d.getxattr(`${dir}/g`, 'user.tag'), ascii('kept'));
  });

  c.it(
    'non-user namespaces (trusted.*, security.*) are refused with EOPNOTSUPP',
    async () => {
      const dir = await c.dir();
      await c.d.writeFile(`${dir}/f`, 'x');
      await expectCode(c.d.setxattr(`${dir}/f`, 'trusted.x', ascii('v')), ['EOPNOTSUPP', 'ENOTSUP'], 'set trusted.x');
      await expectCode(c.d.setxattr(`${dir}/f`, 'security.objfs_test', ascii('v')), ['EOPNOTSUPP', 'ENOTSUP'], 'set security.objfs_test');
      assert.deepEqual(await c.d.listxattr(`${dir}/f`), [], 'nothing listed');
    },
    { objfsOnly: true },
  );
}

// ---------------------------------------------------------------------------------------------
// unsupported node types (objfs-specific)
// ---------------------------------------------------------------------------------------------
export function unsupportedCases(c: SuiteCtx): void {
  c.it(
    'link(): EPERM, nothing created',
    async () => {
      const dir = await c.dir();
      await c.d.writeFile(`${dir}/f`, 'x');
      await expectCode(c.d.link(`${dir}/f`, `${dir}/hard`), 'EPERM', 'link');
      await expectCode(c.d.lstat(`${dir}/hard`), 'ENOENT', 'the link must not exist');
      assert.equal((await c.d.stat(`${dir}/f`)).nlink, 1);
    },
    { objfsOnly: true },
  );

  c.it(
    'mkfifo: EPERM, nothing created',
    async () => {
      const dir = await c.dir();
      await expectCode(c.d.mkfifo(`${dir}/fifo`, 0o644), 'EPERM', 'mkfifo');
      await expectCode(c.d.lstat(`${dir}/fifo`), 'ENOENT', 'the fifo must not exist');
      assert.deepEqual(await c.d.readdir(dir), []);
    },
    { objfsOnly: true },
  );

  // On Linux filesystems these work; checking it here keeps the driver methods honest.
  c.it(
    'hard link and fifo work on a kernel filesystem',
    async () => {
    const dir = await c.dir();
    await c.d.writeFile(`${dir}/f`, 'x');
    await c.d.link(`${dir}/f`, `${dir}/hard`);
    assert.equal((await c.d.stat(`${dir}/f`)).nlink, 2);
    assert.equal((await c.d.stat(`${dir}/hard`)).ino, (await c.d.stat(`${dir}/f`)).ino);
    await c.d.mkfifo(`${dir}/fifo`, 0o600);
    assert.equal((await c.d.lstat(`${dir}/fifo`)).mode & S_IFMT, 0o010000);
    assert.equal(await codeOf(c.d.unlink(`${dir}/fifo`)), undefined);
    },
    { kernelOnly: true },
  );
}
