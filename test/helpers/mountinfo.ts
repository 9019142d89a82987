/**
 * Reading the kernel's mount table (/proc/self/mountinfo) for the mount harness: parse lines,
 * unescape fields, and find the mounts at a path. Pure functions plus thin readers (async and sync;
 * the sync one is for process-exit cleanup, where nothing asynchronous can run).
 *
 * mountinfo line format (proc(5)):
 *   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 *   (1)(2)(3)   (4)   (5)      (6)      (7)   (8) (9)   (10)         (11)
 * (7) is zero or more optional fields ended by the single "-" separator. Spaces, tabs, newlines
 * and backslashes in paths are written as octal escapes (\040, \011, \012, \134).
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

export interface MountinfoEntry {
  id: number;
  parentId: number;
  device: string;
  root: string;
  mountpoint: string;
  options: string;
  fstype: string;
  source: string;
  superOptions: string;
}

export function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parse a whole mountinfo text; malformed lines are skipped. */
export function parseMountinfo(text: string): MountinfoEntry[] {
  const out: MountinfoEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const fields = line.split(' ');
    const sep = fields.indexOf('-', 6);
    if (sep < 0 || fields.length < sep + 3) continue;
    const [id, parentId, device, root, mountpoint, options] = fields;
    if (id === undefined || parentId === undefined || device === undefined || root === undefined || mountpoint === undefined || options === undefined) continue;
    out.push({
      id: Number(id),
      parentId: Number(parentId),
      device,
      root: unescapeMountField(root),
      mountpoint: unescapeMountField(mountpoint),
      options,
      fstype: fields[sep + 1] ?? '',
      source: unescapeMountField(fields[sep + 2] ?? ''),
      superOptions: fields[sep + 3] ?? '',
    });
  }
  return out;
}

const MOUNTINFO = '/proc/self/mountinfo';

export async function readMountinfo(): Promise<MountinfoEntry[]> {
  return parseMountinfo(await readFile(MOUNTINFO, 'utf8'));
}

export function readMountinfoSync(): MountinfoEntry[] {
  return parseMountinfo(readFileSync(MOUNTINFO, 'utf8'));
}

/** Every mount whose mountpoint is exactly `mountpoint` (stacked mounts: last is on top). */
export function mountsAt(entries: readonly MountinfoEntry[], mountpoint: string, fstype?: string): MountinfoEntry[] {
  return entries.filter((e) => e.mountpoint === mountpoint && (fstype === undefined || e.fstype === fstype));
}

/** Parse /proc/mounts-style text (fsname mountpoint type options 0 0) into [mountpoint, fstype] pairs. */
export function parseProcMounts(text: string): { source: string; mountpoint: string; fstype: string }[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.split(' '))
    .filter((f) => f.length >= 3)
    .map((f) => ({ source: unescapeMountField(f[0] ?? ''), mountpoint: unescapeMountField(f[1] ?? ''), fstype: f[2] ?? '' }));
}
