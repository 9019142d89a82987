/**
 * LocalStore behaviour beyond the shared contract: the on-disk layout, hand-placed files and
 * directories, derived ETags, keys the tree cannot hold, the reserved .objfs tree, directory
 * cleanup, interrupted writes, symlinks, check(), and conditional writes across two store
 * instances (standing in for two processes: they share no locks).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { LocalStore } from '../../src/store/local/local-store.js';
import { Layout } from '../../src/store/local/paths.js';
import { writeVersion } from '../../src/store/local/sidecar.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { listAll, rejectsCode } from './contract.js';

let root: string;
let store: LocalStore;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'objfs-local-spec-'));
  store = new LocalStore(root);
});
afterEach(async () => {
  await store.close();
  await rm(root, { recursive: true, force: true });
});

const md5 = (s: string | Buffer): string => `"${createHash('md5').update(s).digest('hex')}"`;
const exists = (p: string): Promise<boolean> => lstat(p).then(() => true, () => false);
const keysOf = async (s: ObjectStore, prefix = ''): Promise<string[]> => (await listAll(s, { prefix })).objects.map((o) => o.key);

/** Every path under root except .objfs, with file contents: a snapshot to prove "tree intact". */
async function snapshot(dir = root, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (rel === '' && e.name === '.objfs') continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(`${rel}${e.name}/`, ...(await snapshot(p, `${rel}${e.name}/`)));
    else out.push(`${rel}${e.name}=${(await readFile(p)).toString('base64')}`);
  }
  return out;
}

const tmpFiles = async (): Promise<string[]> => readdir(join(root, '.objfs', 'tmp')).catch(() => []);

describe('LocalStore layout', () => {
  test('object "a/b/c" is the file <root>/a/b/c; metadata lives in .objfs/meta', async () => {
    await store.put('a/b/c', Buffer.from('content'), { metadata: { x: '1' }, contentType: 'text/plain' });
    assert.equal(await readFile(join(root, 'a/b/c'), 'utf8'), 'content');
    const sidecar = new Layout(root).sidecarPath('a/b/c');
    assert.ok(sidecar.startsWith(join(root, '.objfs', 'meta')));
    const record = JSON.parse(await readFile(sidecar, 'utf8')) as { key: string; versions: { etag: string; metadata: unknown }[] };
    assert.equal(record.key, 'a/b/c');
    assert.equal(record.versions[0]!.etag, md5('content'));
    assert.deepEqual(record.versions[0]!.metadata, { x: '1' });
    assert.deepEqual(await tmpFiles(), [], 'no temp file is left behind');
    assert.equal(store.description, `file://${root}`);
  });

  test('a directory marker is a directory plus a record', async () => {
    await store.put('dir/', Buffer.alloc(0), { metadata: { mode: '700' } });
    assert.ok((await stat(join(root, 'dir'))).isDirectory());
    assert.deepEqual((await store.head('dir/')).metadata, { mode: '700' });
    await rejectsCode(store.put('dir2/', Buffer.from('not empty')), 'InvalidKey', 'dir2/');
    assert.equal(await exists(join(root, 'dir2')), false);
  });
});

