/**
 * A minimal async mutex (FIFO). Used to serialise operations on one file's staged state (writes,
 * truncation, upload) so an upload never reads a staging file that a write is changing.
 */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();
  private held = 0;

  get locked(): boolean {
    return this.held > 0;
  }

  async run<T>(fn: () => Promise<T> | T): Promise<T> {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    this.held++;
    try {
      await prev;
      return await fn();
    } finally {
      this.held--;
      release();
    }
  }
}
