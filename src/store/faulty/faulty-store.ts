/**
 * FaultyStore: wraps any ObjectStore (injected in the constructor) and injects faults chosen at
 * run time, for tests of retries, timeouts, aborts and data-loss paths. Without rules it is a
 * transparent pass-through that counts calls and bytes.
 *
 * Rules (`inject(rule)`, removed by the returned handle or by `clear()`) are checked in the order
 * they were added. A rule matches a call when its `op` matches ('*', one op, or a list) and its
 * `key` test (RegExp or predicate) accepts the call's key; rules with a key test never match
 * `check`. The key of `list` is its prefix (or ''); `copy` and `uploadPartCopy` match on the
 * destination or the source key. A matching rule then fires if it has `times` left (every firing
 * uses one) and, when it has a `probability`, if the next draw of the seeded PRNG is below it --
 * the draws, hence the faults, are the same in every run with the same seed and call sequence.
 *
 * Firing rules: every `latency` rule adds its delay; the first `fail`, `drop` or `hang` rule ends
 * the evaluation and decides the outcome, after the total delay:
 *   fail    throw StoreError(code) without calling the wrapped store;
 *   drop    "connection dropped": wait `afterMs` (default 5) and throw Network; with
 *           `afterCall: true` the wrapped call runs first (its effect happens -- a put is stored,
 *           a get's bytes are downloaded and counted -- and its result is lost);
 *   hang    never answer until the caller's AbortSignal fires (or close()), then throw Aborted.
 * Delays honour the caller's signal too. deleteMany evaluates rules with a key test per key:
 * a key whose outcome is a fault is reported in `errors` (with that StoreError) and not passed on.
 *
 * stats(): calls per op (every call, faulted or not), bytesIn (body bytes handed to the wrapped
 * put/uploadPart), bytesOut (body bytes the wrapped get returned), per-op byte counts, faults.
 *
 * Ownership: all state (rules, counters, PRNG, pending hangs) belongs to the instance; nothing
 * global. Single JS thread: no locking needed.
 */
import { StoreError, type StoreErrorCode } from '../../errors/store-error.js';
import type {
  ByteRange,
  CompletedPart,
  CopyOptions,
  DeleteManyResult,
  GetOptions,
  GetResult,
  ListOptions,
  ListPage,
  MultipartOptions,
  ObjectInfo,
  ObjectStore,
  PutBody,
  PutOptions,
  WriteConditions,
} from '../object-store.js';
import { mulberry32 } from '../../util/prng.js';

export const FAULT_OPS = [
  'check',
  'list',
  'head',
  'get',
  'put',
  'copy',
  'delete',
  'deleteMany',
  'createMultipart',
  'uploadPart',
  'uploadPartCopy',
  'completeMultipart',
  'abortMultipart',
] as const;
export type FaultOp = (typeof FAULT_OPS)[number];

export type FaultAction =
  | { kind: 'fail'; code: StoreErrorCode; message?: string }
  | { kind: 'latency'; ms: number }
  | { kind: 'drop'; afterMs?: number; afterCall?: boolean }
  | { kind: 'hang' };

export interface FaultRule {
  op: FaultOp | '*' | readonly FaultOp[];
  key?: RegExp | ((key: string) => boolean);
  action: FaultAction;
  /** Fire at most this many times (default: unlimited). */
  times?: number;
  /** Fire with this probability (0..1) per matching call, drawn from the seeded PRNG. */
  probability?: number;
}

export interface InjectedRule {
  /** How many times the rule fired. */
  readonly hits: number;
  /** Firings left, or undefined when unlimited. */
  readonly remaining: number | undefined;
  remove(): void;
}

export interface FaultStats {
  calls: Record<FaultOp, number>;
  bytesIn: number;
  bytesOut: number;
  bytesByOp: Partial<Record<FaultOp, { in: number; out: number }>>;
  /** Calls that got an injected fail, drop or hang. */
  faults: number;
}

export interface FaultyStoreOptions {
  /** Seed of the PRNG used by `probability` (default 1). */
  seed?: number;
}

interface ActiveRule {
  rule: FaultRule;
  hits: number;
  remaining: number | undefined;
  removed: boolean;
}

type Terminal = Exclude<FaultAction, { kind: 'latency' }>;

interface Decision {
  delayMs: number;
  terminal: Terminal | undefined;
}

export class FaultyStore implements ObjectStore {
  readonly description: string;
  private rules: ActiveRule[] = [];
  private rand: () => number;
  private counters = emptyStats();
  private readonly hangs = new Set<(err: StoreError) => void>();

  constructor(
    readonly inner: ObjectStore,
    opts: FaultyStoreOptions = {},
  ) {
    this.description = `faulty(${inner.description})`;
    this.rand = mulberry32(opts.seed ?? 1);
  }

  get limits(): ObjectStore['limits'] {
    return this.inner.limits;
  }

