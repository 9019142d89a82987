/**
 * The S3 benchmark's write workloads (run.ts runs them after the reads, or alone with
 * `--only writes`): objfs against s3fs, rclone mount and direct S3 references on the same MinIO.
 *
 *   seq    sequential write of SEQ bytes (1 GiB; --quick 64 MiB) with 1 MiB write()s, then close;
 *          reference: multipart upload from memory, 8 MiB parts, 8 in parallel
 *   small  N files of 16 KiB (1,000; --quick 100), each create+write+close, in one new directory;
 *          objfs twice (--sync close and --sync idle=1); reference: the files written to local
 *          disk, then 32 PutObject in parallel; in the bench process, and again in a new process
 *          (fresh-sdk.ts: SDK code not yet compiled, as in a new mount)
 *   edit   1 MiB written at the middle of an object of EDIT bytes (1 GiB; --quick 64 MiB):
 *          open(O_RDWR), pwrite, close; the tool's S3 traffic goes through a byte-counting proxy;
 *          reference: the 5 MiB part around the edit uploaded, the rest UploadPartCopy
 *   rm     rm -r of a directory of N files (4 KiB each); reference: ListObjectsV2 + DeleteObjects
 *   mv     mv of a directory of N files to a new name; reference: ListObjectsV2, CopyObject x N
 *          (16 in parallel), DeleteObjects
 *
 * Every mount is fresh (new process, new cache directory, kernel caches dropped before). Writes
 * through a mount run in a child process (writer.ts) whose clock is the same as ours; after the
 * timed step returns, the bench polls the bucket (HeadObject / ListObjectsV2 every 50 ms, direct
 * to MinIO) until the result is there, which gives the second time ("until in the bucket") and
 * the durability the tool had given at the moment its timer stopped. Every result is then read
 * back and compared byte for byte; every object is deleted afterwards.
 */
import fs from 'node:fs';
import path from 'node:path';
import { MiB, GiB } from './common.js';
import { ByteProxy } from './byte-proxy.js';
import type { S3Target } from './direct.js';
import { mount, unmount, type MountEnv, type MountTool, type Mounted } from './mounts.js';
import { pattern, smallName } from './pattern.js';
import { dropCaches, firstLine, nowSec, runCmd, sleep, StepError } from './proc.js';
import { S3Ops, pool } from './s3ops.js';

export type WriteTool = 'sdk' | 'local+sdk' | 'objfs' | 'objfs-idle' | 's3fs' | 'rclone';
export const ALL_WRITE_TOOLS: WriteTool[] = ['sdk', 'local+sdk', 'objfs', 'objfs-idle', 's3fs', 'rclone'];
export type WriteWorkload = 'seq' | 'small' | 'edit' | 'rm' | 'mv';
export const ALL_WRITE_WORKLOADS: WriteWorkload[] = ['seq', 'small', 'edit', 'rm', 'mv'];
export type Metric =
  | 'seq_close'
  | 'seq_bucket'
  | 'small_close'
  | 'small_bucket'
  | 'small_bucket_new'
  | 'edit_close'
  | 'edit_bucket'
  | 'edit_sent'
  | 'edit_recv'
  | 'rm'
  | 'rm_bucket'
  | 'mv'
  | 'mv_bucket';

/** Which tools take part in which workload (the others leave the cell empty). */
export const TOOLS_FOR: Record<WriteWorkload, WriteTool[]> = {
  seq: ['sdk', 'objfs', 's3fs', 'rclone'],
  small: ['local+sdk', 'objfs', 'objfs-idle', 's3fs', 'rclone'],
  edit: ['sdk', 'objfs', 's3fs', 'rclone'],
  rm: ['sdk', 'objfs', 's3fs', 'rclone'],
  mv: ['sdk', 'objfs', 's3fs', 'rclone'],
};

export interface WriteSizes {
  seqSize: number;
  smallCount: number;
  smallSize: number;
  editSize: number;
  editOffset: number;
  editLen: number;
  dirCount: number;
  dirFileSize: number;
}

export function writeSizes(quick: boolean): WriteSizes {
  const big = quick ? 64 * MiB : GiB;
  const n = quick ? 100 : 1000;
  return { seqSize: big, smallCount: n, smallSize: 16 * 1024, editSize: big, editOffset: big / 2, editLen: MiB, dirCount: n, dirFileSize: 4096 };
}

