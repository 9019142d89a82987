/**
 * S3 read-side benchmark: objfs against s3fs, rclone mount and direct S3 access (AWS SDK v3 and
 * curl --aws-sigv4), all on one MinIO on 127.0.0.1 in the same run.
 *
 * usage: node dist/bench/s3/run.js [--only reads|writes] [--rounds N] [--quick]   (npm run bench:s3 -- ...)
 *        --only      run only the read or only the write workloads (default: both, reads first)
 *        --rounds N  rounds (overrides OBJFS_BENCH_ROUNDS)
 *        --quick     1 round; write workloads at 64 MiB instead of 1 GiB and 100 files instead of
 *                    1,000 (the read data set is unchanged); results go to *-quick.json/png
 * env:   OBJFS_BENCH_ROUNDS (default 3)      rounds; each value in the table is the median
 *        OBJFS_BENCH_TOOLS                   default sdk,curl,local,objfs,s3fs,rclone (+ rclone-off)
 *        OBJFS_BENCH_WRITE_TOOLS             default sdk,local+sdk,objfs,objfs-idle,s3fs,rclone
 *        OBJFS_BENCH_WRITES                  write workloads, default seq,small,edit,rm,mv (writes.ts)
 *        OBJFS_BENCH_TIMEOUT (default 300)   seconds for any one step
 *        OBJFS_BENCH_RAND_OPS (default 1000) random 4 KiB reads per round (each stops after 30 s)
 *        OBJFS_BENCH_OBJFS_ARGS / OBJFS_BENCH_S3FS_OPTS / OBJFS_BENCH_RCLONE_ARGS  extra options
 *        MINIO_BIN                           the minio binary (else PATH, $(go env GOPATH)/bin)
 *
 * Setup (printed as it goes): installs s3fs, rclone, curl, gnuplot-nox with apt-get when missing;
 * starts MinIO with its data on /dev/shm (tmpfs, so the server's disk is not measured); uploads
 * the data set with the SDK. Per round and tool (the order rotates each round), each mount tool
 * is mounted three times, each time fresh (new process, new cache directory) after dropping the
 * kernel caches: (A) cold sequential read of the 1 GiB object, sampling the server's RSS, then a
 * first re-read (reported on its own row) and the warm re-read; (B) the last 64 KiB after a seek, then random 4 KiB reads; (C) ls -l of 10,000
 * entries cold then warm, find over 10,000 objects in 100 directories, cat of 1,000 x 16 KiB
 * (kernel caches dropped before each cold step). Every read is checked against the bytes
 * uploaded. Results: a table on stdout, bench/results/s3.json, bench/results/s3.png.
 * The write workloads (writes.ts) follow with their own table, s3-writes.json and s3-writes.png.
 * A step that fails or times out is marked in its cell and the run goes on; every mount and the
 * MinIO are stopped at the end, also on error or SIGINT/SIGTERM.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DATA, median, percentile, randomOffsets, sampleOffsets, smallKey } from './common.js';
import { Curl, Direct, type S3Target } from './direct.js';
import { purgeTrash, startMinio, type Minio } from './minio.js';
import { describe, mount, objfsRoot, unmount, type MountEnv, type MountTool, type Mounted } from './mounts.js';
import { dropCaches, firstLine, nowSec, rssSampler, runCmd, StepError } from './proc.js';
import { ALL_WRITE_TOOLS, ALL_WRITE_WORKLOADS, WriteBench, writeSizes, type WriteTool, type WriteWorkload } from './writes.js';
import { writeReport } from './write-report.js';
import { chart, CRITERIA, criteriaRows, cell, Footnotes, INFO_RATIOS, ratio, table, WORKLOADS, type Errors, type Samples, type Tool, type Workload } from './report.js';

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
const readerJs = path.join(here, 'reader.js');
const writerJs = path.join(here, 'writer.js');
const freshSdkJs = path.join(here, 'fresh-sdk.js');
const resultsDir = path.join(root, 'bench', 'results');

const num = (v: string | undefined, d: number, min: number): number => Math.max(min, Number(v ?? d) || d);

/** Command line: --only reads|writes, --rounds N, --quick. */
function parseArgs(argv: string[]): { only: 'reads' | 'writes' | undefined; rounds: number | undefined; quick: boolean } {
  const out: { only: 'reads' | 'writes' | undefined; rounds: number | undefined; quick: boolean } = { only: undefined, rounds: undefined, quick: false };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? '';
    if (flag === '--only') {
      const v = value();
      if (v === 'reads' || v === 'writes') out.only = v;
      else if (v !== 'all') throw new Error(`--only: expected reads or writes, got ${JSON.stringify(v)}`);
    } else if (flag === '--rounds') {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1) throw new Error('--rounds: expected a positive integer');
      out.rounds = n;
    } else if (flag === '--quick') out.quick = true;
    else if (flag === '--help' || flag === '-h') {
      console.log('usage: node dist/bench/s3/run.js [--only reads|writes] [--rounds N] [--quick]   (see bench/README.md)');
      process.exit(0);
    } else throw new Error(`unknown argument ${argv[i]} (usage: [--only reads|writes] [--rounds N] [--quick])`);
  }
  return out;
}
let args: ReturnType<typeof parseArgs>;
try {
  args = parseArgs(process.argv.slice(2));
} catch (e) {
  console.error(`objfs bench s3: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(2);
}
const quick = args.quick;
const doReads = args.only !== 'writes';
const doWrites = args.only !== 'reads';
const rounds = args.rounds ?? (quick ? 1 : num(process.env.OBJFS_BENCH_ROUNDS, 3, 1));
const resultSuffix = quick ? '-quick' : '';
const stepMs = num(process.env.OBJFS_BENCH_TIMEOUT, 300, 10) * 1000;
const randOps = num(process.env.OBJFS_BENCH_RAND_OPS, 1000, 10);
const randMaxSec = 30;
const ALL_TOOLS: Tool[] = ['sdk', 'curl', 'local', 'objfs', 's3fs', 'rclone', 'rclone-off'];
const tools: Tool[] = (process.env.OBJFS_BENCH_TOOLS ?? 'sdk,curl,local,objfs,s3fs,rclone')
  .split(',')
  .map((s) => s.trim())
  .filter((s): s is Tool => (ALL_TOOLS as string[]).includes(s));
const writeTools: WriteTool[] = (process.env.OBJFS_BENCH_WRITE_TOOLS ?? ALL_WRITE_TOOLS.join(','))
  .split(',')
  .map((s) => s.trim())
  .filter((s): s is WriteTool => (ALL_WRITE_TOOLS as string[]).includes(s));
const writeWorkloads: WriteWorkload[] = (process.env.OBJFS_BENCH_WRITES ?? ALL_WRITE_WORKLOADS.join(','))
  .split(',')
  .map((s) => s.trim())
  .filter((s): s is WriteWorkload => (ALL_WRITE_WORKLOADS as string[]).includes(s));
const isMountTool = (t: Tool): t is MountTool => t === 'objfs' || t === 's3fs' || t === 'rclone' || t === 'rclone-off';
const MB = 1e6;

/** apt-get install what is missing (s3fs, rclone, curl; gnuplot-nox for the chart). */
function ensurePackages(): void {
  const want: [string, string][] = [
    ['s3fs', 's3fs'],
    ['rclone', 'rclone'],
    ['curl', 'curl'],
    ['gnuplot', 'gnuplot-nox'],
  ];
  const has = (c: string) => spawnSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' }).status === 0;
  const missing = want.filter(([c]) => !has(c)).map(([, p]) => p);
  if (!missing.length) {
    console.log(`setup: ${want.map(([c]) => c).join(', ')} present`);
    return;
  }
  const args = ['install', '-y', '-q', '--no-install-recommends', ...missing];
  console.log(`setup: running apt-get ${args.join(' ')}`);
  let r = spawnSync('apt-get', args, { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) {
    console.log('setup: apt-get install failed: running apt-get update -q and retrying');
    spawnSync('apt-get', ['update', '-q'], { encoding: 'utf8' });
    r = spawnSync('apt-get', args, { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  }
  if (r.status !== 0) console.log(`setup: apt-get failed (the tools that are missing will show errors):\n${(r.stderr ?? '').slice(-600)}`);
}

function versions(minioBin: string | undefined): Record<string, string> {
  const v = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    return r.status === 0 ? (r.stdout || r.stderr).trim().split('\n')[0]! : 'n/a';
  };
  const oroot = objfsRoot(root);
  const head = spawnSync('git', ['-C', oroot, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  const dirty = spawnSync('git', ['-C', oroot, 'status', '--porcelain', '--untracked-files=no', 'src', 'native'], { encoding: 'utf8' });
  const stamp = path.join(oroot, 'OBJFS_BENCH_COMMIT'); // a snapshot (git archive) names its commit here
  return {
    objfs: fs.existsSync(stamp)
      ? `${fs.readFileSync(stamp, 'utf8').trim()} (snapshot in ${oroot})`
      : head.status === 0
        ? head.stdout.trim() + (dirty.stdout.trim() ? ' + uncommitted changes in src/ or native/' : '')
        : 'n/a',
    node: process.version,
    kernel: os.release(),
    cpus: String(os.cpus().length),
    s3fs: v('s3fs', ['--version']),
    rclone: v('rclone', ['version']),
    curl: v('curl', ['--version']),
    minio: minioBin ? v(minioBin, ['--version']) : 'n/a',
  };
}

/** What every read must return: computed from the local copy of the big object. */
class Expected {
  constructor(private readonly file: string) {}
  private pread(off: number, len: number): Buffer {
    const fd = fs.openSync(this.file, 'r');
    try {
      const b = Buffer.alloc(len);
      fs.readSync(fd, b, 0, len, off);
      return b;
    } finally {
      fs.closeSync(fd);
    }
  }
  checkSamples(got: Record<string, string>, bytes: number): void {
    if (bytes !== DATA.bigSize) throw new StepError(`read ${bytes} bytes, expected ${DATA.bigSize}`);
    const offs = sampleOffsets(DATA.bigSize);
    let seen = 0;
    for (const o of offs) {
      if (got[o] === undefined) continue;
      seen++;
      if (got[o] !== this.pread(o, 16).toString('hex')) throw new StepError(`wrong bytes at offset ${o}`);
    }
    if (seen < offs.length / 2) throw new StepError(`only ${seen}/${offs.length} samples seen`);
  }
  randSha(n: number, seed: number, ops: number): string {
    const h = createHash('sha256');
    for (const off of randomOffsets(n, seed).slice(0, ops)) h.update(this.pread(off, DATA.randSize));
    return h.digest('hex');
  }
  tailSha(): string {
    return createHash('sha256').update(this.pread(DATA.bigSize - DATA.tailSize, DATA.tailSize)).digest('hex');
  }
}

class Bench {
  readonly samples: Samples = {};
  readonly errors: Errors = {};
  readonly notes: string[] = [];
  private readonly active = new Set<Mounted>();
  private mountSeq = 0;
  private dropWarned = false;
  private mountFailed: string | undefined;

  constructor(
    private readonly env: MountEnv,
    private readonly direct: Direct,
    private readonly curl: Curl,
    private readonly localBig: string,
    private readonly expect: Expected,
  ) {}

  record(tool: Tool, w: Workload, v: number): void {
    ((this.samples[tool] ??= {})[w] ??= []).push(v);
  }
  fail(tool: Tool, ws: Workload[], msg: string): void {
    for (const w of ws) ((this.errors[tool] ??= {})[w] ??= []).push(msg);
    console.log(`  ${tool}: ${ws.join(', ')}: ${msg}`);
  }

  cold(): void {
    if (!dropCaches() && !this.dropWarned) {
      this.dropWarned = true;
      this.notes.push('could not write /proc/sys/vm/drop_caches: cold steps rely on fresh mounts and cache directories only');
      console.log(`  note: ${this.notes[this.notes.length - 1]}`);
    }
  }

  private async timed<T>(p: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const t = new Promise<never>((_, rej) => {
      timer = setTimeout(() => rej(new StepError(`timeout after ${stepMs / 1000} s: ${what}`)), stepMs);
    });
    try {
      return await Promise.race([p, t]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Run one step; a failure is recorded for `ws` and returned (a timeout also stops its group). */
  private async step(tool: Tool, ws: Workload[], fn: () => Promise<void>): Promise<'ok' | 'failed' | 'timeout'> {
    try {
      await fn();
      return 'ok';
    } catch (e) {
      const msg = firstLine(e);
      this.fail(tool, ws, msg);
      return msg.startsWith('timeout') ? 'timeout' : 'failed';
    }
  }

  private async reader(args: string[]): Promise<any> {
    const r = await runCmd(process.execPath, [readerJs, ...args], { timeoutMs: stepMs, check: true });
    return JSON.parse(r.stdout);
  }

  async runDirect(tool: 'sdk' | 'curl' | 'local', round: number): Promise<void> {
    const seed = 1000 + round;
    const out: string[] = [];
    const rec = (w: Workload, v: number, shown: string) => {
      this.record(tool, w, v);
      out.push(shown);
    };
    const randRec = (r: { ops: number; seconds: number; lat: number[]; sha256: string }) => {
      if (r.sha256 !== this.expect.randSha(randOps, seed, r.ops)) throw new StepError('random reads returned wrong bytes');
      rec('rand4k', r.ops / r.seconds, `rand ${(r.ops / r.seconds).toFixed(0)} IOPS`);
      this.record(tool, 'rand_p50', percentile(r.lat, 50) * 1000);
      this.record(tool, 'rand_p99', percentile(r.lat, 99) * 1000);
    };
    if (tool === 'sdk') {
      const d = this.direct;
      await this.step(tool, ['seq_cold'], async () => {
        const r = await this.timed(d.seq(), 'GetObject 1 GiB');
        this.expect.checkSamples(r.samples, r.bytes);
        rec('seq_cold', r.bytes / MB / r.seconds, `seq ${(r.bytes / MB / r.seconds).toFixed(0)} MB/s`);
      });
      await this.step(tool, ['tail'], async () => {
        const r = await this.timed(d.tail(), 'ranged GET');
        if (r.sha256 !== this.expect.tailSha()) throw new StepError('tail read returned wrong bytes');
        rec('tail', r.seconds * 1000, `tail ${(r.seconds * 1000).toFixed(1)} ms`);
      });
      await this.step(tool, ['rand4k', 'rand_p50', 'rand_p99'], async () => randRec(await this.timed(d.rand(randOps, seed, randMaxSec), 'ranged GETs')));
      await this.step(tool, ['ls_cold'], async () => {
        const r = await this.timed(d.list(DATA.lsPrefix, '/'), 'ListObjectsV2');
        if (r.keys !== DATA.lsCount) throw new StepError(`listed ${r.keys} keys`);
        rec('ls_cold', r.seconds, `list ${r.pages} pages ${r.seconds.toFixed(2)} s`);
      });
      await this.step(tool, ['ls_fresh'], async () => {
        // the same listing in a new process, as a user's script runs it (see fresh-sdk.ts)
        const env = { ...process.env, OBJFS_BENCH_TARGET: JSON.stringify(d.t) };
        const out = await runCmd(process.execPath, [freshSdkJs, 'list', DATA.lsPrefix, '/'], { timeoutMs: stepMs, check: true, env });
        const r = JSON.parse(out.stdout) as { keys: number; pages: number; seconds: number };
        if (r.keys !== DATA.lsCount) throw new StepError(`listed ${r.keys} keys in a new process`);
        rec('ls_fresh', r.seconds, `list in a new process ${r.seconds.toFixed(2)} s`);
      });
      await this.step(tool, ['find'], async () => {
        const r = await this.timed(d.list(DATA.treePrefix, undefined), 'ListObjectsV2');
        if (r.keys !== DATA.treeDirs * DATA.treePerDir) throw new StepError(`listed ${r.keys} keys`);
        rec('find', r.seconds, `tree ${r.pages} pages ${r.seconds.toFixed(2)} s`);
      });
      for (const [w, par] of [['small', 1], ['small_par16', 16]] as const) {
        await this.step(tool, [w], async () => {
          const r = await this.timed(d.small(par), 'GetObject x 1000');
          if (r.bytes !== DATA.smallCount * DATA.smallSize) throw new StepError(`read ${r.bytes} bytes`);
          rec(w, r.seconds, `small x${par} ${r.seconds.toFixed(2)} s`);
        });
      }
    } else if (tool === 'curl') {
      const c = this.curl;
      await this.step(tool, ['seq_cold'], async () => {
        const r = await c.seq(stepMs);
        rec('seq_cold', r.bytes / MB / r.seconds, `seq ${(r.bytes / MB / r.seconds).toFixed(0)} MB/s`);
      });
      await this.step(tool, ['tail'], async () => {
        const r = await c.tail(stepMs);
        if (r.sha256 !== this.expect.tailSha()) throw new StepError('tail read returned wrong bytes');
        rec('tail', r.seconds * 1000, `tail ${(r.seconds * 1000).toFixed(1)} ms`);
      });
      await this.step(tool, ['rand4k', 'rand_p50', 'rand_p99'], async () => randRec(await c.rand(randOps, seed, stepMs)));
      await this.step(tool, ['small'], async () => {
        const r = await c.small(stepMs);
        if (r.bytes !== DATA.smallCount * DATA.smallSize) throw new StepError(`read ${r.bytes} bytes`);
        rec('small', r.seconds, `small ${r.seconds.toFixed(2)} s`);
      });
    } else {
      await this.step(tool, ['seq_cold'], async () => {
        this.cold();
        const r = await this.reader(['seq', this.localBig]);
        this.expect.checkSamples(r.samples, r.bytes);
        rec('seq_cold', r.bytes / MB / r.seconds, `disk ${(r.bytes / MB / r.seconds).toFixed(0)} MB/s`);
      });
      await this.step(tool, ['seq_warm'], async () => {
        await this.reader(['seq', this.localBig]); // make sure all of it is in the page cache
        const r = await this.reader(['seq', this.localBig]);
        this.expect.checkSamples(r.samples, r.bytes);
        rec('seq_warm', r.bytes / MB / r.seconds, `warm ${(r.bytes / MB / r.seconds).toFixed(0)} MB/s`);
      });
    }
    console.log(`  ${tool}: ${out.join(', ')}`);
  }

  /** Mount fresh, run `body`, always unmount; a mount failure marks every workload of the group. */
  private async group(tool: MountTool, ws: Workload[], body: (m: Mounted, out: string[]) => Promise<void>): Promise<void> {
    if (this.mountFailed) {
      // same tool, same round: the mount failed a moment ago; do not wait for it again
      for (const w of ws) ((this.errors[tool] ??= {})[w] ??= []).push(this.mountFailed);
      return;
    }
    this.cold();
    let m: Mounted;
    try {
      m = await mount(tool, this.env, this.mountSeq++);
    } catch (e) {
      this.mountFailed = firstLine(e);
      this.fail(tool, ws, this.mountFailed);
      return;
    }
    this.active.add(m);
    const out: string[] = [];
    try {
      await body(m, out);
    } finally {
      this.active.delete(m);
      const note = await unmount(m);
      if (note) out.push(`(unmount needed: ${note})`);
      if (out.length) console.log(`  ${tool}: ${out.join(', ')}`);
    }
  }

  async runMount(tool: MountTool, round: number): Promise<void> {
    const seed = 1000 + round;
    this.mountFailed = undefined;
    const rec = (out: string[], w: Workload, v: number, shown: string) => {
      this.record(tool, w, v);
      out.push(shown);
    };
    const big = (m: Mounted) => path.join(m.mp, DATA.bigKey);
    // (A) cold sequential read with the server's memory sampled, then the warm re-read
    await this.group(tool, ['seq_cold', 'rss', 'seq_reread', 'seq_warm'], async (m, out) => {
      const pid = m.child.pid!;
      const sampler = rssSampler(pid);
      let rss: { peakRss: number; hwm: number } | undefined;
      const st = await this.step(tool, ['seq_cold', 'rss'], async () => {
        let r: any;
        try {
          r = await this.reader(['seq', big(m)]);
        } finally {
          rss = sampler.stop();
        }
        this.expect.checkSamples(r.samples, r.bytes);
        rec(out, 'seq_cold', r.bytes / MB / r.seconds, `seq cold ${(r.bytes / MB / r.seconds).toFixed(0)} MB/s`);
        rec(out, 'rss', Math.max(rss.peakRss, rss.hwm) / MB, `peak RSS ${(Math.max(rss.peakRss, rss.hwm) / MB).toFixed(0)} MB`);
      });
      if (st === 'timeout') return this.fail(tool, ['seq_reread', 'seq_warm'], 'skipped: the mount timed out before');
      // The first re-read finds what the cold read left in the page cache. On this machine a
      // DAMON "pageout" scheme reclaims some of it within seconds (see bench/README.md), so that
      // read is reported on its own row; the warm row is the read after it, which is what the
      // local reference measures too (read once to fill the page cache, then measure).
      const st2 = await this.step(tool, ['seq_reread'], async () => {
        const r = await this.reader(['seq', big(m)]);
        this.expect.checkSamples(r.samples, r.bytes);
        rec(out, 'seq_reread', r.bytes / MB / r.seconds, `re-read ${(r.bytes / MB / r.seconds).toFixed(0)} MB/s`);
      });
      if (st2 === 'timeout') return this.fail(tool, ['seq_warm'], 'skipped: the mount timed out before');
      await this.step(tool, ['seq_warm'], async () => {
        const r = await this.reader(['seq', big(m)]);
        this.expect.checkSamples(r.samples, r.bytes);
        rec(out, 'seq_warm', r.bytes / MB / r.seconds, `warm ${(r.bytes / MB / r.seconds).toFixed(0)} MB/s`);
      });
    });
    // (B) a zip reader's first move (the end of the file), then random 4 KiB reads
    await this.group(tool, ['tail', 'rand4k', 'rand_p50', 'rand_p99'], async (m, out) => {
      const st = await this.step(tool, ['tail'], async () => {
        const r = await this.reader(['tail', big(m), String(DATA.tailSize)]);
        if (r.bytes !== DATA.tailSize || r.sha256 !== this.expect.tailSha()) throw new StepError('tail read returned wrong bytes');
        rec(out, 'tail', r.seconds * 1000, `tail ${(r.seconds * 1000).toFixed(1)} ms`);
      });
      if (st === 'timeout') return this.fail(tool, ['rand4k', 'rand_p50', 'rand_p99'], 'skipped: the mount timed out before');
      await this.step(tool, ['rand4k', 'rand_p50', 'rand_p99'], async () => {
        const r = await this.reader(['rand', big(m), String(randOps), String(seed), String(randMaxSec)]);
        if (r.sha256 !== this.expect.randSha(randOps, seed, r.ops)) throw new StepError('random reads returned wrong bytes');
        rec(out, 'rand4k', r.ops / r.seconds, `rand ${(r.ops / r.seconds).toFixed(0)} IOPS (${r.ops} reads)`);
        this.record(tool, 'rand_p50', percentile(r.lat, 50) * 1000);
        this.record(tool, 'rand_p99', percentile(r.lat, 99) * 1000);
      });
    });
    // (C) metadata: ls -l cold and warm, find, then 1,000 small files
    const cenv = { ...process.env, LC_ALL: 'C' };
    await this.group(tool, ['ls_cold', 'ls_warm', 'find', 'small'], async (m, out) => {
      const ls = async (w: Workload) => {
        const r = await runCmd('ls', ['-l', '--color=never', path.join(m.mp, DATA.lsPrefix)], { timeoutMs: stepMs, check: true, env: cenv });
        const n = r.stdout.split('\n').filter((l) => l.startsWith('-')).length;
        if (n !== DATA.lsCount) throw new StepError(`ls -l showed ${n} files`);
        rec(out, w, r.seconds, `${w} ${r.seconds.toFixed(2)} s`);
      };
      const find = async () => {
        const r = await runCmd('find', [path.join(m.mp, DATA.treePrefix), '-type', 'f'], { timeoutMs: stepMs, check: true, env: cenv });
        const n = r.stdout.split('\n').filter(Boolean).length;
        if (n !== DATA.treeDirs * DATA.treePerDir) throw new StepError(`find showed ${n} files`);
        rec(out, 'find', r.seconds, `find ${r.seconds.toFixed(2)} s`);
      };
      const small = async () => {
        // one cat over the 1,000 names (no directory listing), in order
        const files = Array.from({ length: DATA.smallCount }, (_, i) => path.join(m.mp, smallKey(i)));
        const r = await runCmd('sh', ['-c', 'cat -- "$@" | wc -c', 'sh', ...files], { timeoutMs: stepMs, check: true, env: cenv });
        if (Number(r.stdout.trim()) !== DATA.smallCount * DATA.smallSize) throw new StepError(`cat read ${r.stdout.trim()} bytes`);
        rec(out, 'small', r.seconds, `small ${r.seconds.toFixed(2)} s`);
      };
      const steps: [Workload, () => Promise<void>, boolean][] = [
        ['ls_cold', () => ls('ls_cold'), false], // the group dropped the caches just before mounting
        ['ls_warm', () => ls('ls_warm'), false],
        ['find', find, true],
        ['small', small, true],
      ];
      let timedOut = false;
      for (const [w, fn, dropFirst] of steps) {
        if (timedOut) {
          this.fail(tool, [w], 'skipped: the mount timed out before');
          continue;
        }
        if (dropFirst) this.cold();
        if ((await this.step(tool, [w], fn)) === 'timeout') timedOut = true;
      }
    });
  }

  async cleanup(): Promise<void> {
    for (const m of [...this.active]) {
      this.active.delete(m);
      await unmount(m);
    }
  }
}

async function main(): Promise<void> {
  if (![readerJs, writerJs, freshSdkJs].every((f) => fs.existsSync(f))) throw new Error(`missing ${readerJs}, ${writerJs} or ${freshSdkJs}: run npx tsc -p tsconfig.json`);
  if (doReads && !tools.length) throw new Error('OBJFS_BENCH_TOOLS selects no known tool');
  if (doWrites && (!writeTools.length || !writeWorkloads.length)) throw new Error('OBJFS_BENCH_WRITE_TOOLS / OBJFS_BENCH_WRITES select nothing');
  const sizes = writeSizes(quick);
  console.log(
    `S3 benchmark${quick ? ' (--quick)' : ''}: ${rounds} rounds, step timeout ${stepMs / 1000} s` +
      (doReads ? `; reads: tools ${tools.join(', ')}, ${randOps} random reads` : '; reads: skipped') +
      (doWrites ? `; writes: ${writeWorkloads.join(', ')} with ${writeTools.join(', ')} (${sizes.seqSize / 1024 / 1024} MiB, ${sizes.smallCount} files)` : '; writes: skipped'),
  );
  ensurePackages();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'objfs-bench-s3-'));
  const shm = '/dev/shm';
  let dataDir = path.join(tmp, 'minio-data');
  try {
    if (fs.statfsSync(shm).bavail * fs.statfsSync(shm).bsize > 4 * 1024 ** 3) dataDir = fs.mkdtempSync(path.join(shm, 'objfs-bench-minio-'));
  } catch {
    /* no /dev/shm: disk */
  }
  let minio: Minio | undefined;
  let bench: Bench | undefined;
  let writeBench: WriteBench | undefined;
  let direct: Direct | undefined;
  let stopping = false;
  const cleanup = async () => {
    await bench?.cleanup();
    await writeBench?.cleanup();
    direct?.close();
    await minio?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(tmp, { recursive: true, force: true });
  };
  const onSignal = (sig: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${sig}: unmounting and stopping MinIO`);
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  try {
    console.log(`setup: starting MinIO on 127.0.0.1 with data in ${dataDir}${dataDir.startsWith(shm) ? ' (tmpfs)' : ''}`);
    minio = await startMinio(root, dataDir, path.join(tmp, 'minio.log'));
    const minioBin = minio.child.spawnfile;
    console.log(`setup: MinIO ready at ${minio.endpoint}`);
    const target: S3Target = { endpoint: minio.endpoint, region: 'us-east-1', bucket: 'objfs-bench', accessKey: minio.accessKey, secretKey: minio.secretKey };
    direct = await Direct.open(target);
    console.log(`setup: bucket ${target.bucket}: ${await direct.createBucket()}`);
    if (doReads) {
      const localBig = path.join(tmp, 'big-local.bin');
      await direct.upload(localBig);
      const curlTmp = fs.mkdtempSync(path.join(tmp, 'curl-'));
      bench = new Bench({ root, tmp, target }, direct, new Curl(target, curlTmp), localBig, new Expected(localBig));
      const t0 = nowSec();
      for (let r = 0; r < rounds && !stopping; r++) {
        const order = [...tools.slice(r % tools.length), ...tools.slice(0, r % tools.length)];
        console.log(`round ${r + 1}/${rounds}: ${order.join(', ')}`);
        for (const t of order) {
          if (stopping) break;
          if (isMountTool(t)) await bench.runMount(t, r);
          else await bench.runDirect(t, r);
        }
      }
      if (stopping) return;
      report(bench, tools, target, versions(minioBin), nowSec() - t0, tmp);
      fs.rmSync(localBig, { force: true });
    }
    if (doWrites) {
      writeBench = await WriteBench.open({ env: { root, tmp, target }, writerJs, freshSdkJs, stepMs, sizes, tools: writeTools, workloads: writeWorkloads, purgeTrash: () => purgeTrash(dataDir) });
      await writeBench.setup();
      const t0 = nowSec();
      for (let r = 0; r < rounds && !stopping; r++) {
        console.log(`write round ${r + 1}/${rounds}`);
        await writeBench.round(r);
      }
      if (stopping) return;
      await writeBench.removeSource();
      const w = writeBench;
      writeReport({
        samples: w.samples,
        errors: w.errors,
        durability: w.durability,
        notes: w.notes,
        tools: writeTools,
        workloads: writeWorkloads,
        sizes,
        rounds,
        quick,
        seconds: nowSec() - t0,
        versions: versions(minioBin),
        stepTimeoutSeconds: stepMs / 1000,
        bucket: target.bucket,
        resultsDir,
        tmp,
      });
    }
  } finally {
    if (!stopping) {
      stopping = true;
      await cleanup();
    }
  }
}

