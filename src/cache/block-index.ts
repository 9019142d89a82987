/**
 * BlockIndex: the in-memory index of BlockCache, the source of truth about which blocks exist.
 * Pure bookkeeping, no I/O and no accounting of bytes (block-cache.ts does that).
 *
 * - Blocks live in runs (block-files.ts): a Run is one file holding consecutive blocks of one
 *   version, and the unit of writing, eviction and deletion; a Block knows its run and its byte
 *   offset in the run's file. A run's blocks are indexed together and leave together, so every
 *   indexed block's run is whole.
 * - `keys`: keyHash -> etagHash -> block index -> Block, for blocks of runs being written and of
 *   ready ones, so a lookup finds a write in progress (a second put joins it, a get misses) and
 *   all runs of a key or of one version can be found and dropped together.
 * - `lru`: the ready runs only, least recently used first (Map insertion order; touch()
 *   re-inserts). A read of any block of a run touches the run. Writing runs are never eviction
 *   candidates.
 * - `pins`: use counts per (keyHash, etagHash).
 * - `ghosts`: ids of recently evicted blocks (per block, not per run), bounded (oldest forgotten
 *   first), to notice when evicted blocks are needed again (thrashing).
 *
 * Ownership: one instance per BlockCache, used only from its synchronous stretches.
 */

export type RunState = 'writing' | 'ready' | 'gone';

export interface Run {
  /** `${keyHash}/${name}`: the file; the same for every write of these very bytes. */
  readonly id: string;
  readonly keyHash: string;
  readonly etagHash: string;
  /** File name in the key's directory (block-files.ts runFileName). */
  readonly name: string;
  /** Index of the first block. */
  readonly first: number;
  /** The blocks, in order: blocks[k] is block first + k. */
  readonly blocks: readonly Block[];
  /** Bytes of the file (the sum of the blocks' sizes). */
  readonly size: number;
  state: RunState;
  /** A writing run that was dropped: its file is deleted as soon as it lands. */
  doomed: boolean;
  /** Result of the write, while writing. */
  done: Promise<boolean> | undefined;
}

export interface Block {
  /** `${keyHash}/${etagHash}-${index}`: the same for every write of this block. */
  readonly id: string;
  readonly run: Run;
  readonly index: number;
  /** Byte offset of the block in its run's file. */
  readonly offset: number;
  readonly size: number;
  readonly crc: number;
  /** Its bytes were written by this process or read whole with a matching CRC since open. */
  verified: boolean;
}

export interface KeyState {
  /** The ETag hash taken as the key's current version (see BlockCache's dropStale). */
  current: string | undefined;
  byEtag: Map<string, Map<number, Block>>;
}

/** A run of blocks first.. with these sizes and CRCs; a writing run's blocks count as verified. */
export function newRun(keyHash: string, etagHash: string, name: string, first: number, sizes: readonly number[], crcs: readonly number[], state: RunState): Run {
  const blocks: Block[] = [];
  const run: Run = { id: `${keyHash}/${name}`, keyHash, etagHash, name, first, blocks, size: 0, state, doomed: false, done: undefined };
  let offset = 0;
  sizes.forEach((size, k) => {
    blocks.push({ id: `${keyHash}/${etagHash}-${first + k}`, run, index: first + k, offset, size, crc: crcs[k]!, verified: state === 'writing' });
    offset += size;
  });
  (run as { size: number }).size = offset;
  return run;
}

export class BlockIndex {
  private readonly lru = new Map<string, Run>();
  private readonly keys = new Map<string, KeyState>();
  private readonly pins = new Map<string, number>();
  private readonly ghosts = new Map<string, true>();
  private readyBlocks = 0;

  constructor(private readonly ghostCapacity: number) {}

  /** Number of blocks in ready runs. */
  get readyCount(): number {
    return this.readyBlocks;
  }

  /** Number of ready runs (files in place). */
  get readyRuns(): number {
    return this.lru.size;
  }

  get pinnedCount(): number {
    return this.pins.size;
  }