describe('hand-placed files and directories', () => {
  test('a file placed by hand is an object with a derived ETag that changes with the file', async () => {
    await mkdir(join(root, 'hand'));
    await writeFile(join(root, 'hand/made.txt'), 'by hand');
    const h1 = await store.head('hand/made.txt');
    assert.equal(h1.size, 7);
    assert.match(h1.etag, /^"stat-[0-9a-f]{32}"$/);
    assert.deepEqual(h1.metadata, {});
    assert.equal(h1.contentType, undefined);
    assert.equal((await store.get('hand/made.txt')).body.toString(), 'by hand');
    assert.deepEqual(await keysOf(store), ['hand/made.txt']);
    assert.equal((await store.list({ prefix: 'hand/' })).objects[0]!.etag, h1.etag);
    assert.equal((await store.head('hand/made.txt')).etag, h1.etag, 'stable while the file is unchanged');

    await writeFile(join(root, 'hand/made.txt'), 'changed by hand'); // size changes
    const h2 = await store.head('hand/made.txt');
    assert.notEqual(h2.etag, h1.etag);

    await new Promise((r) => setTimeout(r, 30)); // let the file system clock tick
    await writeFile(join(root, 'hand/made.txt'), 'CHANGED BY HAND'); // same size, same inode
    const h3 = await store.head('hand/made.txt');
    assert.notEqual(h3.etag, h2.etag);

    const st = await stat(join(root, 'hand/made.txt'));
    await utimes(join(root, 'hand/made.txt'), st.atime, new Date(st.mtimeMs + 5000)); // mtime only
    assert.notEqual((await store.head('hand/made.txt')).etag, h3.etag);
  });

  test('a stored object edited by hand falls back to a derived ETag and loses its metadata', async () => {
    const { etag } = await store.put('obj', Buffer.from('stored'), { metadata: { a: '1' } });
    assert.equal(etag, md5('stored'));
    await writeFile(join(root, 'obj'), 'edited');
    const h = await store.head('obj');
    assert.match(h.etag, /^"stat-/);
    assert.deepEqual(h.metadata, {});
    await rejectsCode(store.put('obj', Buffer.from('x'), { ifMatch: etag }), 'PreconditionFailed', 'obj');
    await store.put('obj', Buffer.from('x'), { ifMatch: h.etag });
    assert.equal((await store.head('obj')).etag, md5('x'));
  });

  test('an empty directory made by hand is a marker; a non-empty one only a prefix', async () => {
    await mkdir(join(root, 'empty'));
    await mkdir(join(root, 'full/sub'), { recursive: true });
    await writeFile(join(root, 'full/sub/f'), 'f');
    const top = await store.list({ delimiter: '/' });
    assert.deepEqual(top.prefixes, ['empty/', 'full/']);
    assert.deepEqual((await store.list({ prefix: 'empty/', delimiter: '/' })).objects.map((o) => o.key), ['empty/']);
    assert.equal((await store.head('empty/')).size, 0);
    await rejectsCode(store.head('full/'), 'NotFound', 'full/');
    assert.deepEqual(await keysOf(store), ['empty/', 'full/sub/f']);
  });

  test('symlinks and names that are not UTF-8 are not objects', async () => {
    await writeFile(join(root, 'real'), 'real');
    await symlink('/etc/hostname', join(root, 'link'));
    await symlink(root, join(root, 'dirlink'));
    await writeFile(Buffer.concat([Buffer.from(`${root}/bad-`), Buffer.from([0xff, 0xfe])]), 'x');
    assert.deepEqual(await keysOf(store), ['real']);
    assert.deepEqual((await store.list({ delimiter: '/' })).prefixes, []);
    await rejectsCode(store.head('link'), 'NotFound', 'link');
    await rejectsCode(store.get('link'), 'NotFound', 'link');
  });

  test('keys are never resolved through a symlinked directory (no escape from the root)', async () => {
    const outside = await mkdtemp(join(tmpdir(), 'objfs-outside-'));
    try {
      await writeFile(join(outside, 'secret'), 'outside the bucket');
      await symlink(outside, join(root, 'escape'));
      await rejectsCode(store.head('escape/secret'), 'NotFound', 'escape/secret');
      await rejectsCode(store.get('escape/secret'), 'NotFound', 'escape/secret');
      await rejectsCode(store.copy('escape/secret', 'stolen'), 'NotFound');
      await rejectsCode(store.put('escape/new', Buffer.from('x')), 'InvalidKey', 'escape/new');
      await rejectsCode(store.put('escape/dir/', Buffer.alloc(0)), 'InvalidKey', 'escape/dir/');
      await store.delete('escape/secret');
      assert.deepEqual((await readdir(outside)).sort(), ['secret'], 'nothing written or deleted outside the root');
      assert.deepEqual(await keysOf(store), []);
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });
});

describe('keys the tree cannot hold', () => {
  const invalid = ['a//b', '/abs', './x', '../x', 'a/./b', 'a/../b', 'a/..', '//', `${'s'.repeat(256)}`, `d/${'\u00e9'.repeat(128)}`, '.objfs', '.objfs/x', '.objfs/'];

  for (const key of invalid) {
    test(`InvalidKey for ${JSON.stringify(key.length > 40 ? `${key.slice(0, 12)}...(${Buffer.byteLength(key)} bytes)` : key)}`, async () => {
      await store.put('keep/me', Buffer.from('keep'));
      const before = await snapshot();
      const e = await rejectsCode(store.put(key, Buffer.from('x')), 'InvalidKey', key);
      assert.match(e.message, /file:\/\/ bucket/);
      await rejectsCode(store.head(key), 'InvalidKey');
      await rejectsCode(store.get(key), 'InvalidKey');
      await rejectsCode(store.copy('keep/me', key), 'InvalidKey');
      await rejectsCode(store.createMultipart(key), 'InvalidKey');
      await rejectsCode(store.delete(key), 'InvalidKey');
      assert.deepEqual(await snapshot(), before, 'tree intact');
      assert.deepEqual(await tmpFiles(), []);
    });
  }

  test('a 255-byte segment is fine', async () => {
    const key = `d/${'\u00e9'.repeat(127)}x`;
    assert.equal(Buffer.byteLength(key) - 2, 255);
    await store.put(key, Buffer.from('ok'));
    assert.equal((await store.get(key)).body.toString(), 'ok');
  });

  test('file-vs-directory conflicts are InvalidKey on write, absent on read, and leave the tree intact', async () => {
    await store.put('f', Buffer.from('file'));
    await store.put('d/x', Buffer.from('in dir'));
    const before = await snapshot();
    await rejectsCode(store.put('f/x', Buffer.from('1')), 'InvalidKey', 'f/x');
    await rejectsCode(store.put('f/x/y', Buffer.from('1')), 'InvalidKey', 'f/x/y');
    await rejectsCode(store.put('f/', Buffer.alloc(0)), 'InvalidKey', 'f/');
    await rejectsCode(store.put('d', Buffer.from('1')), 'InvalidKey', 'd');
    await rejectsCode(store.put('d', Buffer.from('1'), { ifNoneMatch: '*' }), 'InvalidKey', 'd');
    await rejectsCode(store.copy('f', 'd'), 'InvalidKey', 'd');
    await rejectsCode(store.copy('d/x', 'f/y'), 'InvalidKey', 'f/y');
    const { uploadId } = await store.createMultipart('d');
    const p = await store.uploadPart('d', uploadId, 1, Buffer.from('part'));
    await rejectsCode(store.completeMultipart('d', uploadId, [p]), 'InvalidKey', 'd');
    await store.abortMultipart('d', uploadId);
    await rejectsCode(store.head('f/x'), 'NotFound', 'f/x');
    await rejectsCode(store.head('d'), 'NotFound', 'd');
    await rejectsCode(store.get('d'), 'NotFound', 'd');
    await store.delete('d'); // not an object: nothing to delete
    await store.delete('f/x');
    assert.deepEqual(await snapshot(), before, 'tree intact');
    assert.equal((await store.get('f')).body.toString(), 'file');
    assert.deepEqual(await tmpFiles(), []);
  });
});

describe('the reserved .objfs tree', () => {
  test('is never listed, whatever the listing', async () => {
    await store.put('a', Buffer.from('1'), { metadata: { m: 'x' } });
    await store.put('z/', Buffer.alloc(0));
    const { uploadId } = await store.createMultipart('up');
    await store.uploadPart('up', uploadId, 1, Buffer.from('p'));
    assert.ok(await exists(join(root, '.objfs', 'uploads', uploadId, '1')));
    assert.deepEqual(await keysOf(store), ['a', 'z/']);
    const top = await store.list({ delimiter: '/' });
    assert.deepEqual(top.prefixes, ['z/']);
    assert.deepEqual((await store.list({ prefix: '.obj' })).objects, []);
    assert.deepEqual((await store.list({ prefix: '.objfs/', delimiter: '/' })).objects, []);
    assert.deepEqual((await store.list({ prefix: '.', delimiter: '-' })).prefixes, []);
  });

  test('an interrupted put (a temp file left behind) is not an object', async () => {
    await store.put('real', Buffer.from('real'));
    await mkdir(join(root, '.objfs', 'tmp'), { recursive: true });
    await writeFile(join(root, '.objfs', 'tmp', '12345-deadbeef.put'), 'half written');
    assert.deepEqual(await keysOf(store), ['real']);
    assert.deepEqual((await store.list({ delimiter: '/' })).objects.map((o) => o.key), ['real']);
  });

  test('a crash between the sidecar write and the rename keeps the old object whole', async () => {
    const v1 = await store.put('k', Buffer.from('version 1'), { metadata: { v: '1' } });
    // Simulate the first half of a put of "k": a temp file and its sidecar version, no rename.
    const layout = new Layout(root);
    const tmp = layout.tmpPath('put');
    await writeFile(tmp, 'version 2');
    const st = await stat(tmp, { bigint: true });
    await writeVersion(layout.sidecarPath('k'), layout.tmpPath('meta'), 'k', {
      kind: 'file',
      etag: md5('version 2'),
      size: 9,
      mtimeNs: st.mtimeNs.toString(),
      ino: st.ino.toString(),
      metadata: { v: '2' },
      createdMs: Date.now(),
    }, false, true);
    const h = await store.head('k');
    assert.equal(h.etag, v1.etag, 'the old version keeps its ETag');
    assert.deepEqual(h.metadata, { v: '1' });
    assert.equal((await store.get('k')).body.toString(), 'version 1');
  });

  test('a failed put leaves no temp file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'objfs-src-'));
    try {
      await writeFile(join(dir, 'short'), 'short');
      await rejectsCode(store.put('x', { path: join(dir, 'short'), start: 0, length: 100 }), 'InvalidArgument');
      await rejectsCode(store.put('y', { path: join(dir, 'missing'), start: 0, length: 1 }), 'InvalidArgument');
      assert.deepEqual(await tmpFiles(), []);
      assert.deepEqual(await keysOf(store), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('directory cleanup', () => {
  test('deleting the last key under a prefix removes the empty directories up to the root', async () => {
    await store.put('x/y/z', Buffer.from('1'));
    await store.put('x/other', Buffer.from('2'));
    await store.delete('x/y/z');
    assert.equal(await exists(join(root, 'x/y')), false);
    assert.equal(await exists(join(root, 'x')), true, 'x still holds x/other');
    await store.delete('x/other');
    assert.equal(await exists(join(root, 'x')), false);
    assert.deepEqual(await snapshot(), []);
  });

  test('a marker keeps its directory; deleting the marker then removes it', async () => {
    await store.put('m/', Buffer.alloc(0));
    await store.put('m/n/o', Buffer.from('1'));
    await store.delete('m/n/o');
    assert.equal(await exists(join(root, 'm/n')), false);
    assert.equal(await exists(join(root, 'm')), true);
    await store.put('m/p', Buffer.from('1'));
    await store.delete('m/');
    assert.equal(await exists(join(root, 'm')), true, 'not empty: stays, but is no longer a marker');
    await rejectsCode(store.head('m/'), 'NotFound', 'm/');
    await store.delete('m/p');
    assert.equal(await exists(join(root, 'm')), false);
  });

  test('puts and deletes racing in one directory never fail', async () => {
    const rounds = 40;
    const work: Promise<unknown>[] = [];
    for (let i = 0; i < rounds; i++) {
      work.push(store.put(`race/dir/a${i}`, Buffer.from('a')).then(() => store.delete(`race/dir/a${i}`)));
      work.push(store.put(`race/dir/b${i}`, Buffer.from('b')).then(() => store.delete(`race/dir/b${i}`)));
    }
    await Promise.all(work);
    assert.deepEqual(await keysOf(store), []);
    assert.equal(await exists(join(root, 'race')), false);
  });
});

describe('check() and options', () => {
  test('missing root or a file as root: NoSuchBucket naming the path', async () => {
    const missing = new LocalStore(join(root, 'does-not-exist'));
    const e = await rejectsCode(missing.check(), 'NoSuchBucket');
    assert.match(e.message, /does-not-exist/);
    assert.equal(e.message.includes('\n'), false);
    await writeFile(join(root, 'file'), 'x');
    await rejectsCode(new LocalStore(join(root, 'file')).check(), 'NoSuchBucket');
    await store.check();
    await writeFile(join(root, '.objfs'), 'a file where the reserved directory belongs');
    const r = await rejectsCode(store.check(), 'InvalidArgument');
    assert.match(r.message, /\.objfs is not a directory/);
  });

  test('a relative root is refused', () => {
    assert.throws(() => new LocalStore('relative/path'), /absolute/);
  });

  test('durable: false still writes atomically', async () => {
    const fast = new LocalStore(root, { durable: false });
    await fast.put('q', Buffer.from('quick'));
    assert.equal((await store.get('q')).body.toString(), 'quick');
  });
});

describe('conditional writes across two store instances (no shared locks)', () => {
  test('ifNoneMatch: exactly one creator wins (link(2) is atomic)', async () => {
    const stores = Array.from({ length: 8 }, () => new LocalStore(root));
    for (let round = 0; round < 5; round++) {
      const key = `shared/${round}`;
      const results = await Promise.allSettled(stores.map((s, i) => s.put(key, Buffer.from(`w${i}`), { ifNoneMatch: '*' })));
      const won = results.filter((r) => r.status === 'fulfilled').length;
      assert.equal(won, 1, `round ${round}: ${won} winners`);
      const winner = results.findIndex((r) => r.status === 'fulfilled');
      assert.equal((await store.get(key)).body.toString(), `w${winner}`);
    }
    assert.deepEqual(await tmpFiles(), []);
  });
});
