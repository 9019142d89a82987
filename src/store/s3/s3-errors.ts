/**
 * The one mapping from whatever an S3 request can throw (SDK service exceptions, Node socket
 * errors, smithy timeouts, aborts, truncated bodies) to a StoreError with a stable code. The retry
 * loop decides on `StoreError.retryable`, so this table is also the retry policy:
 *
 *   404 NoSuchKey / NotFound                  NotFound
 *   NoSuchBucket                              NoSuchBucket
 *   403 AccessDenied, InvalidAccessKeyId,
 *       SignatureDoesNotMatch, ...; no credentials found by the default chain   AccessDenied
 *   412 PreconditionFailed, 409 ConditionalRequestConflict   PreconditionFailed
 *   416 InvalidRange, 400 InvalidArgument, EntityTooSmall,
 *       InvalidPart(Order), MalformedXML...   InvalidArgument
 *   KeyTooLongError, XMinioInvalidObjectName  InvalidKey
 *   NoSuchUpload                              NoSuchUpload
 *   EntityTooLarge                            TooLarge
 *   QuotaExceeded, XMinioStorageFull, ...     QuotaExceeded
 *   NotImplemented / 501                      NotSupported
 *   503 SlowDown (and other 503s), 429, Throttling*   Throttled   (retried)
 *   RequestTimeout (400), smithy TimeoutError, ETIMEDOUT, our deadline   Timeout (retried)
 *   ECONNRESET, EPIPE, ECONNREFUSED, socket hang up, truncated body ...  Network (retried)
 *   other 5xx                                 Server (retried)
 *   anything else                             Unknown (not retried)
 *
 * Messages name the operation, the store-relative key and the S3 error code, and never contain
 * credentials (SDK messages for signature errors carry no secrets; the endpoint is shown only in
 * its sanitized form by the caller). The original error is kept as `cause`.
 */
import { StoreError, type StoreErrorCode } from '../../errors/store-error.js';

export interface ErrorContext {
  /** "GET", "PUT", "LIST", ... */
  op: string;
  /** Store-relative key the error is about (for NotFound of a copy: the source). */
  key?: string | undefined;
}

const BY_CODE: Record<string, StoreErrorCode> = {
  NoSuchKey: 'NotFound',
  NotFound: 'NotFound',
  NoSuchVersion: 'NotFound',
  NoSuchBucket: 'NoSuchBucket',
  AccessDenied: 'AccessDenied',
  Forbidden: 'AccessDenied',
  InvalidAccessKeyId: 'AccessDenied',
  SignatureDoesNotMatch: 'AccessDenied',
  InvalidToken: 'AccessDenied',
  ExpiredToken: 'AccessDenied',
  TokenRefreshRequired: 'AccessDenied',
  AllAccessDisabled: 'AccessDenied',
  AccountProblem: 'AccessDenied',
  InvalidObjectState: 'AccessDenied',
  PreconditionFailed: 'PreconditionFailed',
  ConditionalRequestConflict: 'PreconditionFailed',
  InvalidRange: 'InvalidArgument',
  InvalidArgument: 'InvalidArgument',
  InvalidRequest: 'InvalidArgument',
  InvalidPart: 'InvalidArgument',
  InvalidPartOrder: 'InvalidArgument',
  EntityTooSmall: 'InvalidArgument',
  MalformedXML: 'InvalidArgument',
  MetadataTooLarge: 'InvalidArgument',
  InvalidDigest: 'InvalidArgument',
  BadDigest: 'InvalidArgument',
  IncompleteBody: 'InvalidArgument',
  InvalidBucketName: 'InvalidArgument',
  KeyTooLongError: 'InvalidKey',
  XMinioInvalidObjectName: 'InvalidKey',
  XMinioInvalidResourceName: 'InvalidKey',
  NoSuchUpload: 'NoSuchUpload',
  EntityTooLarge: 'TooLarge',
  XMinioStorageFull: 'QuotaExceeded',
  QuotaExceeded: 'QuotaExceeded',
  XMinioAdminBucketQuotaExceeded: 'QuotaExceeded',
  NotImplemented: 'NotSupported',
  SlowDown: 'Throttled',
  SlowDownRead: 'Throttled',
  SlowDownWrite: 'Throttled',
  Throttling: 'Throttled',
  ThrottlingException: 'Throttled',
  TooManyRequests: 'Throttled',
  TooManyRequestsException: 'Throttled',
  RequestLimitExceeded: 'Throttled',
  RequestThrottled: 'Throttled',
  ServiceUnavailable: 'Throttled',
  RequestTimeout: 'Timeout',
  RequestTimeoutException: 'Timeout',
  InternalError: 'Server',
  XMinioServerNotInitialized: 'Server',
};

