/**
 * S3 rules shared by the stores in this tree (memory, local; the future s3 store can use the pure
 * helpers too): key byte order, key and metadata validation, ETag formats and comparison, byte
 * ranges, part numbers, list page size and continuation tokens, and the limits of S3 itself.
 *
 * The file lives under src/store/memory/ only because of directory ownership in the repository;
 * it has no state and imports nothing but node:crypto and the StoreError type, so it can move to
 * src/store/ unchanged.
 *
 * Decisions (also the contract every store here follows):
 * - Keys order by their UTF-8 bytes, which equals Unicode code point order. JS string comparison
 *   is UTF-16 code unit order and differs for astral characters vs U+E000..U+FFFF, so every sort
 *   and comparison of keys goes through compareKeys().
 * - A key is 1..1024 UTF-8 bytes, well-formed Unicode (no lone surrogates: they have no UTF-8
 *   encoding) and without NUL. Stores may refuse more (the local store refuses "a//b").
 * - User metadata: keys lower-case HTTP tokens, values strings, at most 2 KiB in total (S3's
 *   limit, so that nothing works on memory:// and then fails on S3). Violations: InvalidArgument.
 * - ETag conditions compare the opaque value without quotes and without a weak "W/" prefix; the
 *   condition value '*' matches any existing object. A write with ifMatch on a key that does not
 *   exist fails with PreconditionFailed (the version the caller expected is gone).
 * - Ranges: start > end, negative or non-integer -> InvalidArgument; start >= size (including any
 *   range on an empty object) -> InvalidArgument (S3 answers 416); end is clamped to size - 1.
 * - Listing: entries (objects and common prefixes) come in ascending byte order; a page holds at
 *   most maxKeys entries (default and cap 1000, fewer than 1 is InvalidArgument). startAfter and
 *   the continuation token both mean "only entries greater than this string": a common prefix
 *   equal to the marker is therefore not repeated on the next page. The token is opaque
 *   (base64url of "v1:" + the last entry returned); a malformed token is InvalidArgument.
 */
import { createHash, randomBytes } from 'node:crypto';
import { StoreError } from '../../errors/store-error.js';
import type { ByteRange, ListOptions, ObjectStore } from '../object-store.js';

const MiB = 1024 * 1024;

/** S3's multipart and object limits, used by the stores that imitate it. */
export const S3_LIMITS: ObjectStore['limits'] = Object.freeze({
  maxParts: 10_000,
  minPartSize: 5 * MiB,
  maxPartSize: 5 * 1024 * MiB,
  maxObjectSize: 5 * 1024 * 1024 * MiB,
});

export const MAX_KEY_BYTES = 1024;
export const MAX_METADATA_BYTES = 2048;
export const DEFAULT_MAX_KEYS = 1000;

/** Quoted MD5 of the empty string: the ETag of every empty object and directory marker. */
export const EMPTY_ETAG = '"d41d8cd98f00b204e9800998ecf8427e"';

// ---------------------------------------------------------------------------------------------
// Key order

/** Map a UTF-16 code unit so that numeric order equals code point (= UTF-8 byte) order. */
function fixCodeUnit(c: number): number {
  if (c < 0xd800) return c;
  return c >= 0xe000 ? c - 0x800 : c + 0x2000;
}

/** Compare two keys by their UTF-8 bytes (negative, 0, positive). */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return fixCodeUnit(x) - fixCodeUnit(y);
  }
  return a.length - b.length;
}

// ---------------------------------------------------------------------------------------------
// Keys and metadata

const LONE_SURROGATE = /\p{Surrogate}/u;

/** The rules every store applies to a key (see module doc). Throws InvalidKey. */
export function validateKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw new StoreError('InvalidKey', 'empty key', { key });
  if (LONE_SURROGATE.test(key)) throw new StoreError('InvalidKey', `key is not well-formed Unicode: ${JSON.stringify(key)}`, { key });
  if (key.includes('\0')) throw new StoreError('InvalidKey', `key contains a NUL character: ${JSON.stringify(key)}`, { key });
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_KEY_BYTES) throw new StoreError('InvalidKey', `key is ${bytes} bytes long; the limit is ${MAX_KEY_BYTES}`, { key });
}

