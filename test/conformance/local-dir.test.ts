/**
 * The conformance suite over a plain local directory (the kernel's own filesystem, normally ext4
 * or overlay under os.tmpdir()). Its job is to validate the cases: every case that is not
 * objfs-specific must pass here, so a failure over objfs is objfs's, not the suite's.
 */
import { conformanceSuite } from './cases.js';
import { makeLocalDirDriver } from './local-dir-driver.js';

conformanceSuite(makeLocalDirDriver, { objfs: false });
