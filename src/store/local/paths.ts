/**
 * Layout of a file:// bucket and the rules that map keys onto it.
 *
 *   <root>/a/b/c                 object "a/b/c" (a regular file, byte-for-byte its content)
 *   <root>/a/b/                  directory: prefix "a/b/"; also object "a/b/" (a directory marker)
 *                                when a marker record exists for it or the directory is empty
 *   <root>/.objfs/               reserved: never listed; keys under it are InvalidKey
 *   <root>/.objfs/meta/<hh>/<h>.json   sidecar of key K, h = sha256(K) hex, hh = its first 2 chars
 *   <root>/.objfs/tmp/           temp files of writes in progress (renamed or linked into place)
 *   <root>/.objfs/uploads/<id>/  multipart upload: upload.json and one file per part number
 *
 * Why hashed sidecar names rather than a mirror of the tree: a mirror needs names that cannot
 * collide with user names ("c" the file and "c.json" the directory would both want meta/c.json),
 * and any suffix or prefix can push a 255-byte name over the limit. Hashes are fixed-length,
 * collision-free in practice, and the record holds the key for humans and fsck tools.
 *
 * Keys the tree cannot hold are InvalidKey: empty segments ("a//b", "/a", "//"), "." or ".."
 * segments, a segment over 255 UTF-8 bytes, the reserved first segment ".objfs", plus the
 * generic rules of validateKey() (1..1024 bytes, well-formed, no NUL). A key that is a file where
 * a directory is needed (or the reverse) is found at write time (see local-store.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { StoreError } from '../../errors/store-error.js';
import { validateKey } from '../memory/s3-rules.js';

export const RESERVED_NAME = '.objfs';
export const MAX_SEGMENT_BYTES = 255;

export interface LocalKey {
  key: string;
  /** Path segments of the key, without the empty segment a marker's trailing '/' would give. */
  segments: string[];
  /** True for a directory marker key ("a/b/"). */
  marker: boolean;
}

/** Validate a key against the rules above and split it. Throws InvalidKey. */
export function parseLocalKey(key: string): LocalKey {
  validateKey(key);
  const marker = key.endsWith('/');
  const segments = (marker ? key.slice(0, -1) : key).split('/');
  for (const seg of segments) {
    const why = segmentProblem(seg);
    if (why !== undefined) throw new StoreError('InvalidKey', `key ${JSON.stringify(key)} cannot be stored in a file:// bucket: ${why}`, { key });
  }
  if (segments[0] === RESERVED_NAME) {
    throw new StoreError('InvalidKey', `key ${JSON.stringify(key)} is inside the reserved ${RESERVED_NAME}/ tree of a file:// bucket`, { key });
  }
  return { key, segments, marker };
}

/** Why a path segment cannot be a file name, or undefined when it can. */
export function segmentProblem(seg: string): string | undefined {
  if (seg === '') return "it has an empty path segment ('//', or a leading '/')";
  if (seg === '.' || seg === '..') return `it has a '${seg}' path segment`;
  const bytes = Buffer.byteLength(seg, 'utf8');
  if (bytes > MAX_SEGMENT_BYTES) return `a path segment is ${bytes} bytes long (the limit is ${MAX_SEGMENT_BYTES})`;
  return undefined;
}

export class Layout {
  readonly root: string;
  readonly reservedDir: string;
  readonly metaDir: string;
  readonly tmpDir: string;
  readonly uploadsDir: string;

  constructor(root: string) {
    this.root = root;
    this.reservedDir = join(root, RESERVED_NAME);
    this.metaDir = join(this.reservedDir, 'meta');
    this.tmpDir = join(this.reservedDir, 'tmp');
    this.uploadsDir = join(this.reservedDir, 'uploads');
  }

  /** The file (object) or directory (marker) that holds a key. */
  dataPath(k: LocalKey): string {
    return join(this.root, ...k.segments);
  }

  /** Directory of a key prefix made of whole segments ("" or "a/b/"). */
  dirPath(dirPrefix: string): string {
    return dirPrefix === '' ? this.root : join(this.root, ...dirPrefix.slice(0, -1).split('/'));
  }

  sidecarPath(key: string): string {
    const h = createHash('sha256').update(key, 'utf8').digest('hex');
    return join(this.metaDir, h.slice(0, 2), `${h}.json`);
  }

  /** A fresh, unique temp file name under .objfs/tmp. */
  tmpPath(tag: string): string {
    return join(this.tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}.${tag}`);
  }

  uploadDir(uploadId: string): string {
    return join(this.uploadsDir, uploadId);
  }
}
