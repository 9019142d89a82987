/**
 * The PosixDriver operations implemented with node:fs/promises on a real directory tree
 * (a plain local directory or a FUSE mountpoint), plus test/tools/fsops for what node:fs lacks:
 * xattrs, renameat2 flags, mknod (fifo), statvfs (namemax) and utimensat with exact nanoseconds
 * (fs.utimes takes seconds as a double and loses them).
 *
 * `resolve` maps a driver path ("/a/b") to a real path; it may throw (e.g. when the mount behind
 * it is gone) so that no operation silently lands on the bare directory under a dead mount.
 */
import type { BigIntStats } from 'node:fs';
import * as fsp from 'node:fs/promises';
import type { DriverFile, DriverStat, PosixDriver, RenameFlag } from '../conformance/driver.js';
import * as fsops from './fsops.js';

export type NodeFsOps = Omit<PosixDriver, 'name' | 'canRemount' | 'remount'>;

export function toDriverStat(st: BigIntStats): DriverStat {
  return {
    ino: Number(st.ino),
    mode: Number(st.mode),
    size: Number(st.size),
    nlink: Number(st.nlink),
    uid: Number(st.uid),
    gid: Number(st.gid),
    atimeNs: st.atimeNs,
    mtimeNs: st.mtimeNs,
  };
}

class NodeFile implements DriverFile {
  constructor(private readonly fh: fsp.FileHandle) {}

  async pread(length: number, position: number): Promise<Buffer> {
    const buf = Buffer.alloc(length);
    let done = 0;
    // Loop over short reads so callers get everything up to EOF.
    while (done < length) {
      const { bytesRead } = await this.fh.read(buf, done, length - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return buf.subarray(0, done);
  }

  async pwrite(data: Buffer, position: number): Promise<number> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.fh.write(data, done, data.length - done, position + done);
      if (bytesWritten === 0) throw Object.assign(new Error('pwrite wrote 0 bytes'), { code: 'EIO' });
      done += bytesWritten;
    }
    return done;
  }

  async ftruncate(size: number): Promise<void> {
    await this.fh.truncate(size);
  }

  async fsync(): Promise<void> {
    await this.fh.sync();
  }

  async fstat(): Promise<DriverStat> {
    return toDriverStat(await this.fh.stat({ bigint: true }));
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

export function nodeFsOps(resolve: (path: string) => string): NodeFsOps {
  return {
    async stat(path) {
      return toDriverStat(await fsp.stat(resolve(path), { bigint: true }));
    },
    async lstat(path) {
      return toDriverStat(await fsp.lstat(resolve(path), { bigint: true }));
    },
    async readdir(path) {
      return fsp.readdir(resolve(path));
    },
    async mkdir(path, mode) {
      await fsp.mkdir(resolve(path), mode === undefined ? undefined : { mode });
    },
    async rmdir(path) {
      await fsp.rmdir(resolve(path));
    },
    async unlink(path) {
      await fsp.unlink(resolve(path));
    },
    async rename(from: string, to: string, flag?: RenameFlag) {
      if (flag) await fsops.renameat2(resolve(from), resolve(to), flag);
      else await fsp.rename(resolve(from), resolve(to));
    },
    async symlink(target, path) {
      await fsp.symlink(target, resolve(path));
    },
    async readlink(path) {
      return fsp.readlink(resolve(path), 'utf8');
    },
    async link(existing, newPath) {
      await fsp.link(resolve(existing), resolve(newPath));
    },
    async mkfifo(path, mode = 0o644) {
      await fsops.mknod(resolve(path), 'fifo', mode);
    },
    async writeFile(path, data, mode) {
      await fsp.writeFile(resolve(path), data, mode === undefined ? undefined : { mode });
    },
    async readFile(path) {
      return fsp.readFile(resolve(path));
    },
    async appendFile(path, data) {
      await fsp.appendFile(resolve(path), data);
    },
    async truncate(path, size) {
      await fsp.truncate(resolve(path), size);
    },
    async chmod(path, mode) {
      await fsp.chmod(resolve(path), mode);
    },
    async chown(path, uid, gid) {
      await fsp.chown(resolve(path), uid, gid);
    },
    async utimes(path, atimeNs, mtimeNs) {
      await fsops.utimens(resolve(path), atimeNs, mtimeNs);
    },
    async setxattr(path, name, value, flag) {
      await fsops.setxattr(resolve(path), name, value, flag);
    },
    async getxattr(path, name) {
      return fsops.getxattr(resolve(path), name);
    },
    async listxattr(path) {
      return fsops.listxattr(resolve(path));
    },
    async removexattr(path, name) {
      await fsops.removexattr(resolve(path), name);
    },
    async statfs(path) {
      return fsops.statfs(resolve(path));
    },
    async open(path, flags, mode) {
      return new NodeFile(await fsp.open(resolve(path), flags, mode));
    },
  };
}

/** Join a driver path ("/a/b", must be absolute) onto a real root directory. */
export function joinRoot(root: string, path: string): string {
  if (!path.startsWith('/')) throw new Error(`driver paths must be absolute, got ${JSON.stringify(path)}`);
  return path === '/' ? root : root + path;
}
