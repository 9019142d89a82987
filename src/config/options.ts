/**
 * Every objfs option, declared once (rclone's vfscommon/options.go is the model): its flag, its
 * default, its help text and its environment variable. The CLI flags (cli/*.ts), the validation
 * schema and docs/CONFIGURATION.md all come from this table; subsystems receive only the slice
 * they need (MountConfig below), never the table itself.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

export type OptionKind = 'boolean' | 'number' | 'string' | 'octal' | 'level';

export interface OptionSpec {
  /** camelCase key in the resolved config. */
  key: string;
  /** Long flag without dashes ("metadata-ttl"). */
  flag: string;
  /** Placeholder for the value in help ("<seconds>"); absent for booleans. */
  arg?: string;
  kind: OptionKind;
  default: boolean | number | string | undefined;
  /** Text shown for the default when it depends on the machine. */
  defaultText?: string;
  help: string;
  env: string;
}

const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
const gid = typeof process.getgid === 'function' ? process.getgid() : 0;
const cacheHome = process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache');

const opt = (s: Omit<OptionSpec, 'env'>): OptionSpec => ({ ...s, env: 'OBJFS_' + s.flag.toUpperCase().replace(/-/g, '_') });

export const MOUNT_OPTIONS: readonly OptionSpec[] = [
  // ---- the remote (s3://)
  opt({ key: 'endpoint', flag: 'endpoint', arg: '<url>', kind: 'string', default: undefined, defaultText: 'AWS S3 (or AWS_ENDPOINT_URL)', help: 'S3 endpoint URL (MinIO, Ceph, R2, GCS XML API, ...)' }),
  opt({ key: 'region', flag: 'region', arg: '<region>', kind: 'string', default: undefined, defaultText: 'from the AWS config, else us-east-1', help: 'S3 region' }),
  opt({ key: 'profile', flag: 'profile', arg: '<name>', kind: 'string', default: undefined, defaultText: 'AWS_PROFILE or default', help: 'AWS shared config/credentials profile' }),
  opt({ key: 'noSignRequest', flag: 'no-sign-request', kind: 'boolean', default: false, help: 'anonymous access (public buckets): send unsigned requests' }),
  opt({ key: 'virtualHost', flag: 'virtual-host', kind: 'boolean', default: false, help: 'virtual-hosted-style addressing (bucket.endpoint) instead of path style when an endpoint is given' }),
  // ---- caching and reading
  opt({ key: 'readOnly', flag: 'read-only', kind: 'boolean', default: false, help: 'mount read-only: every change fails with EROFS before anything is sent' }),
  opt({ key: 'metadataTtl', flag: 'metadata-ttl', arg: '<seconds>', kind: 'number', default: 1, help: 'how long names, attributes and misses are cached before the store is asked again' }),
  opt({ key: 'cacheDir', flag: 'cache-dir', arg: '<dir>', kind: 'string', default: join(cacheHome, 'objfs'), defaultText: '$XDG_CACHE_HOME/objfs', help: 'directory for staged writes, the write-back journal and the block cache' }),
  opt({ key: 'uid', flag: 'uid', arg: '<uid>', kind: 'number', default: uid, defaultText: 'your uid', help: 'owner of objects that carry no uid metadata' }),
  opt({ key: 'gid', flag: 'gid', arg: '<gid>', kind: 'number', default: gid, defaultText: 'your gid', help: 'group of objects that carry no gid metadata' }),
  opt({ key: 'fileMode', flag: 'file-mode', arg: '<octal>', kind: 'octal', default: 0o644, defaultText: '0644', help: 'permissions of files that carry no mode metadata' }),
  opt({ key: 'dirMode', flag: 'dir-mode', arg: '<octal>', kind: 'octal', default: 0o755, defaultText: '0755', help: 'permissions of directories that carry no mode metadata' }),
  opt({ key: 'cacheSize', flag: 'cache-size', arg: '<MiB>', kind: 'number', default: 1024, help: 'size limit of the disk block cache under --cache-dir, in MiB (0 disables it)' }),
  opt({ key: 'prefetchMemory', flag: 'prefetch-memory', arg: '<MiB>', kind: 'number', default: 64, help: 'memory for file data held in memory, shared by all open files, in MiB: read-ahead (a stream reads ahead at most half of it: raise it for links with a large bandwidth x latency) and the parts of streaming uploads' }),
  opt({ key: 'readdirHead', flag: 'readdir-head', kind: 'boolean', default: undefined, defaultText: 'on for file://, off for s3://', help: 'read each object\'s metadata when listing a directory (exact modes and symlinks in ls -l; off: attributes come from the listing itself, one request per 1,000 entries)' }),
  opt({ key: 'xattr', flag: 'xattr', kind: 'boolean', default: false, help: 'user.* extended attributes, kept as object metadata (off: the kernel stops asking, so ls -l costs no round trip per file and a write() none for security.capability; xattr calls then fail with EOPNOTSUPP)' }),
  // ---- writing
  opt({ key: 'sync', flag: 'sync', arg: '<policy>', kind: 'string', default: 'close', help: 'when written data must be in the bucket: close (close() waits for the upload and returns its error), fsync (only fsync and unmount upload), idle=<seconds> (upload that long after the last write), exit (nothing leaves the machine until unmount or SIGTERM); fsync always uploads' }),
  opt({ key: 'conflict', flag: 'conflict', arg: '<policy>', kind: 'string', default: 'keep-both', help: 'when the object changed in the bucket since the local copy started from it: keep-both (upload ours as <name>.conflict-<time>), overwrite, or fail (close/fsync return EIO, the local copy is kept)' }),
  opt({ key: 'writablePath', flag: 'writable-path', arg: '<path>', kind: 'string', default: undefined, defaultText: 'everything', help: 'make only this sub-path (relative to the mount root) writable; everything else is EROFS' }),
  opt({ key: 'uploadConcurrency', flag: 'upload-concurrency', arg: '<n>', kind: 'number', default: 8, help: 'parts of one file uploaded in parallel' }),
  opt({ key: 'allowOther', flag: 'allow-other', kind: 'boolean', default: false, help: 'let other users access the mount (needs user_allow_other in /etc/fuse.conf when not root)' }),
  opt({ key: 'defaultPermissions', flag: 'default-permissions', kind: 'boolean', default: false, help: 'let the kernel check permissions against mode/uid/gid' }),
  opt({ key: 'writebackCache', flag: 'writeback-cache', kind: 'boolean', default: false, help: 'let the kernel cache writes (faster small writes, less exact mtime and close semantics)' }),
  opt({ key: 'maxThreads', flag: 'max-threads', arg: '<n>', kind: 'number', default: 4, help: 'libfuse threads reading requests from the kernel' }),
  opt({ key: 'daemon', flag: 'daemon', kind: 'boolean', default: false, help: 'run in the background; return once the mount is ready' }),
  opt({ key: 'force', flag: 'force', kind: 'boolean', default: false, help: 'clear a stale mount (Transport endpoint is not connected) on the mountpoint first' }),
  opt({ key: 'logLevel', flag: 'log-level', arg: '<level>', kind: 'level', default: 'info', help: 'trace, debug, info, warn, error or silent' }),
  opt({ key: 'logFile', flag: 'log-file', arg: '<file>', kind: 'string', default: undefined, defaultText: 'stderr (with --daemon: <cache-dir>/objfs.log)', help: 'write the log (JSON lines) to this file' }),
  opt({ key: 'debugFuse', flag: 'debug-fuse', kind: 'boolean', default: false, help: 'print every FUSE request (libfuse debug output)' }),
];

