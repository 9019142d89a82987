/**
 * BlockIndex: the in-memory index of BlockCache, the source of truth about which blocks exist.
 * Pure bookkeeping, no I/O and no accounting of bytes (block-cache.ts does that).
 *
 * - `keys`: keyHash -> etagHash -> index -> Block, for blocks being written and ready ones, so a
 *   lookup finds a write in progress (a second put joins it, a get misses) and all blocks of a key
 *   or of one version can be dropped together.
 * - `lru`: the ready blocks only, least recently used first (Map insertion order; touch()
 *   re-inserts). Writing blocks are never eviction candidates.
 * - `pins`: use counts per (keyHash, etagHash).
 * - `ghosts`: ids of recently evicted blocks, bounded (oldest forgotten first), to notice when
 *   evicted blocks are needed again (thrashing).
 *
 * Ownership: one instance per BlockCache, used only from its synchronous stretches.
 */

export type BlockState = 'writing' | 'ready' | 'gone';

export interface Block {
  /** `${keyHash}/${etagHash}-${index}`: the same for every write of this block. */
  readonly id: string;
  readonly keyHash: string;
  readonly etagHash: string;
  readonly index: number;
  readonly size: number;
  readonly crc: number;
  state: BlockState;
  /** A writing block that was dropped: its file is deleted as soon as it lands. */
  doomed: boolean;
  /** Result of the write, while writing. */
  done: Promise<boolean> | undefined;
  /** Its file was written by this process or read whole with a matching CRC since open. */
  verified: boolean;
}

export interface KeyState {
  /** The ETag hash taken as the key's current version (see BlockCache's dropStale). */
  current: string | undefined;
  byEtag: Map<string, Map<number, Block>>;
}

export function newBlock(keyHash: string, etagHash: string, index: number, size: number, crc: number, state: BlockState): Block {
  return { id: `${keyHash}/${etagHash}-${index}`, keyHash, etagHash, index, size, crc, state, doomed: false, done: undefined, verified: state === 'writing' };
}

export class BlockIndex {
  private readonly lru = new Map<string, Block>();
  private readonly keys = new Map<string, KeyState>();
  private readonly pins = new Map<string, number>();
  private readonly ghosts = new Map<string, true>();

  constructor(private readonly ghostCapacity: number) {}

  /** Number of ready blocks. */
  get readyCount(): number {
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

  /** Ready blocks, least recently used first. Do not add or touch while iterating. */
  leastRecentlyUsed(): IterableIterator<Block> {
    return this.lru.values();
  }

  /** Index a block under its key; a ready block also becomes the most recently used. */
  add(b: Block): void {
    let ks = this.keys.get(b.keyHash);
    if (ks === undefined) this.keys.set(b.keyHash, (ks = { current: undefined, byEtag: new Map() }));
    let m = ks.byEtag.get(b.etagHash);
    if (m === undefined) ks.byEtag.set(b.etagHash, (m = new Map()));
    m.set(b.index, b);
    if (b.state === 'ready') this.lru.set(b.id, b);
  }

  /** A writing block whose file is in place. */
  markReady(b: Block): void {
    b.state = 'ready';
    b.done = undefined;
    this.lru.set(b.id, b);
  }

  touch(b: Block): void {
    if (this.lru.delete(b.id)) this.lru.set(b.id, b);
  }

  /** Take a block out of the index (key map and LRU); its state becomes 'gone'. */
  remove(b: Block): void {
    b.state = 'gone';
    if (this.lru.get(b.id) === b) this.lru.delete(b.id);
    const ks = this.keys.get(b.keyHash);
    const m = ks?.byEtag.get(b.etagHash);
    if (ks === undefined || m === undefined || m.get(b.index) !== b) return;
    m.delete(b.index);
    if (m.size === 0) ks.byEtag.delete(b.etagHash);
    if (ks.byEtag.size === 0) this.keys.delete(b.keyHash);
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
