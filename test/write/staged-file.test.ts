/**
 * StagedFile writes, large and small, aligned and not, overlapping, past the end, after a
 * truncate: the data file must read back exactly as a model says, on the disk and on tmpfs.
 * (Large aligned writes once took an O_DIRECT path; this test was written for the mix of the two.)
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { silentLogger } from '../../src/util/logger.js';
import { mulberry32 } from '../../src/util/prng.js';
import { Journal } from '../../src/write/journal.js';
import { StagedFile } from '../../src/write/staged-file.js';

const MiB = 1024 * 1024;
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function bytes(seed: number, n: number): Buffer {
  const r = mulberry32(seed);
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

const places = [
  { name: 'on the disk (tmpdir)', parent: tmpdir() },
  { name: 'on tmpfs (/dev/shm refuses O_DIRECT)', parent: '/dev/shm' },
];

describe('StagedFile: large and small writes mixed', () => {
  for (const p of places) {
    test(p.name, { skip: existsSync(p.parent) ? false : `${p.parent} does not exist here` }, async () => {
      const dir = mkdtempSync(join(p.parent, 'objfs-staged-'));
      dirs.push(dir);
      const journal = await Journal.open(join(dir, 'write'), silentLogger());
      const store = new MemoryStore();
      const sf = await StagedFile.create(journal, 'k', undefined, true);
      const model = Buffer.alloc(6 * MiB);
      let size = 0;
      const write = async (data: Buffer, off: number): Promise<void> => {
        assert.equal(await sf.write(data, off), data.length);
        data.copy(model, off);
        size = Math.max(size, off + data.length);
      };
      try {
        await write(bytes(1, MiB), 0); // aligned, large: the direct candidate
        await write(bytes(2, MiB), MiB);
        await write(bytes(3, 100), MiB - 50); // small, unaligned, across the two
        await write(bytes(4, 512 * 1024), 3 * MiB); // aligned, leaves a hole at [2 MiB, 3 MiB)
        await write(bytes(5, 4096), 2 * MiB + 4096); // small aligned write into the hole
        await write(bytes(6, 2 * MiB), 0); // large aligned rewrite over all of the above
        await write(bytes(7, 3), 5 * MiB + 1); // tail past the end, unaligned
        assert.equal(sf.size, size);
        const back = await sf.read(store, size + 10, 0);
        assert.equal(back.length, size);
        assert.ok(back.equals(model.subarray(0, size)), 'the data file reads back as the model');
        await sf.truncate(MiB + 10);
        await write(bytes(8, MiB), 2 * MiB); // grows again past a truncation: zeros between
        model.fill(0, MiB + 10, 2 * MiB);
        size = 3 * MiB;
        const again = await sf.read(store, size, 0);
        assert.ok(again.equals(model.subarray(0, size)), 'after truncate and regrow');
      } finally {
        await sf.discard();
        await journal.close();
      }
    });
  }
});
