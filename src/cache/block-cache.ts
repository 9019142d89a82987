/**
 * BlockCache: a disk cache of fixed-size blocks of object data (default 1 MiB), keyed by
 * (object key, ETag, block index), with a hard size limit and LRU eviction. It knows nothing of
 * files or inodes (it never imports src/vfs); cached-reader.ts reads objects through it.
 *
 * Design
 * - Blocks are looked up, read and verified one by one, but stored in *runs*: up to
 *   MAX_RUN_BLOCKS consecutive blocks of one version put together (putRun: the blocks of one GET)
 *   are written as one file (layout in block-files.ts), and a block is read at its offset in its
 *   run's file. One file per run instead of per block: a cold sequential read spent about a
 *   quarter of its CPU creating, renaming and unlinking one file per 1 MiB block. The run is the
 *   unit of writing, LRU order (a read of any of its blocks touches it), eviction and deletion;
 *   its blocks enter and leave the index together, so an indexed block's file is always whole.
 *   A run takes at most a quarter of the cache (maxRunBlocks; longer puts are split), so
 *   eviction stays fine-grained in a small cache.
 * - The in-memory index (block-index.ts) is the source of truth; the disk only mirrors it. It
 *   holds ready runs in LRU order and runs being written, so a put of a block that is being
 *   written or is ready joins or skips it and a get of it misses. A putRun writes only the blocks
 *   not indexed yet: it is split into the sub-runs of missing blocks, each its own file.
 * - Validation by ETag: blocks are stored and found under their ETag, so a get never returns a
 *   block of another version. A get or put for (key, E) takes E as the key's current version and
 *   drops the key's runs of every other ETag, except runs of a pinned (key, ETag) (an open
 *   file reading its version): those go when it is unpinned, and a get of such a pinned older
 *   ETag does not change the current one. invalidate(key) drops every run of the key.
 * - Atomic files: a run is written to tmp/ and renamed into place, and each file name carries
 *   the CRC-32 of each of its blocks, checked on every whole-block read and on the first read of
 *   a block found at open (see read()). A reader therefore gets the whole block or a miss, never a
 *   partial or stale one. A block that fails its check (or cannot be read) drops its whole run:
 *   the damage comes from a power loss or a failing disk, which rarely spares the rest of the
 *   file, and the index never holds part of a run. open() deletes tmp/ and anything under
 *   blocks/ that is not a complete run, and rebuilds the index (LRU order from file mtimes). It
 *   refuses a non-empty directory that is not a cache (no control file), so it never deletes
 *   foreign data.
 * - Size limit: `used` counts every byte the cache may have on disk: ready runs, reservations
 *   of writes in progress (temp files are never larger), and files whose unlink has not finished
 *   yet. A put reserves the run's whole size synchronously, before its first await, and never
 *   writes unless the reservation fits: used <= maxBytes holds at every moment, and so does the
 *   sum of the file sizes under blocks/ and tmp/. When the free space is short, the put claims
 *   least recently used unpinned runs as victims (removed from the index at once, so no one else
 *   reads or claims them), waits for their unlinks, and only then writes: their bytes pass to the
 *   put instead of going back to the pool, so a concurrent put cannot take them in between. When
 *   the space is only held by deletions in progress (dropped versions, invalidations), a put
 *   waits for them (a few times at most) instead of giving up.
 * - Failures never throw: a put that cannot make space (everything pinned, block larger than the
 *   cache) returns false and logs "cache too small" at most once a minute; a write that fails
 *   (ENOSPC, EDQUOT, EIO, ...) removes its temp file, returns false, counts writeFailures and
 *   logs the cause (once a minute per errno). Reads then simply go to the store.
 * - Thrashing: ids of recently evicted blocks are remembered (as many as the cache holds blocks);
 *   a miss on one of them means the working set does not fit, counted as `refetches` and logged
 *   with the same once-a-minute warning.
 *
 * Locking / ownership
 * - One process owns the directory (dir-lock.ts); within it, one BlockCache instance. All state
 *   belongs to the instance; calls come from the one JS thread and interleave only at awaits.
 * - Every decision that touches accounting or the index (reserve, pick victims, drop, commit) is
 *   made in one synchronous stretch; awaits happen only around file I/O, on state that the
 *   stretch before it made private to the caller (a "writing" run, claimed victims).
 * - A run file is never written while an unlink of the same file (run id) is pending
 *   (`deleting`), so a late unlink cannot remove a newer file.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rmdir, writeFile, type FileHandle } from 'node:fs/promises';
import { writevAll } from '../util/write-all.js';
import { readRange } from '../util/read-range.js';
import { join } from 'node:path';
import { silentLogger, type Logger } from '../util/logger.js';
import {
  BLOCKS_DIR,
  CACHE_FORMAT,
  CONTROL_FILE,
  MAX_RUN_BLOCKS,
  TMP_DIR,
  crc32,
  errCode,
  hashEtag,
  hashKey,
  keyDirOf,
  removePath,
  runFileName,
  scanRuns,
  unlinkIfExists,
} from './block-files.js';
import { BlockIndex, RateLimit, newRun, type KeyState, type Run } from './block-index.js';
import { DirLock } from './dir-lock.js';

export const DEFAULT_BLOCK_SIZE = 1024 * 1024;
const WARN_INTERVAL_MS = 60_000;
/**
 * O_DIRECT needs lengths (and memory) aligned to the logical block size; 4 KiB covers every disk.
 * Runs of smaller blocks (small objects) are written buffered: a direct write waits for the
 * disk, which only pays for large writes (128 KiB direct writes were slower than buffered ones
 * here).
 */
