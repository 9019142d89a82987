/**
 * Checks the claims of docs/SEMANTICS.md: every row of its operations table names a probe; the
 * probe runs against the Vfs (memory store) and must give exactly the result the row states.
 * A row without a probe, or a probe without a row, fails the test.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { VfsDriver } from '../conformance/vfs-driver.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { FuseAdapter } from '../../src/fuse/adapter.js';
import type { PosixDriver } from '../conformance/driver.js';

const doc = readFileSync(new URL('../../../docs/SEMANTICS.md', import.meta.url), 'utf8');
const rows = [...doc.matchAll(/^\| `([a-z-]+)` \| (.+?) \| (.+?) \|$/gm)].map((m) => ({ probe: m[1]!, op: m[2]!, result: m[3]! }));

type Probe = (d: PosixDriver, ro: PosixDriver) => Promise<void>;

const probes: Record<string, Probe> = {
  hardlink: async (d) => {
    await d.writeFile('/f', 'x');
    await d.link('/f', '/g');
  },
  mkfifo: (d) => d.mkfifo('/fifo'),
  'mknod-char': async (d) => {
    const vd = d as VfsDriver;
    await vd.vfs.mknod({ uid: 0, gid: 0, pid: 0, signal: undefined }, 1, 'chr', 0o020644);
  },
  'rename-exchange': async (d) => {
    await d.writeFile('/a', '1');
    await d.writeFile('/b', '2');
    await d.rename('/a', '/b', 'exchange');
  },
  'rename-noreplace': async (d) => {
    await d.writeFile('/a', '1');
    await d.writeFile('/b', '2');
    await d.rename('/a', '/b', 'noreplace');
  },
  'rmdir-nonempty': async (d) => {
    await d.mkdir('/d');
    await d.writeFile('/d/x', '1');
    await d.rmdir('/d');
  },
  'unlink-dir': async (d) => {
    await d.mkdir('/d');
    await d.unlink('/d');
  },
  'xattr-trusted': async (d) => {
    await d.writeFile('/f', 'x');
    await d.setxattr('/f', 'trusted.x', Buffer.from('v'));
  },
  'xattr-missing': async (d) => {
    await d.writeFile('/f', 'x');
    await d.getxattr('/f', 'user.none');
  },
  'xattr-too-large': async (d) => {
    await d.writeFile('/f', 'x');
    await d.setxattr('/f', 'user.small', Buffer.alloc(500, 1));
    await d.setxattr('/f', 'user.big', Buffer.alloc(2000, 2));
  },
  'xattr-create-exists': async (d) => {
    await d.writeFile('/f', 'x');
    await d.setxattr('/f', 'user.a', Buffer.from('1'));
    await d.setxattr('/f', 'user.a', Buffer.from('2'), 'create');
  },
  fallocate: async (d) => {
    (d as VfsDriver).vfs.fallocate();
  },
  'name-too-long': (d) => d.writeFile('/' + 'n'.repeat(256), 'x'),
  'readonly-write': async (_d, ro) => {
    await ro.writeFile('/new', 'x');
  },
  symlink: async (d) => {
    await d.symlink('target', '/l');
    assert.equal(await d.readlink('/l'), 'target');
  },
  chmod: async (d) => {
    await d.writeFile('/f', 'x');
    await d.chmod('/f', 0o600);
    await d.remount();
    assert.equal((await d.stat('/f')).mode & 0o7777, 0o600);
  },
  utimens: async (d) => {
    await d.writeFile('/f', 'x');
    await d.utimes('/f', 1_000_000_000_123_456_789n, 981_173_106_123_456_789n);
    await d.remount();
    assert.equal((await d.stat('/f')).mtimeNs, 981_173_106_123_456_789n);
  },
};

describe('docs/SEMANTICS.md operations table', () => {
  it('has a probe for every row and a row for every probe', () => {
    assert.ok(rows.length >= 10, 'table found');
    assert.deepEqual(rows.map((r) => r.probe).sort(), Object.keys(probes).sort());
  });
  void FuseAdapter; // the adapter maps the same errors; its errno path is one function (to-errno.ts)

  for (const row of rows) {
    it(`${row.probe}: ${row.op} -> ${row.result}`, async () => {
      const probe = probes[row.probe];
      assert.ok(probe, `no probe for ${row.probe}`);
      const store = new MemoryStore();
      const d = await VfsDriver.create({ store });
      const ro = await VfsDriver.create({ store: new MemoryStore(), readOnly: true });
      try {
        const want = /^`(E[A-Z]+)`$/.exec(row.result)?.[1];
        if (want) await assert.rejects(probe(d, ro), (e: { code?: string }) => e.code === want, `expected ${want}`);
        else {
          assert.match(row.result, /^supported/);
          await probe(d, ro);
        }
      } finally {
        await d.cleanup();
        await ro.cleanup();
      }
    });
  }
});
