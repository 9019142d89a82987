/**
 * Results of the S3 write workloads (writes.ts): the median table, the durability each tool gave
 * when its timer stopped, the ratios, bench/results/s3-writes.json and the chart s3-writes.png.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { median, medianWithRange, MiB, pairedRatios } from './common.js';
import { describe } from './mounts.js';
import { Footnotes, table } from './report.js';
import { TOOLS_FOR, type Metric, type WDurability, type WErrors, type WriteSizes, type WriteTool, type WriteWorkload, type WSamples } from './writes.js';

interface MetricDef {
  key: Metric;
  workload: WriteWorkload;
  label: string;
  unit: 'MB/s' | 's' | 'MiB';
  higher: boolean;
}

const size = (b: number): string => (b >= 1024 * MiB ? `${b / (1024 * MiB)} GiB` : `${b / MiB} MiB`);
const count = (n: number): string => n.toLocaleString('en-US');

export function metricDefs(S: WriteSizes): MetricDef[] {
  return [
    { key: 'seq_close', workload: 'seq', label: `seq write ${size(S.seqSize)} (1 MiB writes): until close`, unit: 'MB/s', higher: true },
    { key: 'seq_bucket', workload: 'seq', label: '  until in the bucket', unit: 'MB/s', higher: true },
    { key: 'small_close', workload: 'small', label: `${count(S.smallCount)} x 16 KiB files: until last close`, unit: 's', higher: false },
    { key: 'small_bucket', workload: 'small', label: '  until all in the bucket', unit: 's', higher: false },
    { key: 'small_bucket_new', workload: 'small', label: '  the same in a new process (local+sdk only)', unit: 's', higher: false },
    { key: 'edit_close', workload: 'edit', label: `edit ${size(S.editLen)} at ${size(S.editOffset)} of ${size(S.editSize)}: until close`, unit: 's', higher: false },
    { key: 'edit_bucket', workload: 'edit', label: '  until the new ETag is in the bucket', unit: 's', higher: false },
    { key: 'edit_sent', workload: 'edit', label: '  MiB sent to the server', unit: 'MiB', higher: false },
    { key: 'edit_recv', workload: 'edit', label: '  MiB received from the server', unit: 'MiB', higher: false },
    { key: 'rm', workload: 'rm', label: `rm -r of ${count(S.dirCount)} files`, unit: 's', higher: false },
    { key: 'rm_bucket', workload: 'rm', label: '  until gone from the bucket', unit: 's', higher: false },
    { key: 'mv', workload: 'mv', label: `mv of a directory of ${count(S.dirCount)} files`, unit: 's', higher: false },
    { key: 'mv_bucket', workload: 'mv', label: '  until moved in the bucket', unit: 's', higher: false },
  ];
}

function fmt(v: number, unit: MetricDef['unit']): string {
  if (!Number.isFinite(v)) return '-';
  switch (unit) {
    case 'MB/s':
      return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} MB/s`;
    case 's':
      return `${v >= 10 ? v.toFixed(1) : v.toFixed(2)} s`;
    case 'MiB':
      return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} MiB`;
  }
}

/** What each tool promises when its timer stops (the measured lag is in the durability table). */
export const PROMISE: Record<WriteTool, string> = {
  objfs: '--sync close (default): close() is meant to return once the data is in the bucket',
  'objfs-idle': '--sync idle=1: close() may return before the upload, which starts 1 s after the last write',
  sdk: 'the S3 request returned: in the bucket',
  'local+sdk': 'timer 1 (until close): files on the local disk only; timer 2: the last PutObject returned',
  s3fs: 'uploads in flush (close); close() returns after the upload; rm/mv: synchronous requests',
  rclone: '--vfs-cache-mode full: close() returns once the file is in the local VFS cache; uploaded after --vfs-write-back (5 s) in the background (the bench waits for the bucket)',
};