const DIRECT_ALIGN = 4096;
const DIRECT_MIN = 512 * 1024;
/** Aligned buffers for O_DIRECT writes (of blockSize each), shared by all runs being written. */
const WRITE_BUFFERS = 8;
/**
 * Most aligned buffers one run takes: a longer run is written through them in turns, so up to
 * WRITE_BUFFERS / DIRECT_RUN_BUFFERS runs are written direct at once (about the 4 threads of
 * libuv's pool that do the writes) instead of the first one taking every buffer.
 */
const DIRECT_RUN_BUFFERS = 2;
/** How many times a put waits for pending deletions to free space before giving up. */
const MAX_SPACE_WAITS = 4;

export interface BlockCacheOptions {
  dir: string;
  /** Hard limit of the bytes of cached blocks (and temp files) on disk. */
  maxBytes: number;
  /** Block size in bytes (default 1 MiB). Changing it between runs empties the cache. */
  blockSize?: number;
  log?: Logger;
  /** Clock for the once-a-minute warnings (tests). */
  now?: () => number;
  /**
   * Page-aligned memory (the native addon's alignedBuffer). With it, runs of whole 4 KiB pages
   * are copied into aligned buffers (at most WRITE_BUFFERS in all) and written with O_DIRECT;
   * without it every run is written through the page cache.
   */
  alignedAlloc?: (size: number) => Buffer;
}

export interface BlockCacheStats {
  /** Bytes on disk or reserved for writes in progress (never above maxBytes). */
  bytes: number;
  /** Complete blocks in the cache. */
  blocks: number;
  /** Run files in the cache (each holds 1..MAX_RUN_BLOCKS of the complete blocks). */
  runs: number;
  maxBytes: number;
  hits: number;
  misses: number;
  /** Blocks evicted (a run's blocks all count when it is evicted). */
  evictions: number;
  /** Blocks not cached because the write of their run failed or lost its space. */
  writeFailures: number;
  /** Blocks written with O_DIRECT (see BlockCacheOptions.alignedAlloc). */
  directWrites: number;
  /** Puts refused because no space could be made (pinned blocks, writes in progress, too large). */
  noSpace: number;
  /** Misses on blocks evicted recently (the working set does not fit). */
  refetches: number;
  /** Bytes of files that could not be deleted (counted in `bytes` until the next open). */
  stuckBytes: number;
}

const validIndex = (i: number): boolean => Number.isSafeInteger(i) && i >= 0;

export class BlockCache {
  readonly dir: string;
  readonly blockSize: number;
  private readonly alignedAlloc: ((size: number) => Buffer) | undefined;
  readonly maxBytes: number;
  /** Most blocks in one run: MAX_RUN_BLOCKS, or fewer so that a run is at most 1/4 of the cache. */
  private readonly maxRunBlocks: number;
  private readonly log: Logger;
  private readonly lock: DirLock;
  private readonly tmpPrefix = randomBytes(4).toString('hex');
  private tmpSeq = 0;

