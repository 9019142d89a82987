/**
 * Listing of the local store, two implementations with the same results (S3 semantics, see
 * s3-rules.ts: ascending UTF-8 byte order of entries, maxKeys entries per page, "after" marker
 * from the continuation token or startAfter):
 *
 * - delimiter '/' (what a filesystem asks for): one readdir of the directory that holds the
 *   prefix, entries filtered by the rest of the prefix, sorted by full key bytes, paginated. A
 *   subdirectory is a common prefix (every directory holds a key: either objects below it or,
 *   when empty, itself as a marker), so no recursion is needed. The directory of the prefix is
 *   itself listed as the object "dir/" when it is a marker.
 * - no delimiter, or another delimiter: a depth-first walk whose order is the key order: a
 *   directory's entries are sorted by name for files and name + "/" for directories, because
 *   every key below directory d starts with "d/". Subtrees that cannot hold keys after the
 *   marker or under the prefix are skipped; other delimiters roll keys up as they stream by.
 *
 * Names that are not valid UTF-8, symlinks and special files are skipped, as are keys longer
 * than 1024 bytes (no request could name them). The reserved .objfs directory is never listed.
 * Entries that vanish between readdir and stat are dropped (the page may then be short).
 * Stateless: everything per call; the store's `fileInfo`/`markerInfo` provide object info.
 */
import { mapLimit } from '../../util/limiter.js';
import type { BigIntStats, Dirent } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ListOptions, ListPage, ObjectInfo } from '../object-store.js';
import { MAX_KEY_BYTES, checkAborted, commonPrefixOf, compareKeys, encodeToken, listMarker, pageSize } from '../memory/s3-rules.js';
import { errnoCode, mapFsError } from './fs-util.js';
import { RESERVED_NAME, segmentProblem, type Layout } from './paths.js';

export interface ListHost {
  readonly layout: Layout;
  fileInfo(key: string, st: BigIntStats): Promise<ObjectInfo>;
  markerInfo(key: string, path: string, st: BigIntStats, empty: boolean | undefined): Promise<ObjectInfo | undefined>;
}

