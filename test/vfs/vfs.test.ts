/**
 * Vfs behaviours that the path-level conformance suite cannot see: cache TTLs and another client's
 * changes, odd keys, implicit directories emptied by this mount, directory rename with a shared
 * request signal, ETag pinning, inode numbering and lookup counts, read-only refusal.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { constants as fsc } from 'node:fs';
import { VfsDriver } from '../conformance/vfs-driver.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { ROOT_INO } from '../../src/vfs/inode-table.js';
import { FaultyStore } from '../../src/store/faulty/faulty-store.js';
import type { RequestContext } from '../../src/vfs/types.js';

const ctx: RequestContext = { uid: 0, gid: 0, pid: 0, signal: undefined };

async function withDriver(opts: { ttl?: number; readOnly?: boolean }, fn: (d: VfsDriver, s: MemoryStore) => Promise<void>) {
  const store = new MemoryStore();
  const d = await VfsDriver.create({ store, metadataTtlMs: opts.ttl ?? 1000, readOnly: opts.readOnly ?? false });
  try {
    await fn(d, store);
  } finally {
    await d.cleanup();
  }
}

describe('vfs: another client changes the store', () => {
  it('a new object, a changed object and a deleted object become visible after the TTL', async () => {
    await withDriver({ ttl: 150 }, async (d, s) => {
      await d.writeFile('/f', 'one');
      await assert.rejects(d.stat('/g'), { code: 'ENOENT' }); // cached as a miss
      await s.put('g', Buffer.from('new'));
      await s.put('f', Buffer.from('changed!'));
      await sleep(200);
      assert.equal((await d.readFile('/g')).toString(), 'new');
      assert.equal((await d.readFile('/f')).toString(), 'changed!');
      assert.deepEqual((await d.readdir('/')).sort(), ['f', 'g']);
      await s.delete('g');
      await sleep(200);
      await assert.rejects(d.stat('/g'), { code: 'ENOENT' });
      assert.deepEqual(await d.readdir('/'), ['f']);
    });
  });

  it('within the TTL the cached attributes are served without asking the store', async () => {
    await withDriver({ ttl: 60_000 }, async (d, s) => {
      await d.writeFile('/f', 'one');
      await s.put('f', Buffer.from('longer content'));
      assert.equal((await d.stat('/f')).size, 3);
    });
  });
});

describe('vfs: odd keys from other tools', () => {
  it('implicit directories, a key that is also a prefix, and unusable names', async () => {
    await withDriver({}, async (d, s) => {
      await s.put('deep/er/file.txt', Buffer.from('x')); // implicit dirs deep/ and deep/er/
      await s.put('a', Buffer.from('file a'));
      await s.put('a/b', Buffer.from('file a/b')); // a is also a prefix: directory wins
      await s.put('x//y', Buffer.from('empty segment'));
      await s.put('dots/../z', Buffer.from('dotdot'));
      await s.put('dots/ok', Buffer.from('ok'));
      await s.put('long/' + 'n'.repeat(300), Buffer.from('too long'));
      await s.put('long/fine', Buffer.from('fine'));
      await s.put('m/', Buffer.from('marker with data'));
      assert.deepEqual((await d.readdir('/')).sort(), ['a', 'deep', 'dots', 'long', 'm', 'x']);
      assert.equal((await d.stat('/a')).mode & 0o170000, 0o040000);
      assert.equal((await d.readFile('/a/b')).toString(), 'file a/b');
      assert.equal((await d.readFile('/deep/er/file.txt')).toString(), 'x');
      assert.deepEqual(await d.readdir('/dots'), ['ok']);
      assert.deepEqual(await d.readdir('/long'), ['fine']);
      assert.deepEqual(await d.readdir('/x'), []);
      assert.deepEqual(await d.readdir('/m'), []);
    });
  });
});

describe('vfs: implicit directories emptied by this mount', () => {
  const isDir = (mode: number) => (mode & fsc.S_IFMT) === fsc.S_IFDIR;

  it('stay until rmdir (stat, readdir, ENOTEMPTY, rmdir), with the TTL at 0 and no request added', async () => {
    const store = new FaultyStore(new MemoryStore());
    const d = await VfsDriver.create({ store, metadataTtlMs: 0 });
    try {
      for (let i = 0; i < 5; i++) await store.put(`imp/f${i}`, Buffer.from('x'));
      await store.put('imp/sub/g', Buffer.from('y'));
      await store.put('other', Buffer.from('z'));
      assert.deepEqual((await d.readdir('/imp')).sort(), ['f0', 'f1', 'f2', 'f3', 'f4', 'sub']);
      await d.stat('/imp/sub/g');
      store.resetStats();
      for (let i = 0; i < 5; i++) await d.unlink(`/imp/f${i}`);
      await d.unlink('/imp/sub/g');
      const calls = store.stats().calls;
      assert.equal(calls.delete, 6);
      assert.equal(calls.put, 0, 'no marker written');
      assert.deepEqual((await store.list({ prefix: 'imp' })).objects, [], 'the store shows nothing of imp any more');
      assert.ok(isDir((await d.stat('/imp')).mode));
      assert.ok(isDir((await d.stat('/imp/sub')).mode));
      assert.deepEqual(await d.readdir('/imp'), ['sub']);
      assert.deepEqual(await d.readdir('/imp/sub'), []);
      assert.deepEqual((await d.readdir('/')).sort(), ['imp', 'other']);
      await assert.rejects(d.rmdir('/imp'), { code: 'ENOTEMPTY' });
      await d.rmdir('/imp/sub');
      await d.rmdir('/imp');
      await assert.rejects(d.stat('/imp'), { code: 'ENOENT' });
      await assert.rejects(d.rmdir('/imp'), { code: 'ENOENT' });
      assert.deepEqual(await d.readdir('/'), ['other']);
      assert.equal(store.stats().calls.put, 0);
    } finally {
      await d.cleanup();
    }
  });

  it('a rename away empties one too; chmod writes its marker; a new key below lets the store show it again', async () => {
    await withDriver({ ttl: 0 }, async (d, s) => {
      await s.put('a/x', Buffer.from('x'));
      await s.put('b/y', Buffer.from('y'));
      await s.put('c/z', Buffer.from('z'));
      await d.rename('/a/x', '/x');
      assert.ok(isDir((await d.stat('/a')).mode));
      assert.deepEqual(await d.readdir('/a'), []);
      await d.rmdir('/a');
      await assert.rejects(d.stat('/a'), { code: 'ENOENT' });
      await d.unlink('/b/y');
      await d.chmod('/b', 0o700);
      assert.equal((await s.head('b/')).key, 'b/', 'chmod wrote a marker');
      assert.equal((await d.stat('/b')).mode & 0o7777, 0o700);
      await d.unlink('/c/z');
      await d.writeFile('/c/new', 'n'); // uploaded at close: c is in the store again
      assert.deepEqual(await d.readdir('/c'), ['new']);
      await s.delete('c/new'); // another client empties it: gone, like any implicit directory
      await assert.rejects(d.stat('/c'), { code: 'ENOENT' });
    });
  });

  it('rmdir of a directory the mount knows and another client emptied succeeds', async () => {
    await withDriver({ ttl: 0 }, async (d, s) => {
      await s.put('gone/f', Buffer.from('x'));
      assert.ok(isDir((await d.stat('/gone')).mode));
      await s.delete('gone/f');
      await d.rmdir('/gone');
      await assert.rejects(d.rmdir('/gone'), { code: 'ENOENT' });
      await assert.rejects(d.rmdir('/never'), { code: 'ENOENT' });
    });
  });
});

describe('vfs: directory rename', () => {
  it('100 keys with a request signal: no MaxListenersExceededWarning although the copies share the signal', async () => {
    const inner = new MemoryStore();
    for (let i = 0; i < 100; i++) await inner.put(`dir/f${i}`, Buffer.from(String(i)));
    const store = new FaultyStore(inner);
    store.inject({ op: 'copy', action: { kind: 'latency', ms: 2 } }); // each copy in flight listens on the signal
    const d = await VfsDriver.create({ store });
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      const sctx: RequestContext = { ...ctx, signal: new AbortController().signal };
      await d.vfs.lookup(sctx, ROOT_INO, 'dir');
      await d.vfs.rename(sctx, ROOT_INO, 'dir', ROOT_INO, 'moved', 0);
      await sleep(20); // warnings are emitted on a later tick
      assert.deepEqual(warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map(String), []);
      assert.equal((await d.readdir('/moved')).length, 100);
      assert.deepEqual((await inner.list({ prefix: 'dir/' })).objects, []);
    } finally {
      process.off('warning', onWarning);
      await d.cleanup();
    }
  });
});

describe('vfs: reads are pinned to the ETag seen at open', () => {
  it('an object replaced while open fails the read with EIO instead of mixing versions', async () => {
    await withDriver({}, async (d, s) => {
      await s.put('f', Buffer.alloc(1000, 1));
      const f = await d.open('/f', 'r');
      assert.equal((await f.pread(10, 0)).length, 10);
      await s.put('f', Buffer.alloc(1000, 2));
      await assert.rejects(f.pread(10, 10), { code: 'EIO' });
      await f.close();
      const g = await d.open('/f', 'r');
      await sleep(0);
      await g.close();
    });
  });
});

describe('vfs: inode numbers and lookup counts', () => {
  it('a path keeps its number after the kernel forgets it, and the number follows a rename', async () => {
    await withDriver({}, async (d) => {
      await d.writeFile('/f', 'x');
      const a = (await d.stat('/f')).ino;
      assert.equal((await d.stat('/f')).ino, a);
      await d.rename('/f', '/g');
      assert.equal((await d.stat('/g')).ino, a);
      assert.notEqual(a, ROOT_INO);
    });
  });

  it('readdirplus takes one lookup per accepted entry, none for . and ..', async () => {
    await withDriver({}, async (d) => {
      await d.writeFile('/f', 'x');
      await d.mkdir('/dir');
      await d.remount(); // a fresh Vfs: no lookups held yet
      const fh = await d.vfs.opendir(ctx, ROOT_INO);
      const entries = d.vfs.readdir(fh, 0, true);
      assert.deepEqual(entries.map((e) => e.name), ['.', '..', 'dir', 'f']);
      assert.ok(entries.every((e) => e.entry !== undefined));
      d.vfs.acceptDirPlus(entries);
      d.vfs.releasedir(fh);
      const f = entries.find((e) => e.name === 'f')!;
      // one lookup held: forgetting it once drops the inode, a second getattr then fails
      d.vfs.forget(f.ino, 1);
      assert.throws(() => d.vfs.getattr(ctx, f.ino), { code: 'ENOENT' });
      assert.equal((await d.stat('/f')).ino, f.ino); // same number when looked up again
    });
  });
});

describe('vfs: read-only', () => {
  it('refuses every change with EROFS and sends nothing to the store', async () => {
    await withDriver({ readOnly: true }, async (d, s) => {
      await s.put('f', Buffer.from('x'));
      await s.put('d/', Buffer.alloc(0));
      const before = JSON.stringify((await s.list({})).objects.map((o) => [o.key, o.etag]));
      const ops: [string, () => Promise<unknown>][] = [
        ['write', () => d.writeFile('/f', 'y')],
        ['create', () => d.writeFile('/new', 'y')],
        ['mkdir', () => d.mkdir('/nd')],
        ['rmdir', () => d.rmdir('/d')],
        ['unlink', () => d.unlink('/f')],
        ['rename', () => d.rename('/f', '/g')],
        ['symlink', () => d.symlink('f', '/l')],
        ['chmod', () => d.chmod('/f', 0o600)],
        ['chown', () => d.chown('/f', 1, 1)],
        ['utimes', () => d.utimes('/f', 1n, 1n)],
        ['truncate', () => d.truncate('/f', 0)],
        ['setxattr', () => d.setxattr('/f', 'user.a', Buffer.from('1'))],
        ['removexattr', () => d.removexattr('/f', 'user.a')],
        ['open-w', () => d.open('/f', 'r+')],
      ];
      for (const [name, op] of ops) await assert.rejects(op(), { code: 'EROFS' }, name);
      assert.equal(JSON.stringify((await s.list({})).objects.map((o) => [o.key, o.etag])), before);
      assert.equal((await d.readFile('/f')).toString(), 'x');
    });
  });
});

describe('vfs: attributes from listings (S3 default)', () => {
  it('with listings trusted, readdir + stat of 1,000 files costs one LIST page per 1,000 entries and no HEAD', async () => {
    const inner = new MemoryStore();
    for (let i = 0; i < 1000; i++) await inner.put(`big/f${String(i).padStart(4, '0')}`, Buffer.alloc(i % 7), { metadata: { mode: '33216' } });
    const store = new FaultyStore(inner);
    const d = await VfsDriver.create({ store, headOnReaddir: false, metadataTtlMs: 60_000 });
    try {
      await d.stat('/big');
      const before = store.stats().calls;
      const names = await d.readdir('/big');
      assert.equal(names.length, 1000);
      for (const n of names.slice(0, 100)) assert.equal((await d.stat(`/big/${n}`)).size, Number(n.slice(1)) % 7);
      const after = store.stats().calls;
      assert.equal((after.head ?? 0) - (before.head ?? 0), 0, 'no HEAD per file');
      assert.equal((after.list ?? 0) - (before.list ?? 0), 1, 'one listing page');
    } finally {
      await d.cleanup();
    }
  });

  it('with --readdir-head, modes stored as metadata show in the listing attributes', async () => {
    const store = new MemoryStore();
    await store.put('f', Buffer.from('x'), { metadata: { mode: String(0o100600) } });
    const d = await VfsDriver.create({ store, headOnReaddir: true });
    try {
      await d.readdir('/');
      assert.equal((await d.stat('/f')).mode & 0o7777, 0o600);
    } finally {
      await d.cleanup();
    }
  });
});

describe('vfs: a directory listed less than a TTL ago', () => {
  async function withCounted(ttl: number, fn: (d: VfsDriver, s: MemoryStore, lists: () => number) => Promise<void>) {
    const store = new MemoryStore();
    const faulty = new FaultyStore(store);
    // listings trusted for attributes: the S3 default (--no-readdir-head)
    const d = await VfsDriver.create({ store: faulty, metadataTtlMs: ttl, headOnReaddir: false });
    try {
      await fn(d, store, () => faulty.stats().calls.list);
    } finally {
      await d.cleanup();
    }
  }

  it('is served again from the inodes without a LIST, and listed again after the TTL', async () => {
    await withCounted(300, async (d, s, lists) => {
      for (let i = 0; i < 5; i++) await s.put(`dir/f${i}`, Buffer.from(`file ${i}`));
      await s.put('dir/sub/x', Buffer.from('x'));
      const all = ['f0', 'f1', 'f2', 'f3', 'f4', 'sub'];
      assert.deepEqual((await d.readdir('/dir')).sort(), all);
      const before = lists();
      assert.deepEqual((await d.readdir('/dir')).sort(), all);
      assert.equal(lists() - before, 0, 'second listing within the TTL asked the store');
      await s.put('dir/theirs', Buffer.from('new'));
      await sleep(350);
      assert.deepEqual((await d.readdir('/dir')).sort(), [...all, 'theirs'].sort());
      assert.ok(lists() - before >= 1, 'after the TTL the store was listed again');
    });
  });

  it('shows this mount’s own changes made in between: create, unlink, rename within and across, mkdir, rmdir', async () => {
    await withCounted(60_000, async (d, s) => {
      for (const k of ['dir/a', 'dir/b', 'dir/c', 'other/o']) await s.put(k, Buffer.from(k));
      await s.put('dir/gone/', Buffer.alloc(0));
      assert.deepEqual((await d.readdir('/dir')).sort(), ['a', 'b', 'c', 'gone']);
      assert.deepEqual(await d.readdir('/other'), ['o']);
      await d.writeFile('/dir/new', 'mine');
      await d.unlink('/dir/a');
      await d.rename('/dir/b', '/dir/b2');
      await d.rename('/other/o', '/dir/o');
      await d.rename('/dir/c', '/other/c');
      await d.mkdir('/dir/made');
      await d.rmdir('/dir/gone');
      assert.deepEqual((await d.readdir('/dir')).sort(), ['b2', 'made', 'new', 'o']);
      assert.deepEqual(await d.readdir('/other'), ['c']);
      assert.equal((await d.readFile('/dir/o')).toString(), 'other/o');
    });
  });
});

describe('vfs: names looked up one by one in a directory', () => {
  it('from the third lookup that asks the store, the directory is listed once and the rest are answered from the listing', async () => {
    const store = new MemoryStore();
    const faulty = new FaultyStore(store);
    const d = await VfsDriver.create({ store: faulty, metadataTtlMs: 60_000, headOnReaddir: false });
    try {
      for (let i = 0; i < 50; i++) await store.put(`dir/f${i}`, Buffer.alloc(i, 1));
      await store.put('dir/sub/x', Buffer.from('x'));
      const before = faulty.stats().calls;
      for (let i = 0; i < 50; i++) assert.equal((await d.stat(`/dir/f${i}`)).size, i);
      assert.equal((await d.stat('/dir/sub')).mode & 0o170000, 0o040000);
      await assert.rejects(d.stat('/dir/nothing'), { code: 'ENOENT' });
      const after = faulty.stats().calls;
      const heads = after.head - before.head;
      const lists = after.list - before.list;
      assert.ok(heads + lists <= 8, `${heads} HEADs and ${lists} LISTs for 52 lookups`);
      assert.equal((await d.readFile('/dir/f7')).length, 7);
    } finally {
      await d.cleanup();
    }
  });

  it('an object another client adds after that listing shows once the TTL has passed', async () => {
    const store = new MemoryStore();
    const d = await VfsDriver.create({ store, metadataTtlMs: 200, headOnReaddir: false });
    try {
      for (let i = 0; i < 5; i++) await store.put(`dir/f${i}`, Buffer.from('x'));
      for (let i = 0; i < 5; i++) await d.stat(`/dir/f${i}`);
      await store.put('dir/late', Buffer.from('late'));
      await sleep(250);
      assert.equal((await d.readFile('/dir/late')).toString(), 'late');
    } finally {
      await d.cleanup();
    }
  });
});