  private readonly index: BlockIndex;
  /** Unlinks in progress, by run id (the file). */
  private readonly deleting = new Map<string, Promise<boolean>>();
  /** Writes and unlinks in progress (settle, close). */
  private readonly inflight = new Set<Promise<unknown>>();
  /** Bytes on disk or reserved: ready runs, writes in progress, unlinks in progress. */
  private used = 0;
  /** Bytes in `used` whose unlink is in progress and that go back to the pool when it ends. */
  private releasing = 0;
  private closed = false;
  private readonly warnings: RateLimit;

  private hits = 0;
  private misses = 0;
  private evictions = 0;
  private writeFailures = 0;
  /** Blocks written with O_DIRECT, and O_DIRECT off for this cache (the file system refused it). */
  private directWrites = 0;
  private directOff = false;
  /** Aligned write buffers not in use, and how many exist (at most WRITE_BUFFERS). */
  private readonly freeWriteBufs: Buffer[] = [];
  private writeBufs = 0;
  private refetches = 0;
  private noSpace = 0;
  private stuckBytes = 0;

  private constructor(opts: Required<Omit<BlockCacheOptions, 'log' | 'now' | 'alignedAlloc'>> & { log: Logger; now: () => number; lock: DirLock; alignedAlloc: BlockCacheOptions['alignedAlloc'] }) {
    this.dir = opts.dir;
    this.maxBytes = opts.maxBytes;
    this.blockSize = opts.blockSize;
    this.maxRunBlocks = Math.max(1, Math.min(MAX_RUN_BLOCKS, Math.floor(opts.maxBytes / opts.blockSize / 4)));
    this.alignedAlloc = opts.alignedAlloc;
    this.log = opts.log;
    this.lock = opts.lock;
    this.index = new BlockIndex(Math.max(16, Math.ceil(opts.maxBytes / opts.blockSize)));
    this.warnings = new RateLimit(WARN_INTERVAL_MS, opts.now);
  }

  /**
   * Open (or create) the cache in `dir`: take the directory lock, drop temp and partial files,
   * rebuild the index from the complete runs on disk, and evict down to maxBytes if needed.
   */
  static async open(opts: BlockCacheOptions): Promise<BlockCache> {
    const blockSize = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
    if (!Number.isSafeInteger(blockSize) || blockSize < 1 || blockSize > 2 ** 30) {
      throw new RangeError(`blockSize must be an integer within 1..${2 ** 30}, not ${blockSize}`);
    }
    if (!(Number.isFinite(opts.maxBytes) && opts.maxBytes >= 0)) throw new RangeError(`maxBytes must be a number >= 0, not ${opts.maxBytes}`);
    const log = opts.log ?? silentLogger();
    await mkdir(opts.dir, { recursive: true });
    const { lock, replacedStale } = await DirLock.acquire(opts.dir);
    try {
      if (replacedStale) log.info({ dir: opts.dir, pid: replacedStale.pid }, 'block cache: took over the lock of a process that is gone');
      const cache = new BlockCache({ dir: opts.dir, maxBytes: Math.floor(opts.maxBytes), blockSize, log, now: opts.now ?? Date.now, lock, alignedAlloc: opts.alignedAlloc });
      await cache.load();
      return cache;
    } catch (e) {
      await lock.release();
      throw e;
    }
  }

