/**
 * The store contract over S3Store against a real MinIO server (test/helpers/minio.ts), one server
 * for the whole file. Every case gets a fresh bucket, and the store works under a prefix
 * ("objfs root/"), so prefix adding and stripping is exercised by every case; the bucket is
 * emptied and deleted afterwards. Without a minio binary the file reports one skipped test (with
 * CI=true it fails instead).
 */
import { after, before, test } from 'node:test';
import { S3Store } from '../../src/store/s3/s3-store.js';
import { createBucket, deleteBucket, minioCredentials, minioSuiteOptions, startMinio, type MinioServer } from '../helpers/minio.js';
import { storeContract } from './contract.js';

const gate = minioSuiteOptions();
if (gate.skip !== undefined) {
  test('S3 store contract (MinIO)', { skip: gate.skip }, () => {});
} else {
  let minio: MinioServer | undefined;
  before(async () => {
    minio = await startMinio();
  });
  after(async () => {
    await minio?.stop();
  });
  for (const offloadPuts of [false, true]) {
    // offloadPuts: small PUTs run in a worker thread (put-offload.ts) and must keep the contract
    storeContract(offloadPuts ? 's3 (MinIO, small PUTs in a worker thread)' : 's3 (MinIO)', async () => {
      const m = minio!;
      const bucket = await createBucket(m);
      const store = new S3Store({
        bucket,
        prefix: 'objfs root/',
        endpoint: m.endpoint,
        region: m.region,
        credentials: minioCredentials(m),
        offloadPuts,
      });
      return { store, cleanup: () => deleteBucket(m, bucket) };
    });
  }
}
