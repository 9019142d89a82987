/**
 * Child process of the crash test (restart.test.ts): opens a BlockCache and puts blocks in a loop,
 * several at once, printing "put N" after each completed put, until it is killed with SIGKILL.
 * With "runs", each put is a run of 1 to 4 consecutive blocks (putRun), else a single block.
 * Usage: node crash-child.js <dir> <blockSize> <maxBytes> [runs]
 */
import { BlockCache } from '../../src/cache/block-cache.js';
import { blockData } from './helpers.js';

const [dir, bs, max, mode] = process.argv.slice(2);
const blockSize = Number(bs);
const cache = await BlockCache.open({ dir: dir!, maxBytes: Number(max), blockSize });
let n = 0;
const worker = async (w: number): Promise<void> => {
  for (let i = 0; ; i++) {
    const key = `obj${(i * 7 + w) % 23}`;
    const index = i % 17;
    if (mode === 'runs') {
      const count = Math.min(17 - index, 1 + ((i + w) % 4));
      await cache.putRun(key, 'e1', index, Array.from({ length: count }, (_, k) => blockData(key, index + k, blockSize)));
    } else {
      await cache.put(key, 'e1', index, blockData(key, index, blockSize));
    }
    process.stdout.write(`put ${++n}\n`);
  }
};
await Promise.all([0, 1, 2, 3].map(worker));