  private async load(): Promise<void> {
    const control = join(this.dir, CONTROL_FILE);
    const wanted = { format: CACHE_FORMAT, blockSize: this.blockSize };
    const found = await readFile(control, 'utf8').then(
      (s) => JSON.parse(s) as unknown,
      () => undefined,
    );
    const f = found as Partial<typeof wanted> | undefined;
    if (found === undefined) {
      const foreign = (await readdir(this.dir)).filter((n) => n !== 'lock' && n !== `${CONTROL_FILE}.new`);
      if (foreign.length > 0) throw new Error(`${this.dir} is not empty and is not an objfs block cache (no ${CONTROL_FILE}); refusing to use it`);
    }
    if (f?.format !== wanted.format || f.blockSize !== wanted.blockSize) {
      if (found !== undefined) this.log.info({ dir: this.dir, found, wanted }, 'block cache: format or block size changed; emptying the cache');
      await removePath(join(this.dir, BLOCKS_DIR));
      await writeFile(`${control}.new`, JSON.stringify(wanted));
      await rename(`${control}.new`, control);
    }
    await removePath(join(this.dir, TMP_DIR));
    await mkdir(join(this.dir, TMP_DIR), { recursive: true });
    await mkdir(join(this.dir, BLOCKS_DIR), { recursive: true });

    const scan = await scanRuns(this.dir, this.blockSize);
    scan.runs.sort((a, b) => a.mtimeMs - b.mtimeMs);
    const B = this.blockSize;
    for (const s of scan.runs) {
      const n = s.crcs.length;
      const sizes = s.crcs.map((_, k) => (k < n - 1 ? B : s.size - (n - 1) * B));
      this.index.add(newRun(s.keyHash, s.etagHash, runFileName(s.etagHash, s.first, s.crcs), s.first, sizes, s.crcs, 'ready'));
      this.used += s.size;
    }
    const before = { blocks: this.index.readyCount, runs: this.index.readyRuns, bytes: this.used };
    // The limit was lowered since the last run: evict the oldest down to it before serving.
    let after = this.used;
    let evicted = 0;
    for (const r of [...this.index.leastRecentlyUsed()]) {
      if (after <= this.maxBytes) break;
      after -= r.size;
      this.drop(r);
      evicted += r.blocks.length;
    }
    this.evictions += evicted;
    await Promise.all([...this.deleting.values()]);
    this.log.info(
      { dir: this.dir, blocks: this.index.readyCount, runs: this.index.readyRuns, bytes: this.used, maxBytes: this.maxBytes, removed: scan.removed, evicted, found: before },
      'block cache opened',
    );
  }

  // -------------------------------------------------------------------------------------------

  /**
   * Whether every block covering bytes [start, end) of this version is on disk now (a read of
   * them costs a local read, not a request). Synchronous and side-effect free: no LRU touch, no
   * counters. The answer can be stale a moment later (eviction); a read then simply misses.
   */
  hasRange(key: string, etag: string, start: number, end: number): boolean {
    if (this.closed || end <= start) return false;
    const kh = hashKey(key);
    const eh = hashEtag(etag);
    for (let i = Math.floor(start / this.blockSize); i * this.blockSize < end; i++) {
      if (this.index.lookup(kh, eh, i)?.run.state !== 'ready') return false;
    }
    return true;
  }

  /** The whole block if it is cached under this ETag (verified), else undefined. */
  get(key: string, etag: string, index: number): Promise<Buffer | undefined> {
    return this.read(key, etag, index, 0, undefined);
  }

  /**
   * Bytes [offset, offset + length) of a cached block (default: to its end), or undefined when
   * the block is not cached under this ETag or is shorter. Reads only the block's part of its
   * run's file. A whole-block read always checks the block's CRC. A partial read checks it the
   * first time a block found on disk at open is read (it reads the block whole then);
   * afterwards, and for blocks this process wrote, it reads only the requested bytes: files never
   * change once in place, so small reads of big blocks stay cheap. A block that fails the check
   * or cannot be read drops its whole run (its other blocks miss from then on).
   */
  async read(key: string, etag: string, index: number, offset: number, length: number | undefined): Promise<Buffer | undefined> {
    if (this.closed || !validIndex(index)) return undefined;
    const kh = hashKey(key);
    const eh = hashEtag(etag);
    this.dropStale(kh, eh, true);
    const b = this.index.lookup(kh, eh, index);
    const len = length ?? (b === undefined ? 0 : b.size - offset);
    if (b === undefined || b.run.state !== 'ready' || !(offset >= 0 && len > 0 && offset + len <= b.size)) {
      this.misses++;
      if (b === undefined && this.index.wasEvicted(`${kh}/${eh}-${index}`)) {
        this.refetches++;
        this.warnTooSmall('blocks are evicted and then needed again (thrashing)');
      }
      return undefined;
    }
    const run = b.run;
    this.index.touch(run);
    const whole = !b.verified || (offset === 0 && len === b.size);
    let data: Buffer;
    try {
      data = whole ? await readRange(this.pathOf(run), b.offset, b.size) : await readRange(this.pathOf(run), b.offset + offset, len);
    } catch (e) {
      this.misses++;
      // Evicted while we read: an ordinary miss. Still indexed: the file went missing or is unreadable.
      if (run.state === 'ready') {
        this.log.warn({ dir: this.dir, run: run.id, block: b.index, err: e }, 'block cache: cannot read a cached block; dropping its run');
        this.drop(run);
      }
      return undefined;
    }
    if (whole) {
      if (data.length !== b.size || crc32(data) !== b.crc) {
        this.misses++;
        if (run.state === 'ready') {
          this.log.warn({ dir: this.dir, run: run.id, block: b.index, size: data.length, expected: b.size }, 'block cache: cached block is corrupt; dropping its run');
          this.drop(run);
        }
        return undefined;
      }
      b.verified = true;
      if (offset !== 0 || len !== b.size) data = data.subarray(offset, offset + len);
    } else if (data.length !== len) {
      this.misses++;
      if (run.state === 'ready') {
        this.log.warn({ dir: this.dir, run: run.id, block: b.index, size: data.length, expected: len }, 'block cache: cached block is short; dropping its run');
        this.drop(run);
      }
      return undefined;
    }
    this.hits++;
    return data;
  }

