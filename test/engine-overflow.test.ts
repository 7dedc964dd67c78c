/**
 * No accepted spec, input, reward or snapshot makes a network's state
 * non-finite: the native backend by bounds on what comes in (bounds.ts), the
 * tfjs backend (float32) by refusing and undoing the step that overflows.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { Network, initTfjs, type BackendName } from '../src/engine/index.js';
import { SpikeserveError } from '../src/errors.js';
import { lcg } from './helpers/bits.js';

before(async () => {
  await initTfjs({ prefer: 'cpu' });
});

function code(fn: () => unknown): { code: string; message: string; details?: Record<string, unknown> } {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof SpikeserveError, `expected a SpikeserveError, got ${String(e)}`);
    return { code: e.code, message: e.message, details: e.details };
  }
  assert.fail('expected an error');
}

/** Every number a client can read from the network. */
function allFinite(net: Network): string | null {
  for (const p of net.populationNames) {
    for (const [what, a] of [['v', net.potentials(p)], ['traces', net.traces(p)], ['refrac', net.refractory(p)]] as const) {
      for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return `${what} of ${p}[${i}] is ${a[i]}`;
    }
  }
  for (const c of net.connectionNames) {
    const w = net.weightsFlat(c);
    for (let k = 0; k < w.length; k++) if (!Number.isFinite(w[k])) return `w of ${c}[${k}] is ${w[k]}`;
    const e = net.eligibility(c);
    if (e) for (const row of e) for (const x of row) if (!Number.isFinite(x)) return `eligibility of ${c} is ${x}`;
    const et = net.eligibilityTrace(c);
    if (et) for (const row of et) for (const x of row) if (!Number.isFinite(x)) return `eligibility trace of ${c} is ${x}`;
  }
  return null;
}

test('the red-team reproducer: R = 1e300 is refused, naming the field and the limit', () => {
  const e = code(() => Network.create({ populations: { a: { n: 1, R: 1e300 } } }));
  assert.equal(e.code, 'SPEC_INVALID');
  assert.match(e.message, /^network\.populations\.a\.R: must be a finite number of magnitude at most 1e\+30/);
});

test('every number of a spec is bounded, and tau_s from below', () => {
  const cases: [unknown, RegExp][] = [
    [{ dt: 1e31, populations: { a: { n: 1 } } }, /^network\.dt: .*at most 1e\+30/],
    [{ populations: { a: { n: 1, threshold: -2e30 } } }, /^network\.populations\.a\.threshold: .*at most 1e\+30/],
    [{ populations: { a: { n: 1, tau_s: 1e-31 } } }, /^network\.populations\.a\.tau_s: must be at least 1e-30/],
    [{ populations: { a: { n: 1 } }, connections: { c: { pre: 'a', post: 'a', w_max: 1e31 } } }, /^network\.connections\.c\.w_max: .*at most 1e\+30/],
    [{ populations: { a: { n: 1 } }, connections: { c: { pre: 'a', post: 'a', rule: { type: 'STDP', lr: [0, 1e31] } } } }, /^network\.connections\.c\.rule\.lr\[1\]: .*at most 1e\+30/],
    [{ populations: { a: { n: 1 } }, connections: { c: { pre: 'a', post: 'a', rule: { type: 'MSTDP', a_plus: -1e31 } } } }, /^network\.connections\.c\.rule\.a_plus: .*at most 1e\+30/],
  ];
  for (const [spec, re] of cases) {
    const e = code(() => Network.create(spec));
    assert.equal(e.code, 'SPEC_INVALID');
    assert.match(e.message, re);
  }
});

/** A value from one of many magnitudes, extremes included; `wide` goes past the accepted bound. */
function magnitude(rnd: () => number, wide: boolean): number {
  const exps = wide && rnd() < 0.03 ? [-300, -31, 31, 38, 100, 300] : [-30, -10, -1, 0, 1, 10, 29, 30];
  const e = exps[Math.floor(rnd() * exps.length)];
  return (rnd() < 0.5 ? -1 : 1) * (1 + 8 * rnd()) * 10 ** e * (e === 30 ? 0.1 : 1);
}

