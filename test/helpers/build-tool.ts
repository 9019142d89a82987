/**
 * Compile a single-file C test tool from test/tools/<name>.c into dist/test-tools/<name> with gcc,
 * on first use and whenever the source is newer than the binary. Several test processes may race
 * to build the same tool (node --test runs files in parallel), so each build writes a private
 * temporary file and renames it into place atomically.
 */
import { execFile } from 'node:child_process';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { testToolsDir, testToolsSrcDir } from './paths.js';

const execFileP = promisify(execFile);
const builds = new Map<string, Promise<string>>();

async function mtimeMs(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).mtimeMs;
  } catch {
    return undefined;
  }
}

async function build(name: string, extraArgs: string[]): Promise<string> {
  const src = join(testToolsSrcDir(), `${name}.c`);
  const out = join(testToolsDir(), name);
  const srcTime = await mtimeMs(src);
  if (srcTime === undefined) throw new Error(`test tool source missing: ${src}`);
  const outTime = await mtimeMs(out);
  if (outTime !== undefined && outTime >= srcTime) return out;
  await mkdir(testToolsDir(), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}-${Date.now()}`;
  try {
    await execFileP('gcc', ['-O2', '-Wall', '-o', tmp, src, ...extraArgs], { timeout: 120_000 });
    await rename(tmp, out);
  } catch (err) {
    await rm(tmp, { force: true });
    const e = err as { stderr?: string; message: string };
    throw new Error(`building test tool ${name} with gcc failed: ${e.stderr || e.message}`);
  }
  return out;
}

/** Path of the built tool, building it if needed (once per process). */
export function buildTool(name: string, extraArgs: string[] = []): Promise<string> {
  let p = builds.get(name);
  if (!p) {
    p = build(name, extraArgs);
    p.catch(() => builds.delete(name)); // allow a retry after a failure
    builds.set(name, p);
  }
  return p;
}
