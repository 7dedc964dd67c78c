/** Each equation of model.md on small hand-computed cases. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Network } from '../src/engine/index.js';
import { Rng } from '../src/engine/random.js';

const close = (a: number, b: number, what: string, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${what}: got ${a}, expected ${b}`);

function single(pop: Record<string, unknown> = {}, dt = 0.1) {
  return Network.create({ dt, populations: { a: { n: 1, ...pop } } });
}

describe('LIF population', () => {
  test('membrane integrates toward rest + R*x with time constant tau_s', () => {
    const net = single();
    net.step({ a: [1] });
    // v = -62 + ((-(v - rest) + R x) dt / tau) = -62 + (20 * 0.1) / 10
    close(net.potentials('a')[0], -61.8, 'v after one step');
    net.step({ a: [1] });
    close(net.potentials('a')[0], -61.8 + ((-(-61.8 + 62) + 20) * 0.1) / 10, 'v after two steps');
    net.step();
    const v2 = -61.8 + ((-(-61.8 + 62) + 20) * 0.1) / 10;
    close(net.potentials('a')[0], v2 + (-(v2 + 62) * 0.1) / 10, 'v decays toward rest without input');
  });

  test('defaults are SynapticFlow\'s', () => {
    const net = single();
    assert.deepEqual(net.spec.populations.a, {
      n: 1, threshold: -52, rest_pot: -62, reset_pot: -62, refrac_length: 5, tau_s: 10, R: 20,
      lower_bound: null, additive_spike_trace: false, trace_scale: 1,
    });
    assert.equal(net.spec.dt, 0.1);
    close(net.potentials('a')[0], -62, 'v starts at rest_pot');
  });

  test('spike at v >= threshold, reset to reset_pot, refractory for refrac_length', () => {
    // dt 0.5, refrac 1: spike at step 1; steps 2 and 3 do not integrate; step 4 does and spikes again.
    const net = single({ refrac_length: 1, reset_pot: -70 }, 0.5);
    const fired: boolean[] = [];
    const v: number[] = [];
    for (let t = 0; t < 4; t++) {
      net.step({ a: [100] });
      fired.push(net.spikes('a').length === 1);
      v.push(net.potentials('a')[0]);
    }
    assert.deepEqual(fired, [true, false, false, true]);
    assert.deepEqual(v.slice(0, 3), [-70, -70, -70]);
    assert.deepEqual(Array.from(net.refractory('a')), [1]);
  });

  test('refractory counter keeps counting down below 0 when idle', () => {
    const net = single({ refrac_length: 0 }, 0.5);
    net.step();
    net.step();
    assert.deepEqual(Array.from(net.refractory('a')), [-1]);
  });

  test('threshold is inclusive', () => {
    // x chosen so that v lands exactly on the threshold: -62 + 20 x (1/10) = -52 for x = 5, dt 1.
    const net = Network.create({ dt: 1, populations: { a: { n: 1 } } });
    net.step({ a: 5 });
    assert.deepEqual(net.spikes('a'), [0]);
  });

  test('lower_bound floors v', () => {
    const net = single({ lower_bound: -63 }, 1);
    net.step({ a: [-10] }); // unbounded: -62 + (20 * -10) / 10 = -82
    close(net.potentials('a')[0], -63, 'v floored');
    const free = single({}, 1);
    free.step({ a: [-10] });
    close(free.potentials('a')[0], -82, 'v without a floor');
  });

  test('traces are set to 1 on a spike and decay by exp(-dt/tau_s)', () => {
    const net = single({ refrac_length: 0 }, 1);
    net.step({ a: [100] });
    close(net.traces('a')[0], 1, 'trace after a spike');
    net.step();
    close(net.traces('a')[0], Math.exp(-0.1), 'trace one step later');
    net.step({ a: [100] });
    close(net.traces('a')[0], 1, 'set, not added, on the next spike');
  });

  test('additive traces add trace_scale per spike', () => {
    const net = single({ refrac_length: 0, additive_spike_trace: true, trace_scale: 0.5 }, 1);
    net.step({ a: [100] });
    close(net.traces('a')[0], 0.5, 'trace after one spike');
    net.step({ a: [100] });
    close(net.traces('a')[0], 0.5 * Math.exp(-0.1) + 0.5, 'trace after two spikes');
  });
});

describe('connections', () => {
  test('a connection delivers sum_i s_pre[i] w[i][j], from the same step when pre comes first', () => {
    const net = Network.create({
      dt: 1,
      populations: { a: { n: 2, refrac_length: 0 }, b: { n: 2, refrac_length: 0 } },
      connections: { ab: { pre: 'a', post: 'b', w: [[0.1, 0.2], [0.3, 0.4]] } },
    });
    net.step({ a: [100, 100] });
    // b receives [0.1+0.3, 0.2+0.4] in the same step: v = -62 + 20 x / 10
    close(net.potentials('b')[0], -62 + 0.8, 'b[0]');
    close(net.potentials('b')[1], -62 + 1.2, 'b[1]');
  });

  test('a connection from a later population delivers the previous step\'s spikes (recurrent delay)', () => {
    const net = Network.create({
      dt: 1,
      populations: { a: { n: 1, refrac_length: 0 }, b: { n: 1, refrac_length: 0 } },
      connections: { ba: { pre: 'b', post: 'a', w_max: 10, w: [[2]] } },
    });
    net.step({ b: [100] });
    close(net.potentials('a')[0], -62, 'a gets nothing in the step b spikes');
    net.step();
    close(net.potentials('a')[0], -62 + 4, 'a gets b\'s spike one step later');
  });

  test('initial weights are clamped into [w_min, w_max]', () => {
    const net = Network.create({
      populations: { a: { n: 1 }, b: { n: 2 } },
      connections: { ab: { pre: 'a', post: 'b', w_min: -1, w_max: 1, w: [[-5, 5]] } },
    });
    assert.deepEqual(net.weights('ab'), [[-1, 1]]);
  });

  test('random initial weights are uniform in [w_min, w_max] and fixed by the seed', () => {
    const spec = { populations: { a: { n: 50 }, b: { n: 40 } }, connections: { ab: { pre: 'a', post: 'b', w_min: -2, w_max: 3 } } };
    const w1 = Network.create(spec, { seed: 7 }).weights('ab').flat();
    const w2 = Network.create(spec, { seed: 7 }).weights('ab').flat();
    const w3 = Network.create(spec, { seed: 8 }).weights('ab').flat();
    assert.deepEqual(w1, w2);
    assert.notDeepEqual(w1, w3);
    assert.ok(w1.every((x) => x >= -2 && x <= 3));
    const mean = w1.reduce((a, b) => a + b, 0) / w1.length;
    close(mean, 0.5, 'mean of 2000 uniform draws', 0.15);
  });

  test('the seeded generator draws the same numbers on every machine', () => {
    // Pinned values: a change here changes every user's default network.
    const w = Network.create({ populations: { a: { n: 1 }, b: { n: 3 } }, connections: { ab: { pre: 'a', post: 'b' } } }, { seed: 42 }).weights('ab')[0];
    assert.deepEqual(w.map((x) => Number(x.toFixed(12))), PINNED_SEED_42);
  });
});

test('the generator is xoshiro128** (reference sequence from state [1, 2, 3, 4])', () => {
  const r = Rng.fromState([1, 2, 3, 4]);
  assert.deepEqual([1, 2, 3, 4, 5].map(() => r.nextUint32()), [11520, 0, 5927040, 70819200, 2031721883]);
});

// Recorded from this implementation (xoshiro128** seeded by splitmix32).
const PINNED_SEED_42 = [0.6606157208, 0.111701963953, 0.079105645614];

function pair(rule: Record<string, unknown>, w0: number, bounds: { w_min?: number; w_max?: number } = {}) {
  return Network.create({
    dt: 1,
    populations: { pre: { n: 1, refrac_length: 0 }, post: { n: 1, refrac_length: 0 } },
    connections: { c: { pre: 'pre', post: 'post', w: [[w0]], ...bounds, rule } },
  });
}

describe('STDP', () => {
  // Spike schedule: both at step 1, none at 2, pre at 3, post at 4. Post's
  // input at step 3 (w ~ 0.5 from pre) stays far below threshold.
  const schedule: Record<string, number[]>[] = [{ pre: [100], post: [100] }, {}, { pre: [100] }, { post: [100] }];
  const d = Math.exp(-0.1);

  test('hard bounds: w += lr1 * x_pre * s_post - lr0 * s_pre * x_post', () => {
    const lr = [0.01, 0.02];
    const net = pair({ type: 'STDP', lr }, 0.5);
    for (const x of schedule) net.step(x);
    let w = 0.5 + lr[1] - lr[0]; // simultaneous spikes count for both, traces include them
    w -= lr[0] * d * d; // pre spike two steps after post
    w += lr[1] * d; // post spike one step after pre
    close(net.weights('c')[0][0], w, 'w');
  });

  test('soft bounds scale potentiation by the room above and depression by the room below', () => {
    const lr = [0.1, 0.2];
    const net = pair({ type: 'STDP', lr, boundary: 'soft' }, 0.5);
    for (const x of schedule) net.step(x);
    let w = 0.5 + lr[1] * (1 - 0.5) - lr[0] * 0.5;
    w = w - lr[0] * d * d * w;
    w = w + lr[1] * d * (1 - w);
    close(net.weights('c')[0][0], w, 'w');
  });

  test('hard bounds clamp', () => {
    const net = pair({ type: 'STDP', lr: [0, 5] }, 0.9);
    net.step({ pre: [100], post: [100] });
    assert.equal(net.weights('c')[0][0], 1);
  });

  test('a number lr means [a, a]', () => {
    assert.deepEqual(pair({ type: 'stdp', lr: 0.3 }, 0.5).spec.connections.c.rule.lr, [0.3, 0.3]);
  });

  test('reduction (batch of one) changes nothing', () => {
    const a = pair({ type: 'STDP', lr: [0.01, 0.02], reduction: 'sum' }, 0.5);
    const b = pair({ type: 'STDP', lr: [0.01, 0.02], reduction: 'mean' }, 0.5);
    for (const x of schedule) {
      a.step(x);
      b.step(x);
    }
    assert.deepEqual(a.weights('c'), b.weights('c'));
  });
});

describe('MSTDP', () => {
  // Pre spikes at step 1, post at step 2; reward r_t at step t.
  test('dw = lr0 * r_t * e_(t-1): the reward of a step modulates the previous step\'s eligibility', () => {
    const net = pair({ type: 'MSTDP', lr: 0.1, tc_plus: 20, tc_minus: 20 }, 0.5);
    net.step({ pre: [100] }, 1); // e0 = 0; p+ = 1; e1 = outer(p+, s_post=0) + outer(s_pre, p-=0) = 0
    close(net.weights('c')[0][0], 0.5, 'after step 1');
    net.step({ post: [100] }, 2); // dw = 0.1*2*e1 = 0; p+ = e^-0.05, p- = -1; e2 = p+ * 1 = e^-0.05
    close(net.weights('c')[0][0], 0.5, 'after step 2');
    assert.deepEqual(net.eligibility('c'), [[Math.exp(-1 / 20)]]);
    net.step({}, 3); // dw = 0.1 * 3 * e2
    close(net.weights('c')[0][0], 0.5 + 0.1 * 3 * Math.exp(-1 / 20), 'after step 3');
    net.step({}, 5); // e3 = 0
    close(net.weights('c')[0][0], 0.5 + 0.1 * 3 * Math.exp(-1 / 20), 'after step 4');
  });

  test('a pre spike after post activity builds negative eligibility', () => {
    const net = pair({ type: 'MSTDP', lr: 0.1, a_minus: -2 }, 0.5);
    net.step({ post: [100] }); // p- = -2
    net.step({ pre: [100] }); // e = s_pre * p- = -2 e^-0.05
    net.step({}, 1);
    close(net.weights('c')[0][0], 0.5 - 0.1 * 2 * Math.exp(-1 / 20), 'w');
  });

  test('defaults: tc_plus 20, tc_minus 20, a_plus 1, a_minus -1', () => {
    const r = pair({ type: 'MSTDP' }, 0.5).spec.connections.c.rule;
    assert.deepEqual([r.tc_plus, r.tc_minus, r.a_plus, r.a_minus], [20, 20, 1, -1]);
  });
});

describe('weight decay', () => {
  test('NoOp: only decay and bounds act (lazy scale, 0 within bounds)', () => {
    const net = pair({ type: 'NoOp', weight_decay: 0.1 }, 0.5);
    for (let t = 0; t < 3; t++) net.step();
    close(net.weights('c')[0][0], 0.5 * 0.9 ** 3, 'w');
  });

  test('eager decay clamps at w_min when the bounds exclude 0', () => {
    const net = pair({ type: 'NoOp', weight_decay: 0.1 }, 0.5, { w_min: 0.2, w_max: 1 });
    for (let t = 0; t < 8; t++) net.step();
    close(net.weights('c')[0][0], 0.5 * 0.9 ** 8, 'before the floor');
    net.step();
    assert.equal(net.weights('c')[0][0], 0.2);
  });

  test('eager decay toward a negative ceiling', () => {
    const net = pair({ type: 'NoOp', weight_decay: 0.5 }, -1, { w_min: -2, w_max: -0.3 });
    net.step();
    close(net.weights('c')[0][0], -0.5 * 1, 'one step');
    net.step();
    assert.equal(net.weights('c')[0][0], -0.3);
  });

  test('weight_decay 1 zeroes the weights', () => {
    const net = pair({ type: 'NoOp', weight_decay: 1 }, 0.5);
    net.step();
    assert.equal(net.weights('c')[0][0], 0);
  });

  test('decay composes with STDP updates on the touched synapses', () => {
    const lr = [0.01, 0.02];
    const net = pair({ type: 'STDP', lr, weight_decay: 0.01 }, 0.5);
    net.step({ pre: [100], post: [100] });
    const w1 = (0.5 + lr[1] - lr[0]) * 0.99;
    close(net.weights('c')[0][0], w1, 'after the pair');
    net.step();
    close(net.weights('c')[0][0], w1 * 0.99, 'decay only');
  });

  test('a decay scale that would underflow is folded back without losing weights', () => {
    const net = Network.create({
      dt: 1,
      populations: { pre: { n: 2, refrac_length: 0 }, post: { n: 1, refrac_length: 0 } },
      connections: { c: { pre: 'pre', post: 'post', w: [[0.5], [0.5]], rule: { type: 'STDP', lr: [0, 0.5], weight_decay: 0.9 } } },
    });
    for (let t = 0; t < 400; t++) net.step(t % 10 === 0 ? { pre: [100, 0], post: [100] } : {});
    const w = net.weights('c').flat();
    assert.ok(w.every((x) => Number.isFinite(x) && x >= 0 && x <= 1), `weights ${w}`);
    // Last pair at t = 390: w[0] = (w + 0.5 (1?)...) then 9 decays; only finite and in range is asserted here;
    // the differential test against the dense reference checks the values.
    assert.ok(w[0] > 0, 'the touched weight is not lost to underflow');
  });
});