function randomSpec(rnd: () => number, wide: boolean) {
  const pos = () => Math.abs(magnitude(rnd, wide));
  const pop = (n: number) => ({
    n,
    threshold: magnitude(rnd, wide),
    rest_pot: magnitude(rnd, wide),
    reset_pot: magnitude(rnd, wide),
    refrac_length: rnd() < 0.5 ? 0 : pos(),
    tau_s: rnd() < 0.3 ? 1e-30 : pos(),
    R: magnitude(rnd, wide),
    lower_bound: rnd() < 0.5 ? null : magnitude(rnd, wide),
    additive_spike_trace: rnd() < 0.5,
    trace_scale: magnitude(rnd, wide),
  });
  const w = [magnitude(rnd, wide), magnitude(rnd, wide)].sort((a, b) => a - b);
  const types = ['NoOp', 'STDP', 'MSTDP', 'MSTDPET'];
  const rule = () => {
    const type = types[Math.floor(rnd() * types.length)];
    const r: Record<string, unknown> = { type, lr: [magnitude(rnd, wide), magnitude(rnd, wide)], weight_decay: rnd() < 0.5 ? 0 : rnd(), boundary: rnd() < 0.5 ? 'hard' : 'soft' };
    if (type === 'MSTDP' || type === 'MSTDPET') Object.assign(r, { tc_plus: pos(), tc_minus: pos(), a_plus: magnitude(rnd, wide), a_minus: magnitude(rnd, wide) });
    if (type === 'MSTDPET') r.tc_e_trace = rnd() < 0.3 ? 1e-30 : pos();
    return r;
  };
  return {
    dt: rnd() < 0.3 ? 1e30 : pos(),
    populations: { a: pop(3), b: pop(4) },
    connections: {
      ab: { pre: 'a', post: 'b', w_min: w[0], w_max: w[1], rule: rule() },
      bb: { pre: 'b', post: 'b', w_min: Math.min(0, w[0]), w_max: Math.max(0, w[1]), rule: rule() },
      ba: { pre: 'b', post: 'a', w_min: -1e30, w_max: 1e30, rule: rule() },
    },
  };
}

describe('property: on the native backend every accepted run stays finite', () => {
  for (const wide of [false, true]) {
    test(wide ? 'specs with numbers of any size: refused, or finite forever' : 'specs at the bounds, inputs and rewards at 1e30', () => {
      const rnd = lcg(wide ? 11 : 7);
      let accepted = 0;
      for (let trial = 0; trial < 150; trial++) {
        let net: Network;
        try {
          net = Network.create(randomSpec(rnd, wide), { seed: trial });
        } catch (e) {
          assert.ok(e instanceof SpikeserveError && e.code === 'SPEC_INVALID', String(e));
          continue;
        }
        accepted++;
        for (let t = 0; t < 60; t++) {
          const x = () => (rnd() < 0.3 ? 0 : rnd() < 0.5 ? 1e30 : rnd() < 0.5 ? -1e30 : magnitude(rnd, false));
          const inputs = { a: [x(), x(), x()], b: rnd() < 0.5 ? x() : [x(), x(), x(), x()] };
          const reward = rnd() < 0.3 ? 1e30 : rnd() < 0.5 ? -1e30 : magnitude(rnd, false);
          if (rnd() < 0.3) {
            net.step(inputs, undefined, { deferReward: true });
            if (rnd() < 0.7) net.reward(reward);
          } else {
            net.step(inputs, reward);
          }
          const bad = allFinite(net);
          if (bad) assert.fail(`trial ${trial}, step ${t + 1}: ${bad}; spec ${JSON.stringify(net.spec)}`);
        }
        // What it reached is a state a snapshot may hold: it restores, and goes on finite.
        const copy = Network.fromSnapshot(JSON.parse(JSON.stringify(net.snapshot())));
        copy.step({ a: -1e30, b: 1e30 }, 1e30);
        assert.equal(allFinite(copy), null, `trial ${trial}: restored copy`);
      }
      assert.ok(accepted > 20, `too few specs accepted (${accepted})`);
    });
  }
});

describe('snapshots outside the states a network reaches are refused', () => {
  const spec = { populations: { a: { n: 2 } }, connections: { c: { pre: 'a', post: 'a', rule: { type: 'MSTDP' } } } };
  const cases: [string, (s: any) => void, RegExp][] = [
    ['a potential far above any threshold', (s) => (s.state.populations.a.v[1] = 1e200), /^snapshot\.state\.populations\.a\.v\[1\]: must be a finite number from -1e\+150 to 2e\+30/],
    ['a potential below -1e150', (s) => (s.state.populations.a.v[0] = -1e200), /^snapshot\.state\.populations\.a\.v\[0\]/],
    ['a trace of 1e300', (s) => (s.state.populations.a.traces[0] = 1e300), /^snapshot\.state\.populations\.a\.traces\[0\]: must be a finite number from -1e\+50 to 1e\+50/],
    ['a p_plus of 1e300', (s) => (s.state.connections.c.rule.p_plus[0] = 1e300), /^snapshot\.state\.connections\.c\.rule\.p_plus\[0\]/],
    ['a decay scale of 1e-300', (s) => (s.state.connections.c.scale = 1e-300), /^snapshot\.state\.connections\.c\.scale: must be a number from 1e-100 to 1/],
    ['a weight of 1e300', (s) => (s.state.connections.c.w[3] = 1e300), /^snapshot\.state\.connections\.c\.w\[3\]: times scale must be a finite number of magnitude at most 2e\+30/],
  ];
  const et = { populations: { a: { n: 2 } }, connections: { c: { pre: 'a', post: 'a', rule: { type: 'MSTDPET' } } } };
  const etCases: [string, (s: any) => void, RegExp][] = [
    ['an eligibility trace of 1e200', (s) => (s.state.connections.c.rule.et[2] = 1e200), /^snapshot\.state\.connections\.c\.rule\.et\[2\]: times et_scale must be a finite number of magnitude at most 1e\+100/],
    ['an eligibility trace scale of 0', (s) => (s.state.connections.c.rule.et_scale = 0), /^snapshot\.state\.connections\.c\.rule\.et_scale/],
    ['an eligibility trace of the wrong size', (s) => s.state.connections.c.rule.et.pop(), /^snapshot\.state\.connections\.c\.rule\.et: must have 4 entries, got 3/],
  ];
  for (const [what, edit, re] of etCases) {
    test(`MSTDPET: ${what}`, () => {
      const snap = JSON.parse(JSON.stringify(Network.create(et).snapshot()));
      edit(snap);
      const e = code(() => Network.fromSnapshot(snap));
      assert.equal(e.code, 'SNAPSHOT_INVALID');
      assert.match(e.message, re);
    });
  }
  for (const [what, edit, re] of cases) {
    test(what, () => {
      const snap = JSON.parse(JSON.stringify(Network.create(spec).snapshot()));
      edit(snap);
      const e = code(() => Network.fromSnapshot(snap));
      assert.equal(e.code, 'SNAPSHOT_INVALID');
      assert.match(e.message, re);
    });
  }
});

