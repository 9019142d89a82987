/**
 * S3 store configuration: the options callers give (S3StoreOptions), their resolution into a
 * complete ResolvedS3Config (defaults, environment, shared AWS config file), and the construction
 * of the SDK client with its HTTP handler and keep-alive agents.
 *
 * Decisions:
 * - Region: explicit option, else AWS_REGION / AWS_DEFAULT_REGION, else the `region` of the
 *   profile in the shared config file (AWS_CONFIG_FILE or ~/.aws/config), else us-east-1. We read
 *   it ourselves so that a missing region is never a runtime SDK error.
 * - Endpoint: explicit option, else AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, else AWS. Path-style
 *   addressing by default whenever an endpoint is given (MinIO, Ceph, ... have no wildcard DNS).
 * - Credentials: explicit static keys, or `noSignRequest` (unsigned requests, public buckets), or
 *   the SDK's default chain (env, shared files with `profile`, SSO, IMDS...), resolved lazily by
 *   the SDK. Secrets live only inside the SDK client; nothing here formats them into text, and
 *   the endpoint shown in descriptions and errors has any user:password@ and query removed.
 * - Checksums: 'WHEN_REQUIRED' both ways (many S3-compatible servers mishandle CRC trailers).
 * - No SDK retries (maxAttempts 1): retry.ts owns retries, so every attempt, timeout and abort is
 *   under one policy. No "Expect: 100-continue" (bodies go out at once; with our own agents the
 *   SDK would not wait for the 100 anyway).
 * - One middleware chain per command type (the SDK's cacheMiddleware): otherwise client.send()
 *   builds the whole chain (~40 middlewares, sorted) again for every request, because it is built
 *   with the per-call options baked in. The per-call options objfs uses (the attempt's abort
 *   signal, requestTimeout 0 for uploads) travel instead on the command's input under a symbol
 *   (REQUEST_OPTIONS, set by ObjfsS3Client.send); a last middleware hands them to the HTTP
 *   handler for exactly the request it is about to send (perf, 1,000 small PUTs: building the
 *   chain was ~12% of the upload thread's CPU). A command sent with options but whose input lost
 *   them on the way would be sent without its abort signal: the handler throws instead.
 * - Timeouts (all per attempt): connectTimeoutMs for TCP/TLS connection set-up; requestTimeoutMs
 *   until the response headers arrive, for requests whose duration does not grow with a body
 *   (uploads, copies and completes pass 0 to disable it); idleTimeoutMs: no byte in either
 *   direction for this long aborts any request, including mid-body (the catch-all for hangs).
 *
 * Ownership: a ResolvedS3Config is immutable; the client and agents built from it belong to one
 * S3Store, which destroys them in close().
 */
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** What happened before a retry (for logs and metrics; never carries secrets). */
export interface S3RetryEvent {
  op: string;
  key: string | undefined;
  /** The attempt that failed (1-based). */
  attempt: number;
  /** Delay before the next attempt, ms. */
  delayMs: number;
  error: Error;
}

