/**
 * Child process of the S3 benchmark that reads through a mount (or a local file), so the
 * benchmark itself never blocks on a filesystem: the parent kills it on timeout. Prints one JSON
 * line on stdout. Times are measured here, from open() to the last byte.
 *
 *   node reader.js seq FILE                    whole file with 1 MiB read()s, samples 16 bytes per 64 MiB
 *   node reader.js rand FILE N SEED MAXSEC     N preads of 4 KiB at seeded offsets (stops after MAXSEC)
 *   node reader.js tail FILE SIZE              open, then pread the last SIZE bytes (a zip's central directory)
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { DATA, MiB, randomOffsets, sampleOffsets } from './common.js';

const now = (): number => Number(process.hrtime.bigint()) / 1e9;

function seq(file: string): object {
  const buf = Buffer.allocUnsafe(MiB);
  const t0 = now();
  const fd = fs.openSync(file, 'r');
  const size = fs.fstatSync(fd).size;
  const want = sampleOffsets(size);
  const samples: Record<string, string> = {};
  let pos = 0;
  try {
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      for (const o of want) {
        if (o >= pos && o + 16 <= pos + n) samples[o] = buf.subarray(o - pos, o - pos + 16).toString('hex');
      }
      pos += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return { bytes: pos, size, seconds: now() - t0, samples };
}

function rand(file: string, n: number, seed: number, maxSec: number): object {
  const offsets = randomOffsets(n, seed);
  const buf = Buffer.allocUnsafe(DATA.randSize);
  const hash = createHash('sha256');
  const lat: number[] = [];
  const t0 = now();
  const fd = fs.openSync(file, 'r');
  try {
    for (const off of offsets) {
      const a = now();
      const got = fs.readSync(fd, buf, 0, buf.length, off);
      lat.push(now() - a);
      hash.update(buf.subarray(0, got));
      if (now() - t0 > maxSec) break;
    }
  } finally {
    fs.closeSync(fd);
  }
  return { ops: lat.length, seconds: now() - t0, lat, sha256: hash.digest('hex') };
}

function tail(file: string, size: number): object {
  const buf = Buffer.allocUnsafe(size);
  const t0 = now();
  const fd = fs.openSync(file, 'r');
  let got = 0;
  try {
    const end = fs.fstatSync(fd).size;
    while (got < size) {
      const n = fs.readSync(fd, buf, got, size - got, end - size + got);
      if (n === 0) break;
      got += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return { bytes: got, seconds: now() - t0, sha256: createHash('sha256').update(buf.subarray(0, got)).digest('hex') };
}

const [cmd, file, ...rest] = process.argv.slice(2);
try {
  if (!file) throw new Error('usage: reader.js seq|rand|tail FILE ...');
  let out: object;
  if (cmd === 'seq') out = seq(file);
  else if (cmd === 'rand') out = rand(file, Number(rest[0]), Number(rest[1]), Number(rest[2]));
  else if (cmd === 'tail') out = tail(file, Number(rest[0]));
  else throw new Error(`unknown command ${cmd}`);
  process.stdout.write(JSON.stringify(out) + '\n');
} catch (e) {
  process.stderr.write(`reader: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
}
