/**
 * The conformance suite in process: the Vfs over the in-memory store, no FUSE.
 */
import { conformanceSuite } from './cases.js';
import { VfsDriver } from './vfs-driver.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';

conformanceSuite(async () => {
  const driver = await VfsDriver.create({ store: new MemoryStore() });
  return { driver, cleanup: () => driver.cleanup() };
}, { objfs: true });
