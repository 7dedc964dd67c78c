/** Snapshots, reset, deferred reward and weight access: what sessions are built on. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Network, SNAPSHOT_VERSION } from '../src/engine/index.js';
import { VALUES_PER_PAUSE } from '../src/engine/pause.js';
import { SpikeserveError } from '../src/errors.js';
import { loadGolden } from './helpers/golden.js';

const chain = loadGolden('chain-20.json');

function chainNet(seed = 3) {
  return Network.create(chain.network, { seed });
}

function drive(net: Network, from: number, to: number, opts: { defer?: boolean } = {}) {
  const spikes: number[][][] = [];
  for (let t = from; t < to; t++) {
    const s = chain.steps[t];
    if (opts.defer) {
      net.step(s.inputs, undefined, { deferReward: true });
      net.reward(s.reward ?? 0);
    } else {
      net.step(s.inputs, s.reward);
    }
    spikes.push(net.populationNames.map((p) => net.spikes(p)));
  }
  return spikes;
}

function fullState(net: Network) {
  return {
    step: net.stepCount,
    pending: net.pending,
    v: net.populationNames.map((p) => Array.from(net.potentials(p))),
    traces: net.populationNames.map((p) => Array.from(net.traces(p))),
    refrac: net.populationNames.map((p) => Array.from(net.refractory(p))),
    w: net.connectionNames.map((c) => net.weights(c)),
    e: net.connectionNames.map((c) => net.eligibility(c)),
  };
}

describe('snapshot', () => {
  test('restore continues bit for bit as the original (through JSON)', () => {
    const a = chainNet();
    drive(a, 0, 150);
    const snap = JSON.parse(JSON.stringify(a.snapshot()));
    const b = Network.fromSnapshot(snap);
    assert.deepEqual(fullState(b), fullState(a));
    const sa = drive(a, 150, 400);
    const sb = drive(b, 150, 400);
    assert.deepEqual(sb, sa);
    assert.deepEqual(fullState(b), fullState(a)); // exact equality, not a tolerance
  });

  test('a snapshot taken while an update is pending completes it the same way', () => {
    const a = chainNet();
    drive(a, 0, 50);
    a.step(chain.steps[50].inputs, undefined, { deferReward: true });
    const b = Network.fromSnapshot(JSON.parse(JSON.stringify(a.snapshot())));
    assert.equal(b.pending, true);
    a.reward(0.7);
    b.reward(0.7);
    assert.deepEqual(drive(b, 51, 120), drive(a, 51, 120));
    assert.deepEqual(fullState(b), fullState(a));
  });

  test('a snapshot keeps the decay scale, seed and generator', () => {
    const a = chainNet(99);
    drive(a, 0, 30);
    const snap = a.snapshot();
    assert.equal(snap.version, SNAPSHOT_VERSION);
    assert.equal(snap.seed, 99);
    assert.equal(snap.step, 30);
    assert.ok(snap.state.connections.B_C.scale < 1, 'B_C decays lazily');
    const b = Network.fromSnapshot(snap);
    b.reset({ weights: true });
    a.reset({ weights: true });
    assert.deepEqual(fullState(b), fullState(a));
  });

  test('an unknown version is refused with a clear error', () => {
    const snap = { ...chainNet().snapshot(), version: 99 };
    assert.throws(() => Network.fromSnapshot(snap), (e: SpikeserveError) => {
      assert.equal(e.code, 'SNAPSHOT_VERSION_UNSUPPORTED');
      assert.match(e.message, /reads snapshot versions 1 and 2, not 99/);
      return true;
    });
  });

  test('inconsistent snapshots are refused naming the field', () => {
    const cases: [string, (s: any) => void, RegExp][] = [
      ['wrong format', (s) => (s.format = 'other'), /snapshot\.format: must be "spikeserve-snapshot"/],
      ['short v', (s) => s.state.populations.A.v.pop(), /snapshot\.state\.populations\.A\.v: must have 4 entries, got 3/],
      ['weights of the wrong size', (s) => s.state.connections.A_B.w.push(1), /snapshot\.state\.connections\.A_B\.w: must have 12 entries/],
      ['spike index out of range', (s) => (s.state.populations.B.spikes = [7]), /spikes: must list distinct neuron indices below 3/],
      ['missing MSTDP state', (s) => delete s.state.connections.B_C.rule.p_plus, /B_C\.rule\.p_plus: must have 3 entries/],
      ['bad rng', (s) => (s.rng = [0, 0, 0, 0]), /snapshot\.rng: random generator state must not be all zero/],
      ['a population not in the network', (s) => (s.state.populations.Z = s.state.populations.A), /populations\.Z: not in the network/],
      ['negative scale', (s) => (s.state.connections.A_B.scale = -1), /scale/],
      ['invalid network', (s) => (s.network.dt = -1), /snapshot\.network\.dt/],
    ];
    for (const [what, mutate, message] of cases) {
      const snap = JSON.parse(JSON.stringify(chainNet().snapshot()));
      mutate(snap);
      assert.throws(() => Network.fromSnapshot(snap), (e: SpikeserveError) => {
        assert.ok(['SNAPSHOT_INVALID', 'SPEC_INVALID'].includes(e.code), `${what}: code ${e.code}`);
        assert.match(e.message, message, what);
        return true;
      }, what);
    }
  });

  test('restore pauses while it copies a large snapshot\'s weights in, as while it checks them', () => {
    // What a server does between two pauses is all another request waits for.
    const n = 400;
    const a = Network.create({ populations: { pre: { n }, post: { n } }, connections: { pp: { pre: 'pre', post: 'post' } } }, { seed: 5 });
    // Its vectors as Float64Arrays, as a binary snapshot's are decoded.
    const snap = a.snapshotTyped();
    const w = snap.state.connections.pp.w;
    let reads = 0;
    // The weights as an array that counts the numbers read from it, one by one or as a slice.
    snap.state.connections.pp.w = new Proxy(w, {
      get(target, key) {
        if (typeof key === 'string' && /^\d+$/.test(key)) {
          reads++;
          return target[Number(key)];
        }
        if (key === 'subarray') {
          return (from: number, to: number) => {
            reads += to - from;
            return target.subarray(from, to);
          };
        }
        return Reflect.get(target, key, target);
      },
    });
    const steps = Network.restore(snap);
    let most = 0;
    let b: Network;
    for (;;) {
      reads = 0;
      const r = steps.next();
      most = Math.max(most, reads);
      if (r.done) {
        b = r.value;
        break;
      }
    }
    // The checks read each number twice (its two bounds).
    assert.ok(most <= 2 * VALUES_PER_PAUSE, `${most} weights read between two pauses (${n * n} in all)`);
    assert.deepEqual(b.weights('pp'), a.weights('pp'));
  });
});

describe('deferred reward', () => {
  test('deferring every reward gives the same trajectory as rewarding with the step', () => {
    const a = chainNet();
    const b = chainNet();
    assert.deepEqual(drive(b, 0, 400, { defer: true }), drive(a, 0, 400));
    assert.deepEqual(fullState(b), fullState(a));
  });

  test('while pending, weights are those before the update; the spikes are the step\'s', () => {
    const a = chainNet();
    const b = chainNet();
    drive(a, 0, 20);
    drive(b, 0, 20);
    const before = b.weights('B_C');
    b.step(chain.steps[20].inputs, undefined, { deferReward: true });
    a.step(chain.steps[20].inputs, chain.steps[20].reward);
    assert.equal(b.pending, true);
    assert.equal(b.stepCount, 21);
    assert.deepEqual(b.weights('B_C'), before);
    assert.deepEqual(b.spikes('B'), a.spikes('B'));
  });

  test('a pending update with no reward is completed with reward 0 by the next step', () => {
    const a = chainNet();
    const b = chainNet();
    a.step(chain.steps[0].inputs, 0);
    b.step(chain.steps[0].inputs, undefined, { deferReward: true });
    a.step(chain.steps[1].inputs, 0.5);
    b.step(chain.steps[1].inputs, 0.5);
    assert.equal(b.pending, false);
    assert.deepEqual(fullState(b), fullState(a));
  });

  test('a reward with nothing pending is refused and changes nothing', () => {
    const net = chainNet();
    net.step(chain.steps[0].inputs);
    const before = fullState(net);
    assert.throws(() => net.reward(1), (e: SpikeserveError) => e.code === 'REWARD_NOT_PENDING' && /no step is waiting for a reward/.test(e.message));
    assert.deepEqual(fullState(net), before);
  });

  test('a reward and deferReward together are refused', () => {
    assert.throws(() => chainNet().step({}, 1, { deferReward: true }), /reward: give a reward with the step or defer it, not both/);
  });

  test('in a multi-step run only the last step is deferred', () => {
    const a = chainNet();
    const b = chainNet();
    const inputs = { A: chain.steps.slice(0, 5).map((s) => s.inputs!.A) };
    a.run({ steps: 5, inputs, reward: [1, 2, 3, 4, 5] });
    b.run({ steps: 5, inputs, reward: [1, 2, 3, 4], deferReward: true });
    assert.equal(b.pending, true);
    b.reward(5);
    assert.deepEqual(fullState(b), fullState(a));
  });
});

describe('multi-step runs', () => {
  test('inputs held for every step equal the same input given step by step', () => {
    const a = chainNet();
    const b = chainNet();
    a.run({ steps: 30, inputs: { A: [2, 2, 0, 1] }, reward: 0.5 });
    for (let t = 0; t < 30; t++) b.step({ A: [2, 2, 0, 1] }, 0.5);
    assert.deepEqual(fullState(a), fullState(b));
  });

  test('a number input is given to every neuron', () => {
    const a = chainNet();
    const b = chainNet();
    a.run({ steps: 10, inputs: { A: 1.5 } });
    b.run({ steps: 10, inputs: { A: [1.5, 1.5, 1.5, 1.5] } });
    assert.deepEqual(fullState(a), fullState(b));
  });

  test('an invalid step anywhere in a run is refused before any step runs', () => {
    const net = chainNet();
    const before = fullState(net);
    const perStep = chain.steps.slice(0, 5).map((s) => s.inputs!.A.slice());
    perStep[3][2] = Number.NaN;
    assert.throws(() => net.run({ steps: 5, inputs: { A: perStep } }), /inputs\.A\[3\]\[2\]: must be a finite number/);
    assert.throws(() => net.run({ steps: 5, reward: [1, 2] }), /reward: one reward per step: expected 5, got 2/);
    assert.throws(() => net.run({ steps: 0 }), /steps: must be a whole number >= 1/);
    assert.throws(() => net.prepareRun({ steps: 11 }, 10), (e: SpikeserveError) => e.code === 'LIMIT_EXCEEDED' && /11 exceeds the limit of 10 steps per call/.test(e.message));
    assert.deepEqual(fullState(net), before);
  });
});

describe('reset', () => {
  test('puts potentials, traces, refractory counters, eligibility and time back; keeps weights', () => {
    const net = chainNet();
    const fresh = chainNet();
    drive(net, 0, 100);
    const w = net.connectionNames.map((c) => net.weights(c));
    net.reset();
    const s = fullState(net);
    assert.deepEqual({ ...s, w: undefined }, { ...fullState(fresh), w: undefined });
    assert.deepEqual(s.w, w);
  });

  test('with weights: true, also the initial weights', () => {
    const net = chainNet();
    drive(net, 0, 100);
    net.reset({ weights: true });
    assert.deepEqual(fullState(net), fullState(chainNet()));
    assert.deepEqual(drive(net, 0, 50), drive(chainNet(), 0, 50));
  });

  test('discards a pending update', () => {
    const net = chainNet();
    net.step(chain.steps[0].inputs, undefined, { deferReward: true });
    net.reset();
    assert.equal(net.pending, false);
    assert.throws(() => net.reward(1), /no step is waiting/);
  });
});

describe('weights', () => {
  test('a write is clamped into the bounds and read back', () => {
    const net = chainNet();
    net.setWeights('C_B', [[-5, -0.5, 3], [0, -1, -0.25]]);
    assert.deepEqual(net.weights('C_B'), [[-1, -0.5, 0], [0, -1, -0.25]]);
  });

  test('a write with the wrong shape or a non-finite number is refused and changes nothing', () => {
    const net = chainNet();
    const before = net.weights('A_B');
    const bad: [unknown, RegExp][] = [
      [[[1, 1, 1]], /weights: must have 4 rows \(one per pre neuron\), got 1/],
      [[[1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]], /weights\[0\]: must have 3 columns \(one per post neuron\), got 2/],
      [[[1, 1, 1], [1, Infinity, 1], [1, 1, 1], [1, 1, 1]], /weights\[1\]\[1\]: must be a finite number/],
      ['nope', /weights: must be an array of 4 rows/],
    ];
    for (const [w, message] of bad) {
      assert.throws(() => net.setWeights('A_B', w), (e: SpikeserveError) => e.code === 'WEIGHTS_INVALID' && message.test(e.message));
    }
    assert.deepEqual(net.weights('A_B'), before);
    assert.throws(() => net.weights('nope'), (e: SpikeserveError) => e.code === 'CONNECTION_NOT_FOUND' && /has A_B, B_C, C_B/.test(e.message));
  });

  test('a write during a lazily decaying run is exact', () => {
    const net = chainNet();
    drive(net, 0, 40);
    const w = [[1.5, 0.25], [0.5, 2.5], [0, 1]];
    net.setWeights('B_C', w);
    assert.deepEqual(net.weights('B_C'), w);
  });
});
