/**
 * A cache on a disk that fills up: the cache directory is on a 1 MiB tmpfs (mounted by the test;
 * needs root) while maxBytes says 64 MiB. Reads through the cache must still return the right
 * bytes from the store, failed writes are counted and logged (rate-limited), no temp file is left
 * behind, nothing throws, and the blocks that did fit are served. Without root the test falls
 * back to a read-only directory (chmod), which only stops writes for an ordinary user.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BlockCache } from '../../src/cache/block-cache.js';
import { readThrough } from '../../src/cache/cached-reader.js';
import { FaultyStore } from '../../src/store/faulty/faulty-store.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { WARN, blockData, captureLogger, diskBytes, flushLog, prng, tempDir } from './helpers.js';

const BS = 64 * 1024;

describe('BlockCache on a full disk', () => {
  const t = tempDir('objfs-cache-full-');
  const mnt = join(t.dir, 'mnt');
  let mounted = false;
  let mode: 'tmpfs' | 'readonly' | undefined;

  before(() => {
    mkdirSync(mnt);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0755', 'tmpfs', mnt], { stdio: 'pipe' });
      mounted = true;
      mode = 'tmpfs';
    } catch {
      if (process.getuid?.() !== 0) mode = 'readonly';
    }
  });

  after(() => {
    if (mounted) {
      try {
        execFileSync('umount', [mnt], { stdio: 'pipe' });
      } catch {
        execFileSync('umount', ['-l', mnt], { stdio: 'pipe' });
      }
    }
    try {
      chmodSync(join(mnt, 'cache', 'tmp'), 0o755);
    } catch {
      // not there
    }
    rmSync(t.dir, { recursive: true, force: true });
  });

  test('reads stay correct, failures are counted and logged once a minute, nothing throws', async (tc) => {
    if (mode === undefined) return tc.skip('cannot mount a tmpfs (and root ignores a read-only directory)');
    const dir = join(mnt, 'cache');
    const { log, lines } = captureLogger();
    const cache = await BlockCache.open({ dir, maxBytes: 64 * 1024 * 1024, blockSize: BS, log });
    if (mode === 'readonly') chmodSync(join(dir, 'tmp'), 0o555); // writes into tmp/ fail with EACCES
    const inner = new MemoryStore();
    const store = new FaultyStore(inner);
    const size = 4 * 1024 * 1024 + 1000; // 4 MiB: far more than the disk holds
    const data = blockData('big', 0, size);
    const { etag } = await inner.put('big', data);

    const rand = prng(3);
    for (let n = 0; n < 40; n++) {
      const start = Math.floor(rand() * size);
      const end = Math.min(size - 1, start + Math.floor(rand() * 5 * BS));
      assert.deepEqual(await readThrough({ cache, store, key: 'big', etag, size, start, end }), data.subarray(start, end + 1), `${start}-${end}`);
      assert.ok(diskBytes(dir).bytes <= 64 * 1024 * 1024);
    }
    assert.deepEqual(await readThrough({ cache, store, key: 'big', etag, size, start: 0, end: size - 1 }), data);
    assert.equal(await cache.put('big', etag, 10_000, Buffer.alloc(BS)), false, 'a direct put on a full disk returns false');
    await cache.settle(); // readThrough writes blocks in the background

    const s = cache.stats();
    tc.diagnostic(`mode ${mode}: ${s.blocks} blocks cached, ${s.writeFailures} write failures`);
    assert.ok(s.writeFailures > 10, `write failures counted (${s.writeFailures})`);
    assert.equal(s.bytes, s.blocks > 0 ? diskBytes(dir).bytes : 0, 'failed writes released their reservation');
    assert.deepEqual(readdirSync(join(dir, 'tmp')), [], 'no partial temp file left behind');
    if (mode === 'tmpfs') assert.ok(s.blocks > 0, 'the blocks that fit were cached');

    // What did fit is served without a GET.
    store.resetStats();
    let served = 0;
    for (let i = 0; i * BS < size; i++) if (await cache.get('big', etag, i)) served++;
    assert.equal(served, s.blocks);

    await flushLog();
    const failureWarnings = lines.filter((l) => l.level === WARN && /disk full|cannot write a block/.test(l.msg));
    assert.equal(failureWarnings.length, 1, 'logged once, not once per failed write');
    if (mode === 'tmpfs') assert.equal(failureWarnings[0]?.code, 'ENOSPC');
    await cache.close();
  });
});