export type WSamples = Partial<Record<WriteTool, Partial<Record<Metric, number[]>>>>;
export type WErrors = Partial<Record<WriteTool, Partial<Record<Metric, string[]>>>>;
/** Per tool and workload: seconds from the timer's stop until the bench saw the result in the bucket. */
export type WDurability = Partial<Record<WriteTool, Partial<Record<WriteWorkload, { lag: number[]; atStop: number; rounds: number }>>>>;

export interface WriteBenchOpts {
  env: MountEnv;
  writerJs: string;
  /** fresh-sdk.js: the small-files reference in a new process. */
  freshSdkJs: string;
  stepMs: number;
  sizes: WriteSizes;
  tools: WriteTool[];
  workloads: WriteWorkload[];
  /** Empties the server's trash of deleted objects (MinIO on tmpfs: bench/s3/minio.ts). */
  purgeTrash?: () => void;
}

const MB = 1e6;
const POLL_MS = 50;
const SRC_KEY = 'wsrc/edit-source.bin';
const slug = (t: WriteTool): string => t.replace('+', '-');

export class WriteBench {
  readonly samples: WSamples = {};
  readonly errors: WErrors = {};
  readonly durability: WDurability = {};
  readonly notes: string[] = [];
  private readonly active = new Set<Mounted>();
  private mountSeq = 10_000;
  private dropWarned = false;
  private mountFailed: string | undefined;

  private constructor(
    private readonly o: WriteBenchOpts,
    private readonly s3: S3Ops,
    private readonly proxy: ByteProxy,
    private readonly s3proxy: S3Ops,
  ) {}

  static async open(o: WriteBenchOpts): Promise<WriteBench> {
    const s3 = await S3Ops.open(o.env.target);
    const u = new URL(o.env.target.endpoint);
    const proxy = await ByteProxy.start(u.hostname, Number(u.port));
    const s3proxy = await S3Ops.open({ ...o.env.target, endpoint: proxy.endpoint });
    return new WriteBench(o, s3, proxy, s3proxy);
  }

  /** The source object of the edit workload (copied server-side for every tool and round). */
  async setup(): Promise<void> {
    const S = this.o.sizes;
    if (!this.o.workloads.includes('edit')) return;
    const h = await this.s3.head(SRC_KEY);
    if (h?.size === S.editSize) return;
    const t0 = nowSec();
    await this.s3.multipartFromPattern(SRC_KEY, S.editSize, 8 * MiB, 8, 'src');
    console.log(`setup: edit source s3://${this.o.env.target.bucket}/${SRC_KEY} (${S.editSize / MiB} MiB) uploaded in ${(nowSec() - t0).toFixed(1)} s`);
  }

  private record(tool: WriteTool, m: Metric, v: number): void {
    ((this.samples[tool] ??= {})[m] ??= []).push(v);
  }
  private fail(tool: WriteTool, ms: Metric[], msg: string): void {
    for (const m of ms) ((this.errors[tool] ??= {})[m] ??= []).push(msg);
    console.log(`  ${tool}: ${ms.join(', ')}: ${msg}`);
  }
  private durable(tool: WriteTool, w: WriteWorkload, lag: number, atStop: boolean): void {
    const d = ((this.durability[tool] ??= {})[w] ??= { lag: [], atStop: 0, rounds: 0 });
    d.lag.push(lag);
    d.rounds++;
    if (atStop) d.atStop++;
  }

  private cold(): void {
    if (!dropCaches() && !this.dropWarned) {
      this.dropWarned = true;
      this.notes.push('could not write /proc/sys/vm/drop_caches: writes rely on fresh mounts and cache directories only');
    }
  }

  /** Poll `check` every 50 ms until it returns a value; `first` says whether the first look found it. */
  private async waitFor<T>(what: string, check: () => Promise<T | undefined>, progress?: () => Promise<string>): Promise<{ value: T; at: number; first: boolean }> {
    const until = nowSec() + this.o.stepMs / 1000;
    for (let first = true; ; first = false) {
      const v = await check();
      if (v !== undefined) return { value: v, at: nowSec(), first };
      if (nowSec() > until) {
        const p = progress ? await progress().catch((e: unknown) => firstLine(e)) : '';
        throw new StepError(`timeout after ${this.o.stepMs / 1000} s waiting for ${what}${p ? ` (${p})` : ''}`);
      }
      await sleep(POLL_MS);
    }
  }

