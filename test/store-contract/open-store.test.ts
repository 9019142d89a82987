/** openStore: URL -> store, and one-line errors for everything it does not accept. */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LocalStore } from '../../src/store/local/local-store.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { openStore } from '../../src/store/open-store.js';

test('file:///abs/path opens a LocalStore on that directory (escapes decoded)', async () => {
  const root = await mkdtemp(join(tmpdir(), 'objfs open '));
  try {
    const url = `file://${root.replaceAll(' ', '%20')}`;
    const s = openStore(url);
    assert.ok(s instanceof LocalStore);
    assert.equal(s.description, `file://${root}`);
    await s.check();
    await s.put('k', Buffer.from('v'));
    assert.equal((await openStore(`file://localhost${root.replaceAll(' ', '%20')}/`).get('k')).body.toString(), 'v');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('memory:// opens a fresh MemoryStore', async () => {
  const a = openStore('memory://');
  const b = openStore('memory://named');
  assert.ok(a instanceof MemoryStore && b instanceof MemoryStore);
  await a.put('k', Buffer.from('v'));
  await assert.rejects(b.head('k'), { code: 'NotFound' });
});

test('s3://bucket/prefix opens an S3Store without contacting the server', async () => {
  const s = openStore('s3://bucket/some/prefix', { s3: { endpoint: 'http://127.0.0.1:9', region: 'us-east-1', noSignRequest: true } });
  assert.match(s.description, /^s3:\/\/bucket\/some\/prefix/);
  await s.close();
});

test('everything else fails with one clear line', () => {
  const cases: [string, RegExp][] = [
    ['s3://', /names no bucket/],
    ['s3://bucket/prefix?x=1', /malformed S3 URL/],
    ['sftp://host/dir', /unsupported remote/],
    ['file://relative/path', /names host "relative".*three slashes/],
    ['file:relative', /three slashes/],
    ['file:///tmp/x?query', /query or fragment/],
    ['/tmp/plain/path', /not a remote URL/],
    ['', /not a remote URL/],
  ];
  for (const [url, re] of cases) {
    assert.throws(
      () => openStore(url),
      (e: unknown) => e instanceof Error && re.test(e.message) && !e.message.includes('\n'),
      `openStore(${JSON.stringify(url)})`,
    );
  }
});
