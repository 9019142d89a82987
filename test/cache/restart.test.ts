/**
 * The cache survives a restart: a new BlockCache.open on the same directory serves the blocks of
 * the previous run; temp files, partial or foreign files are removed at open and never served; a
 * lowered maxBytes is enforced at open (oldest blocks first); a changed block size empties the
 * cache; one live owner per directory; and a process killed with SIGKILL in the middle of puts
 * (of single blocks or of runs) leaves a directory that opens cleanly and serves only correct
 * blocks.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { BlockCache } from '../../src/cache/block-cache.js';
import { CACHE_FORMAT, crc32, hashEtag, hashKey, runFileName } from '../../src/cache/block-files.js';
import { DirLockedError } from '../../src/cache/dir-lock.js';
import { blockData, captureLogger, diskBytes, flushLog, listFiles, tempDir } from './helpers.js';

const BS = 1000;

describe('BlockCache restart', () => {
  const dirs: (() => void)[] = [];
  after(() => dirs.forEach((c) => c()));
  const newDir = (): string => {
    const t = tempDir();
    dirs.push(t.cleanup);
    return t.dir;
  };
  const keyDir = (dir: string, key: string): string => {
    const kh = hashKey(key);
    return join(dir, 'blocks', kh.slice(0, 2), kh);
  };

  test('a reopened cache serves the blocks of the previous run', async () => {
    const dir = newDir();
    const c1 = await BlockCache.open({ dir, maxBytes: 8 * BS, blockSize: BS });
    for (let i = 0; i < 3; i++) await c1.put('a/b', '"e1"', i, blockData('a/b', i, BS));
    await c1.put('c', '"e2"', 0, blockData('c', 0, 123)); // a short last block
    const before = c1.stats();
    await c1.close();

    const c2 = await BlockCache.open({ dir, maxBytes: 8 * BS, blockSize: BS });
    const s = c2.stats();
    assert.equal(s.blocks, 4);
    assert.equal(s.bytes, before.bytes);
    for (let i = 0; i < 3; i++) assert.deepEqual(await c2.get('a/b', '"e1"', i), blockData('a/b', i, BS));
    assert.deepEqual(await c2.get('c', '"e2"', 0), blockData('c', 0, 123));
    assert.equal(await c2.get('c', '"other"', 0), undefined, 'still validated by ETag');
    assert.equal(c2.stats().hits, 4);
    await c2.close();
  });

  test('temp, partial and foreign files are removed at open and never served', async () => {
    const dir = newDir();
    const c1 = await BlockCache.open({ dir, maxBytes: 8 * BS, blockSize: BS });
    await c1.put('k', 'e', 0, blockData('k', 0, BS));
    await c1.put('k', 'e', 1, blockData('k', 1, BS));
    await c1.close();

    // What a crash or a stranger can leave behind:
    writeFileSync(join(dir, 'tmp', 'abc-17'), blockData('k', 2, BS / 2)); // a half-written temp file
    const kd = keyDir(dir, 'k');
    const eh = hashEtag('e');
    writeFileSync(join(kd, runFileName(eh, 3, [crc32(blockData('k', 3, BS))])), ''); // an empty block file
    writeFileSync(join(kd, `${eh}-4.tmp`), blockData('k', 4, BS)); // not a block name
    writeFileSync(join(kd, runFileName(eh, 5, [crc32(blockData('k', 5, BS))])), blockData('k', 5, BS).subarray(0, 300)); // short (power loss)
    mkdirSync(join(dir, 'blocks', 'zz'));
    writeFileSync(join(dir, 'blocks', 'zz', 'x'), 'x');
    writeFileSync(join(dir, 'blocks', 'ab'), 'a file where a directory belongs');

    const c2 = await BlockCache.open({ dir, maxBytes: 8 * BS, blockSize: BS });
    assert.deepEqual(readdirSync(join(dir, 'tmp')), []);
    assert.ok(!existsSync(join(dir, 'blocks', 'zz')));
    assert.ok(!existsSync(join(dir, 'blocks', 'ab')));
    assert.equal(await c2.get('k', 'e', 2), undefined);
    assert.equal(await c2.get('k', 'e', 3), undefined);
    assert.equal(await c2.get('k', 'e', 4), undefined);
    assert.equal(await c2.get('k', 'e', 5), undefined, 'a short file is never served');
    assert.deepEqual(await c2.get('k', 'e', 0), blockData('k', 0, BS));
    assert.deepEqual(await c2.get('k', 'e', 1), blockData('k', 1, BS));
    await c2.settle();
    assert.equal(listFiles(dir, 'blocks').length, 2, 'only the two complete blocks are left');
    assert.deepEqual(diskBytes(dir), { bytes: 2 * BS, files: 2 });
    assert.equal(c2.stats().bytes, 2 * BS);
    await c2.close();
  });

  test('after a restart the first partial read of a block checks its whole content', async () => {
    const dir = newDir();
    const c1 = await BlockCache.open({ dir, maxBytes: 8 * BS, blockSize: BS });
    await c1.put('k', 'e', 0, blockData('k', 0, BS));
    await c1.put('k', 'e', 1, blockData('k', 1, BS));
    await c1.close();
    // Block 0 gets other bytes of the same length (what a power loss can leave); block 1 is intact.
    const f0 = listFiles(dir, 'blocks').find((f) => /-0-[0-9a-f]{8}$/.test(f))!;
    const bad = Buffer.from(blockData('k', 0, BS));
    bad[BS - 1]! ^= 0xff; // outside the range read below
    writeFileSync(join(dir, 'blocks', f0), bad);
    const c2 = await BlockCache.open({ dir, maxBytes: 8 * BS, blockSize: BS });
    assert.equal(await c2.read('k', 'e', 0, 0, 10), undefined, 'the damage is outside the range, but the block is checked whole');
    assert.deepEqual(await c2.read('k', 'e', 1, 0, 10), blockData('k', 1, BS).subarray(0, 10));
    assert.deepEqual(await c2.read('k', 'e', 1, 500, 10), blockData('k', 1, BS).subarray(500, 510));
    await c2.settle();
    assert.equal(listFiles(dir, 'blocks').length, 1, 'the damaged block was dropped');
    await c2.close();
  });

  test('a lowered maxBytes is enforced at open, oldest blocks first', async () => {
    const dir = newDir();
    const c1 = await BlockCache.open({ dir, maxBytes: 16 * BS, blockSize: BS });
    for (let i = 0; i < 10; i++) await c1.put('k', 'e', i, blockData('k', i, BS));
    await c1.close();
    // Make the write order unambiguous: block i was written at t0 + i seconds.
    const t0 = Date.now() / 1000 - 100;
    for (const f of listFiles(dir, 'blocks')) {
      const i = Number(/-(\d+)-[0-9a-f]{8}$/.exec(f)![1]);
      utimesSync(join(dir, 'blocks', f), t0 + i, t0 + i);
    }
    const c2 = await BlockCache.open({ dir, maxBytes: 4 * BS + 500, blockSize: BS });
    assert.ok(diskBytes(dir).bytes <= 4 * BS + 500);
    assert.deepEqual(diskBytes(dir), { bytes: 4 * BS, files: 4 });
    const s = c2.stats();
    assert.equal(s.evictions, 6);
    assert.equal(s.bytes, 4 * BS);
    for (let i = 0; i < 6; i++) assert.equal(await c2.get('k', 'e', i), undefined, `block ${i} was older`);
    for (let i = 6; i < 10; i++) assert.deepEqual(await c2.get('k', 'e', i), blockData('k', i, BS));
    await c2.close();
  });

  test('a changed block size empties the cache', async () => {
    const dir = newDir();
    const c1 = await BlockCache.open({ dir, maxBytes: 8 * BS, blockSize: BS });
    await c1.put('k', 'e', 0, blockData('k', 0, BS));
    await c1.close();
    const c2 = await BlockCache.open({ dir, maxBytes: 8 * BS, blockSize: 2 * BS });
    assert.equal(c2.stats().blocks, 0);
    assert.equal(await c2.get('k', 'e', 0), undefined);
    assert.deepEqual(diskBytes(dir), { bytes: 0, files: 0 });
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'objfs-cache.json'), 'utf8')), { format: CACHE_FORMAT, blockSize: 2 * BS });
    await c2.close();
  });

  test('a non-empty directory that is not a cache is refused and left alone', async () => {
    const dir = newDir();
    mkdirSync(join(dir, 'blocks'));
    writeFileSync(join(dir, 'blocks', 'precious.txt'), 'user data');
    mkdirSync(join(dir, 'tmp'));
    writeFileSync(join(dir, 'tmp', 'notes'), 'more user data');
    await assert.rejects(BlockCache.open({ dir, maxBytes: 8 * BS, blockSize: BS }), /not an objfs block cache/);
    assert.equal(readFileSync(join(dir, 'blocks', 'precious.txt'), 'utf8'), 'user data');
    assert.equal(readFileSync(join(dir, 'tmp', 'notes'), 'utf8'), 'more user data');
    assert.ok(!existsSync(join(dir, 'lock')), 'the lock was released');
  });

  test('one owner per directory', async () => {
    const dir = newDir();
    const c1 = await BlockCache.open({ dir, maxBytes: 8 * BS, blockSize: BS });
    await assert.rejects(BlockCache.open({ dir, maxBytes: 8 * BS, blockSize: BS }), DirLockedError);
    await c1.close();
    const c2 = await BlockCache.open({ dir, maxBytes: 8 * BS, blockSize: BS });
    await c2.close();
    assert.ok(!existsSync(join(dir, 'lock')), 'close releases the lock');
  });

  for (const [killAfter, mode] of [[5, 'blocks'], [40, 'blocks'], [150, 'blocks'], [10, 'runs'], [150, 'runs']] as const) {
    test(`a process killed with SIGKILL after ${killAfter} puts (of ${mode}) leaves a cache that opens cleanly and serves only correct blocks`, async (t) => {
      const dir = newDir();
      const childBs = 64 * 1024; // big enough that the kill often lands in the middle of a write
      const max = 40 * childBs;
      const child = spawn(process.execPath, [fileURLToPath(new URL('./crash-child.js', import.meta.url)), dir, String(childBs), String(max), mode], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let puts = 0;
      const killed = new Promise<void>((resolve, reject) => {
        child.on('error', reject);
        child.on('exit', (code, sig) => (sig === 'SIGKILL' ? resolve() : reject(new Error(`child exited with ${code ?? sig} after ${puts} puts`))));
      });
      child.stdout.setEncoding('utf8').on('data', (s: string) => {
        puts += s.split('\n').filter((l) => l.startsWith('put ')).length;
        if (puts >= killAfter) child.kill('SIGKILL');
      });
      await killed;
      assert.ok(existsSync(join(dir, 'lock')), 'the dead process left its lock');
      t.diagnostic(`killed after ${puts} puts; left ${readdirSync(join(dir, 'tmp')).length} temp file(s), ${diskBytes(dir).bytes} bytes`);

      const { log, lines } = captureLogger();
      const cache = await BlockCache.open({ dir, maxBytes: max, blockSize: childBs, log });
      await flushLog();
      assert.ok(lines.some((l) => l.msg.includes('took over the lock')));
      assert.deepEqual(readdirSync(join(dir, 'tmp')), [], 'temp files of the dead process are gone');
      assert.ok(diskBytes(dir).bytes <= max);
      let served = 0;
      for (let o = 0; o < 23; o++) {
        for (let i = 0; i < 17; i++) {
          const got = await cache.get(`obj${o}`, 'e1', i);
          if (got === undefined) continue;
          assert.deepEqual(got, blockData(`obj${o}`, i, childBs), `obj${o} block ${i}`);
          served++;
        }
      }
      // Runs: once the cache is full, less of it holds complete blocks: the writes in progress at
      // the kill (4 puts of up to 4 blocks) and what whole-run eviction freed beyond what each of
      // them needed (up to 3 blocks).
      const expected = mode === 'blocks' ? Math.min(killAfter, 40) - 4 : Math.min(killAfter, 40 - 4 * 4 - 4 * 3) - 4;
      assert.ok(served >= expected, `the completed blocks are served (${served} after ${puts} puts)`);
      assert.equal(cache.stats().blocks, served, 'nothing else was indexed');
      await cache.close();
    });
  }
});