  /** Cache one block: putRun of a run of one. */
  put(key: string, etag: string, index: number, data: Buffer): Promise<boolean> {
    return this.putRun(key, etag, index, [data]);
  }

  /**
   * Cache consecutive blocks first, first + 1, ... of one version (typically the blocks of one
   * GET), stored together as one run file, or several: blocks already cached or being written
   * are skipped (touched, or their write joined), the rest is split into the stretches of
   * missing blocks, each at most maxRunBlocks long, and each stretch is written as its own run.
   * Every block but the last must be exactly blockSize, the last 1..blockSize bytes (only an
   * object's last block is short). Resolves true once every block is on disk (or already was),
   * false when some block was not cached: invalid arguments, no space could be made, a write
   * failed, or a run was invalidated meanwhile. Never rejects. The buffers must not be modified
   * until the promise settles.
   */
  async putRun(key: string, etag: string, first: number, blocks: readonly Buffer[]): Promise<boolean> {
    const n = blocks.length;
    if (this.closed || n === 0 || !validIndex(first) || !validIndex(first + n - 1)) return false;
    for (let k = 0; k < n; k++) {
      const len = blocks[k]!.length;
      if (len === 0 || len > this.blockSize || (k < n - 1 && len !== this.blockSize)) return false;
    }
    const kh = hashKey(key);
    const eh = hashEtag(etag);
    this.dropStale(kh, eh, false);
    const results: Promise<boolean>[] = [];
    let from = 0; // blocks before `from` are decided: cached, joined, or being written by this put
    for (let waits = 0; from < n; ) {
      if (this.closed) return false;
      const existing = this.index.lookup(kh, eh, first + from);
      if (existing !== undefined) {
        const run = existing.run;
        if (run.state === 'ready') {
          this.index.touch(run);
          from++;
        } else if (!run.doomed) {
          results.push(run.done ?? Promise.resolve(false)); // the same block is being written
          from++;
        } else {
          await run.done; // a doomed write of this block: let it leave first
        }
        continue;
      }
      let to = from + 1;
      while (to < n && to - from < this.maxRunBlocks && this.index.lookup(kh, eh, first + to) === undefined) to++;
      const r = this.startWrite(kh, eh, first + from, blocks.slice(from, to), waits < MAX_SPACE_WAITS);
      if (r === 'wait') {
        // The space is held by files being deleted: wait for one to go, then decide again.
        waits++;
        await Promise.race(this.deleting.values());
        continue;
      }
      results.push(r);
      from = to;
    }
    return (await Promise.all(results)).every(Boolean);
  }

