/**
 * `objfs demo`: the README's first command. Mounts the bundled sample bucket (a local directory
 * used through the file:// store) read-only in a child objfs process, shows its listing and one
 * file, and unmounts. The mount is never touched from the process serving it.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { unmountCommand } from './unmount.js';
import { mountTable } from './mountpoint.js';
import { NODE_FLAGS } from './node-flags.js';

function runShow(cmd: string, args: string[], cwd?: string): Promise<number> {
  return new Promise((res) => {
    process.stdout.write(`$ ${cmd} ${args.join(' ')}\n`);
    const c = spawn(cmd, args, { stdio: 'inherit', cwd });
    c.on('exit', (code) => res(code ?? 1));
  });
}

export async function demoCommand(): Promise<number> {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const bucket = join(root, 'examples', 'sample-bucket');
  const work = await mkdtemp(join(tmpdir(), 'objfs-demo-'));
  const mp = join(work, 'mnt');
  await import('node:fs/promises').then((f) => f.mkdir(mp));
  const bin = join(root, 'bin', 'objfs.js');
  const remote = `file://${bucket}`;
  process.stdout.write(`objfs demo: mounting ${remote} on ${mp} (read-only)\n`);
  let code = await runShow(process.execPath, [...NODE_FLAGS, bin, 'mount', remote, mp, '--read-only', '--daemon', '--cache-dir', join(work, 'cache')]);
  if (code !== 0) {
    await rm(work, { recursive: true, force: true });
    return code;
  }
  try {
    code = await runShow('ls', ['-lR', '.'], mp);
    if (code === 0) code = await runShow('cat', ['data/2026/numbers.csv'], mp);
    if (code === 0) code = await runShow('touch', ['new-file'], mp).then((c) => (c !== 0 ? 0 : 1)); // read-only: must fail
  } finally {
    const u = await unmountCommand(mp, {});
    if (u !== 0 || mountTable().has(mp)) code = code || 1;
    await rm(work, { recursive: true, force: true });
  }
  process.stdout.write(code === 0 ? 'objfs demo: done (the touch above was refused because the mount is read-only)\n' : `objfs demo: failed (${code})\n`);
  return code;
}