  /** The same reference again in a new Node process (fresh-sdk.ts), as a user's script runs it. */
  private async smallNewProcess(t: WriteTool, r: number): Promise<void> {
    const S = this.o.sizes;
    const prefix = this.key(t, r, 'small-new/');
    const dir = fs.mkdtempSync(path.join(this.o.env.tmp, 'small-new-'));
    try {
      const res = await runCmd(process.execPath, [this.o.freshSdkJs, 'small', dir, prefix, String(S.smallCount), String(S.smallSize), 'small'], {
        timeoutMs: this.o.stepMs,
        check: true,
        env: { ...process.env, OBJFS_BENCH_TARGET: JSON.stringify(this.o.env.target) },
      });
      const { t0, tEnd } = JSON.parse(res.stdout) as { t0: number; tLocal: number; tEnd: number };
      await this.s3.verifyMany(prefix, S.smallCount, S.smallSize, 'small', smallName);
      this.record(t, 'small_bucket_new', tEnd - t0);
      console.log(`  ${t} in a new process: ${(tEnd - t0).toFixed(2)} s`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  private async writer(args: string[]): Promise<{ t0: number; tClose: number; tWritten?: number; tOpen?: number }> {
    const r = await runCmd(process.execPath, [this.o.writerJs, ...args], { timeoutMs: this.o.stepMs, check: true });
    return JSON.parse(r.stdout);
  }

  private key(tool: WriteTool, round: number, rest: string): string {
    return `w/r${round}/${slug(tool)}/${rest}`;
  }

  /** A fresh mount for one workload; always unmounted; a failure marks `ms`. */
  private async withMount(tool: MountTool & WriteTool, ms: Metric[], viaProxy: boolean, body: (m: Mounted, out: string[]) => Promise<void>): Promise<void> {
    if (this.mountFailed) return this.fail(tool, ms, this.mountFailed);
    this.cold();
    const env: MountEnv = viaProxy ? { ...this.o.env, target: { ...this.o.env.target, endpoint: this.proxy.endpoint } } : this.o.env;
    let m: Mounted;
    try {
      m = await mount(tool, env, this.mountSeq++);
    } catch (e) {
      this.mountFailed = firstLine(e);
      return this.fail(tool, ms, this.mountFailed);
    }
    this.active.add(m);
    const out: string[] = [];
    try {
      await body(m, out);
    } catch (e) {
      this.fail(tool, ms, firstLine(e));
    } finally {
      this.active.delete(m);
      const note = await unmount(m);
      if (note) out.push(`(unmount needed: ${note})`);
      this.scanLog(tool, m.logFile);
      if (out.length) console.log(`  ${tool}: ${out.join(', ')}`);
    }
  }

  /** objfs's warnings and errors (its log is JSON lines, level >= 40) go into the notes. */
  private scanLog(tool: WriteTool, file: string): void {
    if (tool !== 'objfs' && tool !== 'objfs-idle') return;
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      return;
    }
    const bad = text.split('\n').filter((l) => {
      try {
        return (JSON.parse(l) as { level?: number }).level! >= 40;
      } catch {
        return l.trim().length > 0;
      }
    });
    if (!bad.length) return;
    const msg = `${tool} log (${path.basename(file)}): ${bad.length} warning/error lines, first: ${bad[0]!.slice(0, 400)}`;
    this.notes.push(msg);
    console.log(`  note: ${msg}`);
  }

  async round(r: number): Promise<void> {
    const { tools, workloads } = this.o;
    const order = [...tools.slice(r % tools.length), ...tools.slice(0, r % tools.length)];
    for (const w of workloads) {
      const ts = order.filter((t) => TOOLS_FOR[w].includes(t));
      if (!ts.length) continue;
      console.log(` writes ${w}: ${ts.join(', ')}`);
      for (const t of ts) {
        this.mountFailed = undefined;
        try {
          await this.run(w, t, r);
        } catch (e) {
          this.fail(t, metricsOf(w), firstLine(e));
        } finally {
          await this.s3.deletePrefix(this.key(t, r, '')).catch((e: unknown) => console.log(`  cleanup of ${this.key(t, r, '')}: ${firstLine(e)}`));
          this.o.purgeTrash?.();
        }
      }
    }
  }

  private run(w: WriteWorkload, t: WriteTool, r: number): Promise<void> {
    switch (w) {
      case 'seq':
        return this.seq(t, r);
      case 'small':
        return this.small(t, r);
      case 'edit':
        return this.edit(t, r);
      case 'rm':
        return this.rm(t, r);
      case 'mv':
        return this.mv(t, r);
    }
  }

  // ---------------------------------------------------------------- 1. sequential write

  private async seq(t: WriteTool, r: number): Promise<void> {
    const S = this.o.sizes;
    const key = this.key(t, r, 'seq.bin');
    const ms: Metric[] = ['seq_close', 'seq_bucket'];
    const expect = (off: number, len: number) => pattern('seq', off, len);
    if (t === 'sdk') {
      const t0 = nowSec();
      await this.s3.multipartFromPattern(key, S.seqSize, 8 * MiB, 8, 'seq');
      const s = nowSec() - t0;
      await this.s3.verify(key, S.seqSize, expect);
      this.record(t, 'seq_close', S.seqSize / MB / s);
      this.record(t, 'seq_bucket', S.seqSize / MB / s);
      this.durable(t, 'seq', 0, true);
      console.log(`  ${t}: multipart ${(S.seqSize / MB / s).toFixed(0)} MB/s`);
      await this.discard(key);
      return;
    }
    if (t === 'local+sdk') return;
    await this.withMount(t, ms, false, async (m, out) => {
      const file = path.join(m.mp, key);
      await runCmd('mkdir', ['-p', path.dirname(file)], { timeoutMs: this.o.stepMs, check: true });
      const w = await this.writer(['seq', file, String(S.seqSize), 'seq']);
      const found = await this.waitFor(`${key} (${S.seqSize} bytes) in the bucket`, async () => {
        const h = await this.s3.head(key);
        return h?.size === S.seqSize ? h : undefined;
      });
      const atClose = w.tClose - w.t0;
      const atBucket = Math.max(found.at, w.tClose) - w.t0;
      this.durable(t, 'seq', found.first ? 0 : found.at - w.tClose, found.first);
      await this.s3.verify(key, S.seqSize, expect);
      this.record(t, 'seq_close', S.seqSize / MB / atClose);
      this.record(t, 'seq_bucket', S.seqSize / MB / atBucket);
      out.push(
        `seq write ${(S.seqSize / MB / atClose).toFixed(0)} MB/s to close (writes ${((w.tWritten ?? w.tClose) - w.t0).toFixed(2)} s, close ${(w.tClose - (w.tWritten ?? w.tClose)).toFixed(2)} s), ` +
          `${(S.seqSize / MB / atBucket).toFixed(0)} MB/s to bucket${found.first ? ' (there at close)' : ` (+${(found.at - w.tClose).toFixed(1)} s)`}`,
      );
    });
    await this.discard(key);
  }

  // ---------------------------------------------------------------- 2. small files

  private async small(t: WriteTool, r: number): Promise<void> {
    const S = this.o.sizes;
    const prefix = this.key(t, r, 'small/');
    const ms: Metric[] = ['small_close', 'small_bucket'];
    // The bench polls every POLL_MS while a tool uploads. A full listing of 1,000 keys costs
    // MinIO ~35 ms of CPU (and the bench ~15 ms to parse), which on 2 cores slowed the very
    // uploads being timed; so each poll lists only from the first file not seen yet (names sort
    // in index order, and uploads land roughly in order), and remembers what it saw.
    const seen = new Map<string, number>();
    let firstMissing = 0;
    const present = async () => {
      const after = firstMissing > 0 ? prefix + smallName(firstMissing - 1) : undefined;
      for (const [k, v] of await this.s3.list(prefix, after)) seen.set(k, v);
      while (firstMissing < S.smallCount && seen.get(prefix + smallName(firstMissing)) === S.smallSize) firstMissing++;
      let ok = 0;
      for (let i = 0; i < S.smallCount; i++) if (seen.get(prefix + smallName(i)) === S.smallSize) ok++;
      return { l: seen, ok };
    };
    const complete = async () => {
      const { l, ok } = await present();
      return ok === S.smallCount ? l : undefined;
    };
    const progress = async () => `${(await present()).ok}/${S.smallCount} there`;
    if (t === 'local+sdk') {
      const dir = fs.mkdtempSync(path.join(this.o.env.tmp, 'small-local-'));
      try {
        const { t0, tLocal, tEnd } = await this.s3.localThenPut(dir, prefix, S.smallCount, S.smallSize, 'small');
        await this.s3.verifyMany(prefix, S.smallCount, S.smallSize, 'small', smallName);
        this.record(t, 'small_close', tLocal - t0);
        this.record(t, 'small_bucket', tEnd - t0);
        this.durable(t, 'small', tEnd - tLocal, false);
        console.log(`  ${t}: local ${(tLocal - t0).toFixed(2)} s, + upload x32 ${(tEnd - tLocal).toFixed(2)} s = ${(tEnd - t0).toFixed(2)} s`);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
      await this.smallNewProcess(t, r).catch((e: unknown) => this.fail(t, ['small_bucket_new'], firstLine(e)));
      return;
    }
    if (t === 'sdk') return;
    let timedOut = false;
    await this.withMount(t, ms, false, async (m, out) => {
      const w = await this.writer(['small', path.join(m.mp, prefix), String(S.smallCount), String(S.smallSize), 'small']);
      out.push(`${S.smallCount} small files: ${(w.tClose - w.t0).toFixed(2)} s to last close`);
      const found = await this.waitFor(`${S.smallCount} objects under ${prefix}`, complete, progress).catch((e: unknown) => {
        timedOut = true;
        throw e;
      });
      out.pop();
      await this.s3.verifyMany(prefix, S.smallCount, S.smallSize, 'small', smallName);
      const extra = [...found.value.keys()].filter((k) => !/\/f\d{4}\.bin$/.test(k));
      const atClose = w.tClose - w.t0;
      const atBucket = Math.max(found.at, w.tClose) - w.t0;
      this.durable(t, 'small', found.first ? 0 : found.at - w.tClose, found.first);
      this.record(t, 'small_close', atClose);
      this.record(t, 'small_bucket', atBucket);
      out.push(
        `${S.smallCount} small files: ${atClose.toFixed(2)} s to last close, ${atBucket.toFixed(2)} s to bucket${found.first ? ' (there at close)' : ''}` +
          (extra.length ? `; also: ${extra.slice(0, 3).join(' ')}` : ''),
      );
    });
    if (timedOut) {
      // did the unmount upload what was still pending?
      const msg = `${t}: small files: after the timeout and unmount, ${await progress()} in the bucket`;
      this.notes.push(msg);
      console.log(`  note: ${msg}`);
    }
  }

  // ---------------------------------------------------------------- 3. edit 1 MiB in the middle

  private async edit(t: WriteTool, r: number): Promise<void> {
    const S = this.o.sizes;
    const key = this.key(t, r, 'edit.bin');
    const ms: Metric[] = ['edit_close', 'edit_bucket', 'edit_sent', 'edit_recv'];
    const expect = (off: number, len: number): Buffer => {
      const b = pattern('src', off, len);
      const a = Math.max(off, S.editOffset);
      const e = Math.min(off + len, S.editOffset + S.editLen);
      if (e > a) pattern('edit', a, e - a).copy(b, a - off);
      return b;
    };
    if (t === 'local+sdk') return;
    await this.s3.copy(SRC_KEY, key);
    const before = await this.s3.head(key);
    if (before?.size !== S.editSize) throw new StepError(`copy of the edit source: ${before ? before.size : 'missing'}`);
    const changed = async () => {
      const h = await this.s3.head(key);
      return h && h.etag !== before.etag ? h : undefined;
    };
    const mib = (n: number) => n / MiB;
    if (t === 'sdk') {
      this.proxy.reset();
      const t0 = nowSec();
      await this.s3proxy.editWithPartCopy(key, S.editSize, S.editOffset, pattern('edit', S.editOffset, S.editLen));
      const s = nowSec() - t0;
      const bytes = this.proxy.read();
      const h = await changed();
      if (!h) throw new StepError('ETag unchanged after the edit');
      if (h.size !== S.editSize) throw new StepError(`size ${h.size} after the edit`);
      await this.s3.verify(key, S.editSize, expect);
      this.record(t, 'edit_close', s);
      this.record(t, 'edit_bucket', s);
      this.record(t, 'edit_sent', mib(bytes.sent));
      this.record(t, 'edit_recv', mib(bytes.received));
      this.durable(t, 'edit', 0, true);
      console.log(`  ${t}: UploadPartCopy edit ${s.toFixed(2)} s, sent ${mib(bytes.sent).toFixed(1)} MiB, received ${mib(bytes.received).toFixed(1)} MiB`);
      await this.discard(key);
      return;
    }
    await this.withMount(t, ms, true, async (m, out) => {
      this.proxy.reset();
      const w = await this.writer(['edit', path.join(m.mp, key), String(S.editOffset), String(S.editLen), 'edit']);
      const found = await this.waitFor(`a new ETag of ${key}`, changed);
      const bytes = this.proxy.read();
      if (found.value.size !== S.editSize) throw new StepError(`size ${found.value.size} after the edit, expected ${S.editSize}`);
      await this.s3.verify(key, S.editSize, expect);
      const atClose = w.tClose - w.t0;
      const atBucket = Math.max(found.at, w.tClose) - w.t0;
      this.durable(t, 'edit', found.first ? 0 : found.at - w.tClose, found.first);
      this.record(t, 'edit_close', atClose);
      this.record(t, 'edit_bucket', atBucket);
      this.record(t, 'edit_sent', mib(bytes.sent));
      this.record(t, 'edit_recv', mib(bytes.received));
      out.push(
        `edit: open ${((w.tOpen ?? w.t0) - w.t0).toFixed(2)} s, pwrite ${((w.tWritten ?? w.tClose) - (w.tOpen ?? w.t0)).toFixed(2)} s, close ${(w.tClose - (w.tWritten ?? w.tClose)).toFixed(2)} s; ` +
          `${atBucket.toFixed(2)} s to new ETag${found.first ? ' (there at close)' : ''}; sent ${mib(bytes.sent).toFixed(1)} MiB, received ${mib(bytes.received).toFixed(1)} MiB`,
      );
    });
    await this.discard(key);
  }

  /**
   * Delete a measured 1 GiB object once it is verified (after the mount is gone). MinIO keeps its
   * data in tmpfs: 3 rounds x 4 tools x 2 workloads of 1 GiB filled 10+ GB of RAM, and the
   * memory pressure halved the throughput of whichever tool ran next (measured: 225 -> 100-138
   * MB/s for the same objfs write with 10 GB held in /dev/shm).
   */
  private async discard(key: string): Promise<void> {
    await this.s3.deleteKeys([key]);
  }

  // ---------------------------------------------------------------- 4./5. rm -r and mv of a directory

  private async rm(t: WriteTool, r: number): Promise<void> {
    const S = this.o.sizes;
    const prefix = this.key(t, r, 'rm/');
    if (t === 'local+sdk') return;
    await this.s3.putMany(prefix, S.dirCount, S.dirFileSize, 'dir', smallName);
    const files = (l: Map<string, number>) => [...l.keys()].filter((k) => !k.endsWith('/'));
    if (t === 'sdk') {
      const t0 = nowSec();
      await this.s3.deleteKeys([...(await this.s3.list(prefix)).keys()]);
      const s = nowSec() - t0;
      const left = await this.s3.list(prefix);
      if (left.size) throw new StepError(`${left.size} objects left under ${prefix}`);
      this.record(t, 'rm', s);
      this.record(t, 'rm_bucket', s);
      this.durable(t, 'rm', 0, true);
      console.log(`  ${t}: list + DeleteObjects ${s.toFixed(2)} s`);
      return;
    }
    if (t === 'objfs-idle') return;
    await this.withMount(t, ['rm', 'rm_bucket'], false, async (m, out) => {
      const t0 = nowSec();
      const c = await runCmd('rm', ['-r', path.join(m.mp, prefix)], { timeoutMs: this.o.stepMs });
      const t1 = t0 + c.seconds;
      if (c.code !== 0) {
        // say what rm left behind, then fail the step
        await sleep(1000);
        const left = files(await this.s3.list(prefix)).length;
        const seen = fs.existsSync(path.join(m.mp, prefix)) ? 'still there' : 'gone';
        throw new StepError(`rm -r exited ${c.code ?? c.signal} after ${c.seconds.toFixed(2)} s (${left}/${S.dirCount} objects left in the bucket 1 s later, directory ${seen} on the mount): ${c.stderr.trim().split('\n').slice(-2).join(' / ').slice(0, 300)}`);
      }
      const found = await this.waitFor(`no objects under ${prefix}`, async () => {
        const l = await this.s3.list(prefix);
        return files(l).length === 0 ? l : undefined;
      });
      this.durable(t, 'rm', found.first ? 0 : found.at - t1, found.first);
      this.record(t, 'rm', c.seconds);
      this.record(t, 'rm_bucket', Math.max(found.at, t1) - t0);
      out.push(`rm -r ${c.seconds.toFixed(2)} s${found.first ? ' (gone from the bucket at exit)' : `, gone from the bucket +${(found.at - t1).toFixed(1)} s`}${found.value.size ? `; left: ${[...found.value.keys()].join(' ')}` : ''}`);
    });
  }

  private async mv(t: WriteTool, r: number): Promise<void> {
    const S = this.o.sizes;
    const from = this.key(t, r, 'mv');
    const to = this.key(t, r, 'mv-moved');
    if (t === 'local+sdk') return;
    await this.s3.putMany(from + '/', S.dirCount, S.dirFileSize, 'dir', smallName);
    const moved = async () => {
      const [a, b] = [await this.s3.list(from + '/'), await this.s3.list(to + '/')];
      const left = [...a.keys()].filter((k) => !k.endsWith('/')).length;
      let ok = 0;
      for (let i = 0; i < S.dirCount; i++) if (b.get(`${to}/${smallName(i)}`) === S.dirFileSize) ok++;
      return left === 0 && ok === S.dirCount ? { a, b } : undefined;
    };
    const check = () => this.s3.verifyMany(to + '/', S.dirCount, S.dirFileSize, 'dir', smallName);
    if (t === 'sdk') {
      const t0 = nowSec();
      const keys = [...(await this.s3.list(from + '/')).keys()];
      await pool(keys.length, 16, (i) => this.s3.copy(keys[i]!, to + keys[i]!.slice(from.length)));
      await this.s3.deleteKeys(keys);
      const s = nowSec() - t0;
      if (!(await moved())) throw new StepError('objects not where they should be after copy + delete');
      await check();
      this.record(t, 'mv', s);
      this.record(t, 'mv_bucket', s);
      this.durable(t, 'mv', 0, true);
      console.log(`  ${t}: list + CopyObject x16 + DeleteObjects ${s.toFixed(2)} s`);
      return;
    }
    if (t === 'objfs-idle') return;
    await this.withMount(t, ['mv', 'mv_bucket'], false, async (m, out) => {
      const t0 = nowSec();
      const c = await runCmd('mv', ['-T', path.join(m.mp, from), path.join(m.mp, to)], { timeoutMs: this.o.stepMs, check: true });
      const t1 = t0 + c.seconds;
      const found = await this.waitFor(`${S.dirCount} objects moved from ${from}/ to ${to}/`, moved);
      await check();
      this.durable(t, 'mv', found.first ? 0 : found.at - t1, found.first);
      this.record(t, 'mv', c.seconds);
      this.record(t, 'mv_bucket', Math.max(found.at, t1) - t0);
      const markers = [...found.value.a.keys(), ...found.value.b.keys()].filter((k) => k.endsWith('/'));
      out.push(`mv ${c.seconds.toFixed(2)} s${found.first ? ' (moved in the bucket at exit)' : `, moved in the bucket +${(found.at - t1).toFixed(1)} s`}${markers.length ? `; markers: ${markers.join(' ')}` : ''}`);
    });
  }

  async cleanup(): Promise<void> {
    for (const m of [...this.active]) {
      this.active.delete(m);
      await unmount(m);
    }
    await this.proxy.close().catch(() => undefined);
    this.s3proxy.close();
    this.s3.close();
  }

  /** Remove the edit source (the bench's MinIO data goes away anyway; this keeps a reused bucket clean). */
  async removeSource(): Promise<void> {
    await this.s3.deletePrefix('wsrc/').catch(() => undefined);
  }
}

export function metricsOf(w: WriteWorkload): Metric[] {
  switch (w) {
    case 'seq':
      return ['seq_close', 'seq_bucket'];
    case 'small':
      return ['small_close', 'small_bucket'];
    case 'edit':
      return ['edit_close', 'edit_bucket', 'edit_sent', 'edit_recv'];
    case 'rm':
      return ['rm', 'rm_bucket'];
    case 'mv':
      return ['mv', 'mv_bucket'];
  }
}

export { type S3Target };
