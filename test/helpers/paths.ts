/**
 * Locations the test helpers need: the repository root (found by walking up from this module to
 * the package.json named "objfs", so it works from test/helpers and from dist/test/helpers), the
 * CLI entry point, and the directory where test tools are built (dist/test-tools).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cachedRoot: string | undefined;

export function repoRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        const name = (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name;
        if (name === 'objfs') return (cachedRoot = dir);
      } catch {
        // not ours, keep walking
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('test helpers: cannot find the objfs repository root above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

/** bin/objfs.js, the CLI entry point. */
export function objfsBin(): string {
  return join(repoRoot(), 'bin', 'objfs.js');
}

/** Where compiled test tools go (dist/test-tools). */
export function testToolsDir(): string {
  return join(repoRoot(), 'dist', 'test-tools');
}

/** Source directory of the C test tools (test/tools). */
export function testToolsSrcDir(): string {
  return join(repoRoot(), 'test', 'tools');
}
