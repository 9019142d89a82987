/** The store contract over LocalStore, each case in a fresh temp directory (removed after). */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStore } from '../../src/store/local/local-store.js';
import { storeContract } from './contract.js';

storeContract('local', async () => {
  const root = await mkdtemp(join(tmpdir(), 'objfs-local-'));
  return { store: new LocalStore(root), cleanup: () => rm(root, { recursive: true, force: true }) };
});
