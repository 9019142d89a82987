/**
 * The conformance suite through a real FUSE mount: `objfs mount file://<tmp bucket>` served by a
 * child process, exercised with node:fs and test/tools/fsops from this process. Each describe
 * block gets its own bucket and mount. Skipped (with the reason) when FUSE or the objfs build is
 * missing; in CI (CI=true) that is a failure instead.
 *
 * Also here: special node types that node:fs cannot create (sockets, devices) refused with EPERM.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { conformanceSuite } from './cases.js';
import { makeMountDriver, type MountDriverInstance } from './mount-driver.js';
import { fuseUnavailableReason, leftoverMounts } from '../helpers/mount-harness.js';
import { mknod } from '../helpers/fsops.js';
import { expectCode } from '../helpers/suite-kit.js';

const unavailable = fuseUnavailableReason();

if (unavailable) {
  if (process.env['CI'] === 'true') {
    it('real-mount prerequisites', () => {
      throw new Error(`real-mount conformance cannot run in CI: ${unavailable}`);
    });
  } else {
    it('conformance over a real objfs mount', { skip: unavailable }, () => undefined);
  }
} else {
  conformanceSuite(makeMountDriver, { objfs: true });

  describe('special node types through the mount (objfs-specific)', () => {
    let m: MountDriverInstance | undefined;
    before(async () => {
      m = await makeMountDriver();
    });
    after(async () => {
      await m?.cleanup();
    });
    for (const type of ['fifo', 'sock', 'chr', 'blk'] as const) {
      it(`mknod of a ${type}: EPERM, nothing created`, async () => {
        if (!m) throw new Error('no mount');
        await m.driver.mkdir(`/${type}`);
        await expectCode(mknod(`${m.mountpoint}/${type}/node`, type, 0o644), 'EPERM', `mknod ${type}`);
        await expectCode(m.driver.lstat(`/${type}/node`), 'ENOENT', 'nothing created');
        assert.deepEqual(await m.driver.readdir(`/${type}`), []);
      });
    }
  });

  after(async () => {
    assert.deepEqual(await leftoverMounts(), [], 'mounts left behind by this file');
  });
}