  /** Mark (key, etag) in use: its runs are never evicted until every returned unpin is called. */
  pin(key: string, etag: string): () => void {
    const kh = hashKey(key);
    const eh = hashEtag(etag);
    this.index.pin(kh, eh);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (this.index.unpin(kh, eh) > 0) return;
      const ks = this.index.key(kh);
      if (ks?.current !== undefined && ks.current !== eh) this.dropEtag(ks, eh);
    };
  }

  /**
   * Drop every run of `key` (any ETag, pinned or not). The index changes at once (later gets
   * miss); the promise resolves when the files are gone.
   */
  async invalidate(key: string): Promise<void> {
    const ks = this.index.key(hashKey(key));
    if (ks === undefined) return;
    ks.current = undefined;
    const waits: Promise<unknown>[] = [];
    for (const eh of [...ks.byEtag.keys()]) waits.push(...this.dropEtag(ks, eh));
    await Promise.all(waits);
  }

  stats(): BlockCacheStats {
    return {
      bytes: this.used,
      blocks: this.index.readyCount,
      runs: this.index.readyRuns,
      maxBytes: this.maxBytes,
      hits: this.hits,
      misses: this.misses,
      evictions: this.evictions,
      writeFailures: this.writeFailures,
      noSpace: this.noSpace,
      refetches: this.refetches,
      stuckBytes: this.stuckBytes,
      directWrites: this.directWrites,
    };
  }

  /** Resolves when no write or deletion is in progress (tests, orderly shutdown). */
  async settle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }

  /** Finish writes and deletions in progress, then release the directory. Idempotent. */
  async close(): Promise<void> {
    const first = !this.closed;
    this.closed = true;
    await this.settle();
    if (first) this.log.info({ dir: this.dir, ...this.stats() }, 'block cache closed');
    await this.lock.release();
  }

  // -------------------------------------------------------------------------------------------

  /**
   * Reserve space for a run of `blocks` (claiming victims) and start writing it, all before the
   * first await. 'wait' (only when `mayWait`): not enough space now, but enough once pending
   * deletions finish.
   */
  private startWrite(kh: string, eh: string, first: number, blocks: Buffer[], mayWait: boolean): Promise<boolean> | 'wait' {
    let size = 0;
    for (const b of blocks) size += b.length;
    if (size > this.maxBytes) {
      this.noSpace++;
      this.warnTooSmall(`a block of ${size} bytes is larger than the whole cache`); // runs are at most 1/4 of it: a single block
      return Promise.resolve(false);
    }
    // Synchronous: decide, reserve, claim victims.
    const take = Math.min(Math.max(this.maxBytes - this.used, 0), size);
    const victims: Run[] = [];
    let claimed = 0;
    if (take < size) {
      for (const v of this.index.leastRecentlyUsed()) {
        if (this.index.isPinned(v.keyHash, v.etagHash)) continue;
        victims.push(v);
        claimed += v.size;
        if (take + claimed >= size) break;
      }
      if (take + claimed < size) {
        if (mayWait && this.releasing > 0 && this.deleting.size > 0 && take + claimed + this.releasing >= size) return 'wait';
        this.noSpace++;
        this.warnTooSmall('no space can be freed (it is held by blocks of open files and by writes in progress)');
        return Promise.resolve(false);
      }
    }
    const crcs = blocks.map((b) => crc32(b));
    const run = newRun(
      kh,
      eh,
      runFileName(eh, first, crcs),
      first,
      blocks.map((b) => b.length),
      crcs,
      'writing',
    );
    this.used += take;
    const unlinks = victims.map((v) => {
      this.index.remove(v);
      this.evictions += v.blocks.length;
      for (const b of v.blocks) this.index.rememberEvicted(b.id);
      return this.unlinkRun(v, false);
    });
    this.index.add(run);
    run.done = this.track(this.finishWrite(run, blocks, take, victims, unlinks));
    return run.done;
  }

  private async finishWrite(run: Run, blocks: Buffer[], take: number, victims: Run[], unlinks: Promise<boolean>[]): Promise<boolean> {
    let held = take;
    const gone = await Promise.all(unlinks);
    victims.forEach((v, i) => {
      if (gone[i]) held += v.size; // else: stuck on disk, stays counted (unlinkRun did it)
    });
    if (held < run.size || run.doomed) {
      this.used -= held;
      this.index.remove(run);
      if (!run.doomed) this.writeFailures += run.blocks.length;
      return false;
    }
    this.used -= held - run.size; // keep exactly run.size
    await this.deleting.get(run.id); // an unlink of this very file still pending

    const tmp = join(this.dir, TMP_DIR, `${this.tmpPrefix}-${++this.tmpSeq}`);
    try {
      await this.writeRun(tmp, blocks);
      await this.renameIntoPlace(tmp, run);
    } catch (e) {
      const removed = await unlinkIfExists(tmp).then(
        () => true,
        () => false,
      );
      if (removed) this.used -= run.size;
      else this.stuckBytes += run.size;
      this.index.remove(run);
      this.writeFailures += run.blocks.length;
      this.logWriteFailure(e, run);
      return false;
    }
    if (run.doomed) {
      this.index.remove(run);
      void this.unlinkRun(run, true);
      return false;
    }
    this.index.markReady(run);
    return true;
  }

  /**
   * Create `tmp` holding the run's blocks back to back. With `alignedAlloc`, a run of whole 4 KiB
   * pages whose first block is at least DIRECT_MIN is copied into aligned write buffers and
   * written with O_DIRECT: the disk takes the bytes from those buffers instead of a copy into
   * page-cache pages (perf: that copy was ~20% of all CPU of a cold 1 GiB read through a mount;
   * the copy into the buffers costs a fraction). A run takes up to DIRECT_RUN_BUFFERS of the
   * WRITE_BUFFERS buffers (one block each) and, when it has more blocks, writes them in turns
   * through the same buffers (one writev per turn). While all buffers are busy a run is written
   * buffered, never queued: a queue would keep the blocks' response bodies in memory whenever
   * the disk is slower than the network (peak RSS 730 MB in a 1 GiB read when it waited). A run
   * with a short block that is not whole pages (an object's last) is written buffered. A file
   * system that refuses O_DIRECT (EINVAL) turns it off for this cache.
   */
  private async writeRun(tmp: string, blocks: readonly Buffer[]): Promise<void> {
    const alloc = this.alignedAlloc;
    const direct = alloc !== undefined && !this.directOff && blocks[0]!.length >= DIRECT_MIN && blocks.every((b) => b.length % DIRECT_ALIGN === 0 && b.length <= this.blockSize);
    const bufs = direct ? this.takeWriteBufs(alloc, Math.min(blocks.length, DIRECT_RUN_BUFFERS)) : [];
    if (bufs.length === 0) {
      await writeBuffered(tmp, blocks, 'wx');
      return;
    }
    try {
      let fh: FileHandle;
      try {
        fh = await open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_DIRECT, 0o644);
      } catch (e) {
        if (errCode(e) !== 'EINVAL') throw e;
        this.directOff = true;
        await writeBuffered(tmp, blocks, 'wx');
        return;
      }
      let refused = false;
      try {
        let pos = 0;
        for (let k = 0; k < blocks.length; k += bufs.length) {
          const iov = blocks.slice(k, k + bufs.length).map((b, j) => {
            b.copy(bufs[j]!);
            return bufs[j]!.subarray(0, b.length);
          });
          await writevAll(fh, iov, pos);
          for (const v of iov) pos += v.length;
        }
      } catch (e) {
        if (errCode(e) !== 'EINVAL') throw e;
        refused = true;
      } finally {
        await fh.close();
      }
      if (refused) {
        this.directOff = true; // accepted at open, refused at write: buffered from now on
        await writeBuffered(tmp, blocks, 'w'); // a new descriptor: the O_DIRECT one would refuse again
        return;
      }
      this.directWrites += blocks.length;
    } finally {
      for (const b of bufs) this.freeWriteBufs.push(b);
    }
  }

  /** Up to `n` aligned write buffers: free ones, then new ones while fewer than WRITE_BUFFERS exist. */
  private takeWriteBufs(alloc: (size: number) => Buffer, n: number): Buffer[] {
    const out: Buffer[] = [];
    while (out.length < n) {
      const free = this.freeWriteBufs.pop();
      if (free) out.push(free);
      else if (this.writeBufs < WRITE_BUFFERS) {
        this.writeBufs++;
        out.push(alloc(this.blockSize));
      } else break;
    }
    return out;
  }

  private async renameIntoPlace(tmp: string, run: Run): Promise<void> {
    const dir = keyDirOf(this.dir, run.keyHash);
    const final = join(dir, run.name);
    for (let attempt = 0; ; attempt++) {
      try {
        await rename(tmp, final);
        return;
      } catch (e) {
        // The key directory is missing (first run of the key, or removed by a cleanup racing us).
        if (errCode(e) !== 'ENOENT' || attempt >= 3) throw e;
        await mkdir(dir, { recursive: true });
      }
    }
  }

  /**
   * Delete a run's file (the run is already out of the index). `release`: give its bytes back
   * when the file is gone; otherwise the caller (a put that claimed it) takes them over. Resolves
   * true when the file is gone; a file that cannot be deleted stays counted as stuck.
   */
  private unlinkRun(run: Run, release: boolean): Promise<boolean> {
    const me: { p?: Promise<boolean> } = {};
    const prev = this.deleting.get(run.id);
    if (release) this.releasing += run.size;
    me.p = this.track(
      (async () => {
        await prev;
        let ok = true;
        try {
          await unlinkIfExists(this.pathOf(run));
        } catch (e) {
          ok = false;
          this.stuckBytes += run.size;
          this.log.error({ dir: this.dir, run: run.id, err: e }, 'block cache: cannot delete a run file; its space stays counted');
        }
        if (release) this.releasing -= run.size;
        if (ok && release) this.used -= run.size;
        if (this.deleting.get(run.id) === me.p) this.deleting.delete(run.id);
        if (ok && this.index.key(run.keyHash) === undefined) await rmdir(keyDirOf(this.dir, run.keyHash)).catch(() => undefined);
        return ok;
      })(),
    );
    this.deleting.set(run.id, me.p);
    return me.p;
  }

  /** Remove a run from the index and delete its file (a writing run is doomed instead). */
  private drop(run: Run): Promise<boolean> | undefined {
    if (run.state === 'writing') {
      run.doomed = true;
      return undefined;
    }
    if (run.state !== 'ready') return undefined;
    this.index.remove(run);
    return this.unlinkRun(run, true);
  }

  /**
   * A get or put for (kh, eh) makes eh the key's current version and drops the runs of other,
   * unpinned ETags. Exception: a get of a pinned ETag that is not current is an open file still
   * reading its own (older) version; it changes nothing.
   */
  private dropStale(kh: string, eh: string, fromGet: boolean): void {
    const ks = this.index.key(kh);
    if (ks === undefined || ks.current === eh) return;
    if (fromGet && ks.current !== undefined && this.index.isPinned(kh, eh)) return;
    ks.current = eh;
    if (ks.byEtag.size === 0 || (ks.byEtag.size === 1 && ks.byEtag.has(eh))) return;
    for (const other of [...ks.byEtag.keys()]) {
      if (other !== eh && !this.index.isPinned(kh, other)) this.dropEtag(ks, other);
    }
  }

  private dropEtag(ks: KeyState, eh: string): Promise<boolean>[] {
    const waits: Promise<boolean>[] = [];
    for (const r of this.index.runsOf(ks, eh)) {
      const p = this.drop(r);
      if (p) waits.push(p);
    }
    return waits;
  }

  private pathOf(run: Run): string {
    return join(keyDirOf(this.dir, run.keyHash), run.name);
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    const untrack = (): void => {
      this.inflight.delete(p);
    };
    p.then(untrack, untrack);
    return p;
  }

  private warnTooSmall(reason: string): void {
    const suppressed = this.warnings.allow('too-small');
    if (suppressed === undefined) return;
    const { bytes, blocks, evictions, refetches } = this.stats();
    this.log.warn(
      { dir: this.dir, maxBytes: this.maxBytes, bytes, blocks, pinnedObjects: this.index.pinnedCount, evictions, refetches, suppressed },
      `block cache too small / thrashing: ${reason}; consider a larger cache size`,
    );
  }

  private logWriteFailure(e: unknown, run: Run): void {
    const code = errCode(e) ?? 'unknown';
    const suppressed = this.warnings.allow(`write-${code}`);
    if (suppressed === undefined) return;
    const full = code === 'ENOSPC' || code === 'EDQUOT';
    this.log.warn(
      { dir: this.dir, run: run.id, blocks: run.blocks.length, code, err: e, suppressed, writeFailures: this.writeFailures },
      full ? 'block cache: disk full; block not cached (reads go to the store)' : 'block cache: cannot write a block; not cached (reads go to the store)',
    );
  }
}

/** Create `path` (open `flag`) holding `blocks` back to back, through the page cache. */
async function writeBuffered(path: string, blocks: readonly Buffer[], flag: 'wx' | 'w'): Promise<void> {
  if (blocks.length === 1) {
    await writeFile(path, blocks[0]!, { flag });
    return;
  }
  const fh = await open(path, flag);
  try {
    await writevAll(fh, blocks, 0);
  } finally {
    await fh.close();
  }
}
