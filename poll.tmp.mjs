import { S3Client, ListObjectsV2Command } from '@aws-sdk/client-s3';
const [prefix, n] = [process.argv[2], Number(process.argv[3])];
const c = new S3Client({ endpoint: 'http://127.0.0.1:19000', region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'minioadmin', secretAccessKey: 'minioadmin' } });
const t0 = Date.now();
for (;;) {
  let count = 0, token;
  do { const r = await c.send(new ListObjectsV2Command({ Bucket: 'bench', Prefix: prefix + '/', ContinuationToken: token })); count += r.KeyCount ?? 0; token = r.NextContinuationToken; } while (token);
  if (count >= n) break;
  await new Promise((r) => setTimeout(r, 50));
}
console.log('after-close-to-bucket', ((Date.now() - t0) / 1000).toFixed(2));
