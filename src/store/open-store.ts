/**
 * openStore: the one place that turns a remote URL into an ObjectStore. The CLI calls it at the
 * entry point and injects the result; nothing else constructs concrete stores.
 *
 *   file:///abs/path          LocalStore over that directory (percent-escapes are decoded)
 *   file://localhost/abs/path the same
 *   memory://[name]           a fresh, empty MemoryStore (tests, demos); the name is cosmetic
 *   s3://bucket[/prefix]      S3Store on that bucket, keys under prefix/ (percent-escapes are
 *                             decoded); endpoint, region, profile, noSignRequest, timeouts... come
 *                             from `opts.s3`; credentials from there or the AWS default chain
 *                             (AWS_ACCESS_KEY_ID..., shared files with the profile, SSO, IMDS)
 *
 * Anything else fails with a one-line Error naming the URL and what is accepted. Remote schemes
 * (later sftp:// and gs://) get their case in SCHEMES below. The function does no I/O;
 * callers run store.check() to find out whether the remote is usable.
 */
import { fileURLToPath } from 'node:url';
import type { ObjectStore } from './object-store.js';
import { LocalStore } from './local/local-store.js';
import { MemoryStore } from './memory/memory-store.js';
import { S3Store } from './s3/s3-store.js';
import type { S3StoreOptions } from './s3/s3-config.js';

/** S3 settings that are not part of the URL (the URL gives the bucket and the prefix). */
export type OpenS3Options = Omit<S3StoreOptions, 'bucket' | 'prefix'>;

export interface OpenStoreOptions {
  /** file://: fsync data, sidecars and directories before writes return (default true). */
  durable?: boolean;
  /** s3://: endpoint, region, profile, noSignRequest, credentials, timeouts, retries. */
  s3?: OpenS3Options;
}

type Opener = (url: string, opts: OpenStoreOptions) => ObjectStore;

/** Scheme (with ':') -> constructor. sftp:, gs: are added here when their stores land. */
const SCHEMES: Record<string, Opener> = {
  'file:': openFile,
  'memory:': (url) => new MemoryStore({ description: url }),
  's3:': openS3,
};

export function openStore(url: string, opts: OpenStoreOptions = {}): ObjectStore {
  const scheme = /^([a-z][a-z0-9+.-]*:)/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    throw new Error(`not a remote URL: ${JSON.stringify(url)} (expected file:///absolute/path or memory://)`);
  }
  const opener = SCHEMES[scheme];
  if (opener === undefined) {
    throw new Error(`unsupported remote ${JSON.stringify(url)}: only file://, s3:// (and memory:// for tests) are available in this build`);
  }
  return opener(url, opts);
}

function openFile(url: string, opts: OpenStoreOptions): ObjectStore {
  if (!/^file:\/\//i.test(url)) {
    throw new Error(`malformed file URL ${JSON.stringify(url)}: write file:///absolute/path (three slashes)`);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`malformed file URL ${JSON.stringify(url)}: write file:///absolute/path`);
  }
  if (parsed.host !== '' && parsed.host !== 'localhost') {
    throw new Error(
      `file URL ${JSON.stringify(url)} names host ${JSON.stringify(parsed.host)}: a relative path? write file:///absolute/path (three slashes)`,
    );
  }
  if (parsed.search !== '' || parsed.hash !== '') {
    throw new Error(`file URL ${JSON.stringify(url)} must not have a query or fragment (escape '?' as %3F and '#' as %23)`);
  }
  let path: string;
  try {
    path = fileURLToPath(parsed);
  } catch (e) {
    throw new Error(`malformed file URL ${JSON.stringify(url)}: ${(e as Error).message}`);
  }
  const opt = opts.durable === undefined ? {} : { durable: opts.durable };
  return new LocalStore(path, opt);
}

function openS3(url: string, opts: OpenStoreOptions): ObjectStore {
  const m = /^s3:\/\/([^/?#]*)(\/[^?#]*)?$/i.exec(url);
  if (m === null) {
    throw new Error(`malformed S3 URL ${JSON.stringify(url)}: write s3://bucket or s3://bucket/prefix (no query or fragment)`);
  }
  const bucket = m[1] ?? '';
  if (bucket === '') throw new Error(`S3 URL ${JSON.stringify(url)} names no bucket: write s3://bucket[/prefix]`);
  let prefix: string;
  try {
    prefix = decodeURIComponent((m[2] ?? '').replace(/^\/+/, ''));
  } catch {
    throw new Error(`malformed S3 URL ${JSON.stringify(url)}: bad percent-escape in the prefix`);
  }
  try {
    return new S3Store({ ...opts.s3, bucket, prefix });
  } catch (e) {
    throw new Error(`cannot open ${JSON.stringify(url)}: ${(e as Error).message}`);
  }
}
