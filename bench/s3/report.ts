/**
 * The S3 benchmark's results: what is measured (workloads x tools), the median table, the
 * acceptance ratios, bench/results/s3.json and the gnuplot chart bench/results/s3.png.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { median, medianWithRange, pairedRatios } from './common.js';
import type { MountTool } from './mounts.js';

export type Tool = 'sdk' | 'curl' | 'local' | MountTool;
export type Workload = 'seq_cold' | 'seq_reread' | 'seq_warm' | 'rand4k' | 'rand_p50' | 'rand_p99' | 'tail' | 'ls_cold' | 'ls_fresh' | 'ls_warm' | 'find' | 'small' | 'small_par16' | 'rss';

export interface WorkloadDef {
  key: Workload;
  label: string;
  unit: 'MB/s' | 'IOPS' | 's' | 'ms' | 'MB';
  /** higher values are better (throughput) or lower (time, memory) */
  higher: boolean;
}

export const WORKLOADS: WorkloadDef[] = [
  { key: 'seq_cold', label: 'seq read 1 GiB, cold', unit: 'MB/s', higher: true },
  { key: 'seq_reread', label: 'seq re-read 1 GiB, right after the cold read', unit: 'MB/s', higher: true },
  { key: 'seq_warm', label: 'seq re-read 1 GiB, warm', unit: 'MB/s', higher: true },
  { key: 'rand4k', label: 'random 4 KiB reads, cold', unit: 'IOPS', higher: true },
  { key: 'rand_p50', label: '  latency p50', unit: 'ms', higher: false },
  { key: 'rand_p99', label: '  latency p99', unit: 'ms', higher: false },
  { key: 'tail', label: 'last 64 KiB after seek, cold', unit: 'ms', higher: false },
  { key: 'ls_cold', label: 'ls -l 10,000 entries, cold', unit: 's', higher: false },
  { key: 'ls_fresh', label: '  sdk: the same listing in a new process', unit: 's', higher: false },
  { key: 'ls_warm', label: 'ls -l 10,000 entries, warm', unit: 's', higher: false },
  { key: 'find', label: 'find 10,000 in 100 dirs, cold', unit: 's', higher: false },
  { key: 'small', label: 'read 1,000 x 16 KiB, sequential', unit: 's', higher: false },
  { key: 'small_par16', label: 'read 1,000 x 16 KiB, 16 parallel', unit: 's', higher: false },
  { key: 'rss', label: 'peak RSS while streaming 1 GiB', unit: 'MB', higher: false },
];

export type Samples = Record<string, Partial<Record<Workload, number[]>>>;
export type Errors = Record<string, Partial<Record<Workload, string[]>>>;

export interface Criterion {
  id: string;
  what: string;
  num: Tool;
  den: Tool | 'limit';
  workload: Workload;
  /** ratio of values (num/den), compared with `goal` using `op` */
  op: '>=' | '<=' | '<';
  /** for time-like workloads the ratio is of times (lower is better) */
  goal: number;
}

export const CRITERIA: Criterion[] = [
  { id: 'seq_cold/sdk', what: 'cold seq read: objfs / direct GET (throughput)', num: 'objfs', den: 'sdk', workload: 'seq_cold', op: '>=', goal: 0.8 },
  { id: 'seq_cold/s3fs', what: 'cold seq read: objfs / s3fs (throughput)', num: 'objfs', den: 's3fs', workload: 'seq_cold', op: '>=', goal: 1.5 },
  { id: 'seq_cold/rclone', what: 'cold seq read: objfs / rclone (throughput)', num: 'objfs', den: 'rclone', workload: 'seq_cold', op: '>=', goal: 1.5 },
  { id: 'seq_warm/local', what: 'warm re-read: objfs / local file (throughput)', num: 'objfs', den: 'local', workload: 'seq_warm', op: '>=', goal: 0.8 },
  { id: 'ls_cold/sdk', what: 'ls -l 10k cold: objfs time / raw ListObjectsV2 time', num: 'objfs', den: 'sdk', workload: 'ls_cold', op: '<=', goal: 2 },
  { id: 'ls_warm/s3fs', what: 'ls -l 10k warm: objfs time / s3fs time', num: 'objfs', den: 's3fs', workload: 'ls_warm', op: '<', goal: 1 },
  { id: 'ls_warm/rclone', what: 'ls -l 10k warm: objfs time / rclone time', num: 'objfs', den: 'rclone', workload: 'ls_warm', op: '<', goal: 1 },
  { id: 'rss', what: 'objfs peak RSS streaming 1 GiB (MB)', num: 'objfs', den: 'limit', workload: 'rss', op: '<', goal: 300 },
];

