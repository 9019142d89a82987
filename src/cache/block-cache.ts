/**
 * BlockCache: a disk cache of fixed-size blocks of object data (default 1 MiB), keyed by
 * (object key, ETag, block index), with a hard size limit and LRU eviction. It knows nothing of
 * files or inodes (it never imports src/vfs); cached-reader.ts reads objects through it.
 *
 * Design
 * - The in-memory index (block-index.ts) is the source of truth; the disk only mirrors it (layout
 *   in block-files.ts). It holds ready blocks in LRU order and blocks being written, so a second
 *   put of the same block joins the first and a get of it misses.
 * - Validation by ETag: blocks are stored and found under their ETag, so a get never returns a
 *   block of another version. A get or put for (key, E) takes E as the key's current version and
 *   drops the key's blocks of every other ETag, except blocks of a pinned (key, ETag) (an open
 *   file reading its version): those go when it is unpinned, and a get of such a pinned older
 *   ETag does not change the current one. invalidate(key) drops every block of the key.
 * - Atomic files: a block is written to tmp/ and renamed into place, and each file name carries
 *   the CRC-32 of its bytes, checked on every whole-block read and on the first read of a block
 *   found at open (see read()). A reader therefore gets the whole block or a miss, never a
 *   partial or stale one. open() deletes tmp/ and anything under blocks/ that is
 *   not a complete block, and rebuilds the index (LRU order from file mtimes). It refuses a
 *   non-empty directory that is not a cache (no control file), so it never deletes foreign data.
 * - Size limit: `used` counts every byte the cache may have on disk: ready blocks, reservations
 *   of writes in progress (temp files are never larger), and files whose unlink has not finished
 *   yet. A put reserves its bytes synchronously, before its first await, and never writes unless
 *   the reservation fits: used <= maxBytes holds at every moment, and so does the sum of the file
 *   sizes under blocks/ and tmp/. When the free space is short, the put claims least recently used
 *   unpinned blocks as victims (removed from the index at once, so no one else reads or claims
 *   them), waits for their unlinks, and only then writes: their bytes pass to the put instead of
 *   going back to the pool, so a concurrent put cannot take them in between. When the space is
 *   only held by deletions in progress (dropped versions, invalidations), a put waits for them
 *   (a few times at most) instead of giving up.
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
 *   stretch before it made private to the caller (a "writing" block, claimed victims).
 * - A block id is never written while an unlink of the same id is pending (`deleting`), so a
 *   late unlink cannot remove a newer file.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rmdir, writeFile, type FileHandle } from 'node:fs/promises';
import { writeAll } from '../util/write-all.js';
import { readRange } from '../util/read-range.js';
import { join } from 'node:path';
import { silentLogger, type Logger } from '../util/logger.js';
import {
  BLOCKS_DIR,
  CACHE_FORMAT,
  CONTROL_FILE,
  TMP_DIR,
  blockFileName,
  crc32,
  errCode,
  hashEtag,
  hashKey,
  keyDirOf,
  removePath,
  scanBlocks,
  unlinkIfExists,
} from './block-files.js';
import { BlockIndex, RateLimit, newBlock, type Block, type KeyState } from './block-index.js';
import { DirLock } from './dir-lock.js';

export const DEFAULT_BLOCK_SIZE = 1024 * 1024;
const WARN_INTERVAL_MS = 60_000;
/**
 * O_DIRECT needs lengths (and memory) aligned to the logical block size; 4 KiB covers every disk.
 * Smaller blocks (small objects) are written buffered: a direct write waits for the disk, which
 * only pays for large writes (128 KiB direct writes were slower than buffered ones here).
 */
