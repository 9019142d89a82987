/**
 * Kernel read-ahead of a FUSE mount. The kernel caps a FUSE mount's read-ahead at its bdi's
 * read_ahead_kb, 128 KiB by default, whatever max_readahead the filesystem negotiates, so a
 * sequential reader sends objfs one 128 KiB READ at a time: 8,192 requests per GiB, each a round
 * trip and a JS dispatch. Raising it to the negotiated maximum (1 MiB) makes that 1,024.
 * Only root may write /sys/class/bdi; for anyone else this is a no-op, logged at debug level.
 *
 * The mount is found in /proc/self/mountinfo (never by stat() of the mountpoint: this process
 * serves it). Runs once, right after the mount is up; owns nothing afterwards.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../util/logger.js';
import { mountEntries } from './mountpoint.js';

export async function raiseReadahead(mountpoint: string, kb: number, log: Logger): Promise<void> {
  let device: string | undefined;
  for (let i = 0; i < 10 && device === undefined; i++) {
    const e = mountEntries().get(mountpoint);
    if (e?.fstype.startsWith('fuse')) device = e.device;
    else await sleep(50);
  }
  if (device === undefined || !/^\d+:\d+$/.test(device)) {
    log.debug({ mountpoint }, 'read-ahead left as it is: mount not found in /proc/self/mountinfo');
    return;
  }
  const file = `/sys/class/bdi/${device}/read_ahead_kb`;
  try {
    const current = Number((await readFile(file, 'utf8')).trim());
    if (current >= kb) return;
    await writeFile(file, String(kb));
    log.debug({ file, from: current, to: kb }, 'kernel read-ahead raised');
  } catch (e) {
    log.debug({ file, err: (e as Error).message }, 'kernel read-ahead left at the default (needs root)');
  }
}
