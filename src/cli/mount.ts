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
import { createLogger, type Logger } from '../util/logger.js';
import { Journal, JournalLockedError } from '../write/journal.js';
import { recover } from '../write/recovery.js';
import { parseSyncPolicy, type ConflictPolicy } from '../write/types.js';
import { validateMountConfig, type MountConfig } from '../config/options.js';
import { checkFuseDevice, checkMountpoint } from './mountpoint.js';
import { openStore } from '../store/open-store.js';
import type { ObjectStore } from '../store/object-store.js';
import { USER_XATTR_PREFIX, Vfs } from '../vfs/vfs.js';
import { raiseReadahead } from './readahead.js';
import { NODE_FLAGS } from './node-flags.js';
import { FuseAdapter } from '../fuse/adapter.js';
import { loadNative } from '../fuse/native.js';
import { BlockCache } from '../cache/block-cache.js';
import { MemoryBudget } from '../read/memory-budget.js';
import type { NativeSession } from '../fuse/native-api.js';

/** A failure to report as one line (no stack). */
export class UserError extends Error {}

/** FUSE max_read (and the kernel read-ahead objfs asks for): 1 MiB, the most the kernel takes. */
const MAX_READ = 1 << 20;

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

async function prepare(remote: string, mp: string, cfg: MountConfig): Promise<{ store: ObjectStore; storeId: string }> {
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
        // Small uploads in a worker thread, beside the FUSE traffic, where uploads come in bursts
        // (idle, exit, fsync, unmount). With --sync close each close() waits for its one upload:
        // the trip to the worker and back would only add to it.
        offloadPuts: cfg.sync !== 'close',
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
  const storeId = createHash('sha256').update(store.description).digest('hex').slice(0, 16);
  try {
    await mkdir(cfg.cacheDir, { recursive: true, mode: 0o700 });
    await access(cfg.cacheDir, fsc.W_OK);
  } catch (e) {
    await store.close().catch(() => undefined);
    throw new UserError(`cache directory ${cfg.cacheDir} is not usable: ${firstLine(e)}`);
  }
  return { store, storeId };
}

/** Progress of long uploads (recovery, unmount) on stderr, at most a few lines a second. */
function progressPrinter(what: string): (done: number, total: number, key: string) => void {
  let last = 0;
  return (done, total, key) => {
    const now = Date.now();
    if (done !== total && now - last < 500) return;
    last = now;
    process.stderr.write(`objfs: ${what}: ${done}/${total} file(s) (${key})\n`);
  };
}

