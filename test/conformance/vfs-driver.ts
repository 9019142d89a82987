/**
 * PosixDriver over the Vfs in this process (no FUSE): it plays the kernel's part — path walking
 * with lookups (balanced by forgets), symlink following, O_CREAT/O_EXCL/O_TRUNC handling, umask —
 * so the conformance suite checks the Vfs itself. remount() builds a fresh Vfs over the same store.
 */
import type { MemoryBudget } from '../../src/read/memory-budget.js';
import { Journal } from '../../src/write/journal.js';
import { recover, type RecoveryResult } from '../../src/write/recovery.js';
import type { ConflictPolicy, SyncPolicy } from '../../src/write/types.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants as fsc } from 'node:fs';
import { Vfs } from '../../src/vfs/vfs.js';
import { ROOT_INO } from '../../src/vfs/inode-table.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import type { BlockCache } from '../../src/cache/block-cache.js';
import type { RequestContext, Entry, Timespec } from '../../src/vfs/types.js';
import { toErrno } from '../../src/errors/to-errno.js';
import { errnoName } from '../../src/errors/errno.js';
import { FsError } from '../../src/errors/fs-error.js';
import { posix } from 'node:path';
import { silentLogger } from '../../src/util/logger.js';
import type { DriverFile, DriverStat, PosixDriver, RenameFlag } from './driver.js';

const S_IFLNK = fsc.S_IFLNK;
const S_IFMT = fsc.S_IFMT;
const S_IFIFO = fsc.S_IFIFO;

const ctx: RequestContext = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, pid: process.pid, signal: undefined };

function asDriverError(e: unknown): Error {
  const own = (e as { code?: unknown }).code;
  if (!(e instanceof FsError) && typeof own === 'string' && /^E[A-Z0-9]+$/.test(own)) return e as Error;
  const { errno } = toErrno(e);
  const err = new Error(`${errnoName(errno)}: ${e instanceof Error ? e.message : String(e)}`) as Error & { code: string; cause: unknown };
  err.code = errnoName(errno);
  err.cause = e;
  return err;
}

async function wrap<T>(fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw asDriverError(e);
  }
}

const toNs = (t: Timespec): bigint => BigInt(t.s) * 1_000_000_000n + BigInt(t.ns);
const fromNs = (ns: bigint): Timespec => ({ s: Number(ns / 1_000_000_000n), ns: Number(ns % 1_000_000_000n) });

function toStat(e: Entry): DriverStat {
  const a = e.attr;
  return { ino: a.ino, mode: a.mode, size: a.size, nlink: a.nlink, uid: a.uid, gid: a.gid, atimeNs: toNs(a.atime), mtimeNs: toNs(a.mtime) };
}

function openFlags(flags: string): number {
  const table: Record<string, number> = {
    r: fsc.O_RDONLY,
    'r+': fsc.O_RDWR,
    w: fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC,
    wx: fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC | fsc.O_EXCL,
    'w+': fsc.O_RDWR | fsc.O_CREAT | fsc.O_TRUNC,
    'wx+': fsc.O_RDWR | fsc.O_CREAT | fsc.O_TRUNC | fsc.O_EXCL,
    a: fsc.O_WRONLY | fsc.O_CREAT | fsc.O_APPEND,
    ax: fsc.O_WRONLY | fsc.O_CREAT | fsc.O_APPEND | fsc.O_EXCL,
    'a+': fsc.O_RDWR | fsc.O_CREAT | fsc.O_APPEND,
  };
  const f = table[flags];
  if (f === undefined) throw new Error(`unsupported open flags ${flags}`);
  return f;
}

export interface VfsDriverOptions {
  store: ObjectStore;
  readOnly?: boolean;
  metadataTtlMs?: number;
  headOnReaddir?: boolean;
  blockCache?: BlockCache;
  sync?: SyncPolicy;
  conflict?: ConflictPolicy;
  writablePath?: string;
  /** The shared budget for file data in memory (default: the Vfs's own). */
  readBudget?: MemoryBudget;
}

export class VfsDriver implements PosixDriver {
  readonly name = 'vfs+memory';
  readonly canRemount = true;
  vfs!: Vfs;
  private stagingDir = '';
  journal!: Journal;
  private readonly umask = process.umask();

