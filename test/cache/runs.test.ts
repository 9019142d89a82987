/**
 * Runs: consecutive blocks put together (putRun) are stored as one file and read back block by
 * block (whole and partial ranges); a long put is split into runs of at most 8 blocks (and at
 * most a quarter of the cache); a damaged block drops its whole run; restart finds runs, checks
 * their names and sizes, verifies CRCs on first read and resolves overlapping runs; LRU order and
 * eviction go by run; puts overlapping cached or in-flight blocks never write a block twice;
 * O_DIRECT runs through the shared aligned buffers; an old (one file per block) cache is emptied.
 */
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, truncateSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { BlockCache, type BlockCacheOptions } from '../../src/cache/block-cache.js';
import { CACHE_FORMAT, crc32, hashEtag, hashKey, parseRunName, runFileName } from '../../src/cache/block-files.js';
import { loadNative } from '../../src/fuse/native.js';
import { blockData, captureLogger, countingAlignedAlloc, diskBytes, flushLog, listFiles, tempDir } from './helpers.js';

const BS = 4096;
/** Blocks first..first+n-1 of `key`: `bs` bytes each, the last `lastLen`. */
const blocksOf = (key: string, first: number, n: number, lastLen = BS, version = 0, bs = BS): Buffer[] =>
  Array.from({ length: n }, (_, k) => blockData(key, first + k, k === n - 1 ? lastLen : bs, version));
/** The run files under blocks/ as [first, number of blocks] (from their names), sorted. */
const runsOnDisk = (dir: string): [number, number][] =>
  listFiles(dir, 'blocks')
    .map((f) => parseRunName(basename(f))!)
    .map((r): [number, number] => [r.first, r.crcs.length])
    .sort((a, b) => a[0] - b[0]);
/** The path of the run file of `key` starting at block `first`. */
const runFile = (dir: string, key: string, first: number): string => {
  const kh = hashKey(key);
  const f = listFiles(dir, 'blocks').find((n) => n.startsWith(`${kh.slice(0, 2)}/${kh}/`) && parseRunName(basename(n))?.first === first);
  assert.ok(f, `a run of ${key} at ${first}`);
  return join(dir, 'blocks', f);
};
const flipByte = (path: string, at: number): void => {
  const buf = readFileSync(path);
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.from([buf[at]! ^ 0x5a]), 0, 1, at);
  closeSync(fd);
};