describe('tfjs (float32): the step that overflows is refused and undone', () => {
  function state(net: Network) {
    const s = net.snapshot();
    return JSON.stringify({ ...s, state: s.state });
  }

  test('the reproducer at the bound: R = 1e30, input -1e30', () => {
    for (const backend of ['native', 'tfjs'] as BackendName[]) {
      const net = Network.create({ populations: { a: { n: 1, R: 1e30 } } }, { backend });
      net.step({ a: 1 });
      const before = state(net);
      if (backend === 'native') {
        net.step({ a: -1e30 });
        assert.equal(allFinite(net), null);
        continue;
      }
      const e = code(() => net.step({ a: -1e30 }));
      assert.equal(e.code, 'STEP_OVERFLOW');
      assert.match(e.message, /^this step overflows: v of population a, neuron 0 becomes (NaN|-Infinity)/);
      assert.deepEqual(e.details, { population: 'a', variable: 'v', index: 0, step: 2 });
      assert.equal(net.stepCount, 1);
      assert.equal(state(net), before);
      net.step({ a: 1 });
      assert.equal(net.stepCount, 2);
      assert.equal(allFinite(net), null);
      net.dispose();
    }
  });

  test('an overflowing deferred reward is refused and stays pending; an overflowing step leaves the pending update pending', () => {
    const spec = {
      populations: { a: { n: 2, refrac_length: 0 }, b: { n: 2, refrac_length: 0 } },
      connections: { c: { pre: 'a', post: 'b', w_min: -1e30, w_max: 1e30, w: [[1e30, 1e30], [1e30, 1e30]], rule: { type: 'MSTDP', lr: 1e30, a_plus: 1e30, a_minus: 1e30 } } },
    };
    const net = Network.create(spec, { backend: 'tfjs' });
    // Only a[0] fires: row 1 of the eligibility stays 0, and float32's lr * r = Infinity times 0 is NaN.
    net.step({ a: [100, 0] });
    net.step({ a: [100, 0] }, undefined, { deferReward: true });
    const before = state(net);
    const e = code(() => net.reward(1e30));
    assert.equal(e.code, 'STEP_OVERFLOW');
    assert.equal(net.pending, true);
    assert.equal(state(net), before);
    const e2 = code(() => net.step({ a: -1e30, b: -1e30 }, 1e30));
    assert.equal(e2.code, 'STEP_OVERFLOW');
    assert.equal(net.pending, true);
    assert.equal(state(net), before);
    net.reward(0);
    assert.equal(net.pending, false);
    assert.equal(allFinite(net), null);
    net.dispose();
  });

  test('a state too large to scan on the host is checked by a reduction on the backend: the same refusal, the same place', () => {
    // 3 x 5000 population values: past the size up to which the state is read back and scanned.
    const net = Network.create({ populations: { small: { n: 2 }, big: { n: 5000, R: 1e30 } } }, { backend: 'tfjs' });
    const x = new Array(5000).fill(1);
    net.step({ big: x });
    const before = state(net);
    x[4321] = -1e30;
    const e = code(() => net.step({ big: x }));
    assert.equal(e.code, 'STEP_OVERFLOW');
    assert.deepEqual(e.details, { population: 'big', variable: 'v', index: 4321, step: 2 });
    assert.equal(state(net), before);
    x[4321] = 1;
    net.step({ big: x });
    assert.equal(net.stepCount, 2);
    assert.equal(allFinite(net), null);
    net.dispose();
  });

  test('a native snapshot beyond float32 does not restore on tfjs', () => {
    const net = Network.create({ populations: { a: { n: 1, R: 1e30, rest_pot: 0, threshold: 1 } } });
    net.step({ a: -1e30 });
    const e = code(() => Network.fromSnapshot(net.snapshot(), { backend: 'tfjs' }));
    assert.equal(e.code, 'SNAPSHOT_INVALID');
    assert.match(e.message, /^snapshot\.state\.populations\.a\.v\[0\]: .* beyond float32's range/);
  });
});