/** Ratios reported without a goal: how objfs compares elsewhere. */
export const INFO_RATIOS: { what: string; num: Tool; den: Tool; workload: Workload; denWorkload?: Workload }[] = [
  { what: 'cold seq read: objfs / curl GET (throughput)', num: 'objfs', den: 'curl', workload: 'seq_cold' },
  { what: 'ls -l 10k cold: objfs time / raw ListObjectsV2 in a new process (fresh-sdk.ts)', num: 'objfs', den: 'sdk', workload: 'ls_cold', denWorkload: 'ls_fresh' },
  { what: 'first re-read right after the cold read: objfs / local file warm (throughput)', num: 'objfs', den: 'local', workload: 'seq_reread', denWorkload: 'seq_warm' },
  { what: 'random 4K IOPS: objfs / direct ranged GET', num: 'objfs', den: 'sdk', workload: 'rand4k' },
  { what: 'random 4K IOPS: objfs / s3fs', num: 'objfs', den: 's3fs', workload: 'rand4k' },
  { what: 'random 4K IOPS: objfs / rclone', num: 'objfs', den: 'rclone', workload: 'rand4k' },
  { what: 'tail 64K time: objfs / direct ranged GET', num: 'objfs', den: 'sdk', workload: 'tail' },
  { what: 'find time: objfs / ListObjectsV2 of the tree', num: 'objfs', den: 'sdk', workload: 'find' },
  { what: 'find time: objfs / s3fs', num: 'objfs', den: 's3fs', workload: 'find' },
  { what: 'find time: objfs / rclone', num: 'objfs', den: 'rclone', workload: 'find' },
  { what: '1,000 small files time: objfs / 1,000 sequential GetObject', num: 'objfs', den: 'sdk', workload: 'small' },
  { what: '1,000 small files time: objfs / s3fs', num: 'objfs', den: 's3fs', workload: 'small' },
  { what: '1,000 small files time: objfs / rclone', num: 'objfs', den: 'rclone', workload: 'small' },
];

/** The ratio of the two tools' medians over the rounds. */
export function ratio(samples: Samples, num: Tool, den: Tool, w: Workload, denW: Workload = w): number | undefined {
  const a = samples[num]?.[w] ?? [];
  const b = samples[den]?.[denW] ?? [];
  if (!a.length || !b.length) return undefined;
  return median(a) / median(b);
}

export function fmtValue(v: number, unit: WorkloadDef['unit']): string {
  if (!Number.isFinite(v)) return '-';
  switch (unit) {
    case 'MB/s':
      return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} MB/s`;
    case 'IOPS':
      return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} /s`;
    case 's':
      return `${v >= 10 ? v.toFixed(1) : v.toFixed(2)} s`;
    case 'ms':
      return `${v >= 10 ? v.toFixed(0) : v.toFixed(1)} ms`;
    case 'MB':
      return `${v.toFixed(0)} MB`;
  }
}

/** Error messages shown under the table, numbered in the order first met. */
export class Footnotes {
  readonly list: string[] = [];
  ref(msg: string): number {
    const i = this.list.indexOf(msg);
    if (i >= 0) return i + 1;
    this.list.push(msg);
    return this.list.length;
  }
}

export function cell(samples: Samples, errors: Errors, tool: Tool, w: WorkloadDef, rounds: number, notes: Footnotes): string {
  const s = samples[tool]?.[w.key] ?? [];
  const e = errors[tool]?.[w.key] ?? [];
  if (!s.length && !e.length) return '';
  const refs = [...new Set(e.map((m) => notes.ref(`${tool}: ${m}`)))].map((n) => `[${n}]`).join('');
  if (!s.length) return `ERR ${refs}`;
  const v = medianWithRange(s, (x) => fmtValue(x, w.unit));
  return e.length ? `${v} (${e.length}/${rounds} failed ${refs})` : v;
}

export function table(head: string[], body: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (c ?? '').padEnd(widths[i]!)).join(' | ') + ' |';
  return [line(head), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...body.map(line)].join('\n');
}

/** The criterion in each round on its own (see pairedRatios); a limit shows the rounds' values. */
function perRound(samples: Samples, c: Criterion, rounds: number): string {
  const a = samples[c.num]?.[c.workload] ?? [];
  if (c.den === 'limit') return a.length > 1 ? a.map((x) => x.toFixed(0)).join(' ') : '';
  return pairedRatios(a, samples[c.den]?.[c.workload] ?? [], rounds);
}

