/** Small shared pieces of the journal tests and their child process. */
import { createHash } from 'node:crypto';

/** The fill byte of a test data file (derived from the record id). */
export const dataByte = (id: string): number => createHash('sha256').update(id).digest()[0]!;

/** A checksum over the fields of a test upload record, stored in its metadata. */
export const recordCheck = (id: string, key: string, seq: number, size: number): string =>
  createHash('sha256').update(`${id}\n${key}\n${seq}\n${size}`).digest('hex').slice(0, 16);
