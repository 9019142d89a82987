/**
 * Limiter: run at most `limit` async tasks at once; the rest wait in FIFO order. Used for
 * background uploads (idle timers) so a burst of small files does not open hundreds of requests.
 * Single JS thread: the counters need no locking.
 */
export class Limiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    this.running++;
    try {
      return await fn();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}