/** Open the write-back journal and finish what a previous run left in it; nothing is served before. */
async function openJournal(store: ObjectStore, cfg: MountConfig, storeId: string, log: Logger): Promise<Journal> {
  const dir = join(cfg.cacheDir, 'write', storeId);
  let journal: Journal;
  try {
    journal = await Journal.open(dir, log);
  } catch (e) {
    throw new UserError(e instanceof JournalLockedError ? `${store.description} is already mounted by another objfs using ${cfg.cacheDir} (${firstLine(e)})` : `write journal ${dir} is not usable: ${firstLine(e)}`);
  }
  const res = await recover({
    journal, store, log, conflict: cfg.conflict as ConflictPolicy, concurrency: cfg.uploadConcurrency,
    progress: progressPrinter('uploading versions left by a previous run'),
  }).catch(async (e: unknown) => {
    await journal.close();
    throw new UserError(`could not read the write journal ${dir}: ${firstLine(e)}`);
  });
  for (const a of res.setAside) process.stderr.write(`objfs: ${a.key} was not uploaded (${a.reason}); the data is kept in ${a.dir}\n`);
  for (const p of res.problems) process.stderr.write(`objfs: journal: ${p}\n`); // e.g. a file never closed before a crash: where its data went
  if (res.failed.length > 0) {
    await journal.close();
    const f = res.failed[0]!;
    throw new UserError(`${res.failed.length} version(s) left by a previous run could not be uploaded (first: ${f.key}: ${f.error}); they stay in ${dir} and are retried at the next mount`);
  }
  return journal;
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
  const { store, storeId } = await prepare(remote, mp, cfg);
  if (stopRequested()) {
    await store.close().catch(() => undefined);
    return 0;
  }
  const log = createLogger(cfg.logLevel, cfg.logFile);
  // One 1-key listing before serving: the S3 client loads and compiles its listing code on the
  // first LIST (~0.15 s here, which the user's first ls would pay), and a bucket that may not be
  // listed (every lookup lists) is reported now instead of at the first lookup.
  await store.list({ maxKeys: 1 }).catch((e: unknown) =>
    log.warn({ remote, err: firstLine(e) }, 'listing the bucket failed: lookups and directory listings will fail'),
  );
  let journal: Journal;
  try {
    journal = await openJournal(store, cfg, storeId, log);
  } catch (e) {
    await store.close().catch(() => undefined);
    throw e;
  }
  // A local directory is its own cache: the block cache is for remote stores only.
  let blockCache: BlockCache | undefined;
  if (cfg.cacheSize > 0 && !remote.startsWith('file:')) {
    const dir = join(cfg.cacheDir, 'blocks', storeId);
    try {
      blockCache = await BlockCache.open({ dir, maxBytes: Math.floor(cfg.cacheSize * 1024 * 1024), log, alignedAlloc: (n) => loadNative().alignedBuffer(n) });
    } catch (e) {
      await journal.close();
      await store.close().catch(() => undefined);
      throw new UserError(`cache directory ${dir} is not usable: ${firstLine(e)}`);
    }
  }
  const vfs = new Vfs({
    store, log, journal, readOnly: cfg.readOnly, metadataTtlMs: cfg.metadataTtl * 1000,
    sync: parseSyncPolicy(cfg.sync), conflict: cfg.conflict as ConflictPolicy, uploadConcurrency: cfg.uploadConcurrency,
    ...(cfg.writablePath ? { writablePath: cfg.writablePath } : {}),
    defaults: { uid: cfg.uid, gid: cfg.gid, fileMode: cfg.fileMode, dirMode: cfg.dirMode },
    headOnReaddir: cfg.readdirHead ?? !remote.startsWith('s3:'),
    xattrs: cfg.xattr,
    directWrites: !cfg.writebackCache,
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
      void raiseReadahead(mp, MAX_READ / 1024, log);
      if (process.send) process.send({ ready: true });
    },
    onDestroy(status) {
      void (async () => {
        const failed = await vfs.flushAll(progressPrinter('uploading pending files'));
        await blockCache?.close().catch(() => undefined);
        await journal.close().catch(() => undefined);
        await store.close().catch(() => undefined);
        if (failed.length > 0) {
          log.error({ failed, journal: journal.dir }, 'some files could not be uploaded; their versions are kept in the journal for the next mount');
          process.stderr.write(`objfs: ${failed.length} file(s) could not be uploaded: ${failed.slice(0, 5).join(', ')}; the data is kept in ${journal.dir} and uploaded by the next mount of this bucket\n`);
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
        writebackCache: cfg.writebackCache, maxWrite: 1 << 20, maxRead: MAX_READ, maxThreads: cfg.maxThreads,
        debug: cfg.debugFuse, autoUnmount: true, xattrOnly: cfg.xattr ? USER_XATTR_PREFIX : undefined,
      },
      adapter.dispatch, adapter.args, adapter.out,
    );
  } catch (e) {
    await journal.close().catch(() => undefined);
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
    log.info({ signal: sig, pending: vfs.pendingUploads, open: vfs.openHandles }, 'signal received: uploading pending data, then unmounting');
    if (vfs.pendingUploads > 0) process.stderr.write(`objfs: ${sig}: uploading ${vfs.pendingUploads} pending file(s), then unmounting (a second signal unmounts at once)\n`);
    void vfs.flushAll(progressPrinter('uploading pending files')).finally(() => session?.unmount());
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
  const child = spawn(process.execPath, [...NODE_FLAGS, bin, ...args], { detached: true, stdio: ['ignore', 'ignore', fd, 'ipc'] });
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