const medianOf = (s: WSamples, t: WriteTool, m: Metric): number | undefined => {
  const xs = s[t]?.[m] ?? [];
  return xs.length ? median(xs) : undefined;
};

export const WRITE_RATIOS: { what: string; num: WriteTool; den: WriteTool; metric: Metric; denMetric?: Metric }[] = [
  { what: 'seq write MB/s until close: objfs / direct multipart', num: 'objfs', den: 'sdk', metric: 'seq_close' },
  { what: 'seq write MB/s until close: objfs / s3fs', num: 'objfs', den: 's3fs', metric: 'seq_close' },
  { what: 'seq write MB/s until in bucket: objfs / rclone', num: 'objfs', den: 'rclone', metric: 'seq_bucket' },
  { what: 'small files, time until last close: objfs --sync close / s3fs', num: 'objfs', den: 's3fs', metric: 'small_close' },
  { what: 'small files, time until all in bucket: objfs --sync idle=1 / local disk + SDK x32', num: 'objfs-idle', den: 'local+sdk', metric: 'small_bucket' },
  { what: '  the same / local disk + SDK x32 in a new process (fresh-sdk.ts)', num: 'objfs-idle', den: 'local+sdk', metric: 'small_bucket', denMetric: 'small_bucket_new' },
  { what: 'small files, time until all in bucket: objfs --sync close / rclone', num: 'objfs', den: 'rclone', metric: 'small_bucket' },
  { what: 'edit, time until new ETag: objfs / direct UploadPartCopy edit', num: 'objfs', den: 'sdk', metric: 'edit_bucket' },
  { what: 'edit, time until new ETag: objfs / s3fs', num: 'objfs', den: 's3fs', metric: 'edit_bucket' },
  { what: 'edit, time until new ETag: objfs / rclone', num: 'objfs', den: 'rclone', metric: 'edit_bucket' },
  { what: 'edit, MiB sent: objfs / s3fs', num: 'objfs', den: 's3fs', metric: 'edit_sent' },
  { what: 'edit, MiB sent: objfs / rclone', num: 'objfs', den: 'rclone', metric: 'edit_sent' },
  { what: 'rm -r time: objfs / ListObjectsV2 + DeleteObjects', num: 'objfs', den: 'sdk', metric: 'rm' },
  { what: 'rm -r time: objfs / s3fs', num: 'objfs', den: 's3fs', metric: 'rm' },
  { what: 'rm -r time: objfs / rclone', num: 'objfs', den: 'rclone', metric: 'rm' },
  { what: 'mv time: objfs / CopyObject x16 + DeleteObjects', num: 'objfs', den: 'sdk', metric: 'mv' },
  { what: 'mv time: objfs / s3fs', num: 'objfs', den: 's3fs', metric: 'mv' },
  { what: 'mv time: objfs / rclone', num: 'objfs', den: 'rclone', metric: 'mv' },
];

function durabilityCell(d: WDurability, t: WriteTool, w: WriteWorkload): string {
  const x = d[t]?.[w];
  if (!x || !x.rounds) return TOOLS_FOR[w].includes(t) ? 'n/a' : '';
  if (t === 'sdk') return 'in bucket';
  if (t === 'local+sdk') return `local disk (upload +${median(x.lag).toFixed(1)} s)`;
  const what = w === 'rm' ? 'gone from bucket' : w === 'mv' ? 'moved in bucket' : 'in bucket';
  if (x.atStop === x.rounds) return `${what} at ${w === 'rm' || w === 'mv' ? 'exit' : 'close'}`;
  const later = x.lag.filter((l) => l > 0);
  const lag = later.length ? ` +${median(later).toFixed(1)} s` : '';
  return x.atStop === 0 ? `local only; ${what}${lag}` : `${what} at close ${x.atStop}/${x.rounds}, else${lag}`;
}

