/**
 * Every golden case replayed on the tfjs backend, on the platform `prefer`
 * names (or the one chosen). At the quick depth each case runs its first
 * QUICK_STEPS steps: their spikes against the case's, the potentials and
 * weights then against the native backend's after the same steps (the
 * native backend's full runs are checked against the cases by
 * engine-golden). A tfjs step costs tens of times a native one.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { initTfjs, replay, tfjsInfo } from '../../src/engine/index.js';
import { atDepth } from './fuzz.js';
import { assertPotentialsClose, assertSpikesEqual, assertWeightsClose, goldenFiles, loadGolden } from './golden.js';

const QUICK_STEPS = 100;

export function goldenOnTfjs(prefer: string | undefined): void {
  before(async () => {
    await initTfjs({ prefer });
  });

  const files = goldenFiles();

  test('the golden directory has cases', () => {
    assert.ok(files.length > 0, 'no golden cases found');
  });

  for (const file of files) {
    const whole = loadGolden(file);
    const steps = Math.min(whole.steps.length, atDepth(whole.steps.length, QUICK_STEPS));
    const full = steps === whole.steps.length;
    const input = full ? whole : { ...whole, steps: whole.steps.slice(0, steps) };
    // One replay per case (and one native replay): spikes, potentials and weights are checked on them.
    let result: ReturnType<typeof replay> | undefined;
    let native: ReturnType<typeof replay> | undefined;
    const run = () => (result ??= replay(input, { backend: 'tfjs' }));
    const onNative = () => (native ??= replay(input, { backend: 'native' }));
    const expectedSpikes = Object.fromEntries(Object.entries(whole.expect.spikes).map(([p, s]) => [p, s.slice(0, steps)])) as typeof whole.expect.spikes;
    const of = full ? '' : ` (its first ${steps} steps)`;

    test(`golden ${file}${of} on tfjs: spikes at every step and ${full ? 'final ' : ''}potentials`, () => {
      const r = run();
      assertSpikesEqual(r.spikes, expectedSpikes);
      assertPotentialsClose(r.v, full ? whole.expect.v : onNative().v);
      if (prefer) assert.equal(tfjsInfo().platform, prefer === 'tensorflow' ? 'node' : prefer);
    });

    if (full) {
      test(`golden ${file} on tfjs: final weights`, () => {
        assertWeightsClose(run().weights, whole.expect.weights);
      });
    }

    test(`golden ${file}${of} on tfjs: ${full ? 'final ' : ''}weights agree with the native backend's`, () => {
      assertWeightsClose(run().weights, onNative().weights);
    });
  }
}
