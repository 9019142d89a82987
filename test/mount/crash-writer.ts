/**
 * Child process for test/mount/crash.test.ts: writes files into a mount and reports each close()
 * that returned, one line per file on stdout ("closed <name> <version>"), until the mount dies
 * under it or it has written `count` files.
 *
 *   node crash-writer.js <dir> <first-index> <count> <seed>
 *
 * Content of version v of file `name` is fully determined by (name, v): a header line
 * "<name> v<v> size <n>" then a pattern, so the checker can tell a complete version from a mix.
 * Every fourth file rewrites an earlier one (a new version), to test that versions never mix.
 */
import { open, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { versionContent } from './crash-content.js';
import { mulberry32 } from '../../src/util/prng.js';

async function main(): Promise<void> {
  const [dir, firstArg, countArg, seedArg] = process.argv.slice(2);
  const first = Number(firstArg);
  const count = Number(countArg);
  const rnd = mulberry32(Number(seedArg));
  const versions = new Map<string, number>();
  const dev = (await stat(dir as string)).dev;
  for (let i = first; i < first + count; i++) {
    if ((await stat(dir as string)).dev !== dev) return; // unmounted under us: stop, do not write into the bare directory
    let name = `f${String(i).padStart(4, '0')}`;
    if (i > first && i % 4 === 3) name = `f${String(first + Math.floor(rnd() * (i - first))).padStart(4, '0')}`;
    const v = (versions.get(name) ?? 0) + 1 + Math.floor(rnd() * 1000) * 10; // distinct across runs
    versions.set(name, v);
    const body = versionContent(name, v);
    process.stdout.write(`start ${name} ${v}\n`); // its close may not return, yet the version may land
    const path = join(dir as string, name);
    const fh = await open(path, 'w');
    if ((await fh.stat()).dev !== dev) {
      // The mount went away between the check above and open(): this file is in the bare
      // directory under it, not in the bucket. Not ours to report.
      await fh.close();
      await unlink(path).catch(() => undefined);
      return;
    }
    // several writes, so a kill can land in the middle of one file
    for (let off = 0; off < body.length; off += 64 * 1024) await fh.write(body, off, Math.min(64 * 1024, body.length - off), off);
    await fh.close();
    process.stdout.write(`closed ${name} ${v}\n`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`writer stopped: ${(e as Error).message}\n`);
  process.exit(3);
});
