#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with node's test runner, then checks
// that no objfs mount was left behind (a stale mount is a test failure) and clears any it finds.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const files = [];
const walk = (d) => {
  for (const e of readdirSync(d)) {
    const p = join(d, e);
    if (statSync(p).isDirectory()) walk(p);
    else if (e.endsWith('.test.js')) files.push(p);
  }
};
walk(join(root, 'dist', 'test'));
const filter = process.argv[2];
const selected = filter ? files.filter((f) => f.includes(filter)) : files;
selected.sort();
if (selected.length === 0) {
  // node --test with no file would run every file it can find, helpers included
  process.stderr.write(`run-tests: no compiled test file matches "${filter}" (give part of a path under dist/test, e.g. cache/block-cache)\n`);
  process.exit(2);
}

const objfsMounts = () =>
  readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .filter((l) => l.split(' ')[2] === 'fuse.objfs')
    .map((l) => l.split(' ')[1]);

const before = new Set(objfsMounts());
const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', '--test-timeout=900000', ...selected], { stdio: 'inherit', cwd: root });
let code = r.status ?? 1;
const left = objfsMounts().filter((m) => !before.has(m));
if (left.length > 0) {
  console.error(`run-tests: FAIL: tests left ${left.length} objfs mount(s) behind: ${left.join(', ')}; clearing them`);
  for (const m of left) spawnSync('fusermount3', ['-uz', m], { stdio: 'inherit' });
  code = code || 1;
}
process.exit(code);
