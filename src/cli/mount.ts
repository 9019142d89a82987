/**
 * `objfs mount <remote> <mountpoint>`: check everything that can be checked before mounting
 * (mountpoint, /dev/fuse, the store, the cache directory), then serve the mount in this process
 * until it is unmounted or signalled. With --daemon the same command runs in a detached child and
 * this process returns once the child reports the mount ready (or prints its one-line error).
 *
 * Shutdown: SIGINT/SIGTERM upload everything pending, then unmount; a second signal unmounts at
 * once. When the session ends (also after `objfs unmount` or `fusermount3 -u` from outside) the
 * process uploads what is still pending and exits 0, or 1 naming what could not be uploaded.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, access, constants as fsc } from 'node:fs/promises';
import { openSync, closeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../util/logger.js';
import { validateMountConfig, type MountConfig } from '../config/options.js';
import { checkFuseDevice, checkMountpoint } from './mountpoint.js';
import { openStore } from '../store/open-store.js';
import type { ObjectStore } from '../store/object-store.js';
import { Vfs } from '../vfs/vfs.js';
import { FuseAdapter } from '../fuse/adapter.js';
import { loadNative } from '../fuse/native.js';
import { BlockCache } from '../cache/block-cache.js';
import { MemoryBudget } from '../read/memory-budget.js';
import type { NativeSession } from '../fuse/native-api.js';

/** A failure to report as one line (no stack). */
export class UserError extends Error {}

const firstLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';

export async function mountCommand(remote: string, mountpoint: string, raw: Record<string, unknown>, argv: string[]): Promise<number> {
  let cfg: MountConfig;
  try {
    cfg = validateMountConfig(raw);
  } catch (e) {
    throw new UserError(firstLine(e));
  }
  const mp = resolve(mountpoint);
  if (cfg.daemon) return daemonize(cfg, argv);
  return serve(remote, mp, cfg);
}

async function prepare(remote: string, mp: string, cfg: MountConfig): Promise<{ store: ObjectStore; stagingDir: string }> {
  try {
    checkFuseDevice();
    await checkMountpoint(mp, cfg.force);
  } catch (e) {
    throw new UserError(firstLine(e));
  }
  let store: ObjectStore;
  try {
    store = openStore(remote, {
      s3: {
        ...(cfg.endpoint ? { endpoint: cfg.endpoint } : {}),
        ...(cfg.region ? { region: cfg.region } : {}),
        ...(cfg.profile ? { profile: cfg.profile } : {}),
        ...(cfg.virtualHost ? { forcePathStyle: false } : {}),
        noSignRequest: cfg.noSignRequest,
      },
    });
  } catch (e) {
    throw new UserError(firstLine(e));
  }
  try {
    await store.check();
  } catch (e) {
    await store.close().catch(() => undefined);
    throw new UserError(`cannot use ${remote}: ${firstLine(e)}`);
  }
  const stagingDir = join(cfg.cacheDir, 'staging', createHash('sha256').update(store.description).digest('hex').slice(0, 16));
  try {
    await mkdir(stagingDir, { recursive: true, mode: 0o700 });
    await access(stagingDir, fsc.W_OK);
  } catch (e) {
    await store.close().catch(() => undefined);
    throw new UserError(`cache directory ${cfg.cacheDir} is not usable: ${firstLine(e)}`);
  }
  return { store, stagingDir };
}

async function serve(remote: string, mp: string, cfg: MountConfig): Promise<number> {
  // Signals are handled from the first moment: one that arrives before the mount exists stops
  // the start-up (nothing is mounted, nothing to lose); after that it flushes and unmounts.
  let stopRequested: string | undefined;
  let onSignal: (sig: string) => void = (sig) => {
    stopRequested = sig;
  };
  const handler = (sig: string) => onSignal(sig);
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  try {
    return await serveMounted(remote, mp, cfg, () => stopRequested, (h) => (onSignal = h));
  } finally {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  }
}

