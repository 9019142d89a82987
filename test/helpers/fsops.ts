/**
 * TypeScript side of test/tools/fsops.c: the filesystem calls node:fs lacks (xattrs, renameat2
 * flags, mknod, statvfs, utimensat with nanoseconds). Each call runs the tool as a child process
 * (async, so a call on a FUSE mount never blocks this process's event loop) and turns a failure
 * into an Error whose `code` is the errno name, like node:fs errors.
 */
import { execFile } from 'node:child_process';
import { buildTool } from './build-tool.js';

export interface FsopsError extends Error {
  code: string;
  syscall: string;
  path: string;
}

const TIMEOUT_MS = 60_000;

export function fsopsPath(): Promise<string> {
  return buildTool('fsops');
}

/** Run `fsops ...args`; resolves stdout, rejects with an Error carrying the errno name as .code. */
export async function fsops(args: string[]): Promise<string> {
  const bin = await fsopsPath();
  return new Promise((resolve, reject) => {
    execFile(bin, args, { encoding: 'utf8', timeout: TIMEOUT_MS, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const lines = String(stderr).split('\n');
      const first = (lines[0] ?? '').trim();
      const code = /^E[A-Z0-9]+$/.test(first) ? first : 'EIO';
      const detail = lines.slice(1).join(' ').trim() || (err as Error).message;
      const shown = args.map((a) => (a.length > 80 ? `${a.slice(0, 40)}...(${a.length} chars)` : a)).join(' ');
      const e = new Error(`${code}: ${detail} (fsops ${shown})`) as FsopsError;
      e.code = err.killed ? 'ETIMEDOUT' : code;
      e.syscall = args[0] ?? '';
      e.path = args[1] ?? '';
      reject(e);
    });
  });
}

export async function renameat2(from: string, to: string, flag: 'noreplace' | 'exchange'): Promise<void> {
  await fsops(['rename2', flag, from, to]);
}

export async function setxattr(path: string, name: string, value: Buffer, flag?: 'create' | 'replace'): Promise<void> {
  await fsops(['setxattr', path, name, value.toString('hex'), ...(flag ? [flag] : [])]);
}

export async function getxattr(path: string, name: string): Promise<Buffer> {
  return Buffer.from((await fsops(['getxattr', path, name])).trim(), 'hex');
}

export async function listxattr(path: string): Promise<string[]> {
  return (await fsops(['listxattr', path])).split('\n').filter((l) => l.length > 0);
}

export async function removexattr(path: string, name: string): Promise<void> {
  await fsops(['removexattr', path, name]);
}

export async function mknod(path: string, type: 'fifo' | 'sock' | 'chr' | 'blk', mode: number): Promise<void> {
  await fsops(['mknod', path, type, (mode & 0o7777).toString(8)]);
}

export async function statfs(path: string): Promise<{ bsize: number; blocks: number; namemax: number }> {
  const parts = (await fsops(['statfs', path])).trim().split(/\s+/).map(Number);
  const [bsize, blocks, namemax] = parts;
  if (parts.length !== 3 || bsize === undefined || blocks === undefined || namemax === undefined || parts.some((n) => !Number.isFinite(n))) {
    throw new Error(`fsops statfs: unexpected output ${JSON.stringify(parts)}`);
  }
  return { bsize, blocks, namemax };
}

const NS = 1_000_000_000n;

function splitNs(ns: bigint): [string, string] {
  let sec = ns / NS;
  let nsec = ns % NS;
  if (nsec < 0n) {
    nsec += NS;
    sec -= 1n;
  }
  return [sec.toString(), nsec.toString()];
}

/** utimensat(AT_FDCWD, path, [atime, mtime], 0) with exact nanoseconds (follows symlinks). */
export async function utimens(path: string, atimeNs: bigint, mtimeNs: bigint): Promise<void> {
  await fsops(['utimens', path, ...splitNs(atimeNs), ...splitNs(mtimeNs)]);
}
