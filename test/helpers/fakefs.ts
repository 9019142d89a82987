/**
 * Builds test/tools/fakefs.c (a minimal libfuse3 filesystem of type fuse.objfs-fake) for the
 * mount harness's own tests. Needs libfuse3 headers (apt-get install libfuse3-dev).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { buildTool } from './build-tool.js';

const execFileP = promisify(execFile);

export const FAKEFS_FSTYPE = 'fuse.objfs-fake';

async function fuseFlags(): Promise<string[]> {
  try {
    const { stdout } = await execFileP('pkg-config', ['--cflags', '--libs', 'fuse3']);
    return stdout.trim().split(/\s+/).filter(Boolean);
  } catch {
    return ['-I/usr/include/fuse3', '-lfuse3', '-lpthread'];
  }
}

export async function fakefsPath(): Promise<string> {
  return buildTool('fakefs', await fuseFlags());
}
