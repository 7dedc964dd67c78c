/** Every golden case replayed on the tfjs backend, on the platform `prefer` names (or the one chosen). */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { initTfjs, replay, tfjsInfo } from '../../src/engine/index.js';
import { assertPotentialsClose, assertSpikesEqual, assertWeightsClose, goldenFiles, loadGolden } from './golden.js';

export function goldenOnTfjs(prefer: string | undefined): void {
  before(async () => {
    await initTfjs({ prefer });
  });

  const files = goldenFiles();

  test('the golden directory has cases', () => {
    assert.ok(files.length > 0, 'no golden cases found');
  });

  for (const file of files) {
    // One replay per case: spikes, potentials and weights are checked on it.
    let result: ReturnType<typeof replay> | undefined;
    const run = () => (result ??= replay(loadGolden(file), { backend: 'tfjs' }));

    test(`golden ${file} on tfjs: spikes at every step and final potentials`, () => {
      const c = loadGolden(file);
      const r = run();
      assertSpikesEqual(r.spikes, c.expect.spikes);
      assertPotentialsClose(r.v, c.expect.v);
      if (prefer) assert.equal(tfjsInfo().platform, prefer === 'tensorflow' ? 'node' : prefer);
    });

    test(`golden ${file} on tfjs: final weights`, () => {
      assertWeightsClose(run().weights, loadGolden(file).expect.weights);
    });

    test(`golden ${file} on tfjs: final weights agree with the native backend's`, () => {
      assertWeightsClose(run().weights, replay(loadGolden(file), { backend: 'native' }).weights);
    });
  }
}