const METADATA_KEY = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

/** Validate user metadata and return a fresh copy (callers never share the object with a store). */
export function copyMetadata(metadata: Record<string, string> | undefined, key: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (metadata === undefined) return out;
  let total = 0;
  for (const [k, v] of Object.entries(metadata)) {
    if (!METADATA_KEY.test(k)) {
      throw new StoreError('InvalidArgument', `metadata key ${JSON.stringify(k)} is not a lower-case ASCII token`, { key });
    }
    if (typeof v !== 'string') throw new StoreError('InvalidArgument', `metadata value of ${JSON.stringify(k)} is not a string`, { key });
    total += Buffer.byteLength(k) + Buffer.byteLength(v);
    out[k] = v;
  }
  if (total > MAX_METADATA_BYTES) {
    throw new StoreError('InvalidArgument', `user metadata is ${total} bytes; the limit is ${MAX_METADATA_BYTES}`, { key });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// ETags

export function md5Hex(...chunks: Buffer[]): string {
  const h = createHash('md5');
  for (const c of chunks) h.update(c);
  return h.digest('hex');
}

export const quoteEtag = (hex: string): string => `"${hex}"`;

/** S3's multipart ETag: MD5 of the concatenated binary part MD5s, a dash and the part count. */
export function multipartEtag(partMd5Hex: string[]): string {
  const h = createHash('md5');
  for (const p of partMd5Hex) h.update(Buffer.from(p, 'hex'));
  return `"${h.digest('hex')}-${partMd5Hex.length}"`;
}

/** The opaque value of an ETag: without a weak prefix and without quotes. */
export function bareEtag(etag: string): string {
  let e = etag.trim();
  if (e.startsWith('W/')) e = e.slice(2);
  if (e.length >= 2 && e.startsWith('"') && e.endsWith('"')) e = e.slice(1, -1);
  return e;
}

/** Does the condition value `wanted` ('*' or an ETag) accept the object's current ETag? */
export function etagMatches(current: string, wanted: string): boolean {
  return wanted.trim() === '*' || bareEtag(current) === bareEtag(wanted);
}

/** The MD5 hex inside a single-part ETag, or undefined for other forms (multipart, derived). */
export function etagMd5Hex(etag: string): string | undefined {
  const b = bareEtag(etag).toLowerCase();
  return /^[0-9a-f]{32}$/.test(b) ? b : undefined;
}

/**
 * Evaluate write conditions against the current object (undefined when absent). Throws
 * PreconditionFailed; the caller must hold whatever makes the check atomic with its write.
 */
export function checkWriteConditions(
  key: string,
  currentEtag: string | undefined,
  cond: { ifMatch?: string | undefined; ifNoneMatch?: '*' | undefined },
): void {
  if (cond.ifNoneMatch !== undefined && currentEtag !== undefined) {
    throw new StoreError('PreconditionFailed', `${key}: ifNoneMatch '*' but the object exists`, { key });
  }
  if (cond.ifMatch !== undefined) {
    if (currentEtag === undefined) {
      throw new StoreError('PreconditionFailed', `${key}: ifMatch ${cond.ifMatch} but the object does not exist`, { key });
    }
    if (!etagMatches(currentEtag, cond.ifMatch)) {
      throw new StoreError('PreconditionFailed', `${key}: ifMatch ${cond.ifMatch} but the ETag is ${currentEtag}`, { key });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Ranges, parts, uploads

/** Resolve a requested range against the object size: clamped [start, end], or the whole object. */
export function resolveRange(range: ByteRange | undefined, size: number, key: string): { start: number; end: number } {
  if (range === undefined) return { start: 0, end: size - 1 };
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new StoreError('InvalidArgument', `${key}: invalid range ${start}-${end}`, { key });
  }
  if (start >= size) {
    throw new StoreError('InvalidArgument', `${key}: range start ${start} is not within the object size ${size}`, { key });
  }
  return { start, end: Math.min(end, size - 1) };
}

export function validatePartNumber(partNumber: number, key: string, limits: ObjectStore['limits']): void {
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > limits.maxParts) {
    throw new StoreError('InvalidArgument', `${key}: part number ${partNumber} is not within 1..${limits.maxParts}`, { key });
  }
}

/**
 * Check the part list of a completeMultipart call: non-empty, at most maxParts, part numbers valid
 * and strictly ascending (S3's InvalidPartOrder). The minimum part size is NOT enforced by the
 * memory and local stores (S3 refuses non-last parts under 5 MiB with EntityTooSmall; callers
 * must follow `limits.minPartSize` themselves).
 */
export function validatePartList(parts: { partNumber: number; etag: string }[], key: string, limits: ObjectStore['limits']): void {
  if (parts.length === 0) throw new StoreError('InvalidArgument', `${key}: completeMultipart needs at least one part`, { key });
  if (parts.length > limits.maxParts) {
    throw new StoreError('InvalidArgument', `${key}: ${parts.length} parts; the limit is ${limits.maxParts}`, { key });
  }
  let prev = 0;
  for (const p of parts) {
    validatePartNumber(p.partNumber, key, limits);
    if (p.partNumber <= prev) {
      throw new StoreError('InvalidArgument', `${key}: part numbers must be strictly ascending (${prev} then ${p.partNumber})`, { key });
    }
    prev = p.partNumber;
  }
}

export const newUploadId = (): string => randomBytes(16).toString('hex');
export const isUploadIdShape = (id: string): boolean => /^[0-9a-f]{32}$/.test(id);

export function noSuchUpload(key: string, uploadId: string): StoreError {
  return new StoreError('NoSuchUpload', `${key}: no multipart upload ${uploadId}`, { key });
}

// ---------------------------------------------------------------------------------------------
// Abort

export function abortedError(key?: string, cause?: unknown): StoreError {
  return new StoreError('Aborted', key === undefined ? 'aborted' : `${key}: aborted`, { key, cause });
}

/** Throw Aborted if the signal has fired. */
export function checkAborted(signal: AbortSignal | undefined, key?: string): void {
  if (signal?.aborted) throw abortedError(key, signal.reason);
}

// ---------------------------------------------------------------------------------------------
// Listing

export function pageSize(maxKeys: number | undefined): number {
  if (maxKeys === undefined) return DEFAULT_MAX_KEYS;
  if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new StoreError('InvalidArgument', `maxKeys must be a positive integer, not ${maxKeys}`);
  return Math.min(maxKeys, DEFAULT_MAX_KEYS);
}

export const encodeToken = (lastEntry: string): string => Buffer.from(`v1:${lastEntry}`, 'utf8').toString('base64url');

export function decodeToken(token: string): string {
  const s = Buffer.from(token, 'base64url').toString('utf8');
  if (!s.startsWith('v1:') || encodeToken(s.slice(3)) !== token) {
    throw new StoreError('InvalidArgument', `malformed continuation token ${JSON.stringify(token)}`);
  }
  return s.slice(3);
}

/** The "after" marker of a list request: the continuation token wins over startAfter. */
export function listMarker(opts: ListOptions): string | undefined {
  if (opts.continuationToken !== undefined && opts.continuationToken !== '') return decodeToken(opts.continuationToken);
  return opts.startAfter === '' ? undefined : opts.startAfter;
}

/** The common prefix a key rolls up into under (prefix, delimiter), or undefined for an object. */
export function commonPrefixOf(key: string, prefix: string, delimiter: string | undefined): string | undefined {
  if (delimiter === undefined || delimiter === '') return undefined;
  const i = key.indexOf(delimiter, prefix.length);
  return i < 0 ? undefined : key.slice(0, i + delimiter.length);
}
