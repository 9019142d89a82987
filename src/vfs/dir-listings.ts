/**
 * DirListings: the names a directory held at its last complete listing, kept for the metadata
 * TTL, so a lookup of a name that is not there is answered without a request (creating a new
 * file costs a HEAD and a LIST otherwise). This is the negative cache of the consistency model
 * (docs/SEMANTICS.md: misses are cached for the TTL), extended from one name to a directory.
 *
 * Rules that keep it correct:
 * - Only complete listings are kept (every page was read).
 * - Names this mount creates are added at once; a listing that was in flight while a name was
 *   created here gets that name merged in when it lands (`since`), so a name never goes missing.
 * - A name in the set only means "ask the store": removals need no bookkeeping.
 * - A listing keeps when it was asked for (askedAt): what this mount uploaded or confirmed after
 *   that may be missing from it, so opendir adds those from the inode table.
 * - Entries expire with the TTL; the map is pruned when it grows.
 *
 * Ownership: one instance per Vfs, JS thread only.
 */
interface Listing {
  names: Set<string>;
  until: number;
  /** When the listing was asked for (what reached the store after that may be missing from it). */
  asked: number;
}

const MAX_DIRS = 4096;

export class DirListings {
  private readonly listings = new Map<string, Listing>();
  /** Names created in a directory while a listing of it is in flight. */
  private readonly inFlight = new Map<string, { count: number; created: Set<string> }>();

  constructor(private readonly ttlMs: number) {}

  /** false: the directory's fresh listing says `name` is absent; undefined: unknown. */
  has(dir: string, name: string): boolean | undefined {
    const l = this.listings.get(dir);
    if (!l) return undefined;
    if (l.until <= Date.now()) {
      this.listings.delete(dir);
      return undefined;
    }
    return l.names.has(name);
  }

  fresh(dir: string): boolean {
    const l = this.listings.get(dir);
    return l !== undefined && l.until > Date.now();
  }

  /** The names of the directory's fresh listing (plus names created here since), if there is one. */
  names(dir: string): ReadonlySet<string> | undefined {
    const l = this.listings.get(dir);
    return l !== undefined && l.until > Date.now() ? l.names : undefined;
  }

  /** When the directory's fresh listing was asked for, if there is one. */
  askedAt(dir: string): number | undefined {
    const l = this.listings.get(dir);
    return l !== undefined && l.until > Date.now() ? l.asked : undefined;
  }

  /** A listing of `dir` starts; call the returned function with its names once it completed. */
  begin(dir: string): (names: Iterable<string> | undefined) => void {
    const asked = Date.now();
    const f = this.inFlight.get(dir) ?? { count: 0, created: new Set<string>() };
    f.count++;
    this.inFlight.set(dir, f);
    let done = false;
    return (names) => {
      if (done) return;
      done = true;
      if (--f.count === 0) this.inFlight.delete(dir);
      if (!names || this.ttlMs <= 0) return;
      const set = new Set(names);
      for (const n of f.created) set.add(n);
      if (this.listings.size >= MAX_DIRS) this.prune();
      this.listings.set(dir, { names: set, until: Date.now() + this.ttlMs, asked });
    };
  }

  /** This mount created `name` in `dir`. */
  created(dir: string, name: string): void {
    this.listings.get(dir)?.names.add(name);
    this.inFlight.get(dir)?.created.add(name);
  }

  /** Directory `dir` and everything below it changed wholesale (rename, rmdir): drop their listings. */
  forget(dir: string): void {
    const prefix = dir === '' ? '' : dir + '/';
    for (const d of [...this.listings.keys()]) if (d === dir || d.startsWith(prefix)) this.listings.delete(d);
  }

  private prune(): void {
    const now = Date.now();
    for (const [d, l] of this.listings) if (l.until <= now) this.listings.delete(d);
    if (this.listings.size >= MAX_DIRS) this.listings.clear();
  }
}