  private constructor(private readonly opts: VfsDriverOptions) {}

  static async create(opts: VfsDriverOptions): Promise<VfsDriver> {
    const d = new VfsDriver(opts);
    d.stagingDir = await mkdtemp(join(tmpdir(), 'objfs-vfs-staging-'));
    d.journal = await Journal.open(join(d.stagingDir, 'journal'), silentLogger());
    d.build();
    return d;
  }

  private build(): void {
    this.vfs = new Vfs({
      store: this.opts.store,
      log: silentLogger(),
      journal: this.journal,
      ...(this.opts.sync ? { sync: this.opts.sync } : {}),
      ...(this.opts.conflict ? { conflict: this.opts.conflict } : {}),
      ...(this.opts.writablePath ? { writablePath: this.opts.writablePath } : {}),
      readOnly: this.opts.readOnly ?? false,
      metadataTtlMs: this.opts.metadataTtlMs ?? 1000,
      defaults: { uid: ctx.uid, gid: ctx.gid, fileMode: 0o644, dirMode: 0o755 },
      headOnReaddir: this.opts.headOnReaddir ?? true,
      ...(this.opts.blockCache ? { blockCache: this.opts.blockCache } : {}),
      ...(this.opts.readBudget ? { readBudget: this.opts.readBudget } : {}),
    });
  }

  async remount(): Promise<void> {
    const failed = await this.vfs.flushAll();
    if (failed.length > 0) throw new Error(`flush at remount failed for ${failed.join(', ')}`);
    this.build();
  }

  /**
   * Simulate kill -9 of objfs and the next mount: the Vfs is dropped without flushing, the
   * journal lock released, then the journal is reopened and recovered before a new Vfs serves.
   */
  async crashAndRecover(conflict: ConflictPolicy = this.opts.conflict ?? 'keep-both'): Promise<RecoveryResult> {
    await this.journal.close();
    this.journal = await Journal.open(join(this.stagingDir, 'journal'), silentLogger());
    const res = await recover({ journal: this.journal, store: this.opts.store, log: silentLogger(), conflict, concurrency: 4 });
    this.build();
    return res;
  }

  async cleanup(): Promise<void> {
    await this.journal.close();
    await rm(this.stagingDir, { recursive: true, force: true });
  }

  // ------------------------------------------------------------ path walking (the kernel's job)

  /** Components of a path after lexical normalisation ('..' resolved against the path itself). */
  private split(path: string): string[] {
    return posix.normalize('/' + path).split('/').filter((p) => p !== '' && p !== '.' && p !== '..');
  }

  /**
   * Look up one name. Like a kernel with an unbounded dentry cache, the driver keeps every lookup
   * it takes (never forgets) until remount, so inodes it walked stay valid while it uses them.
   */
  private async lookup(parent: number, name: string): Promise<Entry> {
    if (name === '..') throw new Error('.. not supported by the vfs driver');
    return this.vfs.lookup(ctx, parent, name);
  }

  private async walk(path: string, follow: boolean, depth = 0): Promise<Entry> {
    if (depth > 8) throw Object.assign(new Error('ELOOP'), { code: 'ELOOP' });
    if (path.length > 1 && path.endsWith('/')) {
      // a trailing slash requires a directory (and follows a final symlink)
      const e = await this.walk(path.replace(/\/+$/, ''), true, depth);
      if ((e.attr.mode & S_IFMT) !== fsc.S_IFDIR) throw Object.assign(new Error('ENOTDIR'), { code: 'ENOTDIR' });
      return e;
    }
    const parts = this.split(path);
    let cur: Entry = await this.vfs.getattr(ctx, ROOT_INO);
    let curPath = '';
    for (let i = 0; i < parts.length; i++) {
      if ((cur.attr.mode & S_IFMT) !== fsc.S_IFDIR) throw Object.assign(new Error('ENOTDIR'), { code: 'ENOTDIR' });
      const e = await this.lookup(cur.attr.ino, parts[i]!);
      const last = i === parts.length - 1;
      if ((e.attr.mode & S_IFMT) === S_IFLNK && (!last || follow)) {
        const target = await this.vfs.readlink(ctx, e.attr.ino);
        const base = target.startsWith('/') ? target : `${curPath}/${target}`;
        cur = await this.walk(base + (last ? '' : '/' + parts.slice(i + 1).join('/')), follow, depth + 1);
        return cur;
      }
      cur = e;
      curPath += '/' + parts[i];
    }
    return cur;
  }

