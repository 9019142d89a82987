/**
 * Binding-overhead benchmark: objfs's native addon + JS (js-memfs) against the same filesystem in
 * C over libfuse3 (memfs_ll.c), on three workloads: sequential read with 1 MiB read() calls,
 * stat() from 1 thread and from 4 threads. Both filesystems answer from memory, so the difference
 * is the cost of the binding (the hop to the JS thread and back).
 *
 * usage: node dist/bench/binding/run.js
 * env: OBJFS_BENCH_ROUNDS (default 5), OBJFS_BENCH_SLICES per workload and round (default 3),
 *      OBJFS_BENCH_SECONDS per stat slice (default 1), OBJFS_BENCH_READ_GIB per read slice (default 2),
 *      OBJFS_BENCH_FUSE_THREADS (libfuse max_threads, the same for both; default 2).
 * Each round mounts both filesystems (fresh processes), then for each workload runs short slices
 * on C and objfs back to back, alternating which goes first, and unmounts both (always). The
 * machine is shared, so a ratio is taken per adjacent pair of slices (both saw the same background
 * load) and the table reports median values and the median of those paired ratios.
 * Writes bench/results/binding.json and bench/results/binding.png (gnuplot; installed with
 * apt-get install -y gnuplot-nox if missing).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadNative } from '../../src/fuse/native.js';

type Side = 'c' | 'objfs';
type Workload = 'read' | 'stat1' | 'stat4';
const WORKLOADS: { key: Workload; label: string; unit: string }[] = [
  { key: 'read', label: 'sequential read, 1 MiB', unit: 'GB/s' },
  { key: 'stat1', label: 'stat, 1 thread', unit: 'stat/s' },
  { key: 'stat4', label: 'stat, 4 threads', unit: 'stat/s' },
];

const here = path.dirname(fileURLToPath(import.meta.url));
function packageRoot(): string {
  let dir = here;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + here);
    dir = up;
  }
  return dir;
}
const root = packageRoot();
const srcDir = path.join(root, 'bench', 'binding');
const jsMemfs = path.join(here, 'js-memfs.js');
const resultsDir = path.join(root, 'bench', 'results');

const rounds = Math.max(1, Number(process.env.OBJFS_BENCH_ROUNDS ?? 5) || 5);
const slices = Math.max(1, Number(process.env.OBJFS_BENCH_SLICES ?? 3) || 3);
const statSeconds = Math.max(0.2, Number(process.env.OBJFS_BENCH_SECONDS ?? 1) || 1);
const readBytes = Math.round((Number(process.env.OBJFS_BENCH_READ_GIB ?? 2) || 2) * 1024 ** 3);
const fuseThreads = Math.max(1, Number(process.env.OBJFS_BENCH_FUSE_THREADS ?? 2) || 2);

function run(cmd: string, args: string[], what: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(`${what} failed: ${r.error?.message ?? ''}${r.stderr ?? ''}${r.stdout ?? ''}`.trim());
  }
  return r.stdout;
}

function compile(tmp: string): Record<string, string> {
  const flags = run('pkg-config', ['--cflags', '--libs', 'fuse3'], 'pkg-config fuse3').trim().split(/\s+/);
  const bins: Record<string, string> = {};
  for (const [name, extra] of [
    ['memfs_ll', flags],
    ['statloop', ['-pthread']],
    ['seqread', []],
  ] as const) {
    bins[name] = path.join(tmp, name);
    run('gcc', ['-O2', '-Wall', '-o', bins[name]!, path.join(srcDir, `${name}.c`), ...extra], `gcc ${name}.c`);
  }
  return bins;
}

const isMounted = (mp: string): boolean =>
  fs.readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === mp);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitMounted(mp: string, child: ChildProcess): Promise<void> {
  const until = Date.now() + 15000;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`filesystem process exited (${child.exitCode}) before mounting`);
    if (isMounted(mp)) {
      try {
        fs.statSync(path.join(mp, 'data')); // another process serves it: safe
        return;
      } catch {
        /* not ready yet */
      }
    }
    await sleep(50);
  }
  throw new Error(`timeout waiting for the mount on ${mp}`);
}

