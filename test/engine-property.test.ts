/**
 * Random valid networks and inputs: the optimised native kernels agree with
 * a dense float64 transcription of model.md, weights stay in their bounds,
 * nothing becomes NaN, and snapshots round-trip.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Network } from '../src/engine/index.js';
import { fuzzRuns, fuzzSeed } from './helpers/fuzz.js';
import { ReferenceNetwork } from './helpers/reference-model.js';

const SEED = fuzzSeed(20261128);

const popArb = fc.record({
  // Sizes from 32 up take the sparse path for input populations (population.ts).
  n: fc.oneof({ arbitrary: fc.integer({ min: 1, max: 6 }), weight: 3 }, { arbitrary: fc.integer({ min: 32, max: 40 }), weight: 1 }),
  refrac_length: fc.constantFrom(0, 0.3, 1, 5),
  tau_s: fc.constantFrom(5, 10, 20),
  threshold: fc.constantFrom(-52, -55),
  lower_bound: fc.constantFrom(null, -70, -63),
  additive_spike_trace: fc.boolean(),
  trace_scale: fc.constantFrom(1, 0.5),
});

const ruleArb = fc.oneof(
  fc.record({ type: fc.constant('NoOp'), weight_decay: fc.constantFrom(0, 0.01, 0.3) }),
  fc.record({
    type: fc.constant('STDP'),
    lr: fc.tuple(fc.double({ min: 0, max: 0.05, noNaN: true }), fc.double({ min: 0, max: 0.05, noNaN: true })),
    weight_decay: fc.constantFrom(0, 0.001, 0.05),
    boundary: fc.constantFrom('hard', 'soft'),
  }),
  fc.record({
    type: fc.constant('MSTDP'),
    lr: fc.double({ min: 0, max: 0.05, noNaN: true }),
    weight_decay: fc.constantFrom(0, 0.001, 0.05),
    boundary: fc.constantFrom('hard', 'soft'),
    tc_plus: fc.constantFrom(10, 20),
    tc_minus: fc.constantFrom(10, 40),
  }),
  fc.record({
    type: fc.constant('MSTDPET'),
    lr: fc.double({ min: 0, max: 0.5, noNaN: true }),
    weight_decay: fc.constantFrom(0, 0.001, 0.05),
    boundary: fc.constantFrom('hard', 'soft'),
    tc_plus: fc.constantFrom(10, 20),
    tc_minus: fc.constantFrom(10, 40),
    tc_e_trace: fc.constantFrom(0.5, 5, 25),
  }),
);

const boundsArb = fc.constantFrom([0, 1], [0, 3], [-1, 0], [-0.5, 2], [0.2, 1.5], [-2, -0.5]);

/** A network of 1-3 populations with 0-4 connections (recurrent ones included) and its inputs. */
const caseArb = fc
  .record({
    dt: fc.constantFrom(0.1, 0.5, 1),
    pops: fc.array(popArb, { minLength: 1, maxLength: 3 }),
    conns: fc.array(fc.record({ pre: fc.nat(), post: fc.nat(), rule: ruleArb, bounds: boundsArb }), { maxLength: 4 }),
    seed: fc.nat({ max: 1000 }),
    steps: fc.integer({ min: 1, max: 60 }),
    inputSeed: fc.nat(),
  })
  .map(({ dt, pops, conns, seed, steps, inputSeed }) => {
    const names = pops.map((_, i) => `p${i}`);
    const spec = {
      dt,
      populations: Object.fromEntries(pops.map((p, i) => [names[i], p])),
      connections: Object.fromEntries(
        conns.map((c, k) => [`c${k}`, { pre: names[c.pre % names.length], post: names[c.post % names.length], w_min: c.bounds[0], w_max: c.bounds[1], rule: c.rule }]),
      ),
    };
    // Inputs and rewards from a small LCG so shrinking keeps cases reproducible.
    let x = inputSeed >>> 0;
    const rnd = () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    const schedule = Array.from({ length: steps }, () => ({
      // Large populations get sparse input, as the sparse path expects; small ones dense.
      inputs: Object.fromEntries(pops.map((p, i) => [names[i], Array.from({ length: p.n }, () => (rnd() < (p.n >= 32 ? 0.08 : 0.5) ? rnd() * 12 : 0))])),
      reward: rnd() < 0.5 ? (rnd() - 0.5) * 4 : 0,
      defer: rnd() < 0.3,
    }));
    return { spec, seed, schedule };
  });

test('native kernels agree with the dense reference transcription of model.md', () => {
  fc.assert(
    fc.property(caseArb, ({ spec, seed, schedule }) => {
      const net = Network.create(spec, { seed });
      const weights = Object.fromEntries(net.connectionNames.map((c) => [c, net.weights(c)]));
      const ref = new ReferenceNetwork(net.spec, weights);
      for (const s of schedule) {
        if (s.defer) {
          net.step(s.inputs, undefined, { deferReward: true });
          net.reward(s.reward);
        } else {
          net.step(s.inputs, s.reward);
        }
        ref.step(s.inputs, s.reward);
        for (const p of net.populationNames) assert.deepEqual(net.spikes(p), ref.spikes(p));
      }
      for (const c of net.connectionNames) {
        const w = net.weights(c);
        const rw = ref.conns.get(c)!.w;
        w.forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(v - rw[i][j]) <= 1e-9, `${c}[${i}][${j}]: ${v} vs ${rw[i][j]}`)));
      }
      for (const p of net.populationNames) {
        const v = net.potentials(p);
        ref.pops.get(p)!.v.forEach((x, i) => assert.ok(Math.abs(v[i] - x) <= 1e-9, `v.${p}[${i}]`));
      }
    }),
    { seed: SEED, numRuns: fuzzRuns(300) },
  );
});

test('weights stay within bounds, nothing becomes NaN, and snapshots round-trip exactly', () => {
  fc.assert(
    fc.property(caseArb, ({ spec, seed, schedule }) => {
      const net = Network.create(spec, { seed });
      const half = Math.floor(schedule.length / 2);
      schedule.slice(0, half).forEach((s) => net.step(s.inputs, s.reward));
      const copy = Network.fromSnapshot(JSON.parse(JSON.stringify(net.snapshot())));
      for (const s of schedule.slice(half)) {
        net.step(s.inputs, s.reward);
        copy.step(s.inputs, s.reward);
      }
      assert.deepEqual(copy.snapshot(), net.snapshot());
      for (const c of net.connectionNames) {
        const { w_min, w_max } = net.spec.connections[c];
        for (const v of net.weights(c).flat()) assert.ok(v >= w_min && v <= w_max && !Number.isNaN(v), `${c}: ${v} outside [${w_min}, ${w_max}]`);
      }
      for (const p of net.populationNames) {
        for (const arr of [net.potentials(p), net.traces(p), net.refractory(p)]) assert.ok(arr.every(Number.isFinite), `${p} has a non-finite state`);
      }
    }),
    { seed: SEED + 1, numRuns: fuzzRuns(200) },
  );
});