describe('BlockCache runs', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function fresh(opts: Partial<BlockCacheOptions> = {}, dir?: string): Promise<{ cache: BlockCache; dir: string }> {
    let d = dir;
    if (d === undefined) {
      const t = tempDir();
      cleanups.push(t.cleanup);
      d = t.dir;
    }
    const cache = await BlockCache.open({ dir: d, maxBytes: 32 * BS, blockSize: BS, ...opts });
    cleanups.push(() => cache.close());
    return { cache, dir: d };
  }

  test('a run of 8 blocks is one file named by its first block and the CRC of each block; every block reads back exactly, whole and in parts', async () => {
    const { cache, dir } = await fresh();
    const blocks = blocksOf('k', 5, 8, 1234); // the object's short last block ends the run
    assert.equal(await cache.putRun('k', 'e', 5, blocks), true);
    const files = listFiles(dir, 'blocks');
    assert.equal(files.length, 1, 'one file for the whole run');
    const kh = hashKey('k');
    assert.equal(files[0], `${kh.slice(0, 2)}/${kh}/${runFileName(hashEtag('e'), 5, blocks.map((b) => crc32(b)))}`);
    assert.ok(files[0]!.split('/')[2]!.length < 150);
    assert.deepEqual(readFileSync(join(dir, 'blocks', files[0]!)), Buffer.concat(blocks), 'the blocks back to back');
    assert.deepEqual(diskBytes(dir), { bytes: 7 * BS + 1234, files: 1 });
    const s = cache.stats();
    assert.equal(s.blocks, 8);
    assert.equal(s.runs, 1);
    assert.equal(s.bytes, 7 * BS + 1234);
    assert.equal(cache.hasRange('k', 'e', 5 * BS, 12 * BS + 1234), true);
    assert.equal(cache.hasRange('k', 'e', 5 * BS, 13 * BS + 1), false, 'block 13 is not cached');
    assert.equal(cache.hasRange('k', 'e', 5 * BS - 1, 6 * BS), false, 'block 4 is not cached');
    for (let k = 0; k < 8; k++) {
      const b = blocks[k]!;
      assert.deepEqual(await cache.get('k', 'e', 5 + k), b, `block ${5 + k} whole`);
      for (const [off, len] of [[0, 1], [b.length - 1, 1], [100, 1000], [b.length - 17, 17]] as const) {
        assert.deepEqual(await cache.read('k', 'e', 5 + k, off, len), b.subarray(off, off + len), `block ${5 + k} ${off}+${len}`);
      }
      assert.equal(await cache.read('k', 'e', 5 + k, b.length - 1, 2), undefined, 'past the end of the block');
    }
    assert.equal(await cache.get('k', 'e', 4), undefined);
    assert.equal(await cache.get('k', 'e', 13), undefined);
  });

  test('a long put is split into runs of at most 8 blocks, and of at most a quarter of the cache', async () => {
    const { cache, dir } = await fresh({ maxBytes: 64 * BS });
    const blocks = blocksOf('k', 0, 20);
    assert.equal(await cache.putRun('k', 'e', 0, blocks), true);
    assert.deepEqual(runsOnDisk(dir), [[0, 8], [8, 8], [16, 4]]);
    for (let i = 0; i < 20; i++) assert.deepEqual(await cache.get('k', 'e', i), blocks[i]);
    const small = await fresh({ maxBytes: 12 * BS });
    assert.equal(await small.cache.putRun('k', 'e', 0, blocksOf('k', 0, 8)), true);
    assert.deepEqual(runsOnDisk(small.dir), [[0, 3], [3, 3], [6, 2]], '12 blocks of cache: runs of 3');
  });

  test('invalid runs are refused without writing: a short or oversized block before the last, an oversized last block, empty blocks, no blocks', async () => {
    const { cache, dir } = await fresh();
    assert.equal(await cache.putRun('k', 'e', 0, [blockData('k', 0, BS - 1), blockData('k', 1, BS)]), false);
    assert.equal(await cache.putRun('k', 'e', 0, [blockData('k', 0, BS + 1), blockData('k', 1, BS)]), false);
    assert.equal(await cache.putRun('k', 'e', 0, [blockData('k', 0, BS), blockData('k', 1, BS + 1)]), false);
    assert.equal(await cache.putRun('k', 'e', 0, [blockData('k', 0, BS), Buffer.alloc(0)]), false);
    assert.equal(await cache.putRun('k', 'e', 0, []), false);
    assert.equal(await cache.putRun('k', 'e', -1, [blockData('k', 0, BS)]), false);
    assert.equal(await cache.put('k', 'e', 0, blockData('k', 0, BS + 1)), false, 'a block larger than blockSize');
    assert.deepEqual(diskBytes(dir), { bytes: 0, files: 0 });
  });

  test('a damaged byte in the middle block of a run: that block is a miss, and the whole run is dropped (file deleted, bytes freed)', async () => {
    const { log, lines } = captureLogger();
    const { cache, dir } = await fresh({ log });
    const blocks = blocksOf('k', 0, 8);
    assert.equal(await cache.putRun('k', 'e', 0, blocks), true);
    assert.equal(await cache.putRun('other', 'e', 0, blocksOf('other', 0, 2)), true);
    flipByte(runFile(dir, 'k', 0), 4 * BS + 100); // block 4 of 0..7
    assert.deepEqual(await cache.get('k', 'e', 3), blocks[3], 'the damage is not in block 3');
    assert.equal(await cache.get('k', 'e', 4), undefined, 'the damaged block is a miss, never wrong bytes');
    for (let i = 0; i < 8; i++) assert.equal(cache.hasRange('k', 'e', i * BS, (i + 1) * BS), false, `block ${i} went with its run`);
    assert.equal(await cache.get('k', 'e', 5), undefined);
    await cache.settle();
    assert.deepEqual(diskBytes(dir), { bytes: 2 * BS, files: 1 }, 'only the other run is left');
    assert.equal(cache.stats().bytes, 2 * BS);
    assert.equal(cache.stats().blocks, 2);
    await flushLog();
    assert.equal(lines.filter((l) => l.msg.includes('corrupt')).length, 1);
    // A put of the same blocks writes the run again.
    assert.equal(await cache.putRun('k', 'e', 0, blocks), true);
    for (let i = 0; i < 8; i++) assert.deepEqual(await cache.get('k', 'e', i), blocks[i]);
  });

  test('restart: runs are found with their blocks, each block is verified by its CRC on first read', async () => {
    const { cache: c1, dir } = await fresh();
    const a = blocksOf('a', 0, 8);
    const b = blocksOf('b', 3, 3, 777);
    assert.equal(await c1.putRun('a', 'e', 0, a), true);
    assert.equal(await c1.putRun('b', 'e', 3, b), true);
    assert.equal(await c1.put('c', 'e', 0, blockData('c', 0, 10)), true);
    await c1.close();
    // Damage block 6 of a's run after the range read below (a power loss can leave such bytes).
    flipByte(runFile(dir, 'a', 0), 6 * BS + BS - 1);

    const { cache: c2 } = await fresh({}, dir);
    const s = c2.stats();
    assert.equal(s.runs, 3);
    assert.equal(s.blocks, 12);
    assert.equal(s.bytes, 8 * BS + 2 * BS + 777 + 10);
    assert.equal(s.hits + s.misses, 0);
    assert.deepEqual(await c2.read('a', 'e', 2, 10, 20), a[2]!.subarray(10, 30));
    assert.deepEqual(await c2.read('b', 'e', 5, 700, 77), b[2]!.subarray(700), 'the short last block');
    assert.deepEqual(await c2.get('b', 'e', 4), b[1]);
    assert.deepEqual(await c2.get('c', 'e', 0), blockData('c', 0, 10));
    assert.equal(await c2.read('a', 'e', 6, 0, 10), undefined, 'checked whole on its first read: the damage is found');
    assert.equal(await c2.get('a', 'e', 2), undefined, 'the run went with it');
    await c2.settle();
    assert.equal(c2.stats().runs, 2);
    assert.deepEqual(diskBytes(dir), { bytes: 2 * BS + 777 + 10, files: 2 });
  });

  test('restart removes run files whose size does not fit their CRC count; a short last block is a miss on read; of overlapping runs the newest stays', async () => {
    const { cache: c1, dir } = await fresh();
    for (const k of ['t', 'u', 'v']) assert.equal(await c1.putRun(k, 'e', 0, blocksOf(k, 0, 4)), true);
    await c1.close();
    truncateSync(runFile(dir, 't', 0), 3 * BS); // 3 blocks' bytes for 4 CRCs
    truncateSync(runFile(dir, 'u', 0), 3 * BS + 100); // the last block cut short: the size fits, the CRC will not
    // A stale run of v overlapping the live one (an unlink that failed): older, so it goes.
    const kv = hashKey('v');
    const vDir = join(dir, 'blocks', kv.slice(0, 2), kv);
    const stale = blocksOf('v', 2, 4, BS, 9);
    const stalePath = join(vDir, runFileName(hashEtag('e'), 2, stale.map((x) => crc32(x))));
    writeFileSync(stalePath, Buffer.concat(stale));
    const old = Date.now() / 1000 - 1000;
    utimesSync(stalePath, old, old);
    // Names that do not parse, too many CRCs, a leading zero.
    const eh = hashEtag('e');
    writeFileSync(join(vDir, `${eh}-10-${'0'.repeat(8)}.x`), 'x');
    writeFileSync(join(vDir, `${eh}-10-${Array(9).fill('00000000').join('.')}`), Buffer.alloc(9 * BS));
    writeFileSync(join(vDir, `${eh}-010-00000000`), Buffer.alloc(BS));

    const { cache: c2 } = await fresh({}, dir);
    assert.equal(c2.stats().runs, 2, 'u (size fits) and the newer v');
    assert.deepEqual(listFiles(dir, 'blocks').filter((f) => f.includes(kv)).length, 1);
    for (let i = 0; i < 4; i++) assert.equal(await c2.get('t', 'e', i), undefined);
    for (let i = 0; i < 4; i++) assert.deepEqual(await c2.get('v', 'e', i), blockData('v', i, BS), 'the newer v, not the stale one');
    assert.deepEqual(await c2.get('u', 'e', 0), blockData('u', 0, BS));
    assert.equal(await c2.read('u', 'e', 3, 0, 10), undefined, 'the cut block is checked whole and found short');
    await c2.settle();
    assert.deepEqual(diskBytes(dir), { bytes: 4 * BS, files: 1 });
    assert.equal(c2.stats().bytes, 4 * BS);
  });

  test('a cache of the old layout (format 1) is emptied at open', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    writeFileSync(join(t.dir, 'objfs-cache.json'), JSON.stringify({ format: 1, blockSize: BS }));
    const kh = hashKey('k');
    mkdirSync(join(t.dir, 'blocks', kh.slice(0, 2), kh), { recursive: true });
    writeFileSync(join(t.dir, 'blocks', kh.slice(0, 2), kh, runFileName(hashEtag('e'), 0, [crc32(blockData('k', 0, BS))])), blockData('k', 0, BS));
    const { cache } = await fresh({}, t.dir);
    assert.equal(cache.stats().blocks, 0);
    assert.deepEqual(diskBytes(t.dir), { bytes: 0, files: 0 });
    assert.equal(JSON.parse(readFileSync(join(t.dir, 'objfs-cache.json'), 'utf8')).format, CACHE_FORMAT);
  });

  test('LRU by run: a read of any block touches its run; eviction takes whole runs, counts their blocks and remembers them', async () => {
    const { cache, dir } = await fresh(); // 32 blocks
    for (const k of ['a', 'b', 'c', 'd']) assert.equal(await cache.putRun(k, 'e', 0, blocksOf(k, 0, 8)), true);
    assert.ok(await cache.read('a', 'e', 7, 0, 1), 'a is now the most recently used run; b the least');
    assert.equal(await cache.putRun('x', 'e', 0, blocksOf('x', 0, 2)), true);
    assert.equal(cache.stats().evictions, 8, 'all of b went for 2 blocks');
    assert.deepEqual(diskBytes(dir), { bytes: 26 * BS, files: 4 });
    for (let i = 0; i < 8; i++) assert.equal(await cache.get('b', 'e', i), undefined);
    assert.equal(cache.stats().refetches, 8, 'every block of the evicted run is remembered');
    for (let i = 0; i < 8; i++) assert.deepEqual(await cache.get('a', 'e', i), blockData('a', i, BS));
    // LRU now: c, d, x, a. A pinned run is skipped: with d pinned, four more runs take c, x, a and
    // the first of them, never d.
    const unpin = cache.pin('d', 'e');
    for (let n = 0; n < 4; n++) assert.equal(await cache.putRun(`y${n}`, 'e', 0, blocksOf(`y${n}`, 0, 8)), true, `y${n}`);
    for (let i = 0; i < 8; i++) assert.deepEqual(await cache.get('d', 'e', i), blockData('d', i, BS));
    for (const k of ['a', 'c', 'x', 'y0']) assert.equal(await cache.get(k, 'e', 0), undefined, k);
    assert.deepEqual(runsOnDisk(dir).length, 4);
    unpin();
    const s = cache.stats();
    assert.ok(s.bytes <= 32 * BS);
    assert.deepEqual(diskBytes(dir), { bytes: s.bytes, files: s.runs });
  });

  test('a run overlapping cached blocks writes only the missing ones; concurrent overlapping runs never write a block twice', async () => {
    const { cache, dir } = await fresh({ maxBytes: 64 * BS });
    assert.equal(await cache.putRun('k', 'e', 2, blocksOf('k', 2, 2)), true);
    assert.equal(await cache.put('k', 'e', 6, blockData('k', 6, BS)), true);
    const all = blocksOf('k', 0, 10);
    assert.equal(await cache.putRun('k', 'e', 0, all), true);
    assert.deepEqual(runsOnDisk(dir), [[0, 2], [2, 2], [4, 2], [6, 1], [7, 3]]);
    assert.deepEqual(diskBytes(dir), { bytes: 10 * BS, files: 5 });
    assert.equal(cache.stats().bytes, 10 * BS);
    assert.equal(cache.stats().blocks, 10);
    for (let i = 0; i < 10; i++) assert.deepEqual(await cache.get('k', 'e', i), all[i]);
    // All at once: each block is written by exactly one of the puts; the others join it.
    const puts = [cache.putRun('m', 'e', 0, blocksOf('m', 0, 8)), cache.putRun('m', 'e', 4, blocksOf('m', 4, 8)), cache.putRun('m', 'e', 2, blocksOf('m', 2, 3)), cache.put('m', 'e', 11, blockData('m', 11, BS))];
    assert.deepEqual(await Promise.all(puts), [true, true, true, true]);
    assert.deepEqual(runsOnDisk(dir).length, 5 + 2);
    assert.deepEqual(diskBytes(dir), { bytes: 22 * BS, files: 7 });
    assert.equal(cache.stats().bytes, 22 * BS);
    for (let i = 0; i < 12; i++) assert.deepEqual(await cache.get('m', 'e', i), blockData('m', i, BS));
  });

  test('a run being written is not served; one dropped while written (invalidate, new version) is deleted when it lands and a new put writes it again', async () => {
    const { cache, dir } = await fresh();
    const p = cache.putRun('k', 'e1', 0, blocksOf('k', 0, 4));
    assert.equal(cache.hasRange('k', 'e1', 0, BS), false);
    assert.equal(await cache.get('k', 'e1', 0), undefined);
    const inv = cache.invalidate('k');
    const again = cache.putRun('k', 'e1', 0, blocksOf('k', 0, 4));
    assert.equal(await p, false, 'the doomed write reports failure');
    assert.equal(await again, true);
    await inv;
    await cache.settle();
    assert.deepEqual(diskBytes(dir), { bytes: 4 * BS, files: 1 });
    const q = cache.putRun('k', 'e2', 4, blocksOf('k', 4, 4, BS, 2)); // a new version drops e1
    assert.equal(await q, true);
    await cache.settle();
    assert.deepEqual(runsOnDisk(dir), [[4, 4]]);
    assert.equal(cache.stats().bytes, 4 * BS);
  });

  test('with aligned memory, runs of whole pages go O_DIRECT through at most 8 buffers (2 per run, in turns), the rest buffered; a short unaligned last block makes the run buffered; all read back exact', async () => {
    const MiB = 1 << 20;
    const aligned = countingAlignedAlloc();
    const alignedAlloc = aligned.alloc;
    const { cache, dir } = await fresh({ blockSize: MiB, maxBytes: 128 * MiB, alignedAlloc });
    const a = blocksOf('a', 0, 8, MiB, 0, MiB);
    assert.equal(await cache.putRun('a', 'e', 0, a), true);
    assert.equal(cache.stats().directWrites, 8, `${dir} is on a disk file system that takes O_DIRECT`);
    assert.equal(aligned.count, 2);
    const b = blocksOf('b', 0, 5, MiB - 100, 0, MiB);
    assert.equal(await cache.putRun('b', 'e', 0, b), true);
    assert.equal(cache.stats().directWrites, 8, 'the run with an unaligned last block was written buffered');
    const c = blocksOf('c', 0, 3, 8192, 0, MiB);
    assert.equal(await cache.putRun('c', 'e', 0, c), true);
    assert.equal(cache.stats().directWrites, 11, 'a short last block of whole pages goes direct');
    const many = Array.from({ length: 8 }, (_, r) => blocksOf(`m${r}`, 0, 8, MiB, 0, MiB));
    assert.deepEqual(await Promise.all(many.map((bl, r) => cache.putRun(`m${r}`, 'e', 0, bl))), many.map(() => true));
    assert.ok(aligned.count <= 8, `${aligned.count} write buffers`);
    const direct = cache.stats().directWrites - 11;
    assert.ok(direct >= 32 && direct < 64, `4 runs direct at once, the others buffered (${direct} blocks direct)`);
    for (const [key, bl] of [['a', a], ['b', b], ['c', c], ...many.map((x, r) => [`m${r}`, x] as const)] as const) {
      for (let i = 0; i < bl.length; i++) assert.deepEqual(await cache.get(key, 'e', i), bl[i], `${key} ${i}`);
    }
    assert.deepEqual(diskBytes(dir), { bytes: 8 * MiB + 5 * MiB - 100 + 2 * MiB + 8192 + 64 * MiB, files: 11 });
  });

  test('on tmpfs (O_DIRECT may be refused) and without aligned memory, runs are written buffered and read back exact', async () => {
    const MiB = 1 << 20;
    for (const where of ['/dev/shm', undefined]) {
      const t = where ? { dir: mkdtempSync(join(where, 'objfs-cache-')), cleanup: () => rmSync(t.dir, { recursive: true, force: true }) } : tempDir();
      cleanups.push(t.cleanup);
      const { cache } = await fresh({ blockSize: MiB, maxBytes: 32 * MiB, ...(where ? { alignedAlloc: (n: number) => loadNative().alignedBuffer(n) } : {}) }, t.dir);
      const blocks = blocksOf('y', 0, 6, MiB, 0, MiB);
      assert.equal(await cache.putRun('y', 'e', 0, blocks), true);
      assert.equal(await cache.putRun('y', 'e', 6, blocksOf('y', 6, 2, 3000, 0, MiB)), true);
      for (let i = 0; i < 6; i++) assert.deepEqual(await cache.get('y', 'e', i), blocks[i]);
      assert.deepEqual(await cache.get('y', 'e', 7), blockData('y', 7, 3000));
      assert.deepEqual(diskBytes(t.dir), { bytes: 7 * MiB + 3000, files: 2 });
      if (!where) assert.equal(cache.stats().directWrites, 0);
    }
  });
});
