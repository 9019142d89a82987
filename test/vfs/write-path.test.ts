/**
 * The write path through the Vfs (no FUSE in the loop), over the memory store: lazy staging and
 * server-side reuse of unchanged ranges, the sync policies, the journal across a simulated crash,
 * conflicts with another writer, and --writable-path.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { VfsDriver } from '../conformance/vfs-driver.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { FaultyStore } from '../../src/store/faulty/faulty-store.js';
import type { ConflictPolicy, SyncPolicy } from '../../src/write/types.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { MemoryBudget } from '../../src/read/memory-budget.js';

const MiB = 1024 * 1024;

async function withDriver(
  opts: { sync?: SyncPolicy; conflict?: ConflictPolicy; writablePath?: string; store?: ObjectStore; readBudget?: MemoryBudget },
  fn: (d: VfsDriver, s: ObjectStore) => Promise<void>,
) {
  const store = opts.store ?? new MemoryStore();
  const d = await VfsDriver.create({ store, metadataTtlMs: 1000, ...opts });
  try {
    await fn(d, store);
  } finally {
    await d.cleanup();
  }
}

const text = async (s: ObjectStore, key: string) => (await s.get(key)).body.toString();
const exists = async (s: ObjectStore, key: string) => s.head(key).then(() => true, () => false);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function pattern(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i += 4) b.writeUInt32LE((i * 2654435761 + seed) >>> 0, i);
  return b;
}

describe('write path: lazy staging and part reuse', () => {
  it('tells the store that writes are coming (prepareWrites) when it stages a file, not on reads', async () => {
    let hints = 0;
    const store: ObjectStore = new MemoryStore();
    store.prepareWrites = () => void hints++;
    await withDriver({ store }, async (d, s) => {
      await s.put('r', Buffer.from('read me'));
      const r = await d.open('/r', 'r');
      assert.equal((await r.pread(7, 0)).toString(), 'read me');
      await r.close();
      assert.equal(hints, 0, 'reading stages nothing');
      const w = await d.open('/new', 'w');
      await w.pwrite(Buffer.from('x'), 0);
      await w.close();
      assert.ok(hints >= 1, 'creating a file told the store');
    });
  });

  it('editing 1 MiB inside a 64 MiB object downloads and uploads a few MiB, and the result is exact', async () => {
    const faulty = new FaultyStore(new MemoryStore());
    await withDriver({ store: faulty }, async (d) => {
      const orig = pattern(64 * MiB, 1);
      await faulty.put('big', orig);
      const before = faulty.stats();
      const f = await d.open('/big', 'r+');
      const patch = pattern(MiB, 2);
      await f.pwrite(patch, 30 * MiB + 123);
      await f.close();
      const after = faulty.stats();
      const sent = after.bytesIn - before.bytesIn;
      const fetched = after.bytesOut - before.bytesOut;
      assert.ok(sent < 32 * MiB, `sent ${sent} bytes`);
      assert.ok(fetched < 32 * MiB, `fetched ${fetched} bytes`);
      const expected = Buffer.from(orig);
      patch.copy(expected, 30 * MiB + 123);
      assert.equal(sha((await faulty.get('big')).body), sha(expected));
    });
  });

  it('reads of a staged file fetch missing ranges from the base; truncate then grow gives zeros, not old bytes', async () => {
    await withDriver({}, async (d, s) => {
      const orig = pattern(3 * MiB, 3);
      await s.put('f', orig);
      const f = await d.open('/f', 'r+');
      await f.pwrite(Buffer.from('HELLO'), 10);
      const head = await f.pread(100, 0);
      const expected = Buffer.from(orig.subarray(0, 100));
      expected.write('HELLO', 10);
      assert.deepEqual(head, expected);
      assert.deepEqual(await f.pread(16, 2 * MiB), orig.subarray(2 * MiB, 2 * MiB + 16));
      await f.ftruncate(MiB);
      await f.ftruncate(2 * MiB);
      assert.deepEqual(await f.pread(16, MiB + 5), Buffer.alloc(16));
      await f.close();
      const got = (await s.get('f')).body;
      assert.equal(got.length, 2 * MiB);
      assert.deepEqual(got.subarray(0, 100), expected);
      assert.deepEqual(got.subarray(MiB), Buffer.alloc(MiB));
    });
  });
});

describe('write path: sync policies', () => {
  it('close: the object is in the store when close returns', async () => {
    await withDriver({ sync: { kind: 'close' } }, async (d, s) => {
      await d.writeFile('/a', 'one');
      assert.equal(await text(s, 'a'), 'one');
    });
  });

  it('fsync: close keeps it local, fsync uploads, unmount uploads the rest', async () => {
    await withDriver({ sync: { kind: 'fsync' } }, async (d, s) => {
      await d.writeFile('/a', 'one');
      assert.equal(await exists(s, 'a'), false);
      assert.equal((await d.readFile('/a')).toString(), 'one'); // served from the staged copy
      const f = await d.open('/b', 'w');
      await f.pwrite(Buffer.from('two'), 0);
      await f.fsync();
      assert.equal(await text(s, 'b'), 'two');
      await f.close();
      assert.deepEqual(await d.vfs.flushAll(), []);
      assert.equal(await text(s, 'a'), 'one');
    });
  });

  it('idle=N: uploaded N seconds after the last write', async () => {
    await withDriver({ sync: { kind: 'idle', seconds: 0.3 } }, async (d, s) => {
      await d.writeFile('/a', 'one');
      assert.equal(await exists(s, 'a'), false);
      for (let i = 0; i < 50 && !(await exists(s, 'a')); i++) await sleep(50);
      assert.equal(await text(s, 'a'), 'one');
    });
  });

  it('exit: nothing leaves until flushAll (unmount / SIGTERM)', async () => {
    await withDriver({ sync: { kind: 'exit' } }, async (d, s) => {
      for (let i = 0; i < 20; i++) await d.writeFile(`/f${i}`, `content ${i}`);
      await sleep(100);
      assert.equal((await s.list({})).objects.length, 0);
      assert.equal(d.vfs.pendingUploads, 20);
      assert.deepEqual(await d.vfs.flushAll(), []);
      assert.equal((await s.list({})).objects.length, 20);
      assert.equal(await text(s, 'f7'), 'content 7');
    });
  });
});

describe('write path: crash recovery from the journal', () => {
  it('closed versions are uploaded by the next mount; unlinked ones are not; renamed ones land at the new key', async () => {
    await withDriver({ sync: { kind: 'exit' } }, async (d, s) => {
      await d.writeFile('/keep', 'kept');
      await d.writeFile('/gone', 'deleted');
      await d.unlink('/gone');
      await d.writeFile('/old', 'moved');
      await d.rename('/old', '/new');
      await d.mkdir('/dir');
      await d.writeFile('/dir/x', 'in dir');
      await d.rename('/dir', '/dir2');
      const res = await d.crashAndRecover();
      assert.deepEqual(res.failed, []);
      assert.equal(await text(s, 'keep'), 'kept');
      assert.equal(await exists(s, 'gone'), false);
      assert.equal(await exists(s, 'old'), false);
      assert.equal(await text(s, 'new'), 'moved');
      assert.equal(await text(s, 'dir2/x'), 'in dir');
      assert.equal(await exists(s, 'dir/x'), false);
      assert.equal((await d.readFile('/keep')).toString(), 'kept');
    });
  });

  it('a directory rename interrupted after its copies (the deletes failed) is finished by the next mount', async () => {
    const faulty = new FaultyStore(new MemoryStore());
    await withDriver({ store: faulty }, async (d) => {
      await d.mkdir('/src');
      for (let i = 0; i < 30; i++) await faulty.put(`src/f${i}`, Buffer.from(`file ${i}`));
      await faulty.put('src/sub/deep', Buffer.from('deep'));
      const rule = faulty.inject({ op: 'deleteMany', action: { kind: 'fail', code: 'Network' }, times: 1 });
      await assert.rejects(d.rename('/src', '/dst'), { code: 'EIO' });
      assert.equal(rule.hits, 1);
      assert.equal(await text(faulty, 'dst/f3'), 'file 3', 'copied before the failure');
      assert.equal(await text(faulty, 'src/f3'), 'file 3', 'the sources are still there');
      const res = await d.crashAndRecover();
      assert.deepEqual(res.failed, []);
      assert.equal(res.renamed, 1);
      const keys = (await faulty.list({})).objects.map((o) => o.key);
      assert.deepEqual(keys.filter((k) => k.startsWith('src')), [], 'nothing left under the old name');
      assert.equal(keys.filter((k) => k.startsWith('dst/')).length, 32, '30 files, sub/deep and the marker');
      assert.equal(await text(faulty, 'dst/sub/deep'), 'deep');
      assert.equal((await d.readFile('/dst/f29')).toString(), 'file 29');
      assert.equal((await d.readdir('/dst')).length, 31);
      await assert.rejects(d.stat('/src'), { code: 'ENOENT' });
    });
  });

  it('a closed version stays intact while a later, unclosed rewrite is lost in the crash', async () => {
    await withDriver({ sync: { kind: 'exit' } }, async (d, s) => {
      await d.writeFile('/f', 'version one');
      const f = await d.open('/f', 'r+');
      await f.pwrite(Buffer.from('PARTIAL'), 0); // never closed
      const res = await d.crashAndRecover();
      assert.deepEqual(res.failed, []);
      assert.equal(await text(s, 'f'), 'version one');
      // A small version is held in memory until its close (staged-file.ts), so nothing of it is on disk.
      assert.deepEqual(res.problems, [], 'the unclosed small rewrite left nothing behind');
    });
  });

  it('a large closed version stays intact while an unclosed rewrite of it is set aside, not uploaded', async () => {
    await withDriver({ sync: { kind: 'exit' } }, async (d, s) => {
      const big = Buffer.alloc(3 * 1024 * 1024, 7); // past spool.MAX_VERSION_BYTES: a data file
      await d.writeFile('/f', big);
      const f = await d.open('/f', 'r+');
      await f.pwrite(Buffer.from('PARTIAL'), 0); // never closed
      const res = await d.crashAndRecover();
      assert.deepEqual(res.failed, []);
      assert.ok((await s.get('f')).body.equals(big));
      assert.equal(res.problems.length, 1, 'the unclosed data file is set aside, not uploaded');
    });
  });

  it('a version changed after close and closed again: only the newest is uploaded', async () => {
    await withDriver({ sync: { kind: 'exit' } }, async (d, s) => {
      await d.writeFile('/f', 'one');
      await d.writeFile('/f', 'two, longer');
      const f = await d.open('/f', 'a');
      await f.pwrite(Buffer.from('!'), 0);
      await f.close();
      await d.crashAndRecover();
      assert.equal(await text(s, 'f'), 'two, longer!');
    });
  });
});

describe('write path: conflicts with another writer', () => {
  const race = async (d: VfsDriver, s: ObjectStore) => {
    await s.put('f', Buffer.from('base'));
    const f = await d.open('/f', 'r+');
    await f.pwrite(Buffer.from('OURS'), 0);
    await s.put('f', Buffer.from('theirs')); // the other writer wins the race to the bucket
    return f;
  };

  it('keep-both: ours goes up as a conflict copy, theirs stays', async () => {
    await withDriver({ conflict: 'keep-both' }, async (d, s) => {
      const f = await race(d, s);
      await f.close();
      assert.equal(await text(s, 'f'), 'theirs');
      const copies = (await s.list({})).objects.filter((o) => o.key.startsWith('f.conflict-'));
      assert.equal(copies.length, 1);
      assert.equal(await text(s, copies[0]!.key), 'OURS');
    });
  });

  it('overwrite: ours replaces theirs', async () => {
    await withDriver({ conflict: 'overwrite' }, async (d, s) => {
      const f = await race(d, s);
      await f.close();
      assert.equal(await text(s, 'f'), 'OURS');
    });
  });

  it('fail: close returns EIO, theirs stays, ours is kept locally', async () => {
    await withDriver({ conflict: 'fail' }, async (d, s) => {
      const f = await race(d, s);
      await assert.rejects(f.close(), { code: 'EIO' });
      assert.equal(await text(s, 'f'), 'theirs');
      assert.equal((await s.list({})).objects.length, 1);
    });
  });

  it('two new files of the same name: If-None-Match keeps both (keep-both)', async () => {
    await withDriver({}, async (d, s) => {
      const f = await d.open('/n', 'w');
      await f.pwrite(Buffer.from('mine'), 0);
      await s.put('n', Buffer.from('someone else'));
      await f.close();
      assert.equal(await text(s, 'n'), 'someone else');
      assert.equal((await s.list({})).objects.filter((o) => o.key.startsWith('n.conflict-')).length, 1);
    });
  });
});

describe('write path: --writable-path', () => {
  it('changes inside the writable path work; everything else is EROFS before anything is sent', async () => {
    const faulty = new FaultyStore(new MemoryStore());
    await faulty.put('outside.txt', Buffer.from('ro'));
    await faulty.put('work/', Buffer.alloc(0));
    await withDriver({ store: faulty, writablePath: 'work' }, async (d) => {
      await d.writeFile('/work/a', 'ok');
      await d.mkdir('/work/sub');
      const writes = () => { const c = faulty.stats().calls; return (c.put ?? 0) + (c.copy ?? 0) + (c.delete ?? 0) + (c.createMultipart ?? 0); };
      const before = writes();
      await assert.rejects(d.writeFile('/b', 'x'), { code: 'EROFS' });
      await assert.rejects(d.mkdir('/d'), { code: 'EROFS' });
      await assert.rejects(d.unlink('/outside.txt'), { code: 'EROFS' });
      await assert.rejects(d.open('/outside.txt', 'r+'), { code: 'EROFS' });
      await assert.rejects(d.rename('/work/a', '/a'), { code: 'EROFS' });
      await assert.rejects(d.chmod('/outside.txt', 0o600), { code: 'EROFS' });
      assert.equal(writes(), before);
      assert.equal((await d.readFile('/outside.txt')).toString(), 'ro');
      await d.rename('/work/a', '/work/sub/a');
      assert.equal((await d.readFile('/work/sub/a')).toString(), 'ok');
    });
  });
});

describe('write path: streaming uploads of new files (--sync close)', () => {
  it('a new file written sequentially goes up in parts while it is written; the object is exact', async () => {
    const faulty = new FaultyStore(new MemoryStore());
    await withDriver({ store: faulty }, async (d) => {
      const body = pattern(40 * MiB, 9);
      const f = await d.open('/seq', 'w');
      for (let off = 0; off < body.length; off += MiB) await f.pwrite(body.subarray(off, off + MiB), off);
      await sleep(50);
      const before = faulty.stats().calls;
      assert.equal(before.createMultipart, 1, 'the multipart upload started before close');
      assert.ok((before.uploadPart ?? 0) >= 2, `${before.uploadPart} parts before close`);
      await f.close();
      const after = faulty.stats().calls;
      assert.equal(after.put ?? 0, 0, 'no whole-object PUT');
      assert.equal(after.completeMultipart, 1);
      const got = await faulty.get('seq');
      assert.equal(sha(got.body), sha(body));
      assert.equal(got.info.metadata?.['mode'], String(0o100644), 'mode metadata carried by the streamed object');
    });
  });

  it('unlinked while being streamed: the multipart upload is aborted, nothing appears, its memory is released', async () => {
    const faulty = new FaultyStore(new MemoryStore());
    const budget = new MemoryBudget(64 * MiB);
    await withDriver({ store: faulty, readBudget: budget }, async (d) => {
      const body = pattern(24 * MiB, 11);
      const f = await d.open('/gone', 'w');
      for (let off = 0; off < 20 * MiB; off += MiB) await f.pwrite(body.subarray(off, off + MiB), off);
      await sleep(50);
      assert.equal(faulty.stats().calls.createMultipart, 1, 'streaming had started');
      await d.unlink('/gone');
      for (let off = 20 * MiB; off < body.length; off += MiB) await f.pwrite(body.subarray(off, off + MiB), off);
      await f.close();
      const calls = faulty.stats().calls;
      assert.equal(calls.completeMultipart ?? 0, 0, 'the streamed upload was not completed');
      assert.equal(calls.abortMultipart, 1, 'the streamed upload was aborted');
      assert.equal(await exists(faulty, 'gone'), false);
      assert.equal(budget.used, 0, 'no bytes left reserved');
    });
  });

  it('a chmod before close fixes the metadata; a rewrite in the middle falls back to a whole upload', async () => {
    const faulty = new FaultyStore(new MemoryStore());
    await withDriver({ store: faulty }, async (d) => {
      const body = pattern(20 * MiB, 10);
      const f = await d.open('/a', 'w');
      for (let off = 0; off < body.length; off += MiB) await f.pwrite(body.subarray(off, off + MiB), off);
      await d.chmod('/a', 0o600);
      await f.close();
      const a = await faulty.get('a');
      assert.equal(sha(a.body), sha(body));
      assert.equal(a.info.metadata?.['mode'], String(0o100600));

      const g = await d.open('/b', 'w');
      for (let off = 0; off < body.length; off += MiB) await g.pwrite(body.subarray(off, off + MiB), off);
      await g.pwrite(Buffer.from('REWRITTEN'), 5); // not an append: streaming is given up
      await g.close();
      const expected = Buffer.from(body);
      expected.write('REWRITTEN', 5);
      assert.equal(sha((await faulty.get('b')).body), sha(expected));
    });
  });
});

/** A MemoryStore whose listings can be held back after they were taken (a LIST answered late). */
class LateListStore extends MemoryStore {
  gate: Promise<void> | undefined;
  override async list(opts: Parameters<MemoryStore['list']>[0]): ReturnType<MemoryStore['list']> {
    const page = await super.list(opts);
    await this.gate;
    return page;
  }
}