async function unmount(mp: string, child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())));
  if (isMounted(mp) && spawnSync('fusermount3', ['-u', mp]).status !== 0) spawnSync('fusermount3', ['-uz', mp]);
  const ok = await Promise.race([exited.then(() => true), sleep(10000).then(() => false)]);
  if (!ok) {
    child.kill('SIGKILL');
    await exited;
  }
  if (isMounted(mp)) spawnSync('fusermount3', ['-uz', mp]);
}

interface Mounted {
  side: Side;
  mp: string;
  child: ChildProcess;
}

async function mountSide(side: Side, bins: Record<string, string>): Promise<Mounted> {
  const mp = fs.mkdtempSync(path.join(os.tmpdir(), `objfs-bench-${side}-`));
  const child =
    side === 'c'
      ? spawn(bins.memfs_ll!, [mp, String(fuseThreads)], { stdio: ['ignore', 'ignore', 'inherit'] })
      : spawn(process.execPath, [jsMemfs, mp, String(fuseThreads)], { stdio: ['ignore', 'ignore', 'inherit'] });
  const m = { side, mp, child };
  try {
    await waitMounted(mp, child);
  } catch (e) {
    await unmountSide(m);
    throw e;
  }
  return m;
}

async function unmountSide(m: Mounted): Promise<void> {
  await unmount(m.mp, m.child);
  try {
    fs.rmdirSync(m.mp);
  } catch {
    /* left for inspection if still busy */
  }
}

