import assert from 'node:assert/strict';
import { test } from 'node:test';
import { replay } from '../src/engine/index.js';
import { assertPotentialsClose, assertSpikesEqual, assertWeightsClose, goldenFiles, loadGolden } from './helpers/golden.js';

const files = goldenFiles();

test('the golden directory has cases', () => {
  assert.ok(files.length > 0, 'no golden cases found');
});

for (const file of files) {
  test(`golden ${file}: spikes at every step and final potentials`, () => {
    const c = loadGolden(file);
    const r = replay(c);
    assertSpikesEqual(r.spikes, c.expect.spikes);
    assertPotentialsClose(r.v, c.expect.v);
  });

  test(`golden ${file}: final weights`, () => {
    const c = loadGolden(file);
    assertWeightsClose(replay(c).weights, c.expect.weights);
  });
}