describe('listings racing uploads', () => {
  it('a file whose upload finishes while a listing taken before it is in flight still shows', async () => {
    const store = new LateListStore();
    await withDriver({ store }, async (d) => {
      await d.mkdir('/dir');
      await d.writeFile('/dir/old', 'o');
      const f = await d.open('/dir/f', 'w');
      await f.pwrite(Buffer.from('new'), 0);
      let open!: () => void;
      store.gate = new Promise((r) => (open = r));
      const listing = d.readdir('/dir'); // its LIST is answered now, before f is in the store
      await sleep(20);
      await f.close(); // the upload lands: f is no longer only local
      open();
      assert.deepEqual((await listing).sort(), ['f', 'old']);
      store.gate = undefined;
    });
  });

  it('a listing reused within the TTL shows a file uploaded after it was taken (readdirplus from listings)', async () => {
    const store = new FaultyStore(new MemoryStore());
    const d = await VfsDriver.create({ store, metadataTtlMs: 400, headOnReaddir: false });
    try {
      await store.put('dir/old', Buffer.from('o')); // written by another client
      const f = await d.open('/dir/f', 'w');
      await f.pwrite(Buffer.from('new'), 0);
      await sleep(450); // the listing the lookup of f captured (which knows f) has expired
      assert.deepEqual((await d.readdir('/dir')).sort(), ['f', 'old']); // f only here (pinned); the listing lacks it
      await f.close(); // uploaded: no longer pinned
      const lists = store.stats().calls.list ?? 0;
      assert.deepEqual((await d.readdir('/dir')).sort(), ['f', 'old'], 'the second readdir (from the cached listing) still shows f');
      assert.equal(store.stats().calls.list ?? 0, lists, 'the second readdir was served from the cached listing');
    } finally {
      await d.cleanup();
    }
  });
});

describe('lookups of new names', () => {
  it('creating many files in a directory asks the store about missing names once per TTL, not once per file', async () => {
    const faulty = new FaultyStore(new MemoryStore());
    await withDriver({ store: faulty }, async (d) => {
      await d.mkdir('/many');
      const before = faulty.stats().calls;
      for (let i = 0; i < 50; i++) await d.writeFile(`/many/f${i}`, `file ${i}`);
      const after = faulty.stats().calls;
      assert.ok(after.head - before.head <= 3, `${after.head - before.head} HEADs for 50 new files`);
      assert.equal(after.put - before.put, 50);
      for (let i = 0; i < 50; i += 7) assert.equal((await d.readFile(`/many/f${i}`)).toString(), `file ${i}`);
    });
  });

  it('a name another client creates in a listed directory shows after the TTL', async () => {
    const store = new MemoryStore();
    const d = await VfsDriver.create({ store, metadataTtlMs: 150 });
    try {
      await d.writeFile('/a', 'x');
      await assert.rejects(d.stat('/b'), { code: 'ENOENT' });
      await store.put('b', Buffer.from('theirs'));
      await sleep(200);
      assert.equal((await d.readFile('/b')).toString(), 'theirs');
    } finally {
      await d.cleanup();
    }
  });
});
