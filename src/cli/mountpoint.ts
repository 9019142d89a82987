/**
 * Checks on a mountpoint before mounting, and unmounting: one clear line for each way it can be
 * wrong (missing, not a directory, not empty, already mounted, stale FUSE mount), and the helpers
 * that clear a stale mount (`fusermount3 -uz`).
 */
import { readdir, stat } from 'node:fs/promises';
import { readFileSync, existsSync, accessSync, statSync, constants as fsc } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface MountEntry {
  fstype: string;
  /** "major:minor" of the mounted filesystem (for FUSE, also the name of its bdi in /sys/class/bdi). */
  device: string;
}

/** Mount points currently listed in /proc/self/mountinfo (the last mount on a path wins). */
export function mountEntries(): Map<string, MountEntry> {
  const out = new Map<string, MountEntry>();
  let text = '';
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const parts = line.split(' ');
    const sep = parts.indexOf('-');
    if (sep < 0 || parts.length < 5) continue;
    const mp = (parts[4] ?? '').replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    out.set(mp, { fstype: parts[sep + 1] ?? '', device: parts[2] ?? '' });
  }
  return out;
}

/** Mount points currently listed in /proc/self/mountinfo, with their fs type. */
export function mountTable(): Map<string, string> {
  return new Map([...mountEntries()].map(([mp, e]) => [mp, e.fstype]));
}

export class MountpointError extends Error {}

export async function checkMountpoint(mp: string, force: boolean): Promise<void> {
  let st;
  try {
    st = await stat(mp);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTCONN' || code === 'ECONNABORTED') {
      if (!force) throw new MountpointError(`mountpoint ${mp} is a stale FUSE mount (Transport endpoint is not connected); clear it with --force or 'fusermount3 -uz ${mp}'`);
      await clearStale(mp);
      return checkMountpoint(mp, false);
    }
    if (code === 'ENOENT') throw new MountpointError(`mountpoint ${mp} does not exist`);
    if (code === 'EACCES') throw new MountpointError(`mountpoint ${mp}: permission denied`);
    throw new MountpointError(`mountpoint ${mp}: ${(e as Error).message}`);
  }
  if (!st.isDirectory()) throw new MountpointError(`mountpoint ${mp} is not a directory`);
  const fstype = mountTable().get(mp);
  if (fstype !== undefined) {
    if (force && fstype.startsWith('fuse')) {
      await clearStale(mp);
      return checkMountpoint(mp, false);
    }
    throw new MountpointError(`mountpoint ${mp} is already mounted (${fstype})${fstype.startsWith('fuse') ? '; unmount it first or use --force' : ''}`);
  }
  const entries = await readdir(mp);
  if (entries.length > 0) throw new MountpointError(`mountpoint ${mp} is not empty (${entries.length} entries); objfs mounts only on an empty directory`);
}

export async function clearStale(mp: string): Promise<void> {
  try {
    await run('fusermount3', ['-uz', mp]);
  } catch (e) {
    // as root, umount -l works even when fusermount3 refuses
    try {
      await run('umount', ['-l', mp]);
    } catch {
      throw new MountpointError(`could not clear the stale mount on ${mp}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
}

export function checkFuseDevice(): void {
  if (!existsSync('/dev/fuse')) throw new MountpointError('/dev/fuse is missing: load the fuse module (modprobe fuse) or run with --device /dev/fuse in a container');
  if (process.getuid?.() === 0) return;
  try {
    // fusermount3 opens /dev/fuse with the user's own rights
    accessSync('/dev/fuse', fsc.R_OK | fsc.W_OK);
  } catch {
    const mode = (statSync('/dev/fuse').mode & 0o777).toString(8).padStart(4, '0');
    throw new MountpointError(`/dev/fuse (mode ${mode}) is not usable by uid ${process.getuid?.()}: an administrator can allow FUSE for users with 'chmod 0666 /dev/fuse' (the usual setting), or mount as root`);
  }
}