function measure(w: Workload, m: Mounted, bins: Record<string, string>): number {
  const file = path.join(m.mp, 'data');
  if (w === 'read') return Number(run(bins.seqread!, [file, String(readBytes)], `${m.side} seqread`));
  const threads = w === 'stat1' ? '1' : '4';
  return Number(run(bins.statloop!, [file, threads, String(statSeconds)], `${m.side} statloop ${threads}`));
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function fmt(v: number, unit: string): string {
  return unit === 'GB/s' ? `${v.toFixed(2)} GB/s` : `${Math.round(v).toLocaleString('en-US')} /s`;
}

function ensureGnuplot(): boolean {
  if (spawnSync('sh', ['-c', 'command -v gnuplot'], { stdio: 'ignore' }).status === 0) return true;
  const install = ['install', '-y', '-q', '--no-install-recommends', 'gnuplot-nox'];
  console.log(`gnuplot not found: running \`apt-get ${install.join(' ')}\` (for the chart)`);
  let r = spawnSync('apt-get', install, { encoding: 'utf8' });
  if (r.status !== 0) {
    console.log('apt-get install failed: running `apt-get update -q` and retrying');
    spawnSync('apt-get', ['update', '-q'], { encoding: 'utf8' });
    r = spawnSync('apt-get', install, { encoding: 'utf8' });
  }
  if (r.status !== 0) console.log(`apt-get failed:\n${r.stdout ?? ''}${r.stderr ?? ''}${r.error?.message ?? ''}`);
  else console.log('gnuplot-nox installed');
  return r.status === 0;
}

function chart(rows: { label: string; unit: string; c: number; objfs: number; ratio: number }[], file: string, tmp: string): boolean {
  if (!ensureGnuplot()) {
    console.log('no gnuplot: chart skipped');
    return false;
  }
  const dat = path.join(tmp, 'binding.dat');
  fs.writeFileSync(
    dat,
    rows.map((r) => `"${r.label}\\nC ${fmt(r.c, r.unit)}\\nobjfs ${fmt(r.objfs, r.unit)}" 1.0 ${r.ratio.toFixed(4)}`).join('\n') + '\n',
  );
  const script = [
    'set terminal pngcairo size 900,520 font "sans,11"',
    `set output "${file}"`,
    `set title "objfs binding vs C libfuse3 reference (median of ${rounds * slices} paired runs, ${fuseThreads} libfuse threads)"`,
    'set style data histograms',
    'set style histogram clustered gap 1',
    'set style fill solid 0.85 border -1',
    'set boxwidth 0.9',
    `set yrange [0:${Math.max(1.3, Math.ceil(Math.max(...rows.map((r) => r.ratio)) * 12) / 10)}]`,
    'set bmargin 5',
    'set ylabel "throughput relative to the C reference"',
    'set grid ytics',
    'set key top center horizontal',
    'set arrow from graph 0, first 0.7 to graph 1, first 0.7 nohead dt 2 lw 2 lc rgb "#c00000"',
    'set label "goal 0.7" at graph 0.01, first 0.74 tc rgb "#c00000"',
    `plot "${dat}" using 2:xtic(1) title "C reference (libfuse3 low-level)" lc rgb "#7f7f7f", '' using 3 title "objfs (N-API addon + JS)" lc rgb "#1f77b4", '' using 0:3:(sprintf("%.2fx", $3)) with labels offset 2.2,0.7 notitle`,
  ].join('\n');
  const r = spawnSync('gnuplot', [], { input: script, encoding: 'utf8' });
  if (r.status !== 0) {
    console.log(`gnuplot failed: ${r.stderr}`);
    return false;
  }
  return true;
}

async function main(): Promise<void> {
  loadNative(); // fail early with "native addon not built" if needed
  if (!fs.existsSync(jsMemfs)) throw new Error(`missing ${jsMemfs}: run npm run build`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'objfs-bench-bin-'));
  const bins = compile(tmp);
  const samples: Record<Side, Record<Workload, number[]>> = {
    c: { read: [], stat1: [], stat4: [] },
    objfs: { read: [], stat1: [], stat4: [] },
  };
  const pairRatios: Record<Workload, number[]> = { read: [], stat1: [], stat4: [] };
  console.log(
    `binding benchmark: ${rounds} rounds x ${slices} slices, read ${(readBytes / 1024 ** 3).toFixed(1)} GiB, stat ${statSeconds} s, ` +
      `libfuse max_threads ${fuseThreads}, libfuse ${loadNative().libfuseVersion()}, node ${process.version}, ${os.cpus().length} CPUs`,
  );
  let flip = 0;
  for (let r = 0; r < rounds; r++) {
    const mounted: Mounted[] = [];
    try {
      mounted.push(await mountSide('c', bins));
      mounted.push(await mountSide('objfs', bins));
      const [mc, mo] = mounted as [Mounted, Mounted];
      const line: string[] = [];
      for (const w of WORKLOADS) {
        const ratios: number[] = [];
        for (let k = 0; k < slices; k++) {
          const first = flip++ % 2 === 0 ? mc : mo;
          const second = first === mc ? mo : mc;
          const v: Record<Side, number> = { c: 0, objfs: 0 };
          v[first.side] = measure(w.key, first, bins);
          v[second.side] = measure(w.key, second, bins);
          samples.c[w.key].push(v.c);
          samples.objfs[w.key].push(v.objfs);
          ratios.push(v.objfs / v.c);
        }
        pairRatios[w.key].push(...ratios);
        line.push(`${w.key} ${median(ratios).toFixed(2)}x`);
      }
      console.log(`round ${r + 1}/${rounds}: objfs/C ${line.join(', ')}`);
    } finally {
      for (const m of mounted.reverse()) await unmountSide(m);
    }
  }
  const rows = WORKLOADS.map((w) => {
    const c = median(samples.c[w.key]);
    const objfs = median(samples.objfs[w.key]);
    return { workload: w.key, label: w.label, unit: w.unit, c, objfs, ratio: median(pairRatios[w.key]) };
  });
  const head = ['workload', 'C ref (median)', 'objfs (median)', 'ratio objfs/C (median of pairs)'];
  const body = rows.map((r) => [r.label, fmt(r.c, r.unit), fmt(r.objfs, r.unit), `${r.ratio.toFixed(2)}x${r.ratio >= 0.7 ? '' : '  (< 0.7)'}`]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  console.log('');
  console.log(line(head));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const b of body) console.log(line(b));

  fs.mkdirSync(resultsDir, { recursive: true });
  const json = {
    date: new Date().toISOString(),
    rounds,
    slices,
    statSeconds,
    readBytes,
    fuseThreads,
    libfuse: loadNative().libfuseVersion(),
    node: process.version,
    kernel: os.release(),
    cpus: os.cpus().length,
    results: rows,
    samples,
    pairRatios,
  };
  const jsonFile = path.join(resultsDir, 'binding.json');
  fs.writeFileSync(jsonFile, JSON.stringify(json, null, 2) + '\n');
  const png = path.join(resultsDir, 'binding.png');
  const drew = chart(rows, png, tmp);
  console.log(`\nwrote ${path.relative(process.cwd(), jsonFile)}${drew ? ` and ${path.relative(process.cwd(), png)}` : ''}`);
  fs.rmSync(tmp, { recursive: true, force: true });
}

main().catch((e: unknown) => {
  console.error(`objfs bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
