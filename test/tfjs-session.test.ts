/**
 * Everything a session does, on the tfjs backend, checked against native:
 * steps, deferred reward, multi-step runs, reset, weight reads and writes,
 * eligibility, and snapshots that move between the backends.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { Value } from '@sinclair/typebox/value';
import { Network, SnapshotSchema, initTfjs, type BackendName } from '../src/engine/index.js';
import { loadGolden } from './helpers/golden.js';
import { assertSameState } from './helpers/tfjs-compare.js';

before(async () => {
  await initTfjs({ prefer: process.env.TFJS_BACKEND });
});

// Three populations, a recurrent connection, all three rules, lazy and eager decay.
const chain = loadGolden('chain-20.json');

function both(seed = 3): [Network, Network] {
  return [Network.create(chain.network, { seed }), Network.create(chain.network, { seed, backend: 'tfjs' })];
}

function drive(nets: Network[], from: number, to: number, check?: (t: number) => void, opts: { defer?: boolean } = {}) {
  for (let t = from; t < to; t++) {
    const s = chain.steps[t];
    for (const net of nets) {
      if (opts.defer) {
        net.step(s.inputs, undefined, { deferReward: true });
        // Every third reward is left out: the next step completes it with 0.
        if (t % 3 !== 0) net.reward(s.reward ?? 0.5);
      } else {
        net.step(s.inputs, s.reward);
      }
    }
    check?.(t);
  }
}

describe('a session on tfjs behaves as on native', () => {
  test('steps with deferred rewards, some never sent', () => {
    const [native, tfjs] = both();
    let spikes = 0;
    drive([native, tfjs], 0, 400, (t) => {
      assertSameState(tfjs, native, `step ${t + 1}`);
      spikes += native.populationNames.reduce((n, p) => n + native.spikes(p).length, 0);
    }, { defer: true });
    assert.ok(spikes > 100, `the case should spike (${spikes} spikes)`);
    native.dispose();
    tfjs.dispose();
  });

  test('while a reward is pending the weights are those before the update, on both', () => {
    const [native, tfjs] = both();
    drive([native, tfjs], 0, 30);
    const before = tfjs.weights('B_C');
    for (const net of [native, tfjs]) net.step(chain.steps[30].inputs, undefined, { deferReward: true });
    assert.equal(tfjs.pending, true);
    assert.deepEqual(tfjs.weights('B_C'), before);
    for (const net of [native, tfjs]) net.reward(2);
    assertSameState(tfjs, native, 'after the reward');
    assert.throws(() => tfjs.reward(1), /REWARD_NOT_PENDING|no step is waiting/);
    native.dispose();
    tfjs.dispose();
  });

  test('multi-step runs with per-step inputs and rewards and a deferred last step', () => {
    const [native, tfjs] = both(11);
    const steps = 60;
    const request = {
      steps,
      inputs: { A: chain.steps.slice(0, steps).map((s) => s.inputs?.A ?? [0, 0, 0, 0]), B: 1.5 },
      reward: Array.from({ length: steps - 1 }, (_, t) => Math.sin(t)),
      deferReward: true,
    };
    const seen: number[][] = [];
    native.run(request, () => seen.push(native.spikes('A')));
    let t = 0;
    tfjs.run(request, () => assert.deepEqual(tfjs.spikes('A'), seen[t++], `run step ${t}`));
    assertSameState(tfjs, native, 'after the run');
    for (const net of [native, tfjs]) net.reward(-1);
    assertSameState(tfjs, native, 'after the deferred reward');
    native.dispose();
    tfjs.dispose();
  });

  test('reset puts state back and keeps weights; reset with weights redraws the seeded initial weights', () => {
    const [native, tfjs] = both(5);
    const fresh = Network.create(chain.network, { seed: 5, backend: 'tfjs' });
    drive([native, tfjs], 0, 100);
    const trained = tfjs.weights('A_B');
    for (const net of [native, tfjs]) net.reset();
    assert.equal(tfjs.stepCount, 0);
    assert.deepEqual(tfjs.weights('A_B'), trained);
    assert.deepEqual(tfjs.potentials('A'), fresh.potentials('A'));
    assert.deepEqual(tfjs.eligibility('B_C'), fresh.eligibility('B_C'));
    assertSameState(tfjs, native, 'after reset');
    drive([native, tfjs], 0, 50, (t) => assertSameState(tfjs, native, `step ${t + 1} after reset`));
    for (const net of [native, tfjs]) net.reset({ weights: true });
    assertSameState(tfjs, fresh, 'after reset with weights', 0);
    assertSameState(tfjs, native, 'after reset with weights');
    for (const net of [native, tfjs, fresh]) net.dispose();
  });

  test('weights written are clamped into the bounds, read back, and learned from', () => {
    const [native, tfjs] = both();
    const w = [[-1, 0.5, 9], [1, 1, 1], [0.25, 0.75, 2], [3, -3, 0]];
    for (const net of [native, tfjs]) net.setWeights('A_B', w);
    assert.deepEqual(tfjs.weights('A_B'), [[0, 0.5, 2], [1, 1, 1], [0.25, 0.75, 2], [2, 0, 0]]);
    assert.throws(() => tfjs.setWeights('A_B', [[1]]), /WEIGHTS_INVALID|must have/);
    drive([native, tfjs], 0, 100, (t) => assertSameState(tfjs, native, `step ${t + 1}`));
    native.dispose();
    tfjs.dispose();
  });

  test('weights held at a bound while decaying read back inside [w_min, w_max], on both', () => {
    // Found by the property test: native stores a clamped weight as bound /
    // decay scale and read back 3.0000000000000004 with w_max 3; tfjs holds
    // float32 and read back 0.30000001192092896 with w_max 0.3.
    for (const backend of ['native', 'tfjs'] as BackendName[]) {
      for (const [w_min, w_max] of [[0, 3], [0.1, 2.2], [0, 1.5], [0.1, 0.7], [0, 0.3]]) {
        const net = Network.create(
          { dt: 1, populations: { p: { n: 8 } }, connections: { c: { pre: 'p', post: 'p', w_min, w_max, rule: { type: 'STDP', lr: [0, 0.5], weight_decay: 0.001 } } } },
          { seed: 1, backend },
        );
        for (let t = 0; t < 200; t++) {
          net.step({ p: 20 }, 0);
          for (const v of net.weights('c').flat()) assert.ok(v >= w_min && v <= w_max, `${backend} step ${t}: ${v} outside [${w_min}, ${w_max}]`);
        }
        // A tfjs snapshot holds real weights (scale 1); native's hold stored values and a scale.
        if (backend === 'tfjs') for (const v of net.snapshot().state.connections.c.w) assert.ok(v >= w_min && v <= w_max, `snapshot: ${v}`);
        net.dispose();
      }
    }
  });

  test('eligibility: a matrix for MSTDP, null for STDP and NoOp', () => {
    const [native, tfjs] = both();
    drive([native, tfjs], 0, 40);
    const e = tfjs.eligibility('B_C');
    assert.ok(e && e.length === 3 && e[0].length === 2);
    assert.equal(tfjs.eligibility('A_B'), null);
    assertSameState(tfjs, native, 'after 40 steps');
    native.dispose();
    tfjs.dispose();
  });
});

describe('snapshots move between the backends', () => {
  for (const [from, to] of [['native', 'tfjs'], ['tfjs', 'native'], ['tfjs', 'tfjs']] as [BackendName, BackendName][]) {
    test(`taken on ${from}, restored on ${to} through JSON, it continues as the original`, () => {
      const original = Network.create(chain.network, { seed: 8, backend: from });
      drive([original], 0, 150);
      const snap = JSON.parse(JSON.stringify(original.snapshot()));
      assert.ok(Value.Check(SnapshotSchema, snap), 'the snapshot is in the shared format');
      const restored = Network.fromSnapshot(snap, { backend: to });
      assert.equal(restored.backend, to);
      assertSameState(restored, original, 'right after restore');
      drive([original, restored], 150, 400, (t) => assertSameState(restored, original, `step ${t + 1}`));
      original.dispose();
      restored.dispose();
    });
  }

  test('a snapshot taken while a reward is pending completes it the same way on the other backend', () => {
    const native = Network.create(chain.network, { seed: 2 });
    drive([native], 0, 60);
    native.step(chain.steps[60].inputs, undefined, { deferReward: true });
    const tfjs = Network.fromSnapshot(JSON.parse(JSON.stringify(native.snapshot())), { backend: 'tfjs' });
    assert.equal(tfjs.pending, true);
    for (const net of [native, tfjs]) net.reward(3);
    drive([native, tfjs], 61, 200, (t) => assertSameState(tfjs, native, `step ${t + 1}`));
    native.dispose();
    tfjs.dispose();
  });

  test('a native snapshot with a lazy decay scale restores on tfjs with the real weights', () => {
    const native = Network.create(chain.network, { seed: 2 });
    drive([native], 0, 120);
    const snap = native.snapshot();
    assert.ok(snap.state.connections.B_C.scale < 1, 'B_C decays lazily on native');
    const tfjs = Network.fromSnapshot(snap, { backend: 'tfjs' });
    const tsnap = tfjs.snapshot();
    assert.equal(tsnap.state.connections.B_C.scale, 1);
    const real = native.weightsFlat('B_C');
    tsnap.state.connections.B_C.w.forEach((w, k) => assert.ok(Math.abs(w - real[k]) < 1e-6, `B_C[${k}]`));
    assert.deepEqual(tsnap.state.connections.B_C.rule.e_pre, snap.state.connections.B_C.rule.e_pre);
    assert.deepEqual(tsnap.state.connections.B_C.rule.e_post, snap.state.connections.B_C.rule.e_post);
    assert.equal(tsnap.rng.join(), snap.rng.join());
    assert.equal(tsnap.step, 120);
    native.dispose();
    tfjs.dispose();
  });
});