interface DirEntry {
  name: string;
  kind: 'file' | 'dir';
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
/** How many stats run at once while filling a page. */
const STAT_CONCURRENCY = 32;

export async function listLocal(host: ListHost, opts: ListOptions): Promise<ListPage> {
  const prefix = opts.prefix ?? '';
  const delimiter = opts.delimiter === '' ? undefined : opts.delimiter;
  const max = pageSize(opts.maxKeys);
  const after = listMarker(opts);
  const slash = prefix.lastIndexOf('/');
  const dirPrefix = prefix.slice(0, slash + 1);
  if (!dirPrefixCanExist(dirPrefix)) return { objects: [], prefixes: [] };
  return delimiter === '/'
    ? listOneDirectory(host, prefix, dirPrefix, after, max, opts.signal)
    : listByWalking(host, prefix, dirPrefix, delimiter, after, max, opts.signal);
}

/** Can a directory key prefix ("" or "a/b/") name a directory of the tree? */
function dirPrefixCanExist(dirPrefix: string): boolean {
  if (dirPrefix === '') return true;
  const segs = dirPrefix.slice(0, -1).split('/');
  return segs[0] !== RESERVED_NAME && segs.every((s) => segmentProblem(s) === undefined);
}

// -----------------------------------------------------------------------------------------------

interface Candidate {
  /** The listing entry: an object key, or a common prefix ending in '/'. */
  entry: string;
  kind: 'file' | 'prefix' | 'marker';
  path: string;
  /** For markers: is the directory empty. */
  empty?: boolean;
}

async function listOneDirectory(
  host: ListHost,
  prefix: string,
  dirPrefix: string,
  after: string | undefined,
  max: number,
  signal: AbortSignal | undefined,
): Promise<ListPage> {
  const namePrefix = prefix.slice(dirPrefix.length);
  const dir = host.layout.dirPath(dirPrefix);
  const listing = await readDirectory(dir, dirPrefix === '', signal);
  if (listing === undefined) return { objects: [], prefixes: [] };
  const { entries, empty } = listing;
  const candidates: Candidate[] = [];
  if (dirPrefix !== '' && namePrefix === '' && (after === undefined || compareKeys(dirPrefix, after) > 0)) {
    // The directory itself, as the object "dir/", only if it is a marker: resolved before paging
    // so that a page never counts an entry it then drops.
    const self: Candidate = { entry: dirPrefix, kind: 'marker', path: dir, empty };
    if ((await candidateInfo(host, self)) !== undefined) candidates.push(self);
  }
  for (const e of entries) {
    if (!e.name.startsWith(namePrefix)) continue;
    if (e.kind === 'file') candidates.push({ entry: dirPrefix + e.name, kind: 'file', path: join(dir, e.name) });
    else candidates.push({ entry: `${dirPrefix}${e.name}/`, kind: 'prefix', path: join(dir, e.name) });
  }
  const eligible = candidates
    .filter((c) => (after === undefined || compareKeys(c.entry, after) > 0) && Buffer.byteLength(c.entry) <= MAX_KEY_BYTES)
    .sort((a, b) => compareKeys(a.entry, b.entry));

  const page: ListPage = { objects: [], prefixes: [] };
  const taken = eligible.slice(0, max);
  const infos = await mapLimit(taken, STAT_CONCURRENCY, (c) => (c.kind === 'prefix' ? Promise.resolve(undefined) : candidateInfo(host, c)));
  taken.forEach((c, i) => {
    if (c.kind === 'prefix') page.prefixes.push(c.entry);
    else {
      const info = infos[i];
      if (info !== undefined) page.objects.push(info);
    }
  });
  if (eligible.length > max) page.nextToken = encodeToken(taken[taken.length - 1]!.entry);
  return page;
}

// -----------------------------------------------------------------------------------------------

async function listByWalking(
  host: ListHost,
  prefix: string,
  dirPrefix: string,
  delimiter: string | undefined,
  after: string | undefined,
  max: number,
  signal: AbortSignal | undefined,
): Promise<ListPage> {
  const page: ListPage = { objects: [], prefixes: [] };
  let count = 0;
  let last: string | undefined;
  let lastPrefix: string | undefined;
  for await (const c of walk(host, dirPrefix, prefix, after, signal)) {
    const cp = commonPrefixOf(c.entry, prefix, delimiter);
    if (cp !== undefined) {
      if (cp === lastPrefix || (after !== undefined && compareKeys(cp, after) <= 0)) continue;
      // A marker candidate only counts if the directory really is a marker.
      if (c.kind === 'marker' && (await candidateInfo(host, c)) === undefined) continue;
      if (count === max) {
        page.nextToken = encodeToken(last!);
        break;
      }
      page.prefixes.push(cp);
      lastPrefix = cp;
      last = cp;
      count++;
      continue;
    }
    const info = await candidateInfo(host, c);
    if (info === undefined) continue;
    if (count === max) {
      page.nextToken = encodeToken(last!);
      break;
    }
    page.objects.push(info);
    last = c.entry;
    count++;
  }
  return page;
}

/**
 * Yield the keys (files and marker candidates) under directory key `dirPrefix`, in key order,
 * restricted to keys starting with `prefix` and greater than `after`.
 */
async function* walk(
  host: ListHost,
  dirPrefix: string,
  prefix: string,
  after: string | undefined,
  signal: AbortSignal | undefined,
): AsyncGenerator<Candidate> {
  const dir = host.layout.dirPath(dirPrefix);
  const listing = await readDirectory(dir, dirPrefix === '', signal);
  if (listing === undefined) return;
  const { entries, empty } = listing;
  const wanted = (key: string): boolean =>
    key.startsWith(prefix) && (after === undefined || compareKeys(key, after) > 0) && Buffer.byteLength(key) <= MAX_KEY_BYTES;
  if (dirPrefix !== '' && wanted(dirPrefix)) yield { entry: dirPrefix, kind: 'marker', path: dir, empty };
  const sorted = entries
    .map((e) => ({ e, sortKey: e.kind === 'dir' ? `${e.name}/` : e.name }))
    .sort((a, b) => compareKeys(a.sortKey, b.sortKey));
  for (const { e } of sorted) {
    if (e.kind === 'file') {
      const key = dirPrefix + e.name;
      if (wanted(key)) yield { entry: key, kind: 'file', path: join(dir, e.name) };
      continue;
    }
    const sub = `${dirPrefix}${e.name}/`;
    if (!sub.startsWith(prefix) && !prefix.startsWith(sub)) continue; // disjoint from the prefix
    if (after !== undefined && compareKeys(sub, after) <= 0 && !after.startsWith(sub)) continue; // all keys <= after
    yield* walk(host, sub, prefix, after, signal);
  }
}

// -----------------------------------------------------------------------------------------------

/** List info of a file or marker candidate; undefined when it vanished or is not a marker. */
async function candidateInfo(host: ListHost, c: Candidate): Promise<ObjectInfo | undefined> {
  const info = await candidateFullInfo(host, c);
  if (info === undefined) return undefined;
  // list() carries no metadata or content type (like S3's ListObjectsV2); head() has them.
  const { key, size, etag, lastModified } = info;
  return { key, size, etag, lastModified };
}

async function candidateFullInfo(host: ListHost, c: Candidate): Promise<ObjectInfo | undefined> {
  let st: BigIntStats;
  try {
    st = await lstat(c.path, { bigint: true });
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw mapFsError(e, c.entry, 'stat');
  }
  if (c.kind === 'file') return st.isFile() ? host.fileInfo(c.entry, st) : undefined;
  return st.isDirectory() ? host.markerInfo(c.entry, c.path, st, c.empty) : undefined;
}

/**
 * The files and directories of `dir` with UTF-8 names (others skipped), and whether the directory
 * is truly empty (nothing at all in it, as rmdir and ObjectReader.markerInfo see it); undefined
 * when the directory does not exist. At the root, the reserved directory is left out.
 */
async function readDirectory(
  dir: string,
  isRoot: boolean,
  signal: AbortSignal | undefined,
): Promise<{ entries: DirEntry[]; empty: boolean } | undefined> {
  checkAborted(signal);
  let dirents: Dirent<Buffer>[];
  try {
    dirents = await readdir(dir, { withFileTypes: true, encoding: 'buffer' });
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw mapFsError(e, undefined, `list ${dir}`);
  }
  const out: DirEntry[] = [];
  for (const d of dirents) {
    let name: string;
    try {
      name = utf8.decode(d.name);
    } catch {
      continue; // not valid UTF-8: no key can name it
    }
    if (isRoot && name === RESERVED_NAME) continue;
    let kind: DirEntry['kind'] | undefined;
    if (d.isFile()) kind = 'file';
    else if (d.isDirectory()) kind = 'dir';
    else if (!d.isSymbolicLink() && !d.isFIFO() && !d.isSocket() && !d.isBlockDevice() && !d.isCharacterDevice()) {
      // DT_UNKNOWN on some file systems: ask lstat.
      const st = await lstat(join(dir, name)).catch(() => undefined);
      kind = st?.isFile() ? 'file' : st?.isDirectory() ? 'dir' : undefined;
    }
    if (kind !== undefined) out.push({ name, kind });
  }
  return { entries: out, empty: dirents.length === 0 };
}
