/**
 * KeyedMutex: one asynchronous mutex per string key, created on demand and dropped when idle, so
 * memory is proportional to the keys currently locked (not to every key ever seen).
 *
 * Ownership: each LocalStore owns one instance for object keys and one for upload ids. A task runs
 * while it holds the lock for its key; tasks for the same key run one after the other, in call
 * order; tasks for different keys run concurrently. Never acquire a second key while holding one
 * unless every caller acquires in the same order (LocalStore only nests "object key" then
 * "directory marker of an ancestor", always deepest first; see local-store.ts).
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
    await previous;
    try {
      return await task();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  /** Number of keys with a holder or waiters (tests). */
  get size(): number {
    return this.tails.size;
  }
}
