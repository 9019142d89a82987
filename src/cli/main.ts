/**
 * objfs command line: subcommands are declared with commander; mount options come from the one
 * options table (config/options.ts), so flags, env vars, defaults and help never drift apart.
 * Failures the user can fix are printed as one line "objfs: ..." with exit code 1.
 */
import { Command, Option, CommanderError, InvalidArgumentError } from 'commander';
import { MOUNT_OPTIONS, parseValue, type OptionSpec } from '../config/options.js';
import { mountCommand, UserError } from './mount.js';
import { unmountCommand } from './unmount.js';
import { demoCommand } from './demo.js';

const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** A boolean whose flag itself starts with "no-" (--no-sign-request): commander reads it as a negation. */
const isNoFlag = (spec: OptionSpec) => spec.kind === 'boolean' && spec.flag.startsWith('no-');

/** Map commander's view of "--no-x" flags back onto our keys, env var included. */
function fixNoFlags(opts: Record<string, unknown>): Record<string, unknown> {
  const out = { ...opts };
  for (const spec of MOUNT_OPTIONS) {
    if (!isNoFlag(spec)) continue;
    const positive = camel(spec.flag.slice(3));
    const env = process.env[spec.env];
    out[spec.key] = out[positive] === false || (env !== undefined && parseValue(spec, env) === true);
    delete out[positive];
  }
  return out;
}

function toOption(spec: OptionSpec): Option {
  const flags = spec.kind === 'boolean' ? `--${spec.flag}` : `--${spec.flag} ${spec.arg ?? '<value>'}`;
  const o = new Option(flags, spec.help);
  if (isNoFlag(spec)) return o; // env handled in fixNoFlags
  o.env(spec.env);
  if (spec.kind !== 'boolean')
    o.argParser((v: string) => {
      try {
        return parseValue(spec, v);
      } catch (e) {
        throw new InvalidArgumentError((e as Error).message.replace(/^--[a-z-]+: /, ''));
      }
    });
  if (spec.default !== undefined) o.default(spec.default, spec.defaultText ?? (spec.kind === 'octal' ? '0' + (spec.default as number).toString(8) : String(spec.default)));
  return o;
}

export function buildProgram(argv: string[]): { program: Command; result: Promise<number> } {
  let resolveResult!: (n: number) => void;
  const result = new Promise<number>((r) => (resolveResult = r));
  const program = new Command('objfs')
    .description('Mount object storage (S3-compatible buckets, or a local directory acting as a bucket) as a POSIX filesystem')
    .version(process.env['npm_package_version'] ?? '0.1.0')
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str.startsWith('error:') ? 'objfs: ' + str.slice(7) : str) });

  const mount = program
    .command('mount')
    .description('mount <remote> on <mountpoint> (foreground unless --daemon)')
    .argument('<remote>', 's3://bucket[/prefix] (an S3-compatible bucket; see --endpoint) or file:///abs/dir (a local directory acting as a bucket)')
    .argument('<mountpoint>', 'an existing empty directory');
  for (const spec of MOUNT_OPTIONS) {
    mount.addOption(toOption(spec));
    // every positive boolean can be turned off explicitly (over the environment, or a default that changed)
    if (spec.kind === 'boolean' && !isNoFlag(spec)) mount.addOption(new Option(`--no-${spec.flag}`).hideHelp());
  }
  mount.action(async (remote: string, mp: string, opts: Record<string, unknown>) => {
    resolveResult(await mountCommand(remote, mp, fixNoFlags(opts), argv.slice(2)));
  });

  program.addHelpText('after', () => {
    const rows = MOUNT_OPTIONS.map((o) => {
      const flag = `--${o.flag}${o.arg ? ' ' + o.arg : ''}`;
      const def = o.defaultText ?? (o.kind === 'octal' ? '0' + (o.default as number).toString(8) : String(o.default ?? '(none)'));
      return `  ${flag.padEnd(26)} ${o.help} (default: ${def}; env ${o.env})`;
    });
    return `\nMount options (objfs mount <remote> <mountpoint> [options]):\n${rows.join('\n')}\n`;
  });

  program
    .command('unmount')
    .alias('umount')
    .description('unmount a mountpoint served by objfs (its process uploads what is pending and exits)')
    .argument('<mountpoint>')
    .option('--lazy', 'detach now even if busy; the mount goes away when the last user leaves', false)
    .action(async (mp: string, opts: { lazy: boolean }) => resolveResult(await unmountCommand(mp, opts)));

  program
    .command('demo')
    .description('mount the bundled sample bucket (a local directory), list it, and unmount')
    .action(async () => resolveResult(await demoCommand()));

  return { program, result };
}

/**
 * A reader of our stdout or stderr that went away (`objfs mount --help | head -1`, a closed
 * terminal, a log pipe that died) makes writes fail with EPIPE, emitted as an 'error' event that
 * would otherwise kill the process with a stack trace: a mount must not end because nobody reads
 * its messages, so those writes are dropped. Any other stream error still surfaces.
 */
function ignoreClosedPipes(): void {
  for (const s of [process.stdout, process.stderr]) {
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
    });
  }
}

export async function main(argv: string[]): Promise<void> {
  ignoreClosedPipes();
  const { program, result } = buildProgram(argv);
  let code: number;
  try {
    await program.parseAsync(argv);
    code = await result;
  } catch (e) {
    if (e instanceof CommanderError) {
      code = e.exitCode;
    } else if (e instanceof UserError) {
      process.stderr.write(`objfs: ${e.message}\n`);
      if (process.send) process.send({ error: e.message });
      code = 1;
    } else {
      process.stderr.write(`objfs: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      code = 1;
    }
  }
  process.exitCode = code;
  // a mount that ended leaves no handles; anything else still open must not keep us alive
  setTimeout(() => process.exit(code), 200).unref();
}
