/**
 * The two backends check each other: random valid networks and sessions
 * (fast-check) run on native (float64, sparse) and tfjs (float32, dense) must
 * give the same spikes at every step and the same weights, potentials, traces,
 * refractory counters and eligibility within 1e-4. Steps that bring a float64
 * potential within float32's rounding of its threshold are discarded (see
 * onKnifeEdge): there the two precisions may rightly disagree.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import fc from 'fast-check';
import { Network, initTfjs, type BackendName, type NetworkSpec } from '../src/engine/index.js';
import { fuzzRuns, fuzzSeed } from './helpers/fuzz.js';
import { apply, assertSameState, onKnifeEdge, type Action } from './helpers/tfjs-compare.js';

const SEED = fuzzSeed(20240606);
const RUNS = fuzzRuns(120);

before(async () => {
  await initTfjs({ prefer: process.env.TFJS_BACKEND });
});

/** dt and refractory lengths whose repeated subtraction is exact in both precisions, and dt 0.1 without refractoriness. */
const arbTiming = fc.oneof(
  fc.record({ dt: fc.constantFrom(0.25, 0.5, 1), refrac: fc.constantFrom(0, 0.25, 0.5, 1, 2) }),
  fc.record({ dt: fc.constant(0.1), refrac: fc.constant(0) }),
);

const arbPopulation = (refrac: number) =>
  fc.record({
    n: fc.integer({ min: 1, max: 8 }),
    threshold: fc.constantFrom(-55, -53.5, -52, -50),
    rest_pot: fc.constantFrom(-62, -65),
    reset_pot: fc.constantFrom(-62, -65, -70),
    refrac_length: fc.constant(refrac),
    tau_s: fc.constantFrom(5, 10, 20),
    R: fc.constantFrom(10, 20),
    lower_bound: fc.constantFrom(null, -64, -70),
    additive_spike_trace: fc.boolean(),
    trace_scale: fc.constantFrom(0.5, 1, 2),
  });

const arbLr = fc.double({ min: 0, max: 0.02, noNaN: true });

const arbRule = fc
  .record({
    type: fc.constantFrom('NoOp', 'STDP', 'MSTDP', 'MSTDPET'),
    lr: fc.tuple(arbLr, arbLr),
    weight_decay: fc.constantFrom(0, 1e-4, 1e-3, 0.01),
    boundary: fc.constantFrom('hard', 'soft'),
    tc_plus: fc.constantFrom(10, 20, 40),
    tc_minus: fc.constantFrom(10, 20, 40),
    a_plus: fc.constantFrom(1, 0.5),
    a_minus: fc.constantFrom(-1, -0.5),
    tc_e_trace: fc.constantFrom(1, 5, 25),
  })
  .map(({ tc_plus, tc_minus, a_plus, a_minus, tc_e_trace, ...r }) =>
    r.type === 'MSTDP' ? { ...r, tc_plus, tc_minus, a_plus, a_minus } : r.type === 'MSTDPET' ? { ...r, tc_plus, tc_minus, a_plus, a_minus, tc_e_trace } : r,
  );

/** 1-3 populations, 0-4 connections between any two of them (self and backward ones are recurrent). */
const arbNetwork: fc.Arbitrary<NetworkSpec> = arbTiming.chain(({ dt, refrac }) =>
  fc.array(arbPopulation(refrac), { minLength: 1, maxLength: 3 }).chain((pops) =>
    fc
      .array(
        fc.record({
          pre: fc.integer({ min: 0, max: pops.length - 1 }),
          post: fc.integer({ min: 0, max: pops.length - 1 }),
          // w_min 0.25 makes the native kernel decay eagerly; the others lazily.
          bounds: fc.constantFrom<[number, number]>([0, 1], [0, 2], [0, 5], [-1, 2], [0.25, 3]),
          rule: arbRule,
        }),
        { maxLength: 4 },
      )
      .map((conns) => ({
        dt,
        populations: Object.fromEntries(pops.map((p, i) => [`p${i}`, p])),
        connections: Object.fromEntries(
          conns.map((c, k) => [`c${k}`, { pre: `p${c.pre}`, post: `p${c.post}`, w_min: c.bounds[0], w_max: c.bounds[1], rule: c.rule }]),
        ),
      })),
  ),
);