  inject(rule: FaultRule): InjectedRule {
    if (rule.probability !== undefined && !(rule.probability >= 0 && rule.probability <= 1)) {
      throw new RangeError(`probability must be within 0..1, not ${rule.probability}`);
    }
    if (rule.times !== undefined && !(Number.isInteger(rule.times) && rule.times >= 0)) {
      throw new RangeError(`times must be a non-negative integer, not ${rule.times}`);
    }
    const active: ActiveRule = { rule, hits: 0, remaining: rule.times, removed: false };
    this.rules.push(active);
    return {
      get hits() {
        return active.hits;
      },
      get remaining() {
        return active.remaining;
      },
      remove: () => {
        active.removed = true;
        this.rules = this.rules.filter((r) => r !== active);
      },
    };
  }

  /** Remove every rule (counters are kept; see resetStats). */
  clear(): void {
    for (const r of this.rules) r.removed = true;
    this.rules = [];
  }

  /** Re-seed the PRNG (the next draws repeat those of a fresh store with that seed). */
  reseed(seed: number): void {
    this.rand = mulberry32(seed);
  }

  stats(): FaultStats {
    const c = this.counters;
    const bytesByOp: FaultStats['bytesByOp'] = {};
    for (const [op, v] of Object.entries(c.bytesByOp)) bytesByOp[op as FaultOp] = { ...v };
    return { calls: { ...c.calls }, bytesIn: c.bytesIn, bytesOut: c.bytesOut, bytesByOp, faults: c.faults };
  }

  resetStats(): void {
    this.counters = emptyStats();
  }

  // ---------------------------------------------------------------------------------------------

  check(signal?: AbortSignal): Promise<void> {
    return this.run('check', [], signal, () => this.inner.check(signal));
  }

  list(opts: ListOptions): Promise<ListPage> {
    return this.run('list', [opts.prefix ?? ''], opts.signal, () => this.inner.list(opts));
  }

  head(key: string, signal?: AbortSignal): Promise<ObjectInfo> {
    return this.run('head', [key], signal, () => this.inner.head(key, signal));
  }

  get(key: string, opts?: GetOptions): Promise<GetResult> {
    return this.run('get', [key], opts?.signal, async () => {
      const r = await this.inner.get(key, opts);
      this.countBytes('get', 0, r.body.length);
      return r;
    });
  }

  put(key: string, body: PutBody, opts?: PutOptions): Promise<{ etag: string }> {
    return this.run('put', [key], opts?.signal, () => {
      this.countBytes('put', body.length, 0);
      return this.inner.put(key, body, opts);
    });
  }

  copy(sourceKey: string, destKey: string, opts?: CopyOptions): Promise<{ etag: string }> {
    return this.run('copy', [destKey, sourceKey], opts?.signal, () => this.inner.copy(sourceKey, destKey, opts));
  }

  delete(key: string, signal?: AbortSignal): Promise<void> {
    return this.run('delete', [key], signal, () => this.inner.delete(key, signal));
  }

  deleteMany(keys: string[], signal?: AbortSignal): Promise<DeleteManyResult> {
    this.counters.calls.deleteMany++;
    const whole = this.decide('deleteMany', [], false);
    return this.apply(whole, signal, () => this.deleteManyPerKey(keys, signal), 'deleteMany');
  }

  private async deleteManyPerKey(keys: string[], signal: AbortSignal | undefined): Promise<DeleteManyResult> {
    const refused: DeleteManyResult['errors'] = [];
    const passed: string[] = [];
    let delayMs = 0;
    for (const key of keys) {
      const d = this.decide('deleteMany', [key], true);
      delayMs += d.delayMs;
      if (d.terminal === undefined) passed.push(key);
      else {
        this.counters.faults++;
        const t = d.terminal;
        const err =
          t.kind === 'fail'
            ? new StoreError(t.code, t.message ?? `injected ${t.code}: deleteMany ${key}`, { key })
            : new StoreError('Network', `injected: connection dropped (deleteMany ${key})`, { key });
        refused.push({ key, error: err });
      }
    }
    if (delayMs > 0) await sleep(delayMs, signal);
    const r = passed.length > 0 ? await this.inner.deleteMany(passed, signal) : { deleted: [], errors: [] };
    return { deleted: r.deleted, errors: [...r.errors, ...refused] };
  }

  createMultipart(key: string, opts?: MultipartOptions): Promise<{ uploadId: string }> {
    return this.run('createMultipart', [key], opts?.signal, () => this.inner.createMultipart(key, opts));
  }

  uploadPart(key: string, uploadId: string, partNumber: number, body: PutBody, signal?: AbortSignal): Promise<CompletedPart> {
    return this.run('uploadPart', [key], signal, () => {
      this.countBytes('uploadPart', body.length, 0);
      return this.inner.uploadPart(key, uploadId, partNumber, body, signal);
    });
  }

  uploadPartCopy(
    key: string,
    uploadId: string,
    partNumber: number,
    source: { key: string; range?: ByteRange; ifMatch?: string },
    signal?: AbortSignal,
  ): Promise<CompletedPart> {
    return this.run('uploadPartCopy', [key, source.key], signal, () => this.inner.uploadPartCopy(key, uploadId, partNumber, source, signal));
  }