function report(bench: Bench, tools: Tool[], target: S3Target, vers: Record<string, string>, seconds: number, tmp: string): void {
  const { samples, errors } = bench;
  const head = ['workload (median (min-max) of the rounds)', ...tools];
  const foot = new Footnotes();
  const body = WORKLOADS.map((w) => [w.label, ...tools.map((t) => cell(samples, errors, t, w, rounds, foot))]).filter((row) => row.slice(1).some(Boolean));
  console.log(`\nS3 read benchmark, ${rounds} rounds (${(seconds / 60).toFixed(1)} min), MinIO on 127.0.0.1 (tmpfs), ${vers.cpus} CPUs, node ${vers.node}`);
  console.log(table(head, body));
  foot.list.forEach((m, i) => console.log(`[${i + 1}] ${m}`));
  console.log(`versions: objfs ${vers.objfs}; ${vers.s3fs}; ${vers.rclone}; ${vers.minio}; ${vers.curl?.split(' ').slice(0, 2).join(' ')}; kernel ${vers.kernel}`);
  for (const t of tools.filter(isMountTool)) console.log(`${t}: ${describe(t)}`);
  const crit = criteriaRows(samples, rounds);
  console.log('\nacceptance ratios (ratio of medians)');
  console.log(table(['criterion', 'value', 'goal', 'result', 'each round'], crit.map((c) => c.row)));
  const info = INFO_RATIOS.map((i) => {
    const v = ratio(samples, i.num, i.den, i.workload, i.denWorkload);
    return { ...i, value: v ?? null, row: [i.what, v === undefined ? 'n/a' : `${v.toFixed(2)}x`] };
  });
  console.log('\nother ratios (no goal)');
  console.log(table(['ratio', 'value'], info.map((i) => i.row)));
  for (const n of bench.notes) console.log(`note: ${n}`);

  fs.mkdirSync(resultsDir, { recursive: true });
  const medians: Record<string, Record<string, number>> = {};
  for (const [t, ws] of Object.entries(samples)) for (const [w, s] of Object.entries(ws)) (medians[t] ??= {})[w] = median(s);
  const json = {
    date: new Date().toISOString(),
    rounds,
    randOps,
    stepTimeoutSeconds: stepMs / 1000,
    versions: vers,
    server: 'MinIO on 127.0.0.1, data on tmpfs',
    bucket: target.bucket,
    dataSet: DATA,
    tools,
    options: Object.fromEntries(tools.filter(isMountTool).map((t) => [t, describe(t)])),
    workloads: WORKLOADS,
    medians,
    criteria: crit.map((c) => c.json),
    otherRatios: info.map(({ row: _row, ...rest }) => rest),
    samples,
    errors,
    notes: bench.notes,
    criteriaGoals: CRITERIA.map((c) => `${c.id} ${c.op} ${c.goal}`),
  };
  const jsonFile = path.join(resultsDir, `s3${resultSuffix}.json`);
  fs.writeFileSync(jsonFile, JSON.stringify(json, null, 2) + '\n');
  const png = path.join(resultsDir, `s3${resultSuffix}.png`);
  const err = chart(samples, tools, png, tmp, `objfs vs s3fs, rclone mount, curl on MinIO (127.0.0.1), median of ${rounds} rounds`);
  if (err) console.log(`chart: ${err}`);
  console.log(`\nwrote ${path.relative(process.cwd(), jsonFile)}${err ? '' : ` and ${path.relative(process.cwd(), png)}`}`);
}

main().catch((e: unknown) => {
  console.error(`objfs bench s3: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