const arbReward: fc.Arbitrary<Action['reward']> = fc.oneof(
  fc.constant({ kind: 'none' as const }),
  fc.double({ min: -2, max: 2, noNaN: true }).map((r) => ({ kind: 'with' as const, r })),
  fc.option(fc.double({ min: -2, max: 2, noNaN: true }), { nil: null }).map((then) => ({ kind: 'defer' as const, then })),
);

/** Weak currents that may never reach threshold, and strong ones that fire within a few steps even at dt 0.1. */
const arbCurrent = fc.oneof(fc.double({ min: -1, max: 2, noNaN: true }), fc.double({ min: 2, max: 30, noNaN: true }));

function arbActions(spec: NetworkSpec): fc.Arbitrary<Action[]> {
  const pops = Object.entries(spec.populations);
  const arbInputs = fc.record(
    Object.fromEntries(pops.map(([name, p]) => [name, fc.array(arbCurrent, { minLength: p.n, maxLength: p.n })])),
    { requiredKeys: [] },
  );
  return fc.array(fc.record({ inputs: arbInputs as fc.Arbitrary<Record<string, number[]>>, reward: arbReward }), { minLength: 20, maxLength: 80, size: 'max' });
}

const arbCase = fc.record({ spec: arbNetwork, seed: fc.integer({ min: 0, max: 1000 }) }).chain(({ spec, seed }) =>
  arbActions(spec).map((actions) => ({ spec, seed, actions })),
);

/** The native run, or null when a step sits on a knife-edge. */
function nativeRun(spec: NetworkSpec, seed: number, actions: Action[]): Network | null {
  const net = Network.create(spec, { seed });
  for (const a of actions) {
    if (onKnifeEdge(net, a)) return null;
    apply(net, a);
  }
  return net;
}

test('random networks and sessions: tfjs matches native step for step', () => {
  let compared = 0;
  fc.assert(
    fc.property(arbCase, ({ spec, seed, actions }) => {
      // Screen the whole session on native first, so a discarded case costs no tfjs run.
      const screened = nativeRun(spec, seed, actions);
      fc.pre(screened !== null);
      screened.dispose();
      const native = Network.create(spec, { seed });
      const tfjs = Network.create(spec, { seed, backend: 'tfjs' });
      try {
        assertSameState(tfjs, native, 'after creation');
        actions.forEach((a, t) => {
          apply(native, a);
          apply(tfjs, a);
          assertSameState(tfjs, native, `step ${t + 1}`);
        });
        compared++;
      } finally {
        tfjs.dispose();
      }
    }),
    { seed: SEED, numRuns: RUNS },
  );
  assert.ok(compared >= RUNS * 0.8, `only ${compared} of ${RUNS} cases were compared; the rest sat on knife-edges`);
});

test('random sessions hopping between backends through snapshots continue as on native alone', () => {
  const arbHops = arbCase.chain((c) =>
    fc.record({ c: fc.constant(c), hops: fc.uniqueArray(fc.integer({ min: 1, max: c.actions.length - 1 }), { maxLength: 3 }) }),
  );
  fc.assert(
    fc.property(arbHops, fc.constantFrom<BackendName>('native', 'tfjs'), ({ c, hops }, first) => {
      const { spec, seed, actions } = c;
      const screened = nativeRun(spec, seed, actions);
      fc.pre(screened !== null);
      screened.dispose();
      const reference = Network.create(spec, { seed });
      let backend = first;
      let hopper = Network.create(spec, { seed, backend });
      try {
        actions.forEach((a, t) => {
          if (hops.includes(t)) {
            // Through JSON, as a client stores and sends it back.
            const snap = JSON.parse(JSON.stringify(hopper.snapshot()));
            hopper.dispose();
            backend = backend === 'native' ? 'tfjs' : 'native';
            hopper = Network.fromSnapshot(snap, { backend });
            assert.equal(hopper.backend, backend);
            assertSameState(hopper, reference, `restored on ${backend} before step ${t + 1}`);
          }
          apply(reference, a);
          apply(hopper, a);
          assertSameState(hopper, reference, `step ${t + 1} on ${backend}`);
        });
      } finally {
        hopper.dispose();
      }
    }),
    { seed: SEED + 1, numRuns: Math.ceil(RUNS / 2) },
  );
});
