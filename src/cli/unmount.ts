/**
 * `objfs unmount <mountpoint>`: ask the kernel to unmount; the serving objfs process sees its
 * session end, uploads anything pending and exits. Busy mounts get a clear message and --lazy.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { resolve } from 'node:path';
import { mountTable } from './mountpoint.js';

const run = promisify(execFile);

export async function unmountCommand(mountpoint: string, opts: { lazy?: boolean }): Promise<number> {
  const mp = resolve(mountpoint);
  const fstype = mountTable().get(mp);
  if (fstype === undefined) {
    process.stderr.write(`objfs: ${mp} is not mounted\n`);
    return 1;
  }
  if (!fstype.startsWith('fuse')) {
    process.stderr.write(`objfs: ${mp} is not a FUSE mount (${fstype})\n`);
    return 1;
  }
  try {
    await run('fusermount3', ['-u', ...(opts.lazy ? ['-z'] : []), mp]);
  } catch (e) {
    const msg = String((e as { stderr?: string }).stderr ?? (e as Error).message).trim().split('\n')[0] ?? '';
    if (/busy/i.test(msg)) process.stderr.write(`objfs: ${mp} is busy (open files or a process working inside); close them or use --lazy\n`);
    else process.stderr.write(`objfs: could not unmount ${mp}: ${msg}\n`);
    return 1;
  }
  // wait until the serving process has let go (the mount disappears from the table)
  for (let i = 0; i < 100 && mountTable().has(mp); i++) await new Promise((r) => setTimeout(r, 50));
  return 0;
}
