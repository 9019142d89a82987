/**
 * FUSE adapter: decode a request from the native session, make exactly one Vfs call, encode the
 * reply or an errno. No filesystem policy lives here (mountpoint-s3's fuse.rs is the model), so
 * the Vfs is tested without FUSE in the loop.
 *
 * Reply guarantee: every request with an id gets exactly one reply. A Vfs call that throws or
 * rejects is answered with toErrno(err) (errors/to-errno.ts, the one mapping); the addon itself
 * answers EIO if dispatch throws, and EIO to anything pending when the session ends.
 * Results that the Vfs can give synchronously (cached lookups and attributes) are replied in the
 * same turn, with no promise and no per-request allocation beyond the Vfs result.
 *
 * Interrupts: the RequestContext of an asynchronous request is kept in `inflight` until it is
 * answered; an INTERRUPT aborts its signal. Ownership: this object is used only on the JS thread.
 */
import type { Logger } from '../util/logger.js';
import { toErrno } from '../errors/to-errno.js';
import { Errno, errnoName } from '../errors/errno.js';
import { FsError } from '../errors/fs-error.js';
import { StoreError } from '../errors/store-error.js';
import type { Vfs } from '../vfs/vfs.js';
import type { DirEntry, Entry, RequestContext, SetAttrChanges, Timespec } from '../vfs/types.js';
import { ARG, Op, OpenFlag, REC, REC_LEN, SetAttr, type NativeSession, type OpCode } from './native-api.js';

class Ctx implements RequestContext {
  private ac: AbortController | undefined;
  private aborted = false;
  constructor(
    readonly uid: number,
    readonly gid: number,
    readonly pid: number,
  ) {}
  get signal(): AbortSignal {
    if (!this.ac) {
      this.ac = new AbortController();
      if (this.aborted) this.ac.abort();
    }
    return this.ac.signal;
  }
  abort(): void {
    this.aborted = true;
    this.ac?.abort();
  }
}

const OP_NAMES: Record<number, string> = Object.fromEntries(Object.entries(Op).map(([k, v]) => [v, k.toLowerCase()]));

export interface AdapterEvents {
  onInit(): void;
  onDestroy(status: number): void;
}

export class FuseAdapter {
  readonly args = new Float64Array(32);
  readonly out = new Float64Array(32);
  private records = new Float64Array(REC_LEN * 64);
  private session: NativeSession | undefined;
  private readonly inflight = new Map<number, Ctx>();

  constructor(
    private readonly vfs: Vfs,
    private readonly log: Logger,
    private readonly events: AdapterEvents,
  ) {}

