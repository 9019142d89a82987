/**
 * Process helpers for the S3 benchmark: commands with a time limit, dropping the kernel caches,
 * sampling a process tree's resident memory, and the mount table.
 */
import { spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const nowSec = (): number => Number(process.hrtime.bigint()) / 1e9;

export class StepError extends Error {}

export interface CmdResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  /** stdout as bytes (binary output) */
  stdoutBuf: Buffer;
  stderr: string;
  seconds: number;
}

/**
 * Run a command to completion with a time limit (SIGKILL after `timeoutMs`). Resolves with the
 * output and the wall time; rejects (StepError) on timeout or, with `check`, on a non-zero exit.
 * stdout is kept up to `maxStdout` bytes.
 */
export function runCmd(
  cmd: string,
  args: string[],
  opts: { timeoutMs: number; check?: boolean; env?: NodeJS.ProcessEnv; stdoutTo?: 'pipe' | 'ignore'; maxStdout?: number; input?: string },
): Promise<CmdResult> {
  return new Promise((resolve, reject) => {
    const so: SpawnOptions = {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', opts.stdoutTo ?? 'pipe', 'pipe'],
      env: opts.env ?? process.env,
    };
    const t0 = nowSec();
    const child = spawn(cmd, args, so);
    const chunks: Buffer[] = [];
    let outBytes = 0;
    let stderr = '';
    const max = opts.maxStdout ?? 64 * 1024 * 1024;
    child.stdout?.on('data', (d: Buffer) => {
      if (outBytes < max) chunks.push(d);
      outBytes += d.length;
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 64 * 1024) stderr += d;
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new StepError(`${cmd}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdoutBuf = Buffer.concat(chunks);
      const stdout = stdoutBuf.toString('utf8');
      const r = { code, signal, stdout, stdoutBuf, stderr, seconds: nowSec() - t0 };
      if (timedOut) reject(new StepError(`timeout after ${Math.round(opts.timeoutMs / 1000)} s: ${cmd} ${args.slice(0, 3).join(' ')}`));
      else if (opts.check && code !== 0) {
        const msg = (stderr.trim() || stdout.trim()).split('\n').slice(-3).join(' / ');
        reject(new StepError(`${cmd} exited ${code ?? signal}: ${msg.slice(0, 300)}`));
      } else resolve(r);
    });
  });
}

/** Write 3 to /proc/sys/vm/drop_caches after sync; false when not permitted. */
export function dropCaches(): boolean {
  spawnSync('sync');
  try {
    fs.writeFileSync('/proc/sys/vm/drop_caches', '3\n');
    return true;
  } catch {
    return false;
  }
}

export const isMounted = (mp: string): boolean => {
  try {
    return fs.readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === mp);
  } catch {
    return false;
  }
};

function descendants(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length && i < 256; i++) {
    let tasks: string[] = [];
    try {
      tasks = fs.readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        for (const c of fs.readFileSync(`/proc/${out[i]}/task/${t}/children`, 'utf8').trim().split(/\s+/)) {
          if (c) out.push(Number(c));
        }
      } catch {
        /* gone */
      }
    }
  }
  return out;
}

function statusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Samples the resident memory of a process and its descendants every `everyMs` until stop();
 * stop() returns the peak of the summed VmRSS samples and the largest single-process VmHWM, in
 * bytes.
 */
export function rssSampler(pid: number, everyMs = 100): { stop(): { peakRss: number; hwm: number } } {
  let peak = 0;
  const tick = (): void => {
    const sum = descendants(pid).reduce((s, p) => s + statusKiB(p, 'VmRSS'), 0);
    if (sum > peak) peak = sum;
  };
  tick();
  const timer = setInterval(tick, everyMs);
  return {
    stop() {
      clearInterval(timer);
      tick();
      const hwm = Math.max(...descendants(pid).map((p) => statusKiB(p, 'VmHWM')));
      return { peakRss: peak * 1024, hwm: hwm * 1024 };
    },
  };
}

export const firstLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';
