/**
 * Deterministic test trees for the acceptance test (test/mount/tree.test.ts): generation
 * (nested directories, 1,000 files of varied sizes, names with spaces and unicode, modes,
 * symlinks, a few xattrs) and a metadata comparison of two trees (what `diff -r` does not see:
 * type, mode, uid/gid, size, nanosecond mtime, symlink targets, user.* xattrs).
 */
import { lstat, mkdir, readdir, readlink, symlink, writeFile, chmod } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { getxattr, listxattr, setxattr } from './fsops.js';
import { mapLimit, pick, prng, randInt, seededBytes } from './suite-kit.js';

export interface GeneratedTree {
  files: string[]; // relative paths
  dirs: string[];
  symlinks: string[];
  xattrFiles: string[];
  totalBytes: number;
}

const NAME_PARTS = ['a', 'b', 'x', 'data', 'report', 'Img', '2024', '07', ' ', ' ', '-', '_', '.', '(', ')', "'", '+', ',', 'é', 'ü', 'ß', 'Ω', '日本', '語', '🙂', 'naïve', 'ÅÄÖ', 'z'];

function randomName(rand: () => number, taken: Set<string>): string {
  for (;;) {
    const parts = randInt(rand, 1, 6);
    let n = '';
    for (let i = 0; i < parts; i++) n += pick(rand, NAME_PARTS);
    if (rand() < 0.5) n += pick(rand, ['.txt', '.bin', '.json', '.tar.gz', '', '.md']);
    if (n === '.' || n === '..' || n.trim() === '' || Buffer.byteLength(n) > 200) continue;
    if (taken.has(n)) n += `-${taken.size}`;
    if (taken.has(n)) continue;
    taken.add(n);
    return n;
  }
}

function fileSize(rand: () => number, i: number, count: number): number {
  if (i < 5) return randInt(rand, 1, 3) * 1024 * 1024 + randInt(rand, 0, 4096); // a few MiB-sized files
  if (i % 97 === 0) return 0;
  const r = rand();
  if (r < 0.4) return randInt(rand, 0, 1024);
  if (r < 0.75) return randInt(rand, 1024, 32 * 1024);
  void count;
  return randInt(rand, 32 * 1024, 256 * 1024);
}

/** Create the tree under `root` (which must exist and be empty). */
export async function generateTree(root: string, opts: { seed: number; files: number }): Promise<GeneratedTree> {
  const rand = prng(opts.seed);
  const dirs: string[] = [''];
  const taken = new Map<string, Set<string>>([['', new Set()]]);
  const namesIn = (d: string): Set<string> => {
    let s = taken.get(d);
    if (!s) taken.set(d, (s = new Set()));
    return s;
  };
  // nested directories, up to 5 deep
  for (let i = 0; i < 70; i++) {
    const parent = i < 8 ? '' : pick(rand, dirs.filter((d) => d.split('/').length < 5));
    const d = parent ? `${parent}/${randomName(rand, namesIn(parent))}` : randomName(rand, namesIn(''));
    dirs.push(d);
    await mkdir(join(root, d));
  }
  const files: string[] = [];
  let totalBytes = 0;
  const plan: { path: string; size: number; seed: number; mode: number }[] = [];
  for (let i = 0; i < opts.files; i++) {
    const d = pick(rand, dirs);
    const p = d ? `${d}/${randomName(rand, namesIn(d))}` : randomName(rand, namesIn(''));
    const size = fileSize(rand, i, opts.files);
    plan.push({ path: p, size, seed: opts.seed * 7919 + i, mode: pick(rand, [0o644, 0o644, 0o600, 0o755, 0o664, 0o640]) });
    files.push(p);
    totalBytes += size;
  }
  await mapLimit(plan, 8, async (f) => {
    await writeFile(join(root, f.path), seededBytes(f.seed, f.size));
    await chmod(join(root, f.path), f.mode);
  });
  // symlinks: relative to existing files, to a directory, and one dangling
  const symlinks: string[] = [];
  for (let i = 0; i < 12; i++) {
    const d = pick(rand, dirs);
    const target = pick(rand, files);
    const name = `link ${i} → ${randomName(rand, namesIn(d))}`;
    const p = d ? `${d}/${name}` : name;
    await symlink(relative(join(root, d), join(root, target)) || '.', join(root, p));
    symlinks.push(p);
  }
  await symlink('does/not/exist', join(root, 'dangling link'));
  symlinks.push('dangling link');
  const someDir = dirs[dirs.length - 1] ?? '';
  await symlink(relative(root, join(root, someDir)) || '.', join(root, 'link to a dir'));
  symlinks.push('link to a dir');
  // empty directories
  for (const n of ['empty dir', 'empty ünï']) {
    await mkdir(join(root, n));
    dirs.push(n);
  }
  // directory modes
  for (const d of dirs.slice(1, 8)) await chmod(join(root, d), pick(rand, [0o700, 0o750, 0o775]));
  // a few user xattrs (cp -a copies them)
  const xattrFiles = files.slice(10, 15);
  for (const [i, f] of xattrFiles.entries()) await setxattr(join(root, f), `user.tree.${i}`, Buffer.from(`xattr value ${i} of ${f}`));
  return { files, dirs: dirs.slice(1), symlinks, xattrFiles, totalBytes };
}

