/**
 * Renders docs/CONFIGURATION.md from the options table, so the document cannot drift from the
 * flags. `node dist/src/config/render-docs.js > docs/CONFIGURATION.md` regenerates it; a test
 * fails when the committed file differs.
 */
import { MOUNT_OPTIONS } from './options.js';

export function renderConfigurationDoc(): string {
  const lines = [
    '# objfs configuration',
    '',
    '<!-- generated from src/config/options.ts by src/config/render-docs.ts; do not edit by hand -->',
    '',
    '`objfs mount <remote> <mountpoint> [options]`. Every option is also read from the environment',
    'variable shown (the flag wins). Every boolean flag is turned off with `--no-<flag>` (over the environment).',
    '',
    '| flag | env | default | meaning |',
    '|---|---|---|---|',
  ];
  for (const o of MOUNT_OPTIONS) {
    const flag = `\`--${o.flag}${o.arg ? ' ' + o.arg : ''}\``;
    const def = o.defaultText ?? (o.default === undefined ? '(none)' : String(o.default));
    lines.push(`| ${flag} | \`${o.env}\` | ${def.replace(/\|/g, '\\|')} | ${o.help.replace(/\|/g, '\\|')} |`);
  }
  lines.push(
    '',
    '## Remotes',
    '',
    '- `file:///absolute/dir`: a local directory acting as a bucket. Every file is an object, every',
    '  directory a prefix; object metadata (ETag, user metadata) is kept beside the data under',
    '  `<dir>/.objfs/`, which is never listed.',
    '- `s3://bucket/prefix`: not in this build yet.',
    '',
  );
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(renderConfigurationDoc());