const level = z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']);

export const MountConfigSchema = z.object({
  endpoint: z.string().url().optional(),
  region: z.string().min(1).optional(),
  profile: z.string().min(1).optional(),
  noSignRequest: z.boolean(),
  virtualHost: z.boolean(),
  cacheSize: z.number().min(0).max(1 << 30),
  prefetchMemory: z.number().min(8).max(1 << 20),
  readOnly: z.boolean(),
  metadataTtl: z.number().min(0).max(86_400),
  cacheDir: z.string().min(1),
  uid: z.number().int().min(0).max(0xfffffffe),
  gid: z.number().int().min(0).max(0xfffffffe),
  fileMode: z.number().int().min(0).max(0o7777),
  dirMode: z.number().int().min(0).max(0o7777),
  readdirHead: z.boolean().optional(),
  xattr: z.boolean(),
  sync: z.string().regex(/^(close|fsync|exit|idle=\d+(\.\d+)?)$/, 'must be close, fsync, exit or idle=<seconds>'),
  conflict: z.enum(['keep-both', 'overwrite', 'fail']),
  writablePath: z.string().min(1).refine((p) => !p.split('/').some((s) => s === '..'), 'must not contain ..').optional(),
  uploadConcurrency: z.number().int().min(1).max(64),
  allowOther: z.boolean(),
  defaultPermissions: z.boolean(),
  writebackCache: z.boolean(),
  maxThreads: z.number().int().min(1).max(64),
  daemon: z.boolean(),
  force: z.boolean(),
  logLevel: level,
  logFile: z.string().min(1).optional(),
  debugFuse: z.boolean(),
});

export type MountConfig = z.infer<typeof MountConfigSchema>;

/** Parse one option value from a string (flag or env var); throws a one-line message on bad input. */
export function parseValue(spec: OptionSpec, raw: string): boolean | number | string {
  const bad = (what: string) => new Error(`--${spec.flag}: ${JSON.stringify(raw)} is not ${what}`);
  switch (spec.kind) {
    case 'boolean':
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off)$/i.test(raw)) return false;
      throw bad('a boolean (true/false)');
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n)) throw bad('a number');
      return n;
    }
    case 'octal':
      if (!/^0?[0-7]{1,4}$/.test(raw)) throw bad('an octal mode like 0644');
      return parseInt(raw, 8);
    case 'level':
      if (!level.safeParse(raw).success) throw bad('a log level (trace, debug, info, warn, error, silent)');
      return raw;
    case 'string':
      return raw;
  }
}

/** Validate a resolved config; the error names the first bad option in one line. */
export function validateMountConfig(raw: Record<string, unknown>): MountConfig {
  const r = MountConfigSchema.safeParse(raw);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const key = String(issue.path[0] ?? '');
  const spec = MOUNT_OPTIONS.find((o) => o.key === key);
  throw new Error(`${spec ? '--' + spec.flag : key}: ${issue.message}`);
}