export interface CompareOptions {
  /** Compare directory mtimes too (only meaningful right after cp -a). */
  dirMtimes: boolean;
  /** Relative paths whose user.* xattrs are compared. */
  xattrPaths: string[];
}

interface Entry {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeNs: bigint;
  target?: string;
}

async function walk(root: string): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  const visit = async (rel: string): Promise<void> => {
    const names = await readdir(join(root, rel));
    await mapLimit(names, 8, async (n) => {
      const r = rel ? `${rel}/${n}` : n;
      const p = join(root, r);
      const st = await lstat(p, { bigint: true });
      const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'other';
      const e: Entry = { type, mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), size: Number(st.size), mtimeNs: st.mtimeNs };
      if (type === 'symlink') e.target = await readlink(p);
      out.set(r, e);
      if (type === 'dir') await visit(r);
    });
  };
  await visit('');
  return out;
}

/** Differences between two trees (empty when equal), as human-readable lines. */
export async function compareTrees(expectedRoot: string, actualRoot: string, opts: CompareOptions): Promise<string[]> {
  const [a, b] = await Promise.all([walk(expectedRoot), walk(actualRoot)]);
  const diffs: string[] = [];
  for (const [p, e] of a) {
    const g = b.get(p);
    if (!g) {
      diffs.push(`missing: ${p}`);
      continue;
    }
    const check = (field: string, want: unknown, got: unknown): void => {
      if (want !== got) diffs.push(`${p}: ${field} ${String(want)} != ${String(got)}`);
    };
    check('type', e.type, g.type);
    if (e.type !== g.type) continue;
    check('uid', e.uid, g.uid);
    check('gid', e.gid, g.gid);
    if (e.type === 'symlink') {
      check('target', e.target, g.target);
      check('size', e.size, g.size);
      continue; // symlink permission bits and times are not meaningful
    }
    check('mode', e.mode.toString(8), g.mode.toString(8));
    if (e.type === 'file') {
      check('size', e.size, g.size);
      check('mtimeNs', e.mtimeNs, g.mtimeNs);
    }
    if (e.type === 'dir' && opts.dirMtimes) check('dir mtimeNs', e.mtimeNs, g.mtimeNs);
  }
  for (const p of b.keys()) if (!a.has(p)) diffs.push(`unexpected: ${p}`);
  for (const p of opts.xattrPaths) {
    const [xa, xb] = await Promise.all([userXattrs(join(expectedRoot, p)), userXattrs(join(actualRoot, p))]);
    if (xa !== xb) diffs.push(`${p}: user xattrs ${xa} != ${xb}`);
  }
  return diffs;
}

async function userXattrs(path: string): Promise<string> {
  try {
    const names = (await listxattr(path)).filter((n) => n.startsWith('user.')).sort();
    const parts: string[] = [];
    for (const n of names) parts.push(`${n}=${(await getxattr(path, n)).toString('hex')}`);
    return parts.join(',') || '(none)';
  } catch (e) {
    return `error ${(e as { code?: string }).code ?? String(e)}`;
  }
}