  private async parentOf(path: string): Promise<{ dir: number; name: string }> {
    const parts = this.split(path);
    const name = parts.pop();
    if (name === undefined) throw Object.assign(new Error('EBUSY'), { code: 'EBUSY' });
    const dir = await this.walk('/' + parts.join('/'), true);
    if ((dir.attr.mode & S_IFMT) !== fsc.S_IFDIR) throw Object.assign(new Error('ENOTDIR'), { code: 'ENOTDIR' });
    return { dir: dir.attr.ino, name };
  }

  // ------------------------------------------------------------ PosixDriver

  stat(path: string) {
    return wrap(async () => toStat(await this.walk(path, true)));
  }

  lstat(path: string) {
    return wrap(async () => toStat(await this.walk(path, false)));
  }

  readdir(path: string) {
    return wrap(async () => {
      const e = await this.walk(path, true);
      const fh = await this.vfs.opendir(ctx, e.attr.ino);
      try {
        return this.vfs.readdir(fh, 0, false).map((d) => d.name).filter((n) => n !== '.' && n !== '..');
      } finally {
        this.vfs.releasedir(fh);
      }
    });
  }

  mkdir(path: string, mode = 0o777) {
    return wrap(async () => {
      const { dir, name } = await this.parentOf(path);
      await this.vfs.mkdir(ctx, dir, name, mode & ~this.umask);
    });
  }

  rmdir(path: string) {
    return wrap(async () => {
      const { dir, name } = await this.parentOf(path);
      await this.vfs.rmdir(ctx, dir, name);
    });
  }

  unlink(path: string) {
    return wrap(async () => {
      const { dir, name } = await this.parentOf(path);
      await this.vfs.unlink(ctx, dir, name);
    });
  }

  rename(from: string, to: string, flag?: RenameFlag) {
    return wrap(async () => {
      const a = await this.parentOf(from);
      const b = await this.parentOf(to);
      await this.vfs.rename(ctx, a.dir, a.name, b.dir, b.name, flag === 'noreplace' ? 1 : flag === 'exchange' ? 2 : 0);
    });
  }

  symlink(target: string, path: string) {
    return wrap(async () => {
      const { dir, name } = await this.parentOf(path);
      await this.vfs.symlink(ctx, dir, name, target);
    });
  }

  readlink(path: string) {
    return wrap(async () => this.vfs.readlink(ctx, (await this.walk(path, false)).attr.ino));
  }

  link(existing: string, newPath: string) {
    return wrap(async () => {
      await this.walk(existing, false);
      await this.parentOf(newPath);
      this.vfs.link();
    });
  }

  mkfifo(path: string, mode = 0o644) {
    return wrap(async () => {
      const { dir, name } = await this.parentOf(path);
      await this.vfs.mknod(ctx, dir, name, S_IFIFO | mode);
    });
  }

  private async openFile(path: string, flags: number, mode: number): Promise<{ ino: number; fh: number }> {
    const { dir, name } = await this.parentOf(path);
    let existing: Entry | undefined;
    try {
      existing = await this.walk(path, true);
    } catch (e) {
      if ((e as { code?: string }).code !== 'ENOENT') throw e;
    }
    if (existing) {
      if (flags & fsc.O_CREAT && flags & fsc.O_EXCL) throw Object.assign(new Error('EEXIST'), { code: 'EEXIST' });
      if ((existing.attr.mode & S_IFMT) === fsc.S_IFDIR && (flags & 3) !== fsc.O_RDONLY) throw Object.assign(new Error('EISDIR'), { code: 'EISDIR' });
      const r = await this.vfs.open(ctx, existing.attr.ino, flags & ~(fsc.O_CREAT | fsc.O_EXCL));
      return { ino: existing.attr.ino, fh: r.fh };
    }
    if (!(flags & fsc.O_CREAT)) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    const r = await this.vfs.create(ctx, dir, name, mode & ~this.umask, flags);
    return { ino: r.entry.attr.ino, fh: r.open.fh };
  }

