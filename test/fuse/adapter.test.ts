/**
 * The FUSE adapter without a kernel: a recording NativeSession stands in for the addon, the Vfs is
 * real, over a FaultyStore around the memory store. Checks exactly-one-reply, the errno mapping
 * of store failures, interrupts reaching the store call as an AbortSignal, and readdirplus
 * lookup accounting.
 */
import { Journal } from '../../src/write/journal.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FuseAdapter } from '../../src/fuse/adapter.js';
import { Op, REC, type NativeSession, type OpCode } from '../../src/fuse/native-api.js';
import { Vfs } from '../../src/vfs/vfs.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { FaultyStore } from '../../src/store/faulty/faulty-store.js';
import { Errno } from '../../src/errors/errno.js';
import { silentLogger } from '../../src/util/logger.js';

type Reply = { id: number; kind: string; value?: number; data?: Buffer; ino?: number };

class RecordingSession implements NativeSession {
  readonly replies: Reply[] = [];
  constructor(private readonly out: Float64Array) {}
  private rec(id: number, kind: string, extra: Partial<Reply> = {}): boolean {
    this.replies.push({ id, kind, ...extra });
    return true;
  }
  replyErr(id: number, errno: number) { return this.rec(id, 'err', { value: errno }); }
  replyEntry(id: number) { return this.rec(id, 'entry', { ino: this.out[REC.INO] }); }
  replyAttr(id: number) { return this.rec(id, 'attr', { ino: this.out[REC.INO] }); }
  replyOpen(id: number, fh: number) { return this.rec(id, 'open', { value: fh }); }
  replyCreate(id: number, fh: number) { return this.rec(id, 'create', { value: fh, ino: this.out[REC.INO] }); }
  replyBuf(id: number, buf: Buffer) { return this.rec(id, 'buf', { data: Buffer.from(buf) }); }
  replyWrite(id: number, count: number) { return this.rec(id, 'write', { value: count }); }
  replyReadlink(id: number) { return this.rec(id, 'readlink'); }
  replyStatfs(id: number) { return this.rec(id, 'statfs'); }
  replyXattrSize(id: number, size: number) { return this.rec(id, 'xattrsize', { value: size }); }
  replyDir(id: number, _size: number, _off: number, names: string[]): number {
    const take = Math.min(names.length, 3); // pretend only 3 entries fit in the page
    this.rec(id, 'dir', { value: take });
    return take;
  }
  notifyInvalInode() { return Promise.resolve(0); }
  notifyInvalEntry() { return Promise.resolve(0); }
  notifyDelete() { return Promise.resolve(0); }
  unmount() {}
  pending() { return 0; }
}

async function setup() {
  const staging = await mkdtemp(join(tmpdir(), 'objfs-adapter-'));
  const store = new FaultyStore(new MemoryStore());
  const journal = await Journal.open(join(staging, 'journal'), silentLogger());
  const vfs = new Vfs({
    store, log: silentLogger(), journal, readOnly: false, metadataTtlMs: 1000,
    defaults: { uid: 0, gid: 0, fileMode: 0o644, dirMode: 0o755 }, headOnReaddir: true,
  });
  const adapter = new FuseAdapter(vfs, silentLogger(), { onInit() {}, onDestroy() {} });
  const session = new RecordingSession(adapter.out);
  adapter.attach(session);
  let nextId = 1;
  /** Dispatch like the addon: numeric args into `args`, then the call. Returns the request id. */
  const send = (op: OpCode, ino: number, a: number[] = [], name?: string, name2?: string, data?: Buffer): number => {
    const id = nextId++;
    adapter.args.fill(0);
    adapter.args[0] = ino;
    a.forEach((v, i) => (adapter.args[4 + i] = v));
    adapter.dispatch(op, id, name, name2, data);
    return id;
  };
  const replyTo = async (id: number): Promise<Reply> => {
    for (let i = 0; i < 200; i++) {
      const r = session.replies.filter((x) => x.id === id);
      if (r.length > 0) {
        await sleep(5);
        assert.equal(session.replies.filter((x) => x.id === id).length, 1, `exactly one reply for request ${id}`);
        return r[0]!;
      }
      await sleep(5);
    }
    throw new Error(`no reply for request ${id}`);
  };
  return { store, vfs, adapter, session, send, replyTo, cleanup: async () => { await journal.close(); await rm(staging, { recursive: true, force: true }); } };
}