  attach(session: NativeSession): void {
    this.session = session;
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  // ------------------------------------------------------------ encoding

  private fillRec(buf: Float64Array, at: number, e: Entry): void {
    const a = e.attr;
    buf[at + REC.INO] = a.ino;
    buf[at + REC.GEN] = 0;
    buf[at + REC.ENTRY_TIMEOUT] = e.entryTimeout;
    buf[at + REC.ATTR_TIMEOUT] = e.attrTimeout;
    buf[at + REC.MODE] = a.mode;
    buf[at + REC.NLINK] = a.nlink;
    buf[at + REC.UID] = a.uid;
    buf[at + REC.GID] = a.gid;
    buf[at + REC.RDEV] = 0;
    buf[at + REC.SIZE] = a.size;
    buf[at + REC.BLKSIZE] = 4096;
    buf[at + REC.BLOCKS] = Math.ceil(a.size / 512);
    buf[at + REC.ATIME] = a.atime.s;
    buf[at + REC.ATIME_NS] = a.atime.ns;
    buf[at + REC.MTIME] = a.mtime.s;
    buf[at + REC.MTIME_NS] = a.mtime.ns;
    buf[at + REC.CTIME] = a.ctime.s;
    buf[at + REC.CTIME_NS] = a.ctime.ns;
  }

  private replyEntry = (id: number, e: Entry): void => {
    this.fillRec(this.out, 0, e);
    this.session!.replyEntry(id);
  };

  private replyAttr = (id: number, e: Entry): void => {
    this.fillRec(this.out, 0, e);
    this.session!.replyAttr(id);
  };

  private ok = (id: number): void => {
    this.session!.replyErr(id, 0);
  };

  private fail(id: number, op: OpCode, err: unknown, ino: number, name?: string): void {
    const { errno, unexpected } = toErrno(err);
    if (op === Op.LOOKUP && errno === Errno.ENOENT) {
      // negative entry: the kernel caches the miss for the metadata TTL
      this.out.fill(0, 0, REC_LEN);
      this.out[REC.ENTRY_TIMEOUT] = this.vfs.negativeTimeout;
      this.session!.replyEntry(id);
      return;
    }
    this.session!.replyErr(id, errno);
    const expected = !unexpected && !(err instanceof StoreError) && !(err instanceof FsError && err.cause);
    if (expected && !this.log.isLevelEnabled('debug')) return; // ENOENT, ENODATA, EEXIST...: the hot, quiet path
    const ctx = { op: OP_NAMES[op], ino, name, errno: errnoName(errno) };
    if (unexpected) this.log.error({ ...ctx, err }, 'unexpected error, returning EIO');
    else if (err instanceof StoreError) this.log.warn({ ...ctx, code: err.code, key: err.key, err: err.cause ?? err.message }, `store error: ${err.message}`);
    else if (err instanceof FsError && err.cause) this.log.warn({ ...ctx, err: err.cause }, err.message);
    else this.log.debug(ctx, 'request failed');
  }

  /** Run one Vfs call and answer it: synchronously when it returns a value, later when a promise. */
  private run<T>(id: number, op: OpCode, ctx: Ctx, fn: () => T | Promise<T>, reply: (id: number, v: T) => void, name?: string): void {
    const ino = this.args[ARG.INO]!;
    let r: T | Promise<T>;
    try {
      r = fn();
    } catch (e) {
      this.fail(id, op, e, ino, name);
      return;
    }
    if (r instanceof Promise) {
      this.inflight.set(id, ctx);
      r.then(
        (v) => {
          this.inflight.delete(id);
          try {
            reply(id, v);
          } catch (e) {
            this.fail(id, op, e, ino, name);
          }
        },
        (e: unknown) => {
          this.inflight.delete(id);
          this.fail(id, op, e, ino, name);
        },
      );
    } else {
      try {
        reply(id, r);
      } catch (e) {
        this.fail(id, op, e, ino, name);
      }
    }
  }

  /**
   * How many entries a READDIR(PLUS) page of `size` bytes can hold at most: a dirent is 24 bytes
   * plus the name padded to 8 (so at least 32), a direntplus 128 more. Asking the Vfs for more
   * than fit only builds entries the addon drops (the kernel asks for 32 KiB+ pages: with a
   * 24-byte estimate readdirplus built ~7x the entries it sent).
   */
  private static direntsIn(size: number, plus: boolean): number {
    return Math.ceil(size / (plus ? 160 : 32)) + 1;
  }

  private replyDir(id: number, size: number, offset: number, entries: DirEntry[], plus: boolean): void {
    const max = Math.min(entries.length, FuseAdapter.direntsIn(size, plus));
    if (this.records.length < max * REC_LEN) this.records = new Float64Array(max * REC_LEN * 2);
    const names: string[] = new Array(max);
    const recs = this.records;
    for (let i = 0; i < max; i++) {
      const e = entries[i]!;
      names[i] = e.name;
      const at = i * REC_LEN;
      if (e.entry) this.fillRec(recs, at, e.entry);
      else {
        recs.fill(0, at, at + REC_LEN);
        recs[at + REC.INO] = e.ino;
        recs[at + REC.MODE] = e.mode;
      }
    }
    const n = this.session!.replyDir(id, size, offset, names, recs, plus);
    if (plus && n > 0) this.vfs.acceptDirPlus(entries.slice(0, n));
  }

  private static ts(s: number, ns: number): Timespec {
    return { s, ns };
  }

  // ------------------------------------------------------------ dispatch

  readonly dispatch = (op: OpCode, id: number, name: string | undefined, name2: string | undefined, data: Buffer | undefined): void => {
    const a = this.args;
    const vfs = this.vfs;
    const ino = a[ARG.INO]!;
    const ctx = new Ctx(a[ARG.UID]!, a[ARG.GID]!, a[ARG.PID]!);
    const a4 = a[4]!;
    const a5 = a[5]!;
    const a6 = a[6]!;
    switch (op) {
      case Op.INIT:
        this.events.onInit();
        return;
      case Op.DESTROY:
        this.events.onDestroy(a4);
        return;
      case Op.INTERRUPT:
        this.inflight.get(id)?.abort();
        return;
      case Op.FORGET:
        vfs.forget(ino, a4);
        return;
      case Op.FORGET_MULTI: {
        if (!data) return;
        const pairs = new Float64Array(data.buffer, data.byteOffset, Math.floor(data.byteLength / 8));
        for (let i = 0; i + 1 < pairs.length; i += 2) vfs.forget(pairs[i]!, pairs[i + 1]!);
        return;
      }
      case Op.LOOKUP:
        return this.run(id, op, ctx, () => vfs.lookup(ctx, ino, name!), this.replyEntry, name);
      case Op.GETATTR:
        return this.run(id, op, ctx, () => vfs.getattr(ctx, ino), this.replyAttr);
      case Op.SETATTR: {
        const toSet = a4;
        const ch: SetAttrChanges = {};
        if (toSet & SetAttr.MODE) ch.mode = a5;
        if (toSet & SetAttr.UID) ch.uid = a6;
        if (toSet & SetAttr.GID) ch.gid = a[7]!;
        if (toSet & SetAttr.SIZE) ch.size = a[8]!;
        if (toSet & SetAttr.ATIME_NOW) ch.atime = 'now';
        else if (toSet & SetAttr.ATIME) ch.atime = FuseAdapter.ts(a[9]!, a[10]!);
        if (toSet & SetAttr.MTIME_NOW) ch.mtime = 'now';
        else if (toSet & SetAttr.MTIME) ch.mtime = FuseAdapter.ts(a[11]!, a[12]!);
        const fh = a[13]! >= 0 ? a[13]! : undefined;
        return this.run(id, op, ctx, () => vfs.setattr(ctx, ino, ch, fh), this.replyAttr);
      }
      case Op.READLINK:
        return this.run(id, op, ctx, () => vfs.readlink(ctx, ino), (i, t) => this.session!.replyReadlink(i, t));
      case Op.MKNOD:
        return this.run(id, op, ctx, () => vfs.mknod(ctx, ino, name!, a4), this.replyEntry, name);
      case Op.MKDIR:
        return this.run(id, op, ctx, () => vfs.mkdir(ctx, ino, name!, a4), this.replyEntry, name);
      case Op.UNLINK:
        return this.run(id, op, ctx, () => vfs.unlink(ctx, ino, name!), this.ok, name);
      case Op.RMDIR:
        return this.run(id, op, ctx, () => vfs.rmdir(ctx, ino, name!), this.ok, name);
      case Op.SYMLINK:
        return this.run(id, op, ctx, () => vfs.symlink(ctx, ino, name!, name2!), this.replyEntry, name);
      case Op.RENAME:
        return this.run(id, op, ctx, () => vfs.rename(ctx, ino, name!, a4, name2!, a5), this.ok, name);
      case Op.LINK:
        return this.run(id, op, ctx, () => vfs.link(), this.ok, name);
      case Op.OPEN:
        return this.run(id, op, ctx, () => vfs.open(ctx, ino, a4), (i, r) => {
          this.session!.replyOpen(i, r.fh, (r.directIo ? OpenFlag.DIRECT_IO : 0) | (r.keepCache ? OpenFlag.KEEP_CACHE : 0));
        });
      case Op.CREATE:
        return this.run(id, op, ctx, () => vfs.create(ctx, ino, name!, a4, a5), (i, r) => {
          this.fillRec(this.out, 0, r.entry);
          this.session!.replyCreate(i, r.open.fh, (r.open.directIo ? OpenFlag.DIRECT_IO : 0) | (r.open.keepCache ? OpenFlag.KEEP_CACHE : 0));
        }, name);
      case Op.READ:
        return this.run(id, op, ctx, () => vfs.read(ctx, a4, a5, a6), (i, b) => this.session!.replyBuf(i, b));
      case Op.WRITE:
        return this.run(id, op, ctx, () => vfs.write(ctx, a4, data ?? Buffer.alloc(0), a5), (i, n) => this.session!.replyWrite(i, n));
      case Op.FLUSH:
        return this.run(id, op, ctx, () => vfs.flush(ctx, a4), this.ok);
      case Op.FSYNC:
        return this.run(id, op, ctx, () => vfs.fsync(ctx, a4), this.ok);
      case Op.RELEASE:
        return this.run(id, op, ctx, () => vfs.release(a4), this.ok);
      case Op.FALLOCATE:
        return this.run(id, op, ctx, () => vfs.fallocate(), this.ok);
      case Op.OPENDIR:
        return this.run(id, op, ctx, () => vfs.opendir(ctx, ino), (i, fh) => this.session!.replyOpen(i, fh, 0));
      case Op.READDIR:
      case Op.READDIRPLUS: {
        const plus = op === Op.READDIRPLUS;
        return this.run(id, op, ctx, () => vfs.readdir(a4, a6, plus, FuseAdapter.direntsIn(a5, plus)), (i, entries) => this.replyDir(i, a5, a6, entries, plus));
      }
      case Op.RELEASEDIR:
        return this.run(id, op, ctx, () => vfs.releasedir(a4), this.ok);
      case Op.FSYNCDIR:
        return this.ok(id);
      case Op.STATFS:
        return this.run(id, op, ctx, () => vfs.statfs(), (i, s) => {
          const o = this.out;
          o[0] = s.bsize; o[1] = s.frsize; o[2] = s.blocks; o[3] = s.bfree; o[4] = s.bavail;
          o[5] = s.files; o[6] = s.ffree; o[7] = s.favail; o[8] = s.namemax;
          this.session!.replyStatfs(i);
        });
      case Op.SETXATTR:
        return this.run(id, op, ctx, () => vfs.setxattr(ctx, ino, name!, data ?? Buffer.alloc(0), a4), this.ok, name);
      case Op.GETXATTR: {
        const size = a4;
        return this.run(id, op, ctx, () => vfs.getxattr(ctx, ino, name!), (i, v) => {
          if (size === 0) this.session!.replyXattrSize(i, v.length);
          else if (v.length > size) this.session!.replyErr(i, Errno.ERANGE);
          else this.session!.replyBuf(i, v);
        }, name);
      }
      case Op.LISTXATTR: {
        const size = a4;
        return this.run(id, op, ctx, () => vfs.listxattr(ctx, ino), (i, names) => {
          const buf = Buffer.from(names.map((n) => n + '\0').join(''), 'utf8');
          if (size === 0) this.session!.replyXattrSize(i, buf.length);
          else if (buf.length > size) this.session!.replyErr(i, Errno.ERANGE);
          else this.session!.replyBuf(i, buf);
        });
      }
      case Op.REMOVEXATTR:
        return this.run(id, op, ctx, () => vfs.removexattr(ctx, ino, name!), this.ok, name);
      default:
        if (id > 0) this.session!.replyErr(id, Errno.ENOSYS);
    }
  };
}