export interface S3StoreOptions {
  bucket: string;
  /** Keys are relative to this prefix ("a/b" is used as "a/b/"); default none. */
  prefix?: string;
  /** S3-compatible endpoint URL (http://127.0.0.1:9000); default AWS (or AWS_ENDPOINT_URL[_S3]). */
  endpoint?: string;
  /** Default: AWS_REGION, AWS_DEFAULT_REGION, the profile's region, us-east-1. */
  region?: string;
  /** Path-style URLs (endpoint/bucket/key). Default: true when an endpoint is given. */
  forcePathStyle?: boolean;
  /** Static credentials; default: the AWS default chain (env, shared files, SSO, IMDS). */
  credentials?: S3Credentials;
  /** Shared config/credentials profile for the default chain (default AWS_PROFILE or "default"). */
  profile?: string;
  /** Send unsigned requests (public buckets); no credentials are looked up. */
  noSignRequest?: boolean;
  /** Attempts per request, including the first (default 5). */
  maxAttempts?: number;
  /** Backoff: attempt n waits a random time in [0, min(max, base * 2^(n-1))] (defaults 100 ms, 10 s). */
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  /** TCP/TLS connect timeout (default 10 s). */
  connectTimeoutMs?: number;
  /** Time to response headers for requests without a large body (default 60 s; 0 disables). */
  requestTimeoutMs?: number;
  /** No byte sent or received for this long aborts the attempt (default 30 s). */
  idleTimeoutMs?: number;
  /** Socket pool size per agent (default 64). */
  maxSockets?: number;
  /** copy() of a source larger than this uses a multipart copy (default 5 GiB, S3's CopyObject limit). */
  multipartCopyThreshold?: number;
  /** Part size of multipart copies (default 512 MiB; raised so that parts never exceed 10,000). */
  multipartCopyPartSize?: number;
  /** Called before each retry. */
  onRetry?: (event: S3RetryEvent) => void;
  /**
   * Run whole-object PUTs of in-memory bodies up to 1 MiB in a worker thread with its own client
   * (put-offload.ts), so many small uploads do not compete with the caller's thread (default false;
   * the mount turns it on).
   */
  offloadPuts?: boolean;
  /** Environment to resolve defaults from (default process.env; tests pass their own). */
  env?: NodeJS.ProcessEnv;
}

export interface ResolvedS3Config {
  bucket: string;
  /** '' or ending in '/'. */
  prefix: string;
  endpoint: string | undefined;
  /** The endpoint without credentials or query, for messages; undefined for AWS. */
  endpointText: string | undefined;
  region: string;
  forcePathStyle: boolean;
  credentials: S3Credentials | undefined;
  profile: string | undefined;
  noSignRequest: boolean;
  maxAttempts: number;
  retryBaseDelayMs: number;
  retryMaxDelayMs: number;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  idleTimeoutMs: number;
  maxSockets: number;
  multipartCopyThreshold: number;
  multipartCopyPartSize: number;
  onRetry: ((event: S3RetryEvent) => void) | undefined;
}

const GiB = 1024 * 1024 * 1024;

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$|^[A-Za-z0-9._-]{1,255}$/;

function positive(name: string, v: number | undefined, dflt: number, allowZero = false): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) throw new Error(`s3: ${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, not ${v}`);
  return v;
}

/** The endpoint as shown to people: scheme, host, port and path, never user:password or a query. */
export function safeEndpointText(endpoint: string): string {
  try {
    const u = new URL(endpoint);
    const path = u.pathname === '/' ? '' : u.pathname;
    return `${u.protocol}//${u.host}${path}`;
  } catch {
    return '<malformed endpoint>';
  }
}

/** Region of `profile` in the shared config file, if any (tiny INI reader: sections and key = value). */
export function profileRegion(env: NodeJS.ProcessEnv, profile: string): string | undefined {
  const file = env['AWS_CONFIG_FILE'] ?? join(env['HOME'] ?? homedir(), '.aws', 'config');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const wanted = profile === 'default' ? ['default', 'profile default'] : [`profile ${profile}`];
  let inSection = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/[;#].*$/, '').trim();
    const section = /^\[\s*(.+?)\s*\]$/.exec(line);
    if (section) {
      inSection = wanted.includes(section[1]!.replace(/\s+/g, ' '));
      continue;
    }
    const kv = /^([A-Za-z0-9_]+)\s*=\s*(.*)$/.exec(line);
    if (inSection && kv && kv[1]!.toLowerCase() === 'region' && kv[2]!.trim() !== '') return kv[2]!.trim();
  }
  return undefined;
}

