/**
 * The retry loop of the S3 store: exponential backoff with full jitter, bounded attempts, and the
 * caller's AbortSignal honoured at every point.
 *
 * withRetry(policy, ctx, signal, attempt):
 * - Each attempt gets its own AbortSignal, which fires when the caller's signal fires. The attempt
 *   function must pass it to the SDK (client.send(..., { abortSignal })) and stop reading bodies
 *   when it fires. Per-attempt timeouts are enforced inside the HTTP handler (s3-config.ts) and
 *   surface here as TimeoutError -> StoreError 'Timeout'.
 * - A failure is mapped to a StoreError (s3-errors.ts). If the caller's signal has fired, the
 *   result is StoreError 'Aborted' whatever the attempt threw, and nothing is retried. Otherwise
 *   a retryable error (Throttled, Timeout, Network, Server) is retried after a delay drawn
 *   uniformly from [0, min(maxDelay, base * 2^(n-1))] ("full jitter"), until maxAttempts.
 * - The sleep between attempts is cut short by an abort (-> 'Aborted' at once).
 * - When the attempts run out, the last error is thrown with "(after N attempts)" appended.
 *
 * The attempt number (1-based) is passed to the attempt function so that callers can handle the
 * ambiguity of a retried non-idempotent request (a lost response after a conditional write).
 *
 * No state outside the call: safe to use concurrently.
 */
import { StoreError } from '../../errors/store-error.js';
import type { S3RetryEvent } from './s3-config.js';
import { toStoreError, type ErrorContext } from './s3-errors.js';

export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  onRetry?: ((event: S3RetryEvent) => void) | undefined;
  /** Random source in [0, 1) (tests make it deterministic). */
  random?: () => number;
}

export function abortedError(ctx: ErrorContext, cause?: unknown): StoreError {
  const subject = ctx.key === undefined ? ctx.op : `${ctx.op} ${ctx.key}`;
  return new StoreError('Aborted', `s3 ${subject}: aborted`, { key: ctx.key, cause });
}

/** Delay before attempt n+1 after attempt n failed (full jitter). */
export function backoffDelay(policy: RetryPolicy, failedAttempt: number): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(failedAttempt - 1, 30));
  return Math.floor((policy.random ?? Math.random)() * cap);
}

/** Sleep `ms`, rejecting with Aborted as soon as `signal` fires. */
export function sleep(ms: number, signal: AbortSignal | undefined, ctx: ErrorContext): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortedError(ctx, signal.reason));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortedError(ctx, signal?.reason));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Run `attempt` under the policy (see the module doc). */
export async function withRetry<T>(
  policy: RetryPolicy,
  ctx: ErrorContext,
  signal: AbortSignal | undefined,
  attempt: (attemptSignal: AbortSignal, attemptNumber: number) => Promise<T>,
): Promise<T> {
  for (let n = 1; ; n++) {
    if (signal?.aborted) throw abortedError(ctx, signal.reason);
    const ac = new AbortController();
    const forward = (): void => ac.abort(signal?.reason);
    signal?.addEventListener('abort', forward, { once: true });
    let err: StoreError;
    try {
      return await attempt(ac.signal, n);
    } catch (e) {
      // Make sure nothing of a failed attempt (a body still streaming) outlives it. (Not after a
      // success: that would destroy the keep-alive socket the SDK is about to reuse.)
      if (!ac.signal.aborted) ac.abort(new Error('attempt failed'));
      if (signal?.aborted) throw abortedError(ctx, e);
      err = toStoreError(e, ctx);
      if (err.code === 'Aborted') throw err;
    } finally {
      signal?.removeEventListener('abort', forward);
    }
    if (!err.retryable) throw err;
    if (n >= policy.maxAttempts) {
      throw new StoreError(err.code, `${err.message} (after ${n} attempts)`, { key: err.key, cause: err.cause ?? err });
    }
    const delayMs = backoffDelay(policy, n);
    policy.onRetry?.({ op: ctx.op, key: ctx.key, attempt: n, delayMs, error: err });
    await sleep(delayMs, signal, ctx);
  }
}
