/**
 * The context each conformance case group receives from conformanceSuite (cases.ts).
 */
import type { TestContext } from 'node:test';
import type { PosixDriver } from '../../conformance/driver.js';

export interface CaseOptions {
  /** objfs-specific semantics: run only when opts.objfs is true (skipped visibly otherwise). */
  objfsOnly?: boolean;
  /** What a kernel filesystem does where objfs deliberately differs: run only when opts.objfs is false. */
  kernelOnly?: boolean;
  timeoutMs?: number;
}

export interface SuiteCtx {
  /** True when the suite runs against objfs (objfs-specific cases are enabled). */
  readonly objfs: boolean;
  /** The group's driver (throws if makeDriver failed). */
  readonly d: PosixDriver;
  /** A fresh, empty directory for one case ("/group-n"). */
  dir(): Promise<string>;
  /** Register a case in the group. */
  it(name: string, fn: (t: TestContext) => Promise<void>, opts?: CaseOptions): void;
}