const TIMEOUT_ERRNO = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT']);
const NETWORK_ERRNO = new Set([
  'ECONNRESET',
  'EPIPE',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
  'EPROTO',
]);

interface SdkLikeError {
  name?: unknown;
  code?: unknown;
  Code?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: number };
  $fault?: unknown;
}

/** The HTTP status of an SDK error, if it came from a response. */
export function httpStatus(e: unknown): number | undefined {
  const s = (e as SdkLikeError | null)?.$metadata?.httpStatusCode;
  return typeof s === 'number' ? s : undefined;
}

/** The S3 error code (e.g. "NoSuchKey") of an SDK error, if any. */
export function s3Code(e: unknown): string | undefined {
  const err = e as SdkLikeError | null;
  if (err === null || typeof err !== 'object') return undefined;
  if (typeof err.Code === 'string') return err.Code;
  if (httpStatus(e) !== undefined && typeof err.name === 'string' && err.name !== 'Error' && err.name !== 'UnknownError') return err.name;
  return undefined;
}

/** Walk the cause chain for a Node errno-style code. */
function errnoCode(e: unknown): string | undefined {
  for (let cur: unknown = e, depth = 0; cur !== null && typeof cur === 'object' && depth < 5; depth++) {
    const code = (cur as SdkLikeError).code;
    if (typeof code === 'string') return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

function classify(e: unknown): { code: StoreErrorCode; what: string } {
  const status = httpStatus(e);
  const s3 = s3Code(e);
  const name = typeof (e as SdkLikeError | null)?.name === 'string' ? ((e as SdkLikeError).name as string) : '';
  const message = typeof (e as SdkLikeError | null)?.message === 'string' ? ((e as SdkLikeError).message as string) : String(e);
  if (status !== undefined) {
    const what = `${s3 ?? 'error'} (HTTP ${status})`;
    if (s3 !== undefined && BY_CODE[s3] !== undefined) {
      // A 503 from MinIO with its own code (e.g. XMinioServerNotInitialized) is a server error.
      return { code: BY_CODE[s3]!, what };
    }
    if (status === 404) return { code: 'NotFound', what };
    if (status === 403 || status === 401) return { code: 'AccessDenied', what };
    if (status === 412) return { code: 'PreconditionFailed', what };
    if (status === 416) return { code: 'InvalidArgument', what };
    if (status === 429) return { code: 'Throttled', what };
    if (status === 501) return { code: 'NotSupported', what };
    if (status === 503) return { code: s3?.startsWith('XMinio') ? 'Server' : 'Throttled', what };
    if (status >= 500) return { code: 'Server', what };
    if (status === 400 && s3 === undefined) return { code: 'InvalidArgument', what };
    return { code: 'Unknown', what };
  }
  if (name === 'CredentialsProviderError' || name === 'TokenProviderError') {
    return { code: 'AccessDenied', what: `no usable AWS credentials (${message.split('\n')[0]})` };
  }
  const errno = errnoCode(e);
  if (name === 'TimeoutError' || (errno !== undefined && TIMEOUT_ERRNO.has(errno))) return { code: 'Timeout', what: `timed out (${message})` };
  if (errno !== undefined && NETWORK_ERRNO.has(errno)) return { code: 'Network', what: `${errno} (${message})` };
  if (/socket hang up|aborted|premature close|ECONNRESET|EPIPE|other side closed/i.test(message)) return { code: 'Network', what: message };
  // The SDK failing to parse a cut-off XML body: the connection died mid-response.
  if (/Deserialization error|char .* is not expected|Unexpected end|non-whitespace before first tag|Invalid character/i.test(message)) {
    return { code: 'Network', what: `unreadable response (${message})` };
  }
  return { code: 'Unknown', what: message.split('\n')[0] ?? 'unknown error' };
}

/** Map any error of an S3 request to a StoreError (StoreErrors pass through unchanged). */
export function toStoreError(e: unknown, ctx: ErrorContext): StoreError {
  if (e instanceof StoreError) return e;
  const { code, what } = classify(e);
  const subject = ctx.key === undefined ? ctx.op : `${ctx.op} ${ctx.key}`;
  return new StoreError(code, `s3 ${subject}: ${what}`, { key: ctx.key, cause: e });
}

/** A truncated or otherwise broken response body: retryable, like a reset connection. */
export function networkError(ctx: ErrorContext, message: string, cause?: unknown): StoreError {
  const subject = ctx.key === undefined ? ctx.op : `${ctx.op} ${ctx.key}`;
  return new StoreError('Network', `s3 ${subject}: ${message}`, { key: ctx.key, cause });
}
