/**
 * Loads the native FUSE addon (native/build/Release/objfs_fuse.node, built by
 * `npm run build:native`). The addon implements the contract in ./native-api.ts.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NativeAddon } from './native-api.js';

export type { Dispatch, MountOptions, NativeAddon, NativeSession, OpCode } from './native-api.js';
export { ARG, Op, OpenFlag, REC, REC_LEN, SetAttr } from './native-api.js';

const ADDON = path.join('native', 'build', 'Release', 'objfs_fuse.node');

/** The package root: the nearest directory above this file holding package.json (works from src/ and dist/src/). */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('objfs: cannot find the package root (package.json) above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

let cached: NativeAddon | undefined;

export function loadNative(): NativeAddon {
  if (cached) return cached;
  const file = path.join(packageRoot(), ADDON);
  if (!existsSync(file)) throw new Error(`objfs: native addon not built: run npm run build:native (missing ${file})`);
  const require = createRequire(import.meta.url);
  cached = require(file) as NativeAddon;
  return cached;
}
