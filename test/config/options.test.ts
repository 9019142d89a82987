/**
 * The options table is the single source: docs/CONFIGURATION.md is generated from it, every
 * option parses its documented default, and bad values give one-line errors naming the flag.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { renderConfigurationDoc } from '../../src/config/render-docs.js';
import { MOUNT_OPTIONS, parseValue, validateMountConfig } from '../../src/config/options.js';

describe('options table', () => {
  it('docs/CONFIGURATION.md is what the table renders (regenerate with node dist/src/config/render-docs.js)', () => {
    const committed = readFileSync(new URL('../../../docs/CONFIGURATION.md', import.meta.url), 'utf8');
    assert.equal(committed, renderConfigurationDoc());
  });

  it('defaults validate, and every flag and env name is unique', () => {
    const cfg = Object.fromEntries(MOUNT_OPTIONS.map((o) => [o.key, o.default]));
    validateMountConfig(cfg);
    assert.equal(new Set(MOUNT_OPTIONS.map((o) => o.flag)).size, MOUNT_OPTIONS.length);
    assert.equal(new Set(MOUNT_OPTIONS.map((o) => o.env)).size, MOUNT_OPTIONS.length);
  });

  it('bad values are one-line errors that name the flag', () => {
    const ttl = MOUNT_OPTIONS.find((o) => o.key === 'metadataTtl')!;
    assert.throws(() => parseValue(ttl, 'soon'), /^Error: --metadata-ttl: "soon" is not a number$/);
    const mode = MOUNT_OPTIONS.find((o) => o.key === 'fileMode')!;
    assert.equal(parseValue(mode, '0640'), 0o640);
    assert.throws(() => parseValue(mode, '999'), /--file-mode/);
    const cfg = Object.fromEntries(MOUNT_OPTIONS.map((o) => [o.key, o.default]));
    assert.throws(() => validateMountConfig({ ...cfg, metadataTtl: -1 }), /^Error: --metadata-ttl: /);
  });
});