export interface WriteReportInput {
  samples: WSamples;
  errors: WErrors;
  durability: WDurability;
  notes: string[];
  tools: WriteTool[];
  workloads: WriteWorkload[];
  sizes: WriteSizes;
  rounds: number;
  quick: boolean;
  seconds: number;
  versions: Record<string, string>;
  stepTimeoutSeconds: number;
  bucket: string;
  resultsDir: string;
  tmp: string;
}

export function writeReport(x: WriteReportInput): void {
  const { samples, errors, tools } = x;
  const defs = metricDefs(x.sizes).filter((d) => x.workloads.includes(d.workload));
  const foot = new Footnotes();
  const cell = (t: WriteTool, d: MetricDef): string => {
    const s = samples[t]?.[d.key] ?? [];
    const e = errors[t]?.[d.key] ?? [];
    if (!s.length && !e.length) return '';
    const refs = [...new Set(e.map((m) => foot.ref(`${t}: ${m}`)))].map((n) => `[${n}]`).join('');
    if (!s.length) return `ERR ${refs}`;
    const v = medianWithRange(s, (m) => fmt(m, d.unit));
    return e.length ? `${v} (${e.length}/${x.rounds} failed ${refs})` : v;
  };
  const body = defs.map((d) => [d.label, ...tools.map((t) => cell(t, d))]);
  console.log(`\nS3 write benchmark${x.quick ? ' (--quick)' : ''}, ${x.rounds} round${x.rounds > 1 ? 's' : ''} (${(x.seconds / 60).toFixed(1)} min), MinIO on 127.0.0.1 (tmpfs), ${x.versions.cpus} CPUs, node ${x.versions.node}`);
  console.log(table(['write workload (median (min-max) of the rounds)', ...tools], body));
  foot.list.forEach((m, i) => console.log(`[${i + 1}] ${m}`));

  const durRows = tools.map((t) => [t, ...x.workloads.map((w) => durabilityCell(x.durability, t, w))]);
  console.log('\ndurability when the timer stopped (measured: the bench polls the bucket from the moment close()/rm/mv returned; "+X s" = median time until it was there)');
  console.log(table(['tool', ...x.workloads], durRows));
  for (const t of tools) console.log(`  ${t}: ${PROMISE[t]}`);

  const ratios = WRITE_RATIOS.filter((r) => tools.includes(r.num) && tools.includes(r.den)).map((r) => {
    const a = medianOf(samples, r.num, r.metric);
    const dm = r.denMetric ?? r.metric;
    const b = medianOf(samples, r.den, dm);
    const v = a !== undefined && b !== undefined ? a / b : undefined;
    const each = pairedRatios(samples[r.num]?.[r.metric] ?? [], samples[r.den]?.[dm] ?? [], x.rounds);
    return { ...r, value: v ?? null, row: [r.what, v === undefined ? 'n/a' : `${v >= 0.1 ? v.toFixed(2) : v.toPrecision(2)}x`, each] };
  });
  console.log('\nwrite ratios (ratio of medians; for times < 1 means objfs is faster, for MB/s > 1)');
  console.log(table(['ratio', 'value', 'each round'], ratios.map((r) => r.row)));
  for (const n of x.notes) console.log(`note: ${n}`);
  for (const t of tools) if (t !== 'sdk' && t !== 'local+sdk') console.log(`${t}: ${describe(t)}`);

  const suffix = x.quick ? '-quick' : '';
  fs.mkdirSync(x.resultsDir, { recursive: true });
  const medians: Record<string, Record<string, number>> = {};
  for (const [t, ms] of Object.entries(samples)) for (const [m, s] of Object.entries(ms ?? {})) if (s?.length) (medians[t] ??= {})[m] = median(s);
  const json = {
    date: new Date().toISOString(),
    quick: x.quick,
    rounds: x.rounds,
    stepTimeoutSeconds: x.stepTimeoutSeconds,
    versions: x.versions,
    server: 'MinIO on 127.0.0.1, data on tmpfs',
    bucket: x.bucket,
    sizes: x.sizes,
    tools,
    workloads: x.workloads,
    toolsPerWorkload: TOOLS_FOR,
    options: Object.fromEntries(tools.map((t) => [t, t === 'sdk' || t === 'local+sdk' ? PROMISE[t] : describe(t)])),
    promises: PROMISE,
    metrics: defs,
    medians,
    durability: Object.fromEntries(tools.map((t) => [t, Object.fromEntries(x.workloads.map((w) => [w, { ...x.durability[t]?.[w], shown: durabilityCell(x.durability, t, w) }]))])),
    ratios: ratios.map(({ row: _row, ...rest }) => rest),
    samples,
    errors,
    notes: x.notes,
  };
  const jsonFile = path.join(x.resultsDir, `s3-writes${suffix}.json`);
  fs.writeFileSync(jsonFile, JSON.stringify(json, null, 2) + '\n');
  const png = path.join(x.resultsDir, `s3-writes${suffix}.png`);
  const err = writeChart(x, png);
  if (err) console.log(`chart: ${err}`);
  console.log(`\nwrote ${path.relative(process.cwd(), jsonFile)}${err ? '' : ` and ${path.relative(process.cwd(), png)}`}`);
}

