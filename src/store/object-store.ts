/**
 * ObjectStore: the only way objfs talks to a backend. Keys are plain strings relative to the
 * store's root (a bucket + optional prefix, a local directory, memory); '/' has no meaning to the
 * store except as a listing delimiter. Every method throws StoreError (src/errors/store-error.ts)
 * with a stable code, never a backend-specific exception. Stores are injected into the VFS at the
 * entry point (cli/mount.ts); nothing imports a concrete store globally.
 *
 * Semantics every store must keep (checked by test/store-contract):
 * - put/complete/copy replace the whole object atomically: a reader sees the old or the new
 *   version, never a mix; the ETag changes whenever the content changes.
 * - `ifMatch` / `ifNoneMatch: '*'` are evaluated atomically with the write (412 -> PreconditionFailed).
 * - list returns keys in ascending UTF-8 byte order, paginated by continuation token.
 * - user metadata keys are lower-case ASCII; values are strings (callers encode).
 * - concurrency: all methods may be called concurrently; stores hold no per-caller state except
 *   multipart uploads, which are keyed by uploadId.
 */
export interface ObjectInfo {
  key: string;
  size: number;
  etag: string;
  lastModified: Date;
  /** User metadata (x-amz-meta-*), lower-case keys. Present on head(); absent from list(). */
  metadata?: Record<string, string>;
  contentType?: string;
}

export interface ListOptions {
  prefix?: string;
  delimiter?: string;
  continuationToken?: string;
  startAfter?: string;
  /** Page size; stores may return fewer. Default 1000. */
  maxKeys?: number;
  signal?: AbortSignal;
}

export interface ListPage {
  objects: ObjectInfo[];
  /** Common prefixes (with the delimiter at the end) when a delimiter was given. */
  prefixes: string[];
  /** Set when there are more results; pass as continuationToken. */
  nextToken?: string;
}

/** Inclusive byte range [start, end]; end is clamped to the object size by the store. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface GetOptions {
  range?: ByteRange;
  /** Fail with PreconditionFailed unless the object's current ETag equals this. */
  ifMatch?: string;
  signal?: AbortSignal;
}

export interface GetResult {
  /** The bytes of the range (or whole object). */
  body: Buffer;
  /** Info of the whole object (size is the full object size, not the range length). */
  info: ObjectInfo;
}

/** A slice of a local file used as an upload body, so large bodies are streamed and retries can re-read. */
export interface FileSlice {
  path: string;
  start: number;
  length: number;
  /**
   * The same bytes, already in memory (in order, `length` in total), so a store may send them
   * without reading the file. The file stays the truth; a store may ignore this.
   */
  buffers?: readonly Buffer[] | undefined;
}

export type PutBody = Buffer | FileSlice;

export interface WriteConditions {
  /** Write only if the current object's ETag equals this. */
  ifMatch?: string;
  /** '*': write only if no object exists at the key. */
  ifNoneMatch?: '*';
}

export interface PutOptions extends WriteConditions {
  metadata?: Record<string, string>;
  contentType?: string;
  signal?: AbortSignal;
}

export interface CopyOptions extends WriteConditions {
  /** Copy only if the source's ETag equals this. */
  sourceIfMatch?: string;
  /** Replace the metadata on the copy (default: keep the source's metadata). */
  metadata?: Record<string, string>;
  contentType?: string;
  signal?: AbortSignal;
}

export interface MultipartOptions {
  metadata?: Record<string, string>;
  contentType?: string;
  signal?: AbortSignal;
}

export interface CompletedPart {
  partNumber: number;
  etag: string;
}

export interface DeleteManyResult {
  deleted: string[];
  errors: { key: string; error: Error }[];
}

export interface ObjectStore {
  /** Human-readable location, with no secrets ("file:///srv/bucket", "s3://bucket/prefix"). */
  readonly description: string;
  /** Largest part count and size limits of multipart uploads on this backend. */
  readonly limits: { maxParts: number; minPartSize: number; maxPartSize: number; maxObjectSize: number };

  /** Check the store is reachable and its root exists; throws NoSuchBucket / AccessDenied / Network. */
  check(signal?: AbortSignal): Promise<void>;

  list(opts: ListOptions): Promise<ListPage>;
  head(key: string, signal?: AbortSignal): Promise<ObjectInfo>;
  get(key: string, opts?: GetOptions): Promise<GetResult>;
  put(key: string, body: PutBody, opts?: PutOptions): Promise<{ etag: string }>;
  copy(sourceKey: string, destKey: string, opts?: CopyOptions): Promise<{ etag: string }>;
  delete(key: string, signal?: AbortSignal): Promise<void>;
  deleteMany(keys: string[], signal?: AbortSignal): Promise<DeleteManyResult>;

  createMultipart(key: string, opts?: MultipartOptions): Promise<{ uploadId: string }>;
  uploadPart(key: string, uploadId: string, partNumber: number, body: PutBody, signal?: AbortSignal): Promise<CompletedPart>;
  uploadPartCopy(
    key: string,
    uploadId: string,
    partNumber: number,
    source: { key: string; range?: ByteRange; ifMatch?: string },
    signal?: AbortSignal,
  ): Promise<CompletedPart>;
  completeMultipart(
    key: string,
    uploadId: string,
    parts: CompletedPart[],
    conditions?: WriteConditions & { signal?: AbortSignal },
  ): Promise<{ etag: string }>;
  abortMultipart(key: string, uploadId: string, signal?: AbortSignal): Promise<void>;

  /**
   * Optional hint: files are being written, uploads will follow. A store that sets something up
   * for uploads (S3: its upload worker thread) does it now, so the first upload does not wait
   * for it. Never throws; cheap to call again.
   */
  prepareWrites?(): void;

  /** Release connections, timers. Idempotent. */
  close(): Promise<void>;
}
