/**
 * The step is the hot path: once warm it allocates nothing, for every rule,
 * bound and decay mode. Measured with V8's sampling heap profiler; the bound
 * allows sampling noise but not one heap number per step (16 bytes), which is
 * what a boxed double in the loop costs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Network } from '../src/engine/index.js';
import { bytesAllocated } from './helpers/allocation.js';
import { atDepth } from './helpers/fuzz.js';

/** Measured runs at most: each also gives the optimising compiler more time (on a loaded machine it lags). */
const ATTEMPTS = 8;
/**
 * Steps a measured run takes (a batch's, and the 300 -> 200 network's, twice
 * as many): one heap number a step is 16 bytes a step however many steps are
 * sampled, so the quick depth samples fewer. The warm-up is WARM_UP runs, the
 * same number of steps at either depth.
 */
const STEPS = atDepth(10_000, 2_500);
const WARM_UP = 10_000 / STEPS;

const rules = [
  { type: 'NoOp' },
  { type: 'NoOp', weight_decay: 0.01 },
  { type: 'STDP', lr: [0.001, 0.002] },
  { type: 'STDP', lr: [0.001, 0.002], boundary: 'soft', weight_decay: 0.001 },
  { type: 'MSTDP', lr: 0.01 },
  { type: 'MSTDP', lr: 0.01, boundary: 'soft', weight_decay: 0.001 },
  { type: 'MSTDPET', lr: 0.01 },
  { type: 'MSTDPET', lr: 0.01, boundary: 'soft', weight_decay: 0.001, tc_e_trace: 5 },
];

for (const rule of rules) {
  for (const bounds of [[0, 1], [0.1, 1]]) {
    test(`a step allocates nothing: ${JSON.stringify(rule)}, bounds ${JSON.stringify(bounds)}`, async () => {
      const net = Network.create(
        {
          dt: 0.1,
          populations: { pre: { n: 100, refrac_length: 0 }, post: { n: 50, refrac_length: 1, reset_pot: -65.5, lower_bound: -70 } },
          connections: {
            ff: { pre: 'pre', post: 'post', w_min: bounds[0], w_max: bounds[1], rule },
            rec: { pre: 'post', post: 'pre', w_min: -0.5, w_max: 0, rule: { type: 'NoOp' } },
          },
        },
        { seed: 1 },
      );
      const pre = new Float64Array(100);
      pre[3] = 100;
      pre[50] = 100;
      const inputs = { pre, post: 30 };
      const steps = STEPS;
      // Two call sites with constant rewards, so the caller boxes nothing and
      // only the engine's own allocations are counted.
      const run = () => {
        for (let t = 0; t < steps; t++) {
          if (t & 1) net.step(inputs, 0.5);
          else net.step(inputs, -1);
        }
      };
      for (let k = 0; k < WARM_UP; k++) run(); // warm the JIT
      // The optimising compiler runs on a background thread: on a busy machine
      // (the other test files run in parallel) it may not be done after the
      // warm-up, and unoptimised code boxes doubles. The best of up to
      // ATTEMPTS runs is the optimised step's; an allocation of its own shows
      // in every run.
      let bytes = Infinity;
      for (let attempt = 0; attempt < ATTEMPTS && bytes / steps >= 8; attempt++) bytes = Math.min(bytes, await bytesAllocated(run));
      assert.ok(bytes / steps < 8, `${(bytes / steps).toFixed(2)} bytes allocated per step`);
    });
  }
}

test('a step allocates nothing where populations step in WebAssembly (MSTDP, 300 -> 200)', async () => {
  const net = Network.create(
    {
      dt: 0.1,
      populations: { pre: { n: 300, refrac_length: 0 }, post: { n: 200, refrac_length: 1, lower_bound: -70 } },
      connections: { ff: { pre: 'pre', post: 'post', w_min: 0, w_max: 1, rule: { type: 'MSTDP', lr: 0.01 } } },
    },
    { seed: 1 },
  );
  const pre = new Float64Array(300);
  for (let i = 0; i < 300; i += 37) pre[i] = 100;
  const inputs = { pre };
  const steps = 2 * STEPS;
  const run = () => {
    for (let t = 0; t < steps; t++) {
      if (t & 1) net.step(inputs, 0.5);
      else net.step(inputs, -1);
    }
  };
  for (let k = 0; k < WARM_UP; k++) run();
  let bytes = Infinity;
  for (let attempt = 0; attempt < ATTEMPTS && bytes / steps >= 8; attempt++) bytes = Math.min(bytes, await bytesAllocated(run));
  assert.ok(bytes / steps < 8, `${(bytes / steps).toFixed(2)} bytes allocated per step`);
});

for (const rule of [{ type: 'STDP', lr: [0.001, 0.002], weight_decay: 0.001 }, { type: 'MSTDP', lr: 0.01, reduction: 'mean' }, { type: 'MSTDPET', lr: 0.01 }]) {
  test(`a step of a batch allocates nothing once its call is checked: 4 copies, ${JSON.stringify(rule)}`, async () => {
    const net = Network.create(
      {
        dt: 0.1,
        batch_size: 4,
        populations: { pre: { n: 100, refrac_length: 0 }, post: { n: 50, refrac_length: 1, lower_bound: -70 } },
        connections: { ff: { pre: 'pre', post: 'post', w_min: 0, w_max: 1, rule } },
      },
      { seed: 1 },
    );
    // Each copy its own input, held for the call; a reward per copy per step.
    const pre = Array.from({ length: 4 }, (_, b) => Array.from({ length: 100 }, (_, i) => (i % (7 + b) === 0 ? 100 : 0)));
    const steps = STEPS;
    const total = (WARM_UP + ATTEMPTS) * steps;
    const reward = Array.from({ length: total }, (_, t) => [0.5, -1, 0, t & 1]);
    const plan = net.prepareRun({ steps: total, inputs: { pre }, reward });
    let at = 0;
    const run = () => {
      net.runSlice(plan, at, at + steps);
      at += steps;
    };
    for (let k = 0; k < WARM_UP; k++) run();
    let bytes = Infinity;
    for (let attempt = 0; attempt < ATTEMPTS && bytes / steps >= 8; attempt++) bytes = Math.min(bytes, await bytesAllocated(run));
    assert.ok(bytes / steps < 8, `${(bytes / steps).toFixed(2)} bytes allocated per step`);
  });
}
