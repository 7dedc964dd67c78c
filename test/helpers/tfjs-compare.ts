/**
 * Drives networks on two backends side by side and compares them: spikes
 * exactly, real numbers within a tolerance (the tfjs backend computes in
 * float32, the native one in float64).
 */
import assert from 'node:assert/strict';
import { Network, type StepInputs } from '../../src/engine/index.js';

export const TOLERANCE = 1e-4;

/** One step of a session: its inputs and what happens to its reward. */
export interface Action {
  inputs?: Record<string, number[]>;
  /** 'with': reward given with the step; 'none': no reward; 'defer': deferReward, then reward(then), or nothing (the next step completes it with 0). */
  reward: { kind: 'with'; r: number } | { kind: 'none' } | { kind: 'defer'; then: number | null };
}

export function apply(net: Network, a: Action): void {
  const inputs = a.inputs as StepInputs | undefined;
  switch (a.reward.kind) {
    case 'with':
      net.step(inputs, a.reward.r);
      break;
    case 'none':
      net.step(inputs);
      break;
    case 'defer':
      net.step(inputs, undefined, { deferReward: true });
      if (a.reward.then !== null) net.reward(a.reward.then);
      break;
  }
}

export function spikesOf(net: Network): number[][] {
  return net.populationNames.map((p) => net.spikes(p));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): { d: number; k: number } {
  assert.equal(a.length, b.length);
  let d = 0;
  let k = -1;
  for (let i = 0; i < a.length; i++) {
    const x = Math.abs(a[i] - b[i]);
    if (!(x <= d)) {
      d = x;
      k = i;
    }
  }
  return { d, k };
}

/** Everything a user can read, compared: spikes exactly, the rest within tol. */
export function assertSameState(actual: Network, expected: Network, where: string, tol = TOLERANCE): void {
  assert.equal(actual.stepCount, expected.stepCount, `${where}: step count`);
  assert.equal(actual.pending, expected.pending, `${where}: pending`);
  for (const p of expected.populationNames) {
    assert.deepEqual(actual.spikes(p), expected.spikes(p), `${where}: spikes of ${p}`);
    for (const [what, get] of [
      ['v', (n: Network) => n.potentials(p)],
      ['traces', (n: Network) => n.traces(p)],
      ['refractory', (n: Network) => n.refractory(p)],
    ] as const) {
      const a = get(actual);
      const e = get(expected);
      const { d, k } = maxAbsDiff(a, e);
      assert.ok(d <= tol, `${where}: ${what} of ${p}[${k}] differs by ${d} (${a[k]} vs ${e[k]})`);
    }
  }
  for (const c of expected.connectionNames) {
    const a = actual.weightsFlat(c);
    const e = expected.weightsFlat(c);
    const { d, k } = maxAbsDiff(a, e);
    assert.ok(d <= tol, `${where}: weight ${c}[${k}] differs by ${d} (${a[k]} vs ${e[k]})`);
    const ea = actual.eligibility(c);
    const ee = expected.eligibility(c);
    assert.equal(ea === null, ee === null, `${where}: eligibility of ${c}`);
    if (ea && ee) {
      const { d: de, k: ke } = maxAbsDiff(ea.flat(), ee.flat());
      assert.ok(de <= tol, `${where}: eligibility ${c}[${ke}] differs by ${de}`);
    }
    const ta = actual.eligibilityTrace(c);
    const te = expected.eligibilityTrace(c);
    assert.equal(ta === null, te === null, `${where}: eligibility trace of ${c}`);
    if (ta && te) {
      const { d: dt, k: kt } = maxAbsDiff(ta.flat(), te.flat());
      assert.ok(dt <= tol, `${where}: eligibility trace ${c}[${kt}] differs by ${dt}`);
    }
  }
}

/** How close to a spike decision a float64 run may come before float32 could rightly decide otherwise. */
export const KNIFE_EDGE_MV = 1e-3;

/**
 * Whether the step `a` on the float64 native network `net` brings a membrane
 * potential within KNIFE_EDGE_MV of its threshold, or tests a refractory
 * counter that is a rounding residue away from 0 (0.5 - 5 * 0.1 is 2.8e-17 in
 * float64): the two comparisons that decide spikes. There the two precisions
 * may rightly disagree, so such a step is no evidence of a bug. `net` is left
 * untouched.
 */
export function onKnifeEdge(net: Network, a: Action): boolean {
  const snap = net.snapshot();
  // A probe shows the weights the step delivers through (a pending update
  // completes before the populations step) and the step's own spikes.
  const probe = Network.fromSnapshot(snap);
  probe.step(a.inputs as StepInputs | undefined, undefined, { deferReward: true });
  const spec = net.spec;
  const names = net.populationNames;
  let edge = false;
  names.forEach((name, p) => {
    const pop = spec.populations[name];
    const before = snap.state.populations[name];
    const x = new Float64Array(pop.n);
    if (a.inputs?.[name]) x.set(a.inputs[name]);
    for (const cname of net.connectionNames) {
      const c = spec.connections[cname];
      if (c.post !== name) continue;
      const preIndex = names.indexOf(c.pre);
      const sPre = preIndex < p ? probe.spikes(c.pre) : snap.state.populations[c.pre].spikes;
      const w = probe.weights(cname);
      for (const i of sPre) for (let j = 0; j < pop.n; j++) x[j] += w[i][j];
    }
    for (let j = 0; j < pop.n; j++) {
      const v = before.v[j];
      const r = before.refrac[j];
      const vPre = r <= 0 ? v + ((-(v - pop.rest_pot) + pop.R * x[j]) * spec.dt) / pop.tau_s : v;
      if (Math.abs(vPre - pop.threshold) < KNIFE_EDGE_MV) edge = true;
      if (r !== 0 && Math.abs(r) < 1e-6) edge = true;
    }
  });
  probe.dispose();
  return edge;
}