export function criteriaRows(samples: Samples, rounds: number): { row: string[]; json: object }[] {
  return CRITERIA.map((c) => {
    let v: number | undefined;
    if (c.den === 'limit') {
      const s = samples[c.num]?.[c.workload] ?? [];
      v = s.length ? median(s) : undefined;
    } else v = ratio(samples, c.num, c.den, c.workload);
    const pass = v === undefined ? undefined : c.op === '>=' ? v >= c.goal : c.op === '<=' ? v <= c.goal : v < c.goal;
    const shown = v === undefined ? 'n/a' : c.den === 'limit' ? v.toFixed(0) : `${v.toFixed(2)}x`;
    return {
      row: [c.what, shown, `${c.op} ${c.goal}`, pass === undefined ? 'no data' : pass ? 'pass' : 'FAIL', perRound(samples, c, rounds)],
      json: { ...c, value: v ?? null, pass: pass ?? null },
    };
  });
}

function ensureGnuplot(): boolean {
  if (spawnSync('sh', ['-c', 'command -v gnuplot'], { stdio: 'ignore' }).status === 0) return true;
  console.log('gnuplot not found: running `apt-get install -y -q --no-install-recommends gnuplot-nox`');
  const r = spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'gnuplot-nox'], { encoding: 'utf8' });
  return r.status === 0;
}

/**
 * Bars per workload: each tool's speed relative to the reference (direct SDK; the local file for
 * the warm re-read), higher is better; times are inverted (reference time / tool time).
 */
export function chart(samples: Samples, tools: Tool[], file: string, tmp: string, title: string): string | undefined {
  if (!ensureGnuplot()) return 'no gnuplot';
  const rows: { w: Workload; label: string; ref: Tool; refW?: Workload }[] = [
    { w: 'seq_cold', label: 'seq read\\ncold', ref: 'sdk' },
    { w: 'seq_warm', label: 'seq re-read\\nwarm (vs local)', ref: 'local' },
    { w: 'rand4k', label: 'random 4K\\nIOPS', ref: 'sdk' },
    { w: 'tail', label: 'last 64K\\nafter seek', ref: 'sdk' },
    { w: 'ls_cold', label: 'ls -l 10k\\ncold', ref: 'sdk' },
    { w: 'ls_warm', label: 'ls -l 10k\\nwarm', ref: 'sdk', refW: 'ls_cold' },
    { w: 'find', label: 'find 10k\\n100 dirs', ref: 'sdk' },
    { w: 'small', label: '1,000 x 16K\\nsequential', ref: 'sdk' },
  ];
  const bars = tools.filter((t) => t !== 'sdk' && t !== 'local');
  const def = new Map(WORKLOADS.map((w) => [w.key, w]));
  let lo = 0.1;
  let hi = 2;
  const lines = rows.map((r) => {
    const vals = bars.map((t) => {
      const a = samples[t]?.[r.w] ?? [];
      const b = samples[r.ref]?.[r.refW ?? r.w] ?? [];
      if (!a.length || !b.length) return '?';
      const x = def.get(r.w)!.higher ? median(a) / median(b) : median(b) / median(a);
      if (!(x > 0 && Number.isFinite(x))) return '?';
      lo = Math.min(lo, x);
      hi = Math.max(hi, x);
      return x.toPrecision(4);
    });
    return `"${r.label}" ${vals.join(' ')}`;
  });
  const dat = path.join(tmp, 's3.dat');
  fs.writeFileSync(dat, lines.join('\n') + '\n');
  const colors: Record<string, string> = { curl: '#7f7f7f', objfs: '#1f77b4', s3fs: '#ff7f0e', rclone: '#2ca02c', 'rclone-off': '#98df8a' };
  const plots = bars.map((t, i) => `"${dat}" using ${i + 2}${i === 0 ? ':xtic(1)' : ''} title "${t}" lc rgb "${colors[t] ?? '#9467bd'}"`);
  const script = [
    'set terminal pngcairo size 1100,560 font "sans,10"',
    `set output "${file}"`,
    `set title "${title}\\n(warm re-read: relative to the local file in the page cache; ls -l warm: relative to the raw ListObjectsV2 time)"`,
    'set datafile missing "?"',
    'set style data histograms',
    'set style histogram clustered gap 1',
    'set style fill solid 0.85 border -1',
    'set boxwidth 0.9',
    'set logscale y',
    `set yrange [${10 ** Math.floor(Math.log10(lo))}:${10 ** Math.ceil(Math.log10(hi))}]`,
    'set ylabel "speed relative to the direct SDK (log scale, higher is better)"',
    'set grid ytics',
    'set key top right',
    'set bmargin 4',
    'set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lw 1.5 lc rgb "#c00000"',
    `plot ${plots.join(', ')}`,
  ].join('\n');
  const r = spawnSync('gnuplot', [], { input: script, encoding: 'utf8' });
  return r.status === 0 ? undefined : `gnuplot failed: ${r.stderr}`;
}