async function serveMounted(
  remote: string,
  mp: string,
  cfg: MountConfig,
  stopRequested: () => string | undefined,
  setSignalHandler: (h: (sig: string) => void) => void,
): Promise<number> {
  const { store, stagingDir } = await prepare(remote, mp, cfg);
  if (stopRequested()) {
    await store.close().catch(() => undefined);
    return 0;
  }
  const log = createLogger(cfg.logLevel, cfg.logFile);
  // A local directory is its own cache: the block cache is for remote stores only.
  let blockCache: BlockCache | undefined;
  if (cfg.cacheSize > 0 && !remote.startsWith('file:')) {
    const dir = join(cfg.cacheDir, 'blocks', stagingDir.slice(stagingDir.lastIndexOf('/') + 1));
    try {
      blockCache = await BlockCache.open({ dir, maxBytes: Math.floor(cfg.cacheSize * 1024 * 1024), log });
    } catch (e) {
      await store.close().catch(() => undefined);
      throw new UserError(`cache directory ${dir} is not usable: ${firstLine(e)}`);
    }
  }
  const vfs = new Vfs({
    store, log, stagingDir, readOnly: cfg.readOnly, metadataTtlMs: cfg.metadataTtl * 1000,
    defaults: { uid: cfg.uid, gid: cfg.gid, fileMode: cfg.fileMode, dirMode: cfg.dirMode },
    headOnReaddir: cfg.readdirHead ?? !remote.startsWith('s3:'),
    xattrs: cfg.xattr,
    ...(blockCache ? { blockCache } : {}),
    readBudget: new MemoryBudget(Math.floor(cfg.prefetchMemory * 1024 * 1024)),
  });

  let session: NativeSession | undefined;
  let shuttingDown = false;
  let finish!: (code: number) => void;
  const done = new Promise<number>((r) => (finish = r));

  const adapter = new FuseAdapter(vfs, log, {
    onInit() {
      log.info({ remote: store.description, mountpoint: mp, readOnly: cfg.readOnly }, 'mounted');
      if (process.send) process.send({ ready: true });
    },
    onDestroy(status) {
      void (async () => {
        const failed = await vfs.flushAll();
        await blockCache?.close().catch(() => undefined);
        await store.close().catch(() => undefined);
        if (failed.length > 0) {
          log.error({ failed, stagingDir }, 'some files could not be uploaded; their staged copies are kept');
          process.stderr.write(`objfs: ${failed.length} file(s) could not be uploaded (kept under ${stagingDir}): ${failed.slice(0, 5).join(', ')}\n`);
        }
        log.info({ mountpoint: mp, status }, 'unmounted');
        finish(failed.length > 0 ? 1 : 0);
      })();
    },
  });

  let native;
  try {
    native = loadNative();
    session = native.mount(
      {
        mountpoint: mp, fsname: `objfs:${store.description}`.slice(0, 200), subtype: 'objfs',
        allowOther: cfg.allowOther, defaultPermissions: cfg.defaultPermissions, readOnly: cfg.readOnly,
        writebackCache: cfg.writebackCache, maxWrite: 1 << 20, maxRead: 1 << 20, maxThreads: cfg.maxThreads,
        debug: cfg.debugFuse, autoUnmount: true,
      },
      adapter.dispatch, adapter.args, adapter.out,
    );
  } catch (e) {
    await store.close().catch(() => undefined);
    throw new UserError(firstLine(e).replace(/^objfs: /, ''));
  }
  adapter.attach(session as NativeSession);

  const onSignal = (sig: string) => {
    if (shuttingDown) {
      log.warn({ signal: sig }, 'second signal: unmounting now');
      session?.unmount();
      return;
    }
    shuttingDown = true;
    log.info({ signal: sig, pending: vfs.openHandles }, 'signal received: uploading pending data, then unmounting');
    void vfs.flushAll().finally(() => session?.unmount());
  };
  setSignalHandler(onSignal);
  const early = stopRequested();
  if (early) onSignal(early);
  const code = await done;
  log.flush?.();
  return code;
}

async function daemonize(cfg: MountConfig, argv: string[]): Promise<number> {
  await mkdir(cfg.cacheDir, { recursive: true }).catch(() => undefined);
  const logFile = cfg.logFile ?? join(cfg.cacheDir, 'objfs.log');
  let fd: number;
  try {
    fd = openSync(logFile, 'a');
  } catch (e) {
    throw new UserError(`cannot open log file ${logFile}: ${firstLine(e)}`);
  }
  const bin = fileURLToPath(new URL('../../../bin/objfs.js', import.meta.url));
  const args = argv.filter((a) => a !== '--daemon');
  if (!cfg.logFile) args.push('--log-file', logFile);
  const child = spawn(process.execPath, [bin, ...args], { detached: true, stdio: ['ignore', 'ignore', fd, 'ipc'] });
  closeSync(fd);
  return new Promise<number>((res) => {
    let settled = false;
    const settle = (code: number, message?: string) => {
      if (settled) return;
      settled = true;
      if (message) process.stderr.write(`objfs: ${message}\n`);
      res(code);
    };
    child.on('message', (m: { ready?: boolean; error?: string }) => {
      if (m.ready) {
        child.disconnect();
        child.unref();
        settle(0);
      } else if (m.error) settle(1, m.error);
    });
    child.on('exit', (code) => settle(code || 1, `the mount process exited (code ${code}) before the mount was ready; see ${logFile}`));
  });
}