  private async closeFile(fh: number): Promise<void> {
    try {
      await this.vfs.flush(ctx, fh);
    } finally {
      await this.vfs.release(fh);
    }
  }

  writeFile(path: string, data: Buffer | string, mode = 0o666) {
    return wrap(async () => {
      const { fh } = await this.openFile(path, openFlags('w'), mode);
      try {
        const buf = Buffer.from(data);
        for (let off = 0; off < buf.length; off += 1 << 20) await this.vfs.write(ctx, fh, buf.subarray(off, off + (1 << 20)), off);
      } finally {
        await this.closeFile(fh);
      }
    });
  }

  readFile(path: string) {
    return wrap(async () => {
      const { fh } = await this.openFile(path, fsc.O_RDONLY, 0);
      try {
        const chunks: Buffer[] = [];
        for (let off = 0; ; ) {
          const b = await this.vfs.read(ctx, fh, 128 * 1024, off);
          if (b.length === 0) break;
          chunks.push(b);
          off += b.length;
        }
        return Buffer.concat(chunks);
      } finally {
        await this.closeFile(fh);
      }
    });
  }

  appendFile(path: string, data: Buffer | string) {
    return wrap(async () => {
      const { fh } = await this.openFile(path, openFlags('a'), 0o666);
      try {
        await this.vfs.write(ctx, fh, Buffer.from(data), 0);
      } finally {
        await this.closeFile(fh);
      }
    });
  }

  truncate(path: string, size: number) {
    return wrap(async () => {
      await this.vfs.setattr(ctx, (await this.walk(path, true)).attr.ino, { size });
    });
  }

  chmod(path: string, mode: number) {
    return wrap(async () => {
      await this.vfs.setattr(ctx, (await this.walk(path, true)).attr.ino, { mode });
    });
  }

  chown(path: string, uid: number, gid: number) {
    return wrap(async () => {
      await this.vfs.setattr(ctx, (await this.walk(path, true)).attr.ino, { uid, gid });
    });
  }

  utimes(path: string, atimeNs: bigint, mtimeNs: bigint) {
    return wrap(async () => {
      await this.vfs.setattr(ctx, (await this.walk(path, true)).attr.ino, { atime: fromNs(atimeNs), mtime: fromNs(mtimeNs) });
    });
  }

  setxattr(path: string, name: string, value: Buffer, flag?: 'create' | 'replace') {
    return wrap(async () => {
      await this.vfs.setxattr(ctx, (await this.walk(path, true)).attr.ino, name, value, flag === 'create' ? 1 : flag === 'replace' ? 2 : 0);
    });
  }

  getxattr(path: string, name: string) {
    return wrap(async () => this.vfs.getxattr(ctx, (await this.walk(path, true)).attr.ino, name));
  }

  listxattr(path: string) {
    return wrap(async () => this.vfs.listxattr(ctx, (await this.walk(path, true)).attr.ino));
  }

  removexattr(path: string, name: string) {
    return wrap(async () => {
      await this.vfs.removexattr(ctx, (await this.walk(path, true)).attr.ino, name);
    });
  }

  statfs(_path: string) {
    return wrap(async () => {
      const s = this.vfs.statfs();
      return { bsize: s.bsize, blocks: s.blocks, namemax: s.namemax };
    });
  }

  open(path: string, flags: string, mode = 0o666): Promise<DriverFile> {
    return wrap(async () => {
      const { ino, fh } = await this.openFile(path, openFlags(flags), mode);
      const vfs = this.vfs;
      let closed = false;
      const file: DriverFile = {
        pread: (length, position) => wrap(() => vfs.read(ctx, fh, length, position)),
        pwrite: (data, position) => wrap(() => vfs.write(ctx, fh, data, position)),
        ftruncate: (size) => wrap(async () => void (await vfs.setattr(ctx, ino, { size }, fh))),
        fsync: () => wrap(() => vfs.fsync(ctx, fh)),
        fstat: () => wrap(async () => toStat(await vfs.getattr(ctx, ino))),
        close: () =>
          wrap(async () => {
            if (closed) return;
            closed = true;
            await this.closeFile(fh);
          }),
      };
      return file;
    });
  }
}
