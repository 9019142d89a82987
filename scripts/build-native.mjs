#!/usr/bin/env node
// Builds the native FUSE addon (native/ -> native/build/Release/objfs_fuse.node) with the
// node-gyp bundled with npm, against the installed Node headers. Downloads nothing.
// Quiet on success (one line); prints the full build output on failure.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = path.join(root, 'native');

function fail(msg) {
  process.stderr.write(`${msg}\n`);
  process.exit(1);
}

const pc = spawnSync('pkg-config', ['--exists', 'fuse3'], { stdio: 'ignore' });
if (pc.error || pc.status !== 0) {
  fail('objfs: libfuse3 development files not found; install them with: apt-get install fuse3 libfuse3-dev pkg-config');
}

/** node-gyp: the one npm provides under `npm run` (npm_config_node_gyp, or on PATH), else the copy bundled with npm. */
function findNodeGyp() {
  const viaNpm = process.env.npm_config_node_gyp;
  if (viaNpm && existsSync(viaNpm)) return { cmd: process.execPath, pre: [viaNpm] };
  const which = spawnSync('sh', ['-c', 'command -v node-gyp'], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) return { cmd: which.stdout.trim(), pre: [] };
  const candidates = [];
  const g = spawnSync('npm', ['root', '-g'], { encoding: 'utf8' });
  if (g.status === 0 && g.stdout.trim()) candidates.push(path.join(g.stdout.trim(), 'npm/node_modules/node-gyp/bin/node-gyp.js'));
  candidates.push(path.resolve(process.execPath, '../../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'));
  for (const c of candidates) if (existsSync(c)) return { cmd: process.execPath, pre: [c] };
  return undefined;
}

const gyp = findNodeGyp();
if (!gyp) fail('objfs: node-gyp not found (it ships with npm); reinstall npm or add node-gyp to PATH');

const args = [...gyp.pre, 'rebuild'];
const prefix = path.resolve(process.execPath, '../..');
if (existsSync(path.join(prefix, 'include/node/node_api.h'))) args.push(`--nodedir=${prefix}`);

const r = spawnSync(gyp.cmd, args, {
  cwd: nativeDir,
  encoding: 'utf8',
  maxBuffer: 64 * 1024 * 1024,
});
const out = path.join(nativeDir, 'build/Release/objfs_fuse.node');
if (r.error || r.status !== 0 || !existsSync(out)) {
  process.stderr.write(r.stdout ?? '');
  process.stderr.write(r.stderr ?? '');
  fail(`objfs: native addon build failed${r.error ? `: ${r.error.message}` : ` (exit ${r.status})`}`);
}
process.stdout.write(`objfs: built ${path.relative(root, out)}\n`);
