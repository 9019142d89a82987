/**
 * Child process of the S3 benchmark: a direct-SDK reference run the way a user's own script runs,
 * in a new Node process. Every objfs mount in the bench is a new process whose SDK code has not
 * been compiled yet; the in-process references run in the bench process, which has made the same
 * calls in earlier rounds. This second reference shows how much of a ratio is that warm-up.
 * The clock starts after the SDK is imported and the client made (a mount is also up before its
 * timer starts). Prints one JSON line; times are process.hrtime (the parent's clock).
 *
 *   node fresh-sdk.js list PREFIX DELIM           every page of ListObjectsV2 ('' = no delimiter)
 *   node fresh-sdk.js small DIR PREFIX N SIZE SEED  S3Ops.localThenPut: N files written to the
 *                                                   existing directory DIR, then PutObject x32
 *
 * The target (S3Target as JSON) comes in OBJFS_BENCH_TARGET, never on the command line.
 */
import { Direct, type S3Target } from './direct.js';
import { S3Ops } from './s3ops.js';

async function main(argv: string[]): Promise<object> {
  const raw = process.env['OBJFS_BENCH_TARGET'];
  if (!raw) throw new Error('OBJFS_BENCH_TARGET is not set');
  const target = JSON.parse(raw) as S3Target;
  const [mode, ...a] = argv;
  if (mode === 'list') {
    const d = await Direct.open(target);
    try {
      return await d.list(a[0]!, a[1] ? a[1] : undefined);
    } finally {
      d.client.destroy();
    }
  }
  if (mode === 'small') {
    const s3 = await S3Ops.open(target);
    try {
      return await s3.localThenPut(a[0]!, a[1]!, Number(a[2]), Number(a[3]), a[4]!);
    } finally {
      s3.close();
    }
  }
  throw new Error(`unknown mode ${JSON.stringify(mode)} (list | small)`);
}

main(process.argv.slice(2)).then(
  (r) => console.log(JSON.stringify(r)),
  (e: unknown) => {
    console.error(`fresh-sdk: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
