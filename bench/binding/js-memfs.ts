/**
 * Binding-overhead benchmark: the objfs side. The same filesystem as memfs_ll.c, answered in JS
 * over the native addon: root directory (ino 1) with one 8 GiB virtual file `data` (ino 2); reads
 * are answered with one preallocated 1 MiB Buffer through replyBuf. Entry/attr timeouts 0, open
 * with direct_io. Handlers reply synchronously, so the measurement is the binding's overhead.
 *
 * usage: node dist/bench/binding/js-memfs.js MOUNTPOINT [MAX_THREADS]
 * Prints "ready" when the kernel connection is up and "destroy <status>" when the session ended;
 * SIGTERM/SIGINT unmount.
 */
import { loadNative } from '../../src/fuse/native.js';
import { Op, OpenFlag, REC, REC_LEN, type OpCode } from '../../src/fuse/native-api.js';

const MIB = 1024 * 1024;
const FILE_SIZE = 8 * 1024 * MIB;
const ENOENT = 2;
const ENOTDIR = 20;
const EISDIR = 21;
const ENOSYS = 38;

const mountpoint = process.argv[2];
if (!mountpoint) {
  process.stderr.write('usage: js-memfs MOUNTPOINT [MAX_THREADS]\n');
  process.exit(2);
}
const maxThreads = Number(process.argv[3] ?? 4) || 4;

const pattern = Buffer.alloc(MIB);
for (let i = 0; i < MIB; i++) pattern[i] = (i * 131 + 7) & 0xff;

function record(ino: number): Float64Array {
  const r = new Float64Array(REC_LEN);
  r[REC.INO] = ino;
  r[REC.BLKSIZE] = 4096;
  r[REC.MTIME] = 1700000000;
  if (ino === 1) {
    r[REC.MODE] = 0o040755;
    r[REC.NLINK] = 2;
  } else {
    r[REC.MODE] = 0o100644;
    r[REC.NLINK] = 1;
    r[REC.SIZE] = FILE_SIZE;
    r[REC.BLOCKS] = FILE_SIZE / 512;
  }
  return r;
}
const ROOT = record(1);
const DATA = record(2);
const DIR_NAMES = ['.', '..', 'data'];
const DIR_RECORDS = new Float64Array(3 * REC_LEN);
DIR_RECORDS.set(ROOT, 0);
DIR_RECORDS.set(ROOT, REC_LEN);
DIR_RECORDS.set(DATA, 2 * REC_LEN);

const args = new Float64Array(32);
const out = new Float64Array(32);
const native = loadNative();

const dispatch = (op: OpCode, id: number, name: string | undefined): void => {
  switch (op) {
    case Op.LOOKUP:
      if (args[0] === 1 && name === 'data') {
        out.set(DATA);
        session.replyEntry(id);
      } else session.replyErr(id, ENOENT);
      return;
    case Op.GETATTR: {
      const ino = args[0];
      if (ino === 1) out.set(ROOT);
      else if (ino === 2) out.set(DATA);
      else {
        session.replyErr(id, ENOENT);
        return;
      }
      session.replyAttr(id);
      return;
    }
    case Op.READ: {
      const off = args[6]!;
      const size = Math.min(args[5]!, MIB, Math.max(0, FILE_SIZE - off));
      session.replyBuf(id, pattern, 0, size);
      return;
    }
    case Op.OPEN:
      if (args[0] !== 2) session.replyErr(id, EISDIR);
      else session.replyOpen(id, 1, OpenFlag.DIRECT_IO);
      return;
    case Op.OPENDIR:
      if (args[0] !== 1) session.replyErr(id, ENOTDIR);
      else session.replyOpen(id, 1, 0);
      return;
    case Op.READDIR:
    case Op.READDIRPLUS: {
      const off = args[6]!;
      session.replyDir(id, args[5]!, off, DIR_NAMES.slice(off), DIR_RECORDS.subarray(off * REC_LEN), op === Op.READDIRPLUS);
      return;
    }
    case Op.RELEASE:
    case Op.RELEASEDIR:
    case Op.FLUSH:
      session.replyErr(id, 0);
      return;
    case Op.INIT:
      process.stdout.write('ready\n');
      return;
    case Op.DESTROY:
      process.stdout.write(`destroy ${args[4]}\n`);
      return;
    case Op.FORGET:
    case Op.FORGET_MULTI:
    case Op.INTERRUPT:
      return;
    default:
      session.replyErr(id, ENOSYS);
  }
};

const session = native.mount(
  {
    mountpoint,
    fsname: 'js-memfs',
    subtype: 'memfs',
    allowOther: false,
    defaultPermissions: false,
    readOnly: true,
    writebackCache: false,
    maxWrite: MIB,
    maxRead: MIB,
    maxThreads,
    debug: false,
    autoUnmount: false,
  },
  dispatch,
  args,
  out,
);
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => session.unmount());
