/**
 * Namespace: how keys of a flat object store become a directory tree, and the store queries
 * behind lookup and readdir. Stateless apart from the injected store and logger.
 *
 * Rules (documented in docs/SEMANTICS.md):
 * - A path P is a directory if a marker object `P/` exists or any key starts with `P/`
 *   (implicit directory, as written by other tools). Otherwise it is a file if object `P` exists.
 * - A key that is both an object and a prefix (`a` and `a/b`): the directory wins; the object `a`
 *   is hidden and logged once.
 * - Keys that cannot be file names are skipped in listings and logged once: an empty segment
 *   (`a//b`), `.` or `..` segments, a name over 255 bytes, a name containing NUL.
 *   A key ending in `/` that carries data is treated as a directory marker (its data ignored).
 */
import type { Logger } from '../util/logger.js';
import { OnceSet } from '../util/logger.js';
import type { ObjectInfo, ObjectStore } from '../store/object-store.js';
import { isStoreError } from '../errors/store-error.js';

export const NAME_MAX = 255;

export interface DirListing {
  files: Map<string, ObjectInfo>; // name -> object
  dirs: Set<string>; // names of sub-directories (implicit or marker)
  markers: Map<string, ObjectInfo>; // name -> marker object of a sub-directory, when listed
}

export type PathStat =
  | { kind: 'dir'; marker: ObjectInfo | undefined }
  | { kind: 'file'; info: ObjectInfo }
  | undefined;

export function validName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('\0') && Buffer.byteLength(name) <= NAME_MAX;
}

export class Namespace {
  private readonly once = new OnceSet();

  constructor(
    private readonly store: ObjectStore,
    private readonly log: Logger,
  ) {}

  private odd(key: string, why: string): void {
    if (this.once.first(key)) this.log.warn({ key, why }, 'key cannot be shown as a file name; skipped');
  }

  /** What `path` is in the store right now: HEAD of the object and a 1-key listing of `path/` in parallel. */
  async stat(path: string, signal?: AbortSignal): Promise<PathStat> {
    const [head, page] = await Promise.all([
      this.store.head(path, signal).catch((e: unknown) => {
        if (isStoreError(e, 'NotFound')) return undefined;
        throw e;
      }),
      this.store.list({ prefix: path + '/', maxKeys: 1, signal }),
    ]);
    const first = page.objects[0];
    if (first || page.prefixes.length > 0) {
      if (head && this.once.first('shadow:' + path))
        this.log.warn({ key: path }, 'key is both an object and a prefix: shown as a directory, the object is hidden');
      let marker: ObjectInfo | undefined;
      if (first && first.key === path + '/') {
        marker = await this.store.head(path + '/', signal).catch((e: unknown) => {
          if (isStoreError(e, 'NotFound')) return undefined;
          throw e;
        });
      }
      return { kind: 'dir', marker };
    }
    if (head) return { kind: 'file', info: head };
    return undefined;
  }

  /** Every entry directly inside directory `path` (all pages). */
  async list(path: string, signal?: AbortSignal): Promise<DirListing> {
    return (await this.listUpTo(path, Infinity, signal))!;
  }

  /** Like list(), but undefined (and no more requests) once the directory needs more than `maxPages` pages. */
  async listUpTo(path: string, maxPages: number, signal?: AbortSignal): Promise<DirListing | undefined> {
    const prefix = path === '' ? '' : path + '/';
    const out: DirListing = { files: new Map(), dirs: new Set(), markers: new Map() };
    let token: string | undefined;
    let pages = 0;
    do {
      if (++pages > maxPages) return undefined;
      const page = await this.store.list({ prefix, delimiter: '/', continuationToken: token, signal });
      for (const p of page.prefixes) {
        const name = p.slice(prefix.length, -1);
        if (!validName(name)) {
          this.odd(p, 'invalid directory name');
          continue;
        }
        out.dirs.add(name);
      }
      for (const o of page.objects) {
        if (o.key === prefix) continue; // this directory's own marker
        const rest = o.key.slice(prefix.length);
        if (rest.endsWith('/')) {
          // a marker of a sub-directory that is listed as an object (no delimiter split)
          const name = rest.slice(0, -1);
          if (validName(name)) {
            out.dirs.add(name);
            out.markers.set(name, o);
          } else this.odd(o.key, 'invalid directory name');
          continue;
        }
        if (!validName(rest)) {
          this.odd(o.key, 'invalid file name');
          continue;
        }
        out.files.set(rest, o);
      }
      token = page.nextToken;
    } while (token);
    for (const d of out.dirs) {
      if (out.files.has(d)) {
        this.odd(prefix + d, 'key is both an object and a prefix: shown as a directory');
        out.files.delete(d);
      }
    }
    return out;
  }

  /** True if directory `path` has any key below it other than its own marker. */
  async hasChildren(path: string, signal?: AbortSignal): Promise<boolean> {
    const prefix = path + '/';
    const page = await this.store.list({ prefix, maxKeys: 2, signal });
    return page.objects.some((o) => o.key !== prefix) || page.prefixes.length > 0;
  }
}