const DIRECT_ALIGN = 4096;
const DIRECT_MIN = 512 * 1024;
/** Aligned buffers for O_DIRECT block writes (of blockSize each): writes in parallel at most. */
const WRITE_BUFFERS = 8;
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
   * Page-aligned memory (the native addon's alignedBuffer). With it, blocks of whole 4 KiB pages
   * are copied into one of WRITE_BUFFERS aligned buffers and written with O_DIRECT; without it
   * every block is written through the page cache.
   */
  alignedAlloc?: (size: number) => Buffer;
}

export interface BlockCacheStats {
  /** Bytes on disk or reserved for writes in progress (never above maxBytes). */
  bytes: number;
  /** Complete blocks in the cache. */
  blocks: number;
  maxBytes: number;
  hits: number;
  misses: number;
  evictions: number;
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
  private readonly log: Logger;
  private readonly lock: DirLock;
  private readonly tmpPrefix = randomBytes(4).toString('hex');
  private tmpSeq = 0;

  private readonly index: BlockIndex;
  /** Unlinks in progress, by block id. */
  private readonly deleting = new Map<string, Promise<boolean>>();
  /** Writes and unlinks in progress (settle, close). */
  private readonly inflight = new Set<Promise<unknown>>();
  /** Bytes on disk or reserved: ready blocks, writes in progress, unlinks in progress. */
  private used = 0;
  /** Bytes in `used` whose unlink is in progress and that go back to the pool when it ends. */
  private releasing = 0;
  private closed = false;
  private readonly warnings: RateLimit;

