/**
 * PosixDriver over a real objfs mount: a fresh file:// bucket (a temporary directory) mounted by
 * a child `objfs mount` process (test/helpers/mount-harness.ts); operations are node:fs on
 * mountpoint + path, plus test/tools/fsops for xattrs, renameat2 flags, mknod, statvfs and
 * nanosecond utimensat.
 *
 * canRemount is true: remount() stops the child (SIGTERM, clean exit, mount gone) and starts a new
 * one over the same bucket directory and mountpoint, so nothing cached in the old process or in
 * the kernel survives. Every operation first checks that the mount process is alive, so that no
 * operation can silently land in the bare directory under a dead mount.
 */
import { mkdir, mkdtemp, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PosixDriver } from './driver.js';
import { joinRoot, nodeFsOps } from '../helpers/node-fs-driver.js';
import { startMount, type MountHandle } from '../helpers/mount-harness.js';

export interface MountDriverOptions {
  /** Extra `objfs mount` arguments. */
  args?: string[];
  /** Extra environment for the mount process. */
  env?: NodeJS.ProcessEnv;
}

export interface MountDriverInstance {
  driver: PosixDriver;
  /** The directory acting as the bucket (file:// remote). */
  bucketDir: string;
  /** The mountpoint (stays the same across remounts). */
  mountpoint: string;
  /** The current mount (undefined between a failed remount and the next start). */
  handle(): MountHandle | undefined;
  cleanup(): Promise<void>;
}

export async function makeMountDriver(opts: MountDriverOptions = {}): Promise<MountDriverInstance> {
  const work = await mkdtemp(join(tmpdir(), 'objfs-conf-mount-'));
  const bucketDir = join(work, 'bucket');
  const mountpoint = join(work, 'mnt');
  const cacheHome = join(work, 'cache'); // XDG_CACHE_HOME: staged writes stay inside this test's dir
  await mkdir(bucketDir);
  await mkdir(mountpoint);
  await mkdir(cacheHome);
  const remote = `file://${bucketDir}`;
  const start = (): Promise<MountHandle> =>
    startMount({ remote, mountpoint, args: ['--xattr', ...(opts.args ?? [])], env: { XDG_CACHE_HOME: cacheHome, ...opts.env } });

  let handle: MountHandle | undefined;
  try {
    handle = await start();
  } catch (e) {
    await rm(work, { recursive: true, force: true });
    throw e;
  }

  const resolve = (p: string): string => {
    const h = handle;
    if (!h || h.child.exitCode !== null || h.child.signalCode !== null) {
      const why = h ? `its process exited (${String(h.child.exitCode ?? h.child.signalCode)}); stderr:\n${h.stderr().slice(-2000)}` : 'it is not running';
      throw Object.assign(new Error(`objfs mount on ${mountpoint} is gone: ${why}`), { code: 'ENOTCONN' });
    }
    return joinRoot(h.mountpoint, p);
  };

  const driver: PosixDriver = {
    name: 'mount+file',
    canRemount: true,
    async remount() {
      const old = handle;
      handle = undefined;
      let stopError: unknown;
      try {
        await old?.stop();
      } catch (e) {
        stopError = e;
      }
      handle = await start();
      if (stopError) throw stopError; // the new mount is up; the old one did not shut down cleanly
    },
    ...nodeFsOps(resolve),
  };

  return {
    driver,
    bucketDir,
    mountpoint,
    handle: () => handle,
    async cleanup() {
      const h = handle;
      handle = undefined;
      let error: unknown;
      if (h) {
        try {
          await h.stop();
        } catch (e) {
          error = e;
          await h.dispose();
        }
      }
      // Only plain directories are left now (stop/dispose unmounted); rmdir the mountpoint first
      // so that a mount that is somehow still there makes this fail instead of deleting through it.
      await rmdir(mountpoint).catch((e: NodeJS.ErrnoException) => {
        error ??= new Error(`cannot remove mountpoint ${mountpoint}: ${e.code ?? e.message}`);
      });
      if (!error) await rm(work, { recursive: true, force: true });
      if (error) throw error;
    },
  };
}
