/**
 * Property test: random sequences of namespace and data operations give the same results (value
 * or errno) on the Vfs over the memory store as on a simple reference model of a POSIX tree, and
 * the same again after a remount (everything persisted).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { VfsDriver } from '../conformance/vfs-driver.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';

type Node = { type: 'file'; data: Buffer } | { type: 'dir' };

class ModelError extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

class Model {
  readonly nodes = new Map<string, Node>([['', { type: 'dir' }]]);

  private parentOk(p: string): void {
    const parts = p.split('/').filter(Boolean);
    let cur = '';
    for (const part of parts.slice(0, -1)) {
      cur += '/' + part;
      const n = this.nodes.get(cur);
      if (!n) throw new ModelError('ENOENT');
      if (n.type !== 'dir') throw new ModelError('ENOTDIR');
    }
  }

  private get(p: string): Node {
    this.parentOk(p);
    const n = this.nodes.get(p);
    if (!n) throw new ModelError('ENOENT');
    return n;
  }

  private children(p: string): string[] {
    return [...this.nodes.keys()].filter((k) => k.startsWith(p + '/') && !k.slice(p.length + 1).includes('/'));
  }

  write(p: string, data: Buffer): void {
    this.parentOk(p);
    const n = this.nodes.get(p);
    if (n?.type === 'dir') throw new ModelError('EISDIR');
    this.nodes.set(p, { type: 'file', data: Buffer.from(data) });
  }

  append(p: string, data: Buffer): void {
    this.parentOk(p);
    const n = this.nodes.get(p);
    if (n?.type === 'dir') throw new ModelError('EISDIR');
    this.nodes.set(p, { type: 'file', data: Buffer.concat([n?.data ?? Buffer.alloc(0), data]) });
  }

  read(p: string): Buffer {
    const n = this.get(p);
    if (n.type === 'dir') throw new ModelError('EISDIR');
    return n.data;
  }

  truncate(p: string, size: number): void {
    const n = this.get(p);
    if (n.type === 'dir') throw new ModelError('EISDIR');
    const d = Buffer.alloc(size);
    n.data.copy(d, 0, 0, Math.min(size, n.data.length));
    n.data = d;
  }

  mkdir(p: string): void {
    this.parentOk(p);
    if (this.nodes.has(p)) throw new ModelError('EEXIST');
    this.nodes.set(p, { type: 'dir' });
  }

  rmdir(p: string): void {
    const n = this.get(p);
    if (n.type !== 'dir') throw new ModelError('ENOTDIR');
    if (this.children(p).length > 0) throw new ModelError('ENOTEMPTY');
    this.nodes.delete(p);
  }

  unlink(p: string): void {
    const n = this.get(p);
    if (n.type === 'dir') throw new ModelError('EISDIR');
    this.nodes.delete(p);
  }

  readdir(p: string): string[] {
    const n = this.get(p);
    if (n.type !== 'dir') throw new ModelError('ENOTDIR');
    return this.children(p).map((k) => k.slice(p.length + 1)).sort();
  }

  rename(a: string, b: string): void {
    // like the kernel: both parents are walked before the source entry is looked up
    this.parentOk(a);
    this.parentOk(b);
    const src = this.get(a);
    if (a === b) return;
    if (src.type === 'dir' && (b + '/').startsWith(a + '/')) throw new ModelError('EINVAL');
    const dst = this.nodes.get(b);
    if (dst) {
      if (src.type === 'dir' && dst.type !== 'dir') throw new ModelError('ENOTDIR');
      if (src.type !== 'dir' && dst.type === 'dir') throw new ModelError('EISDIR');
      if (dst.type === 'dir' && this.children(b).length > 0) throw new ModelError('ENOTEMPTY');
    }
    const moves = [...this.nodes.entries()].filter(([k]) => k === a || k.startsWith(a + '/'));
    for (const [k] of moves) this.nodes.delete(k);
    this.nodes.delete(b);
    for (const [k, v] of moves) this.nodes.set(b + k.slice(a.length), v);
  }
}

const paths = ['/a', '/b', '/d', '/d/a', '/d/b', '/d/e', '/d/e/f', '/e', '/e/a'];
const pathArb = fc.constantFrom(...paths);
const dataArb = fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u));

type Cmd =
  | { op: 'write' | 'append'; p: string; data: Buffer }
  | { op: 'read' | 'mkdir' | 'rmdir' | 'unlink' | 'readdir'; p: string }
  | { op: 'truncate'; p: string; size: number }
  | { op: 'rename'; p: string; q: string }
  | { op: 'remount' };

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({ op: fc.constant('write' as const), p: pathArb, data: dataArb }),
  fc.record({ op: fc.constant('append' as const), p: pathArb, data: dataArb }),
  fc.record({ op: fc.constantFrom('read' as const, 'mkdir' as const, 'rmdir' as const, 'unlink' as const, 'readdir' as const), p: pathArb }),
  fc.record({ op: fc.constant('truncate' as const), p: pathArb, size: fc.integer({ min: 0, max: 100 }) }),
  fc.record({ op: fc.constant('rename' as const), p: pathArb, q: pathArb }),
  fc.constant({ op: 'remount' as const }),
);

async function outcome<T>(fn: () => Promise<T> | T): Promise<{ ok: T } | { err: string }> {
  try {
    return { ok: await fn() };
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (!code) throw e;
    return { err: code };
  }
}

describe('vfs vs reference model', () => {
  it('random operation sequences agree (results, errnos, contents), across remounts', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(cmdArb, { minLength: 1, maxLength: 40 }), async (cmds) => {
        const model = new Model();
        const d = await VfsDriver.create({ store: new MemoryStore() });
        try {
          for (const c of cmds) {
            let got: unknown;
            let want: unknown;
            switch (c.op) {
              case 'write':
                got = await outcome(() => d.writeFile(c.p, c.data));
                want = await outcome(() => model.write(c.p, c.data));
                break;
              case 'append':
                got = await outcome(() => d.appendFile(c.p, c.data));
                want = await outcome(() => model.append(c.p, c.data));
                break;
              case 'read':
                got = await outcome(() => d.readFile(c.p));
                want = await outcome(() => model.read(c.p));
                break;
              case 'truncate':
                got = await outcome(() => d.truncate(c.p, c.size));
                want = await outcome(() => model.truncate(c.p, c.size));
                break;
              case 'mkdir':
                got = await outcome(() => d.mkdir(c.p));
                want = await outcome(() => model.mkdir(c.p));
                break;
              case 'rmdir':
                got = await outcome(() => d.rmdir(c.p));
                want = await outcome(() => model.rmdir(c.p));
                break;
              case 'unlink':
                got = await outcome(() => d.unlink(c.p));
                want = await outcome(() => model.unlink(c.p));
                break;
              case 'readdir':
                got = await outcome(async () => (await d.readdir(c.p)).sort());
                want = await outcome(() => model.readdir(c.p));
                break;
              case 'rename':
                got = await outcome(() => d.rename(c.p, c.q));
                want = await outcome(() => model.rename(c.p, c.q));
                break;
              case 'remount':
                await d.remount();
                continue;
            }
            assert.deepEqual(got, want, `${JSON.stringify(c)}`);
          }
          // final state: every path agrees after a remount
          await d.remount();
          for (const p of paths) {
            const m = await outcome(() => model.read(p));
            const v = await outcome(() => d.readFile(p));
            assert.deepEqual(v, m, `final ${p}`);
          }
        } finally {
          await d.cleanup();
        }
      }),
      { numRuns: 150 },
    );
  });
});