  private hits = 0;
  private misses = 0;
  private evictions = 0;
  private writeFailures = 0;
  /** O_DIRECT block writes: done, and off for this cache (the file system refused O_DIRECT). */
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
    this.alignedAlloc = opts.alignedAlloc;
    this.log = opts.log;
    this.lock = opts.lock;
    this.index = new BlockIndex(Math.max(16, Math.ceil(opts.maxBytes / opts.blockSize)));
    this.warnings = new RateLimit(WARN_INTERVAL_MS, opts.now);
  }

  /**
   * Open (or create) the cache in `dir`: take the directory lock, drop temp and partial files,
   * rebuild the index from the complete blocks on disk, and evict down to maxBytes if needed.
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

    const scan = await scanBlocks(this.dir);
    scan.blocks.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const s of scan.blocks) {
      this.index.add(newBlock(s.keyHash, s.etagHash, s.index, s.size, s.crc, 'ready'));
      this.used += s.size;
    }
    const before = { blocks: this.index.readyCount, bytes: this.used };
    // The limit was lowered since the last run: evict the oldest down to it before serving.
    let after = this.used;
    let evicted = 0;
    for (const b of [...this.index.leastRecentlyUsed()]) {
      if (after <= this.maxBytes) break;
      after -= b.size;
      this.drop(b);
      evicted++;
    }
    this.evictions += evicted;
    await Promise.all([...this.deleting.values()]);
    this.log.info(
      { dir: this.dir, blocks: this.index.readyCount, bytes: this.used, maxBytes: this.maxBytes, removed: scan.removed, evicted, found: before },
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
      if (this.index.lookup(kh, eh, i)?.state !== 'ready') return false;
    }
    return true;
  }

  /** The whole block if it is cached under this ETag (verified), else undefined. */
  get(key: string, etag: string, index: number): Promise<Buffer | undefined> {
    return this.read(key, etag, index, 0, undefined);
  }

  /**
   * Bytes [offset, offset + length) of a cached block (default: to its end), or undefined when
   * the block is not cached under this ETag or is shorter. A whole-block read always checks the
   * CRC. A partial read checks it the first time a block found on disk at open is read (it reads
   * the block whole then); afterwards, and for blocks this process wrote, it reads only the
   * requested bytes: files never change once in place, so small reads of big blocks stay cheap.
   */
  async read(key: string, etag: string, index: number, offset: number, length: number | undefined): Promise<Buffer | undefined> {
    if (this.closed || !validIndex(index)) return undefined;
    const kh = hashKey(key);
    const eh = hashEtag(etag);
    this.dropStale(kh, eh, true);
    const b = this.index.lookup(kh, eh, index);
    const len = length ?? (b === undefined ? 0 : b.size - offset);
    if (b === undefined || b.state !== 'ready' || !(offset >= 0 && len > 0 && offset + len <= b.size)) {
      this.misses++;
      if (b === undefined && this.index.wasEvicted(`${kh}/${eh}-${index}`)) {
        this.refetches++;
        this.warnTooSmall('blocks are evicted and then needed again (thrashing)');
      }
      return undefined;
    }
    this.index.touch(b);
    const whole = !b.verified || (offset === 0 && len === b.size);
    let data: Buffer;
    try {
      data = whole ? await readFile(this.pathOf(b)) : await readRange(this.pathOf(b), offset, len);
    } catch (e) {
      this.misses++;
      // Evicted while we read: an ordinary miss. Still indexed: the file went missing or is unreadable.
      if (b.state === 'ready') {
        this.log.warn({ dir: this.dir, block: b.id, err: e }, 'block cache: cannot read a cached block; dropping it');
        this.drop(b);
      }
      return undefined;
    }
    if (whole) {
      if (data.length !== b.size || crc32(data) !== b.crc) {
        this.misses++;
        if (b.state === 'ready') {
          this.log.warn({ dir: this.dir, block: b.id, size: data.length, expected: b.size }, 'block cache: cached block is corrupt; dropping it');
          this.drop(b);
        }
        return undefined;
      }
      b.verified = true;
      if (offset !== 0 || len !== b.size) data = data.subarray(offset, offset + len);
    } else if (data.length !== len) {
      this.misses++;
      if (b.state === 'ready') {
        this.log.warn({ dir: this.dir, block: b.id, size: data.length, expected: len }, 'block cache: cached block is short; dropping it');
        this.drop(b);
      }
      return undefined;
    }
    this.hits++;
    return data;
  }

  /**
   * Cache a block. Resolves true once it is on disk (or already was), false when it was not
   * cached: no space could be made, the write failed, or the block was invalidated meanwhile.
   * Never rejects. `data` must not be modified until the promise settles.
   */
  async put(key: string, etag: string, index: number, data: Buffer): Promise<boolean> {
    if (this.closed || !validIndex(index) || data.length === 0) return false;
    const kh = hashKey(key);
    const eh = hashEtag(etag);
    this.dropStale(kh, eh, false);
    for (let attempt = 0; ; attempt++) {
      if (this.closed) return false;
      const existing = this.index.lookup(kh, eh, index);
      if (existing?.state === 'ready') {
        this.index.touch(existing);
        return true;
      }
      if (existing !== undefined && !existing.doomed) return existing.done ?? false; // the same block is being written
      if (existing !== undefined) {
        await existing.done; // a doomed write of this block: let it leave first
        continue;
      }
      const r = this.startWrite(kh, eh, index, data, attempt < MAX_SPACE_WAITS);
      if (r !== 'wait') return r;
      // The space is held by files being deleted: wait for one to go, then decide again.
      await Promise.race(this.deleting.values());
    }
  }

  /** Mark (key, etag) in use: its blocks are never evicted until every returned unpin is called. */
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
   * Drop every block of `key` (any ETag, pinned or not). The index changes at once (later gets
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
   * Reserve space (claiming victims) and start writing, all before the first await. 'wait' (only
   * when `mayWait`): not enough space now, but enough once pending deletions finish.
   */
  private startWrite(kh: string, eh: string, index: number, data: Buffer, mayWait: boolean): Promise<boolean> | 'wait' {
    const size = data.length;
    if (size > this.maxBytes) {
      this.noSpace++;
      this.warnTooSmall(`a block of ${size} bytes is larger than the whole cache`);
      return Promise.resolve(false);
    }
    // Synchronous: decide, reserve, claim victims.
    const take = Math.min(Math.max(this.maxBytes - this.used, 0), size);
    const victims: Block[] = [];
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
    const b = newBlock(kh, eh, index, size, crc32(data), 'writing');
    this.used += take;
    const unlinks = victims.map((v) => {
      this.index.remove(v);
      this.evictions++;
      this.index.rememberEvicted(v.id);
      return this.unlinkBlock(v, false);
    });
    this.index.add(b);
    b.done = this.track(this.finishWrite(b, data, take, victims, unlinks));
    return b.done;
  }

  private async finishWrite(b: Block, data: Buffer, take: number, victims: Block[], unlinks: Promise<boolean>[]): Promise<boolean> {
    let held = take;
    const gone = await Promise.all(unlinks);
    victims.forEach((v, i) => {
      if (gone[i]) held += v.size; // else: stuck on disk, stays counted (unlinkBlock did it)
    });
    if (held < b.size || b.doomed) {
      this.used -= held;
      this.index.remove(b);
      if (!b.doomed) this.writeFailures++;
      return false;
    }
    this.used -= held - b.size; // keep exactly b.size
    await this.deleting.get(b.id); // an unlink of this very block still pending

    const tmp = join(this.dir, TMP_DIR, `${this.tmpPrefix}-${++this.tmpSeq}`);
    try {
      await this.writeBlock(tmp, data);
      await this.renameIntoPlace(tmp, b);
    } catch (e) {
      const removed = await unlinkIfExists(tmp).then(
        () => true,
        () => false,
      );
      if (removed) this.used -= b.size;
      else this.stuckBytes += b.size;
      this.index.remove(b);
      this.writeFailures++;
      this.logWriteFailure(e, b);
      return false;
    }
    if (b.doomed) {
      this.index.remove(b);
      void this.unlinkBlock(b, true);
      return false;
    }
    this.index.markReady(b);
    return true;
  }

  /**
   * Create `tmp` holding `data`. With `alignedAlloc`, a block of at least DIRECT_MIN whose length
   * is a whole number of 4 KiB pages is copied into an aligned write buffer and written with
   * O_DIRECT: the disk takes the bytes from that buffer instead of a copy into page-cache pages (perf: that copy was ~20%
   * of all CPU of a cold 1 GiB read through a mount; the copy into the buffer costs a fraction).
   * At most WRITE_BUFFERS such writes run at once; while all buffers are busy a block is written
   * buffered, never queued: a queue would keep the blocks' response bodies in memory whenever
   * the disk is slower than the network (peak RSS 730 MB in a 1 GiB read when it waited).
   * A file system that refuses O_DIRECT (EINVAL) turns it off for this cache.
   */
  private async writeBlock(tmp: string, data: Buffer): Promise<void> {
    const alloc = this.alignedAlloc;
    const direct = alloc !== undefined && !this.directOff && data.length >= DIRECT_MIN && data.length % DIRECT_ALIGN === 0 && data.length <= this.blockSize;
    const buf = direct ? this.takeWriteBuf(alloc) : undefined;
    if (buf === undefined) {
      await writeFile(tmp, data, { flag: 'wx' });
      return;
    }
    try {
      data.copy(buf);
      let fh: FileHandle;
      try {
        fh = await open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_DIRECT, 0o644);
      } catch (e) {
        if (errCode(e) !== 'EINVAL') throw e;
        this.directOff = true;
        await writeFile(tmp, data, { flag: 'wx' });
        return;
      }
      let refused = false;
      try {
        await writeAll(fh, buf.subarray(0, data.length), 0);
      } catch (e) {
        if (errCode(e) !== 'EINVAL') throw e;
        refused = true;
      } finally {
        await fh.close();
      }
      if (refused) {
        this.directOff = true; // accepted at open, refused at write: buffered from now on
        await writeFile(tmp, data, { flag: 'w' }); // a new descriptor: the O_DIRECT one would refuse again
        return;
      }
      this.directWrites++;
    } finally {
      this.giveWriteBuf(buf);
    }
  }

  /** A free aligned write buffer, a new one while fewer than WRITE_BUFFERS exist, else undefined. */
  private takeWriteBuf(alloc: (size: number) => Buffer): Buffer | undefined {
    const free = this.freeWriteBufs.pop();
    if (free) return free;
    if (this.writeBufs >= WRITE_BUFFERS) return undefined;
    this.writeBufs++;
    return alloc(this.blockSize);
  }

  private giveWriteBuf(buf: Buffer): void {
    this.freeWriteBufs.push(buf);
  }

  private async renameIntoPlace(tmp: string, b: Block): Promise<void> {
    const dir = keyDirOf(this.dir, b.keyHash);
    const final = join(dir, blockFileName(b.etagHash, b.index, b.crc));
    for (let attempt = 0; ; attempt++) {
      try {
        await rename(tmp, final);
        return;
      } catch (e) {
        // The key directory is missing (first block of the key, or removed by a cleanup racing us).
        if (errCode(e) !== 'ENOENT' || attempt >= 3) throw e;
        await mkdir(dir, { recursive: true });
      }
    }
  }

  /**
   * Delete a block's file (the block is already out of the index). `release`: give its bytes back
   * when the file is gone; otherwise the caller (a put that claimed it) takes them over. Resolves
   * true when the file is gone; a file that cannot be deleted stays counted as stuck.
   */
  private unlinkBlock(b: Block, release: boolean): Promise<boolean> {
    const me: { p?: Promise<boolean> } = {};
    const prev = this.deleting.get(b.id);
    if (release) this.releasing += b.size;
    me.p = this.track(
      (async () => {
        await prev;
        let ok = true;
        try {
          await unlinkIfExists(this.pathOf(b));
        } catch (e) {
          ok = false;
          this.stuckBytes += b.size;
          this.log.error({ dir: this.dir, block: b.id, err: e }, 'block cache: cannot delete a block file; its space stays counted');
        }
        if (release) this.releasing -= b.size;
        if (ok && release) this.used -= b.size;
        if (this.deleting.get(b.id) === me.p) this.deleting.delete(b.id);
        if (ok && this.index.key(b.keyHash) === undefined) await rmdir(keyDirOf(this.dir, b.keyHash)).catch(() => undefined);
        return ok;
      })(),
    );
    this.deleting.set(b.id, me.p);
    return me.p;
  }

  /** Remove a block from the index and delete its file (a writing block is doomed instead). */
  private drop(b: Block): Promise<boolean> | undefined {
    if (b.state === 'writing') {
      b.doomed = true;
      return undefined;
    }
    if (b.state !== 'ready') return undefined;
    this.index.remove(b);
    return this.unlinkBlock(b, true);
  }

  /**
   * A get or put for (kh, eh) makes eh the key's current version and drops the blocks of other,
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
    const blocks = ks.byEtag.get(eh);
    if (blocks === undefined) return [];
    const waits: Promise<boolean>[] = [];
    for (const b of [...blocks.values()]) {
      const p = this.drop(b);
      if (p) waits.push(p);
    }
    return waits;
  }

  private pathOf(b: Block): string {
    return join(keyDirOf(this.dir, b.keyHash), blockFileName(b.etagHash, b.index, b.crc));
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

  private logWriteFailure(e: unknown, b: Block): void {
    const code = errCode(e) ?? 'unknown';
    const suppressed = this.warnings.allow(`write-${code}`);
    if (suppressed === undefined) return;
    const full = code === 'ENOSPC' || code === 'EDQUOT';
    this.log.warn(
      { dir: this.dir, block: b.id, code, err: e, suppressed, writeFailures: this.writeFailures },
      full ? 'block cache: disk full; block not cached (reads go to the store)' : 'block cache: cannot write a block; not cached (reads go to the store)',
    );
  }
}