describe('fuse adapter', () => {
  it('cached answers are replied synchronously, misses as negative entries', async () => {
    const t = await setup();
    try {
      const id = t.send(Op.GETATTR, 1);
      assert.equal(t.session.replies.at(-1)?.id, id, 'root getattr answered in the same turn');
      const miss = await t.replyTo(t.send(Op.LOOKUP, 1, [], 'nothing'));
      assert.deepEqual([miss.kind, miss.ino], ['entry', 0]);
    } finally {
      await t.cleanup();
    }
  });

  it('store failures map to errnos and every request gets exactly one reply', async () => {
    const t = await setup();
    try {
      const c = await t.replyTo(t.send(Op.CREATE, 1, [0o100644, 0o1], 'f'));
      assert.equal(c.kind, 'create');
      const fh = c.value!;
      assert.equal((await t.replyTo(t.send(Op.WRITE, c.ino!, [fh, 0, 0], undefined, undefined, Buffer.from('data')))).value, 4);
      const cases: [string, number][] = [['AccessDenied', Errno.EACCES], ['QuotaExceeded', Errno.ENOSPC], ['Server', Errno.EIO], ['TooLarge', Errno.EFBIG]];
      for (const [code, errno] of cases) {
        const rule = t.store.inject({ op: 'put', action: { kind: 'fail', code: code as 'Server' }, times: 1 });
        const r = await t.replyTo(t.send(Op.FLUSH, c.ino!, [fh]));
        assert.deepEqual([r.kind, r.value], ['err', errno], code);
        rule.remove();
      }
      const ok = await t.replyTo(t.send(Op.FLUSH, c.ino!, [fh]));
      assert.deepEqual([ok.kind, ok.value], ['err', 0], 'a later flush succeeds and uploads');
      assert.equal((await t.store.inner.get('f')).body.toString(), 'data');
      // an unexpected (untyped) failure is EIO, not a crash or a hang (in a new directory: the
      // root's listing is cached now, so a miss there would need no request at all)
      const d = await t.replyTo(t.send(Op.MKDIR, 1, [0o755], 'd'));
      t.store.inject({ op: 'head', action: { kind: 'fail', code: 'Unknown' }, times: 1 });
      t.vfs.forget(c.ino!, 1);
      const u = await t.replyTo(t.send(Op.LOOKUP, d.ino!, [], 'g'));
      assert.deepEqual([u.kind, u.value], ['err', Errno.EIO]);
    } finally {
      await t.cleanup();
    }
  });

  it('an interrupt aborts the store call and the request is answered EINTR', async () => {
    const t = await setup();
    try {
      t.store.inject({ op: 'head', action: { kind: 'hang' } });
      const id = t.send(Op.LOOKUP, 1, [], 'slow');
      await sleep(20);
      assert.equal(t.session.replies.filter((r) => r.id === id).length, 0, 'still waiting on the store');
      assert.equal(t.adapter.inflightCount, 1);
      t.adapter.dispatch(Op.INTERRUPT, id, undefined, undefined, undefined);
      const r = await t.replyTo(id);
      assert.deepEqual([r.kind, r.value], ['err', Errno.EINTR]);
      assert.equal(t.adapter.inflightCount, 0);
    } finally {
      await t.cleanup();
    }
  });

  it('readdirplus: lookups are taken only for the entries that fitted in the page', async () => {
    const t = await setup();
    try {
      for (const n of ['a', 'b', 'c', 'd']) await t.store.put(n, Buffer.from(n));
      const dh = (await t.replyTo(t.send(Op.OPENDIR, 1))).value!;
      const r = await t.replyTo(t.send(Op.READDIRPLUS, 1, [dh, 4096, 0]));
      assert.equal(r.value, 3); // '.', '..', 'a'
      const a = (await t.vfs.lookup({ uid: 0, gid: 0, pid: 0, signal: undefined }, 1, 'a')).attr.ino;
      t.vfs.forget(a, 1); // our lookup given back: the one readdirplus took still holds the inode
      assert.equal((t.vfs.getattr({ uid: 0, gid: 0, pid: 0, signal: undefined }, a) as { attr: { ino: number } }).attr.ino, a);
      t.vfs.forget(a, 1);
      assert.throws(() => t.vfs.getattr({ uid: 0, gid: 0, pid: 0, signal: undefined }, a), { code: 'ENOENT' });
      const b = (await t.vfs.lookup({ uid: 0, gid: 0, pid: 0, signal: undefined }, 1, 'b')).attr.ino;
      t.vfs.forget(b, 1); // 'b' did not fit: only our own lookup was held
      assert.throws(() => t.vfs.getattr({ uid: 0, gid: 0, pid: 0, signal: undefined }, b), { code: 'ENOENT' });
    } finally {
      await t.cleanup();
    }
  });
});