/**
 * Left: each mount tool's speed relative to the direct reference per workload and timer (log
 * scale, higher is better; the small files against local disk + SDK until in the bucket). Right:
 * MiB sent to the server for the edit, per tool.
 */
function writeChart(x: WriteReportInput, file: string): string | undefined {
  if (spawnSync('sh', ['-c', 'command -v gnuplot'], { stdio: 'ignore' }).status !== 0) return 'no gnuplot';
  const S = x.sizes;
  type Row = { m: Metric; label: string; ref: WriteTool; refM: Metric; higher: boolean };
  const all: Row[] = [
    { m: 'seq_close', label: `seq ${size(S.seqSize)}\\nuntil close`, ref: 'sdk', refM: 'seq_close', higher: true },
    { m: 'seq_bucket', label: `seq ${size(S.seqSize)}\\nin bucket`, ref: 'sdk', refM: 'seq_close', higher: true },
    { m: 'small_close', label: `${count(S.smallCount)} x 16K\\nuntil close`, ref: 'local+sdk', refM: 'small_bucket', higher: false },
    { m: 'small_bucket', label: `${count(S.smallCount)} x 16K\\nin bucket`, ref: 'local+sdk', refM: 'small_bucket', higher: false },
    { m: 'edit_close', label: 'edit 1 MiB\\nuntil close', ref: 'sdk', refM: 'edit_bucket', higher: false },
    { m: 'edit_bucket', label: 'edit 1 MiB\\nin bucket', ref: 'sdk', refM: 'edit_bucket', higher: false },
    { m: 'rm_bucket', label: `rm -r\\n${count(S.dirCount)} files`, ref: 'sdk', refM: 'rm', higher: false },
    { m: 'mv_bucket', label: `mv dir\\n${count(S.dirCount)} files`, ref: 'sdk', refM: 'mv', higher: false },
  ];
  const rows = all.filter((r) => x.workloads.some((w) => r.m.startsWith(w)));
  const bars = x.tools.filter((t) => t !== 'sdk' && t !== 'local+sdk');
  if (!rows.length || !bars.length) return 'nothing to draw';
  let lo = 0.1;
  let hi = 2;
  const lines = rows.map((r) => {
    const vals = bars.map((t) => {
      const a = medianOf(x.samples, t, r.m);
      const b = medianOf(x.samples, r.ref, r.refM);
      if (a === undefined || b === undefined) return '?';
      const v = r.higher ? a / b : b / a;
      if (!(v > 0 && Number.isFinite(v))) return '?';
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
      return v.toPrecision(4);
    });
    return `"${r.label}" ${vals.join(' ')}`;
  });
  if (lines.every((l) => !/ [0-9]/.test(l.slice(l.lastIndexOf('"') + 1)))) return 'no tool has a value next to its reference (sdk / local+sdk) to draw';
  const dat = path.join(x.tmp, 's3-writes.dat');
  fs.writeFileSync(dat, lines.join('\n') + '\n');
  const sentTools = x.tools.filter((t) => TOOLS_FOR.edit.includes(t));
  const sent = sentTools.map((t) => medianOf(x.samples, t, 'edit_sent'));
  const dat2 = path.join(x.tmp, 's3-writes-sent.dat');
  const colors: Record<string, string> = { objfs: '#1f77b4', 'objfs-idle': '#aec7e8', s3fs: '#ff7f0e', rclone: '#2ca02c', sdk: '#7f7f7f' };
  const rgb = (t: string) => parseInt((colors[t] ?? '#9467bd').slice(1), 16);
  fs.writeFileSync(dat2, sentTools.map((t, i) => `"${t}" ${sent[i] === undefined ? '?' : sent[i]!.toPrecision(4)} ${i} ${rgb(t)}`).join('\n') + '\n');
  const hasSent = x.workloads.includes('edit') && sent.some((v) => v !== undefined);
  const plots = bars.map((t, i) => `"${dat}" using ${i + 2}${i === 0 ? ':xtic(1)' : ''} title "${t}" lc rgb "${colors[t] ?? '#9467bd'}"`);
  const maxSent = Math.max(2, ...sent.filter((v): v is number => v !== undefined));
  const script = [
    `set terminal pngcairo size ${hasSent ? 1400 : 1100},580 font "sans,10"`,
    `set output "${file}"`,
    'set datafile missing "?"',
    hasSent ? 'set multiplot' : '',
    hasSent ? 'set size 0.75,1' : '',
    hasSent ? 'set origin 0,0' : '',
    `set title "objfs writes vs s3fs, rclone mount on MinIO (127.0.0.1)${x.quick ? ' --quick' : ''}, median of ${x.rounds} round${x.rounds > 1 ? 's' : ''}\\n(relative to direct SDK: multipart upload, UploadPartCopy edit, DeleteObjects, CopyObject; small files: local disk + 32 parallel PUTs, until in bucket)"`,
    'set style data histograms',
    'set style histogram clustered gap 1',
    'set style fill solid 0.85 border -1',
    'set boxwidth 0.9',
    'set logscale y',
    `set yrange [${10 ** Math.floor(Math.log10(lo))}:${10 ** Math.ceil(Math.log10(hi))}]`,
    'set ylabel "speed relative to the direct reference (log scale, higher is better)"',
    'set grid ytics',
    'set key top right',
    'set bmargin 4',
    'set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dt 2 lw 1.5 lc rgb "#c00000"',
    `plot ${plots.join(', ')}`,
    ...(hasSent
      ? [
          'unset arrow 1',
          'set size 0.25,1',
          'set origin 0.75,0',
          `set title "edit ${size(S.editLen)} in ${size(S.editSize)}:\\nMiB sent to the server"`,
          'set style fill solid 0.85 border -1',
          'set boxwidth 0.6',
          'unset key',
          'set ylabel "MiB sent (log scale, lower is better)"',
          `set yrange [0.5:${10 ** Math.ceil(Math.log10(maxSent * 1.5))}]`,
          'set xrange [-0.6:' + (sentTools.length - 0.4) + ']',
          `set arrow 2 from graph 0, first ${S.editLen / MiB} to graph 1, first ${S.editLen / MiB} nohead dt 2 lw 1.5 lc rgb "#c00000"`,
          `plot "${dat2}" using 3:2:4:xtic(1) with boxes lc rgb variable`,
          'unset multiplot',
        ]
      : []),
  ]
    .filter(Boolean)
    .join('\n');
  const r = spawnSync('gnuplot', [], { input: script, encoding: 'utf8' });
  return r.status === 0 ? undefined : `gnuplot failed: ${r.stderr}`;
}
