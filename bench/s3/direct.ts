/**
 * Direct S3 access for the S3 benchmark: the AWS SDK v3 client (data set upload and the "direct
 * SDK" reference column) and `curl --aws-sigv4` (the second reference column).
 *
 * The SDK is imported at run time so that the project still compiles when @aws-sdk/client-s3 is
 * not installed; the benchmark then stops with a one-line message.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { ByteStream, DATA, MiB, lsKey, randomOffsets, sampleOffsets, smallKey, treeKey } from './common.js';
import { nowSec, runCmd, StepError } from './proc.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Sdk = any;

export interface S3Target {
  endpoint: string;
  region: string;
  bucket: string;
  accessKey: string;
  secretKey: string;
}

/** The SDK module and a client with the settings every bench call uses (keep-alive pool, no checksums). */
export async function openSdk(t: S3Target): Promise<{ sdk: Sdk; client: any }> {
  const name = '@aws-sdk/client-s3';
  // the SDK warns on Node 20 that later releases will need Node 22: not this run's concern
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  let sdk: Sdk;
  try {
    sdk = await import(name);
  } catch (e) {
    throw new Error(`${name} is not installed (npm install): ${e instanceof Error ? e.message : String(e)}`);
  }
  const client = new sdk.S3Client({
    endpoint: t.endpoint,
    region: t.region,
    forcePathStyle: true,
    credentials: { accessKeyId: t.accessKey, secretAccessKey: t.secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
    requestHandler: { httpAgent: new http.Agent({ keepAlive: true, maxSockets: 64 }), requestTimeout: 120000 },
  });
  return { sdk, client };
}

export class Direct {
  private constructor(
    private readonly sdk: Sdk,
    readonly client: { send(cmd: unknown, opts?: { abortSignal?: AbortSignal }): Promise<any>; destroy(): void },
    readonly t: S3Target,
  ) {}

  static async open(t: S3Target): Promise<Direct> {
    const { sdk, client } = await openSdk(t);
    return new Direct(sdk, client, t);
  }

  close(): void {
    this.client.destroy();
  }

  private cmd(name: string, input: object): unknown {
    return new this.sdk[name](input);
  }

  async createBucket(): Promise<'created' | 'exists'> {
    try {
      await this.client.send(this.cmd('CreateBucketCommand', { Bucket: this.t.bucket }));
      return 'created';
    } catch (e: any) {
      if (e?.name === 'BucketAlreadyOwnedByYou' || e?.name === 'BucketAlreadyExists') return 'exists';
      throw e;
    }
  }

  private async size(key: string): Promise<number | undefined> {
    try {
      const r = await this.client.send(this.cmd('HeadObjectCommand', { Bucket: this.t.bucket, Key: key }));
      return Number(r.ContentLength);
    } catch (e: any) {
      if (e?.$metadata?.httpStatusCode === 404) return undefined;
      throw e;
    }
  }

  /**
   * Upload the data set (skipping objects already there at the right size) and write the big
   * object's bytes to `localBig` too (the local-file reference). Prints what it does.
   */
  async upload(localBig: string): Promise<void> {
    const bucket = this.t.bucket;
    const localOk = fs.existsSync(localBig) && fs.statSync(localBig).size === DATA.bigSize;
    const remoteOk = (await this.size(DATA.bigKey)) === DATA.bigSize;
    if (localOk && remoteOk) console.log(`setup: ${DATA.bigKey} already uploaded, ${localBig} present`);
    else {
      console.log(`setup: writing ${DATA.bigSize / MiB} MiB of seeded random bytes to ${localBig} and uploading s3://${bucket}/${DATA.bigKey} (multipart, 64 MiB parts)`);
      const t0 = nowSec();
      const partSize = 64 * MiB;
      const gen = new ByteStream('objfs-bench-s3/big');
      const fd = fs.openSync(localBig, 'w');
      const { UploadId } = await this.client.send(this.cmd('CreateMultipartUploadCommand', { Bucket: bucket, Key: DATA.bigKey }));
      try {
        const parts: { ETag: string; PartNumber: number }[] = [];
        let inFlight: Promise<void>[] = [];
        for (let i = 0; i * partSize < DATA.bigSize; i++) {
          const body = gen.next(Math.min(partSize, DATA.bigSize - i * partSize));
          fs.writeSync(fd, body);
          const PartNumber = i + 1;
          inFlight.push(
            this.client.send(this.cmd('UploadPartCommand', { Bucket: bucket, Key: DATA.bigKey, UploadId, PartNumber, Body: body, ContentLength: body.length })).then((r: any) => {
              parts.push({ ETag: r.ETag, PartNumber });
            }),
          );
          if (inFlight.length >= 2) {
            await Promise.all(inFlight);
            inFlight = [];
          }
        }
        await Promise.all(inFlight);
        parts.sort((a, b) => a.PartNumber - b.PartNumber);
        await this.client.send(this.cmd('CompleteMultipartUploadCommand', { Bucket: bucket, Key: DATA.bigKey, UploadId, MultipartUpload: { Parts: parts } }));
      } catch (e) {
        await this.client.send(this.cmd('AbortMultipartUploadCommand', { Bucket: bucket, Key: DATA.bigKey, UploadId })).catch(() => undefined);
        throw e;
      } finally {
        fs.closeSync(fd);
      }
      console.log(`setup: big object uploaded in ${(nowSec() - t0).toFixed(1)} s`);
    }
    const sets: { what: string; keys: string[]; size: number; seed: string }[] = [
      { what: `${DATA.lsCount} objects of ${DATA.lsSize} B in ${DATA.lsPrefix}`, keys: Array.from({ length: DATA.lsCount }, (_, i) => lsKey(i)), size: DATA.lsSize, seed: 'ls' },
      {
        what: `${DATA.treeDirs * DATA.treePerDir} objects of ${DATA.treeSize} B in ${DATA.treeDirs} directories under ${DATA.treePrefix}`,
        keys: Array.from({ length: DATA.treeDirs * DATA.treePerDir }, (_, i) => treeKey(Math.floor(i / DATA.treePerDir), i % DATA.treePerDir)),
        size: DATA.treeSize,
        seed: 'tree',
      },
      { what: `${DATA.smallCount} objects of ${DATA.smallSize / 1024} KiB in ${DATA.smallPrefix}`, keys: Array.from({ length: DATA.smallCount }, (_, i) => smallKey(i)), size: DATA.smallSize, seed: 'small' },
    ];
    for (const set of sets) {
      const prefix = set.keys[0]!.split('/')[0] + '/';
      const have = await this.list(prefix, undefined);
      if (have.keys === set.keys.length) {
        console.log(`setup: ${set.what}: already there`);
        continue;
      }
      console.log(`setup: uploading ${set.what} (32 in parallel)`);
      const t0 = nowSec();
      const gen = new ByteStream(`objfs-bench-s3/${set.seed}`);
      const bodies = set.keys.map(() => gen.next(set.size));
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < set.keys.length) {
          const i = next++;
          await this.client.send(this.cmd('PutObjectCommand', { Bucket: bucket, Key: set.keys[i], Body: bodies[i], ContentLength: set.size }));
        }
      };
      await Promise.all(Array.from({ length: 32 }, worker));
      console.log(`setup: done in ${(nowSec() - t0).toFixed(1)} s`);
    }
  }

  /** ListObjectsV2 over every page of `prefix`; returns keys + common prefixes and page count. */
  async list(prefix: string, delimiter: string | undefined): Promise<{ keys: number; prefixes: number; pages: number; seconds: number }> {
    const t0 = nowSec();
    let token: string | undefined;
    let keys = 0;
    let prefixes = 0;
    let pages = 0;
    do {
      const r = await this.client.send(
        this.cmd('ListObjectsV2Command', { Bucket: this.t.bucket, Prefix: prefix, Delimiter: delimiter, MaxKeys: 1000, ContinuationToken: token }),
      );
      keys += r.Contents?.length ?? 0;
      prefixes += r.CommonPrefixes?.length ?? 0;
      pages++;
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token && pages < 10_000);
    return { keys, prefixes, pages, seconds: nowSec() - t0 };
  }

  /** GetObject of the whole big object, the body streamed to nowhere; 16-byte samples kept. */
  async seq(): Promise<{ bytes: number; seconds: number; samples: Record<string, string> }> {
    const t0 = nowSec();
    const r = await this.client.send(this.cmd('GetObjectCommand', { Bucket: this.t.bucket, Key: DATA.bigKey }));
    const want = sampleOffsets(DATA.bigSize);
    const samples: Record<string, string> = {};
    const partial = new Map<number, Buffer>(); // samples that straddle a chunk boundary
    let pos = 0;
    for await (const chunk of r.Body as AsyncIterable<Buffer>) {
      const end = pos + chunk.length;
      for (const o of want) {
        if (samples[o] !== undefined || o + 16 <= pos || o >= end) continue;
        const piece = chunk.subarray(Math.max(o, pos) - pos, Math.min(o + 16, end) - pos);
        const got = partial.has(o) ? Buffer.concat([partial.get(o)!, piece]) : Buffer.from(piece);
        if (got.length === 16) samples[o] = got.toString('hex');
        else partial.set(o, got);
      }
      pos = end;
    }
    return { bytes: pos, seconds: nowSec() - t0, samples };
  }

  private async getRange(key: string, start: number, len: number): Promise<Buffer> {
    const r = await this.client.send(this.cmd('GetObjectCommand', { Bucket: this.t.bucket, Key: key, Range: `bytes=${start}-${start + len - 1}` }));
    return Buffer.from(await r.Body.transformToByteArray());
  }

  /** Ranged GETs of 4 KiB at the seeded offsets, one after another. */
  async rand(n: number, seed: number, maxSec: number): Promise<{ ops: number; seconds: number; lat: number[]; sha256: string }> {
    const hash = createHash('sha256');
    const lat: number[] = [];
    const t0 = nowSec();
    for (const off of randomOffsets(n, seed)) {
      const a = nowSec();
      hash.update(await this.getRange(DATA.bigKey, off, DATA.randSize));
      lat.push(nowSec() - a);
      if (nowSec() - t0 > maxSec) break;
    }
    return { ops: lat.length, seconds: nowSec() - t0, lat, sha256: hash.digest('hex') };
  }

  async tail(): Promise<{ seconds: number; sha256: string }> {
    const t0 = nowSec();
    const b = await this.getRange(DATA.bigKey, DATA.bigSize - DATA.tailSize, DATA.tailSize);
    return { seconds: nowSec() - t0, sha256: createHash('sha256').update(b).digest('hex') };
  }

  /** GetObject of every small object, `parallel` at a time; returns the bytes received. */
  async small(parallel: number): Promise<{ bytes: number; seconds: number }> {
    const t0 = nowSec();
    let next = 0;
    let bytes = 0;
    const worker = async (): Promise<void> => {
      while (next < DATA.smallCount) {
        const i = next++;
        const r = await this.client.send(this.cmd('GetObjectCommand', { Bucket: this.t.bucket, Key: smallKey(i) }));
        const n: number = (await r.Body.transformToByteArray()).length;
        bytes += n;
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
    return { bytes, seconds: nowSec() - t0 };
  }
}

/** The second reference: curl with its own SigV4 signing, one process per workload. */
export class Curl {
  constructor(
    private readonly t: S3Target,
    private readonly tmp: string,
  ) {}

  private url(key: string): string {
    return `${this.t.endpoint}/${this.t.bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  }

  private block(key: string, extra: string[]): string {
    const q = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
    return [`url = ${q(this.url(key))}`, `aws-sigv4 = "aws:amz:${this.t.region}:s3"`, `user = ${q(`${this.t.accessKey}:${this.t.secretKey}`)}`, 'silent', 'show-error', 'fail', ...extra].join('\n');
  }

  /** One curl process running the given transfers in order over one connection. */
  private async batch(blocks: string[], timeoutMs: number, stdoutTo: 'pipe' | 'ignore'): Promise<{ stdout: Buffer; lines: string[]; seconds: number }> {
    const conf = path.join(this.tmp, 'curl.conf');
    fs.writeFileSync(conf, blocks.join('\nnext\n') + '\n', { mode: 0o600 });
    const r = await runCmd('curl', ['--config', conf], { timeoutMs, check: true, stdoutTo, env: process.env });
    const lines = r.stderr.split('\n').filter((l) => /^\d{3} /.test(l));
    return { stdout: r.stdoutBuf, lines, seconds: r.seconds };
  }

  async seq(timeoutMs: number): Promise<{ bytes: number; seconds: number }> {
    const b = await this.batch([this.block(DATA.bigKey, ['output = "/dev/null"', 'write-out = "%{stderr}%{http_code} %{size_download} %{time_total}\\n"'])], timeoutMs, 'ignore');
    const [code, size, total] = (b.lines[0] ?? '').split(' ');
    if (code !== '200' || Number(size) !== DATA.bigSize) throw new StepError(`curl GET: status ${code}, ${size} bytes`);
    return { bytes: Number(size), seconds: Number(total) };
  }

  async tail(timeoutMs: number): Promise<{ seconds: number; sha256: string }> {
    const start = DATA.bigSize - DATA.tailSize;
    const r = await runCmd(
      'curl',
      ['--config', '-'],
      {
        timeoutMs,
        check: true,
        input: this.block(DATA.bigKey, [`range = "${start}-${DATA.bigSize - 1}"`, 'output = "-"', 'write-out = "%{stderr}%{http_code} %{size_download} %{time_total}\\n"']) + '\n',
      },
    );
    const [code, , total] = r.stderr.trim().split(' ');
    if (code !== '206') throw new StepError(`curl ranged GET: status ${code}`);
    return { seconds: Number(total), sha256: createHash('sha256').update(r.stdoutBuf).digest('hex') };
  }

  async rand(n: number, seed: number, timeoutMs: number): Promise<{ ops: number; seconds: number; lat: number[]; sha256: string }> {
    const blocks = randomOffsets(n, seed).map((off) =>
      this.block(DATA.bigKey, [`range = "${off}-${off + DATA.randSize - 1}"`, 'output = "-"', 'write-out = "%{stderr}%{http_code} %{size_download} %{time_total}\\n"']),
    );
    const b = await this.batch(blocks, timeoutMs, 'pipe');
    if (b.lines.length !== n || b.lines.some((l) => !l.startsWith('206 '))) throw new StepError(`curl ranged GETs: ${b.lines.length}/${n} answered with 206`);
    return { ops: n, seconds: b.seconds, lat: b.lines.map((l) => Number(l.split(' ')[2])), sha256: createHash('sha256').update(b.stdout).digest('hex') };
  }

  async small(timeoutMs: number): Promise<{ bytes: number; seconds: number }> {
    const blocks = Array.from({ length: DATA.smallCount }, (_, i) =>
      this.block(smallKey(i), ['output = "/dev/null"', 'write-out = "%{stderr}%{http_code} %{size_download} %{time_total}\\n"']),
    );
    const b = await this.batch(blocks, timeoutMs, 'ignore');
    const bytes = b.lines.reduce((s, l) => s + Number(l.split(' ')[1]), 0);
    if (b.lines.length !== DATA.smallCount) throw new StepError(`curl: ${b.lines.length}/${DATA.smallCount} small objects answered`);
    return { bytes, seconds: b.seconds };
  }
}