export function resolveConfig(opts: S3StoreOptions): ResolvedS3Config {
  const env = opts.env ?? process.env;
  if (typeof opts.bucket !== 'string' || !BUCKET_NAME.test(opts.bucket)) {
    throw new Error(`s3: invalid bucket name ${JSON.stringify(opts.bucket)}`);
  }
  let prefix = (opts.prefix ?? '').replace(/^\/+/, '');
  if (prefix !== '' && !prefix.endsWith('/')) prefix += '/';
  const endpoint = opts.endpoint ?? (env['AWS_ENDPOINT_URL_S3'] || env['AWS_ENDPOINT_URL'] || undefined);
  if (endpoint !== undefined) {
    let u: URL;
    try {
      u = new URL(endpoint);
    } catch {
      throw new Error(`s3: malformed endpoint URL (expected http(s)://host[:port])`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`s3: endpoint ${safeEndpointText(endpoint)} must be http:// or https://`);
  }
  const profile = opts.profile ?? (env['AWS_PROFILE'] || undefined);
  const region =
    opts.region ?? (env['AWS_REGION'] || env['AWS_DEFAULT_REGION'] || profileRegion(env, profile ?? 'default') || 'us-east-1');
  if (opts.credentials !== undefined && (!opts.credentials.accessKeyId || !opts.credentials.secretAccessKey)) {
    throw new Error('s3: credentials need both an access key id and a secret access key');
  }
  const maxAttempts = positive('maxAttempts', opts.maxAttempts, 5);
  if (!Number.isInteger(maxAttempts)) throw new Error(`s3: maxAttempts must be an integer, not ${maxAttempts}`);
  return {
    bucket: opts.bucket,
    prefix,
    endpoint,
    endpointText: endpoint === undefined ? undefined : safeEndpointText(endpoint),
    region,
    forcePathStyle: opts.forcePathStyle ?? endpoint !== undefined,
    credentials: opts.credentials === undefined ? undefined : { ...opts.credentials },
    profile,
    noSignRequest: opts.noSignRequest ?? false,
    maxAttempts,
    retryBaseDelayMs: positive('retryBaseDelayMs', opts.retryBaseDelayMs, 100, true),
    retryMaxDelayMs: positive('retryMaxDelayMs', opts.retryMaxDelayMs, 10_000, true),
    connectTimeoutMs: positive('connectTimeoutMs', opts.connectTimeoutMs, 10_000),
    requestTimeoutMs: positive('requestTimeoutMs', opts.requestTimeoutMs, 60_000, true),
    idleTimeoutMs: positive('idleTimeoutMs', opts.idleTimeoutMs, 30_000),
    maxSockets: positive('maxSockets', opts.maxSockets, 64),
    multipartCopyThreshold: positive('multipartCopyThreshold', opts.multipartCopyThreshold, 5 * GiB),
    multipartCopyPartSize: Math.min(positive('multipartCopyPartSize', opts.multipartCopyPartSize, 512 * 1024 * 1024), 5 * GiB),
    onRetry: opts.onRetry,
  };
}

/** "s3://bucket/prefix" (+ " at <endpoint>" for a custom endpoint). */
export function describe(cfg: ResolvedS3Config): string {
  const base = `s3://${cfg.bucket}${cfg.prefix === '' ? '' : `/${cfg.prefix.replace(/\/$/, '')}`}`;
  return cfg.endpointText === undefined ? base : `${base} at ${cfg.endpointText}`;
}

export interface BuiltClient {
  client: S3Client;
  destroy(): void;
}

/**
 * The SDK's logger middleware calls `logger.info?.({ input: filter(input), output: filter(output) })`
 * after every request; with the SDK's default no-op logger the sensitive-data filter still walks
 * every response (a whole ListObjectsV2 page: ~10% of a listing's CPU here). A logger without
 * info() skips that. objfs reports retries and errors itself (onRetry, StoreError); the SDK's
 * own warnings were dropped before as well (its default logger is a no-op).
 */
const SDK_QUIET_LOGGER = { debug(): void {}, warn(): void {}, error(): void {} } as unknown as NonNullable<S3ClientConfig['logger']>;

type HttpHandlerOptions = NonNullable<Parameters<NodeHttpHandler['handle']>[1]>;

/** Where ObjfsS3Client.send puts a call's handler options on the command's input. */
const REQUEST_OPTIONS = Symbol('objfs.requestOptions');

interface CallOptions {
  options: HttpHandlerOptions;
  /** Set by the middleware that handed them to the handler. */
  seen: boolean;
}

/** NodeHttpHandler taking each request's own options from `perRequest` (see the module comment). */
class ObjfsHttpHandler extends NodeHttpHandler {
  readonly perRequest = new WeakMap<object, HttpHandlerOptions>();

  override handle(request: Parameters<NodeHttpHandler['handle']>[0], options: HttpHandlerOptions = {}): ReturnType<NodeHttpHandler['handle']> {
    const own = this.perRequest.get(request);
    return super.handle(request, own === undefined ? options : { ...options, ...own });
  }
}

/** S3Client whose send(command, options) keeps the cached middleware chain (module comment). */
class ObjfsS3Client extends S3Client {
  override send(command: Parameters<S3Client['send']>[0], optionsOrCb?: unknown, cb?: unknown): Promise<never> {
    const opts = optionsOrCb as HttpHandlerOptions | undefined;
    if (opts !== undefined && typeof opts === 'object' && cb === undefined && onlyHandlerOptions(opts)) {
      const call: CallOptions = { options: opts, seen: false };
      (command.input as Input)[REQUEST_OPTIONS] = call;
      return (super.send(command) as Promise<never>).then((out) => {
        // Answered, but our middleware never saw the options: one rebuilt the input without our
        // symbol, and the request went out without its abort signal and timeout. Never
        // expected; loud so that a test sees it. (A send that failed before the request was
        // made, e.g. no credentials, keeps its own error.)
        if (!call.seen) throw new Error('objfs: internal error: the per-request HTTP options of a request were lost in the SDK middleware');
        return out;
      });
    }
    return (super.send as (c: unknown, o?: unknown, f?: unknown) => Promise<never>)(command, optionsOrCb, cb);
  }
}

type Input = Record<symbol, unknown>;

function onlyHandlerOptions(o: object): boolean {
  for (const k of Object.keys(o)) if (k !== 'abortSignal' && k !== 'requestTimeout') return false;
  return true;
}

/** The SDK client for a config, over our own keep-alive agents and handler. */
export function buildClient(cfg: ResolvedS3Config): BuiltClient {
  const agentOpts = { keepAlive: true, maxSockets: cfg.maxSockets, maxFreeSockets: Math.min(cfg.maxSockets, 16), scheduling: 'lifo' as const };
  const httpAgent = new HttpAgent(agentOpts);
  const httpsAgent = new HttpsAgent(agentOpts);
  const requestHandler = new ObjfsHttpHandler({
    httpAgent,
    httpsAgent,
    connectionTimeout: cfg.connectTimeoutMs,
    requestTimeout: cfg.requestTimeoutMs,
    throwOnRequestTimeout: true,
    socketTimeout: cfg.idleTimeoutMs,
  });
  const config: S3ClientConfig = {
    region: cfg.region,
    forcePathStyle: cfg.forcePathStyle,
    requestHandler,
    maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    expectContinueHeader: false,
    followRegionRedirects: cfg.endpoint === undefined,
    logger: SDK_QUIET_LOGGER,
    cacheMiddleware: true,
  };
  if (cfg.endpoint !== undefined) config.endpoint = cfg.endpoint;
  if (cfg.noSignRequest) {
    // Unsigned requests: a signer that leaves the request alone, and an empty identity so that
    // the default chain is never consulted.
    config.signer = { sign: async (request) => request };
    config.credentials = async () => ({ accessKeyId: '', secretAccessKey: '' });
  } else if (cfg.credentials !== undefined) {
    const c = cfg.credentials;
    config.credentials = async () => ({ accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken });
  } else if (cfg.profile !== undefined) {
    config.profile = cfg.profile;
  }
  // The SDK warns once per process that future versions need Node 22; that line is noise for
  // objfs users (the pinned version works on Node 20). Only set when the user did not decide.
  if (process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] === undefined) {
    process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';
  }
  const client = new ObjfsS3Client(config);
  // Last in the chain: the request object here is the one the handler gets (signed, final).
  client.middlewareStack.add(
    (next) => async (args) => {
      const call = (args.input as Input)[REQUEST_OPTIONS] as CallOptions | undefined;
      if (call !== undefined) {
        requestHandler.perRequest.set(args.request as object, call.options);
        call.seen = true;
      }
      return next(args);
    },
    { step: 'deserialize', name: 'objfsRequestOptions', priority: 'low', override: true },
  );
  return {
    client,
    destroy(): void {
      client.destroy();
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}
