/**
 * The bench tables' cells: a median with the rounds' range, and a criterion's value per round.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { medianWithRange, pairedRatios } from '../../bench/s3/common.js';

const mbs = (v: number): string => `${v.toFixed(0)} MB/s`;

describe('bench report cells', () => {
  it('show the median and the range of the rounds, or the value alone for one round', () => {
    assert.equal(medianWithRange([330, 276, 303], mbs), '303 MB/s (276-330)');
    assert.equal(medianWithRange([300, 200], mbs), '250 MB/s (200-300)');
    assert.equal(medianWithRange([303], mbs), '303 MB/s');
  });

  it('pair the two tools round by round, and give up when a round failed for either', () => {
    assert.equal(pairedRatios([300, 250, 280], [600, 500, 350], 3), '0.50 0.50 0.80');
    assert.equal(pairedRatios([300, 250], [600, 500, 350], 3), '');
    assert.equal(pairedRatios([300, 250], [600, 500], 3), '', 'each lost a (maybe different) round: no pairing');
    assert.equal(pairedRatios([300], [600], 1), '');
  });
});
