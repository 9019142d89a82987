/**
 * openStore: the one place that turns a remote URL into an ObjectStore. The CLI calls it at the
 * entry point and injects the result; nothing else constructs concrete stores.
 *
 *   file:///abs/path          LocalStore over that directory (percent-escapes are decoded)
 *   file://localhost/abs/path the same
 *   memory://[name]           a fresh, empty MemoryStore (tests, demos); the name is cosmetic
 *
 * Anything else fails with a one-line Error naming the URL and what is accepted. Remote schemes
 * (s3://, later sftp:// and gs://) get their case in SCHEMES below. The function does no I/O;
 * callers run store.check() to find out whether the remote is usable.
 */
import { fileURLToPath } from 'node:url';
import type { ObjectStore } from './object-store.js';
import { LocalStore } from './local/local-store.js';
import { MemoryStore } from './memory/memory-store.js';

export interface OpenStoreOptions {
  /** file://: fsync data, sidecars and directories before writes return (default true). */
  durable?: boolean;
}

type Opener = (url: string, opts: OpenStoreOptions) => ObjectStore;

/** Scheme (with ':') -> constructor. s3:, sftp:, gs: are added here when their stores land. */
const SCHEMES: Record<string, Opener> = {
  'file:': openFile,
  'memory:': (url) => new MemoryStore({ description: url }),
};

export function openStore(url: string, opts: OpenStoreOptions = {}): ObjectStore {
  const scheme = /^([a-z][a-z0-9+.-]*:)/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    throw new Error(`not a remote URL: ${JSON.stringify(url)} (expected file:///absolute/path or memory://)`);
  }
  const opener = SCHEMES[scheme];
  if (opener === undefined) {
    throw new Error(`unsupported remote ${JSON.stringify(url)}: only file:// (and memory:// for tests) is available in this build`);
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
