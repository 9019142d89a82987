/**
 * StoreError: the typed failure every ObjectStore throws. `code` is stable and is the only thing
 * callers branch on; `cause` keeps the underlying error (SDK exception, fs error) for the log.
 * `retryable` tells the retry layer whether trying again can help.
 */
export type StoreErrorCode =
  | 'NotFound' // key does not exist
  | 'NoSuchBucket' // the bucket / root directory does not exist
  | 'AccessDenied' // 403 / EACCES from the backend
  | 'PreconditionFailed' // If-Match / If-None-Match not met (412), or copy source changed
  | 'InvalidKey' // a key the backend cannot store (e.g. a path component that is '.' or too long)
  | 'InvalidArgument' // bad range, bad part number, ...
  | 'NoSuchUpload' // unknown multipart upload id
  | 'QuotaExceeded' // no space / quota on the backend
  | 'TooLarge' // entity too large
  | 'Throttled' // 503 SlowDown, 429
  | 'Timeout' // request timed out
  | 'Network' // connection reset, refused, dropped
  | 'Server' // 5xx
  | 'NotSupported' // operation not supported by this backend
  | 'Aborted' // caller aborted through its AbortSignal
  | 'Unknown';

const RETRYABLE: ReadonlySet<StoreErrorCode> = new Set(['Throttled', 'Timeout', 'Network', 'Server']);

export class StoreError extends Error {
  readonly code: StoreErrorCode;
  readonly key: string | undefined;
  readonly retryable: boolean;
  constructor(code: StoreErrorCode, message: string, options?: { key?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StoreError';
    this.code = code;
    this.key = options?.key;
    this.retryable = RETRYABLE.has(code);
  }
}

export const isStoreError = (e: unknown, code?: StoreErrorCode): e is StoreError =>
  e instanceof StoreError && (code === undefined || e.code === code);
