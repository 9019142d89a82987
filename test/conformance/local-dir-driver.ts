/**
 * PosixDriver over a plain local directory (node:fs plus test/tools/fsops). It runs the
 * conformance suite against the kernel's own filesystem (ext4, overlay, tmpfs...) to validate
 * the cases themselves: every case that is not objfs-specific must pass here.
 *
 * canRemount is false: there is nothing to drop and reload, so the persistence cases check their
 * state in place (and say so).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PosixDriver } from './driver.js';
import { joinRoot, nodeFsOps } from '../helpers/node-fs-driver.js';

export function localDirDriver(root: string): PosixDriver {
  return {
    name: 'local-dir',
    canRemount: false,
    async remount() {
      throw new Error('local-dir driver cannot remount (canRemount is false)');
    },
    ...nodeFsOps((p) => joinRoot(root, p)),
  };
}

/** A driver over a fresh temporary directory; cleanup removes it. */
export async function makeLocalDirDriver(): Promise<{ driver: PosixDriver; root: string; cleanup(): Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'objfs-conf-local-'));
  return {
    driver: localDirDriver(root),
    root,
    async cleanup() {
      await rm(root, { recursive: true, force: true });
    },
  };
}