  lookup(keyHash: string, etagHash: string, index: number): Block | undefined {
    return this.keys.get(keyHash)?.byEtag.get(etagHash)?.get(index);
  }

  key(keyHash: string): KeyState | undefined {
    return this.keys.get(keyHash);
  }

  /** The distinct runs (writing and ready) of one version. */
  runsOf(ks: KeyState, etagHash: string): Run[] {
    const runs = new Set<Run>();
    for (const b of ks.byEtag.get(etagHash)?.values() ?? []) runs.add(b.run);
    return [...runs];
  }

  /** Ready runs, least recently used first. Do not add or touch while iterating. */
  leastRecentlyUsed(): IterableIterator<Run> {
    return this.lru.values();
  }

  /** Index a run's blocks under their key; a ready run also becomes the most recently used. */
  add(r: Run): void {
    let ks = this.keys.get(r.keyHash);
    if (ks === undefined) this.keys.set(r.keyHash, (ks = { current: undefined, byEtag: new Map() }));
    let m = ks.byEtag.get(r.etagHash);
    if (m === undefined) ks.byEtag.set(r.etagHash, (m = new Map()));
    for (const b of r.blocks) m.set(b.index, b);
    if (r.state === 'ready') this.setReady(r);
  }

  /** A writing run whose file is in place. */
  markReady(r: Run): void {
    r.state = 'ready';
    r.done = undefined;
    this.setReady(r);
  }

  touch(r: Run): void {
    if (this.lru.delete(r.id)) this.lru.set(r.id, r);
  }

  /** Take a run out of the index (key map and LRU); its state becomes 'gone'. */
  remove(r: Run): void {
    r.state = 'gone';
    if (this.lru.get(r.id) === r) {
      this.lru.delete(r.id);
      this.readyBlocks -= r.blocks.length;
    }
    const ks = this.keys.get(r.keyHash);
    const m = ks?.byEtag.get(r.etagHash);
    if (ks === undefined || m === undefined) return;
    for (const b of r.blocks) if (m.get(b.index) === b) m.delete(b.index);
    if (m.size === 0) ks.byEtag.delete(r.etagHash);
    if (ks.byEtag.size === 0) this.keys.delete(r.keyHash);
  }

  pin(keyHash: string, etagHash: string): void {
    const id = `${keyHash}/${etagHash}`;
    this.pins.set(id, (this.pins.get(id) ?? 0) + 1);
  }

  /** Decrement a pin; returns the uses left. */
  unpin(keyHash: string, etagHash: string): number {
    const id = `${keyHash}/${etagHash}`;
    const n = (this.pins.get(id) ?? 1) - 1;
    if (n > 0) this.pins.set(id, n);
    else this.pins.delete(id);
    return n;
  }

  isPinned(keyHash: string, etagHash: string): boolean {
    return this.pins.has(`${keyHash}/${etagHash}`);
  }

  rememberEvicted(id: string): void {
    this.ghosts.delete(id);
    this.ghosts.set(id, true);
    if (this.ghosts.size > this.ghostCapacity) {
      const oldest = this.ghosts.keys().next();
      if (!oldest.done) this.ghosts.delete(oldest.value);
    }
  }

  /** True (once) when `id` was evicted recently. */
  wasEvicted(id: string): boolean {
    return this.ghosts.delete(id);
  }

  private setReady(r: Run): void {
    if (!this.lru.has(r.id)) this.readyBlocks += r.blocks.length;
    this.lru.set(r.id, r);
  }
}

/** Allows one log line per topic per interval and counts the ones it suppressed. */
export class RateLimit {
  private readonly last = new Map<string, { at: number; suppressed: number }>();
  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number,
  ) {}

  /** The number of suppressed lines since the last one when this one may be logged, else undefined. */
  allow(topic: string): number | undefined {
    const now = this.now();
    const l = this.last.get(topic);
    if (l !== undefined && now - l.at < this.intervalMs) {
      l.suppressed++;
      return undefined;
    }
    this.last.set(topic, { at: now, suppressed: 0 });
    return l?.suppressed ?? 0;
  }
}