  completeMultipart(
    key: string,
    uploadId: string,
    parts: CompletedPart[],
    conditions?: WriteConditions & { signal?: AbortSignal },
  ): Promise<{ etag: string }> {
    return this.run('completeMultipart', [key], conditions?.signal, () => this.inner.completeMultipart(key, uploadId, parts, conditions));
  }

  abortMultipart(key: string, uploadId: string, signal?: AbortSignal): Promise<void> {
    return this.run('abortMultipart', [key], signal, () => this.inner.abortMultipart(key, uploadId, signal));
  }

  /** Release pending hangs (they fail with Aborted), then close the wrapped store. */
  prepareWrites(): void {
    this.inner.prepareWrites?.();
  }

  async close(): Promise<void> {
    for (const release of [...this.hangs]) release(new StoreError('Aborted', 'store closed while the call hung'));
    this.hangs.clear();
    await this.inner.close();
  }

  // ---------------------------------------------------------------------------------------------

  private async run<T>(op: FaultOp, keys: string[], signal: AbortSignal | undefined, call: () => Promise<T>): Promise<T> {
    this.counters.calls[op]++;
    const d = this.decide(op, keys, undefined);
    return this.apply(d, signal, call, op, keys[0]);
  }

  /**
   * Which rules fire for this call. `keyed`: true = only rules with a key test, false = only rules
   * without one, undefined = all (the normal case).
   */
  private decide(op: FaultOp, keys: string[], keyed: boolean | undefined): Decision {
    let delayMs = 0;
    for (const r of [...this.rules]) {
      const { rule } = r;
      if (r.removed || !opMatches(rule.op, op)) continue;
      if (keyed !== undefined && keyed !== (rule.key !== undefined)) continue;
      if (rule.key !== undefined && !keys.some((k) => keyMatches(rule.key!, k))) continue;
      if (r.remaining === 0) continue;
      if (rule.probability !== undefined && !(this.rand() < rule.probability)) continue;
      r.hits++;
      if (r.remaining !== undefined) r.remaining--;
      if (rule.action.kind === 'latency') delayMs += Math.max(0, rule.action.ms);
      else return { delayMs, terminal: rule.action };
    }
    return { delayMs, terminal: undefined };
  }

  private async apply<T>(d: Decision, signal: AbortSignal | undefined, call: () => Promise<T>, op?: FaultOp, key?: string): Promise<T> {
    if (d.delayMs > 0) await sleep(d.delayMs, signal);
    const t = d.terminal;
    if (t === undefined) return call();
    this.counters.faults++;
    const what = `${op ?? 'call'}${key === undefined || key === '' ? '' : ` ${key}`}`;
    switch (t.kind) {
      case 'fail':
        throw new StoreError(t.code, t.message ?? `injected ${t.code}: ${what}`, { key });
      case 'drop': {
        if (t.afterCall) await call().catch(() => undefined);
        await sleep(t.afterMs ?? 5, signal);
        throw new StoreError('Network', `injected: connection dropped (${what})`, { key });
      }
      case 'hang':
        return this.hang(signal, what, key);
    }
  }

  private hang<T>(signal: AbortSignal | undefined, what: string, key: string | undefined): Promise<T> {
    return new Promise<T>((_resolve, reject) => {
      const release = (err: StoreError): void => {
        this.hangs.delete(release);
        signal?.removeEventListener('abort', onAbort);
        reject(err);
      };
      const onAbort = (): void => release(new StoreError('Aborted', `aborted while hanging: ${what}`, { key, cause: signal?.reason }));
      if (signal?.aborted) return onAbort();
      this.hangs.add(release);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private countBytes(op: FaultOp, bytesIn: number, bytesOut: number): void {
    const c = this.counters;
    c.bytesIn += bytesIn;
    c.bytesOut += bytesOut;
    const per = (c.bytesByOp[op] ??= { in: 0, out: 0 });
    per.in += bytesIn;
    per.out += bytesOut;
  }
}

function emptyStats(): FaultStats {
  const calls = Object.fromEntries(FAULT_OPS.map((op) => [op, 0])) as Record<FaultOp, number>;
  return { calls, bytesIn: 0, bytesOut: 0, bytesByOp: {}, faults: 0 };
}

function opMatches(want: FaultRule['op'], op: FaultOp): boolean {
  if (want === '*') return true;
  if (typeof want === 'string') return want === op;
  return want.includes(op);
}

function keyMatches(test: RegExp | ((key: string) => boolean), key: string): boolean {
  if (typeof test === 'function') return test(key);
  test.lastIndex = 0; // a /g or /y RegExp keeps state between test() calls
  return test.test(key);
}

/** Sleep `ms`, or fail with Aborted as soon as `signal` fires. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new StoreError('Aborted', 'aborted', { cause: signal.reason }));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new StoreError('Aborted', 'aborted during injected latency', { cause: signal?.reason }));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

