/**
 * Logging: one pino logger per process, created at the entry point and passed down (never a
 * module-level singleton imported by subsystems). Logs go to stderr as JSON lines, or to a file.
 * `onceKey` helps log a recurring condition (an odd key, a refused write) only once per mount.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent';

export function createLogger(level: LogLevel, file?: string): Logger {
  const dest = file ? pino.destination({ dest: file, sync: false, mkdir: true }) : pino.destination({ fd: 2, sync: true });
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
}

/** A logger that drops everything (unit tests). */
export const silentLogger = (): Logger => pino({ level: 'silent' });

/** Remembers which keys were already logged so a condition is reported once. */
export class OnceSet {
  private readonly seen = new Set<string>();
  constructor(private readonly max = 10_000) {}
  first(key: string): boolean {
    if (this.seen.has(key)) return false;
    if (this.seen.size >= this.max) this.seen.clear();
    this.seen.add(key);
    return true;
  }
}
