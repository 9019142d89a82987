/**
 * DirLock: one process at a time owns a cache directory. Two owners would each account only their
 * own writes, and together they would overrun the size limit, so BlockCache.open() takes this lock
 * first and refuses a directory another live process holds.
 *
 * The lock is the file <dir>/lock, created with O_EXCL, holding {pid, start, token}: `start` is
 * the process start time from /proc/<pid>/stat, so a lock left by a crashed process whose pid was
 * later reused is still recognised as stale. A stale lock (holder dead, or a different process
 * under that pid) is replaced. The window where two processes both find the same stale lock and
 * both replace it is not closed (there is no flock in Node); it needs two mounts started on one
 * cache directory within milliseconds of each other after a crash.
 *
 * The same process holding the lock (another BlockCache instance that was not closed) also counts
 * as "in use". release() removes the file only if it still holds this lock's token.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errCode } from './block-files.js';

interface LockContent {
  pid: number;
  start: string | null;
  token: string;
}

export class DirLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(`cache directory ${dir} is in use by process ${pid}`);
    this.name = 'DirLockedError';
  }
}

export class DirLock {
  private released = false;
  private constructor(
    readonly path: string,
    private readonly token: string,
  ) {}

  /** Take the lock of `dir` (which must exist); throws DirLockedError when a live process holds it. */
  static async acquire(dir: string): Promise<{ lock: DirLock; replacedStale: LockContent | undefined }> {
    const path = join(dir, 'lock');
    const mine: LockContent = { pid: process.pid, start: processStart(process.pid), token: randomBytes(12).toString('hex') };
    let replacedStale: LockContent | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        await writeFile(path, JSON.stringify(mine), { flag: 'wx', mode: 0o644 });
        return { lock: new DirLock(path, mine.token), replacedStale };
      } catch (e) {
        if (errCode(e) !== 'EEXIST' || attempt >= 3) throw e;
      }
      const held = await readLock(path);
      if (held !== undefined && isAlive(held)) throw new DirLockedError(dir, held.pid);
      replacedStale = held;
      await unlink(path).catch((e: unknown) => {
        if (errCode(e) !== 'ENOENT') throw e;
      });
    }
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const held = await readLock(this.path);
    if (held?.token === this.token) await unlink(this.path).catch(() => undefined);
  }
}

/** The lock's content, or undefined when it is missing or unreadable (a torn write counts as stale). */
async function readLock(path: string): Promise<LockContent | undefined> {
  try {
    const v = JSON.parse(await readFile(path, 'utf8')) as Partial<LockContent>;
    if (typeof v.pid !== 'number' || typeof v.token !== 'string') return undefined;
    return { pid: v.pid, start: typeof v.start === 'string' ? v.start : null, token: v.token };
  } catch {
    return undefined;
  }
}

function isAlive(l: LockContent): boolean {
  try {
    process.kill(l.pid, 0);
  } catch (e) {
    if (errCode(e) === 'ESRCH') return false;
    // EPERM: it exists (another user's process)
  }
  if (l.start === null) return true;
  const now = processStart(l.pid);
  return now === null || now === l.start;
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/<pid>/stat), or null. */
function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null; // fields after ")" start at field 3
  } catch {
    return null;
  }
}
