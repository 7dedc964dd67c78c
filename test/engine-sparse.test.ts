/**
 * The native step's activity-proportional paths give the same bits as the
 * straightforward ones: a population stepped sparsely (only neurons with
 * input or away from rest visited, refractory counters and traces caught up
 * later) equals its twin stepped densely, and an input given as a
 * Float64Array (loaded sparsely into a reused buffer) equals the same input
 * given as a plain array.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Network } from '../src/engine/index.js';
import { LifPopulation } from '../src/engine/backends/native/population.js';
import { resolveSpec } from '../src/engine/validate.js';
import { DEFAULT_ENGINE_LIMITS } from '../src/engine/limits.js';
import { ReferenceNetwork } from './helpers/reference-model.js';
import { assertSameBits, lcg } from './helpers/bits.js';

function population(params: Record<string, unknown>, dt: number): LifPopulation {
  const spec = resolveSpec({ dt, populations: { p: { n: 40, ...params } }, connections: {} }, DEFAULT_ENGINE_LIMITS);
  return new LifPopulation(spec.populations.p, dt);
}

const variants: [string, Record<string, unknown>, number][] = [
  ['defaults', {}, 0.1],
  ['no refractory period', { refrac_length: 0 }, 0.1],
  ['reset below rest, lower bound between', { reset_pot: -70, lower_bound: -66, refrac_length: 1 }, 0.5],
  ['additive traces', { additive_spike_trace: true, trace_scale: 0.5, refrac_length: 0.3 }, 0.1],
  ['long steps', { tau_s: 5, refrac_length: 2 }, 1],
];

for (const [label, params, dt] of variants) {
  test(`a sparse population step gives the same bits as a dense one: ${label}`, () => {
    const dense = population(params, dt);
    const sparse = population(params, dt);
    assert.ok(sparse.sparseCapable);
    const rnd = lcg(label.length * 7919);
    const x = new Float64Array(dense.n);
    const nz = new Int32Array(dense.n);
    for (let t = 0; t < 400; t++) {
      // Mostly silent input, bursts now and then; sometimes none at all.
      let count = 0;
      const none = rnd() < 0.2;
      for (let i = 0; i < x.length; i++) {
        x[i] = !none && rnd() < 0.08 ? (rnd() < 0.5 ? 40 : rnd() * 12 - 2) : 0;
        if (x[i] !== 0) nz[count++] = i;
      }
      dense.current.set(x);
      dense.stepDense();
      if (none) sparse.stepSparse(null, nz, 0);
      else sparse.stepSparse(x, nz, rnd() < 0.5 ? count : -1);
      assert.deepEqual(Array.from(sparse.spikeIdx.subarray(0, sparse.spikeCount)), Array.from(dense.spikeIdx.subarray(0, dense.spikeCount)), `spikes at step ${t}`);
      assert.deepEqual(sparse.s, dense.s);
      assertSameBits(sparse.v, dense.v, `v at step ${t}`);
      if (rnd() < 0.1) {
        // A reader catches the lagging neurons up mid-run; stepping goes on
        // from there. Half the time it is STDP's column, which reads the
        // traces scaled as it catches them up.
        if (rnd() < 0.5) {
          sparse.catchUp();
        } else {
          const lr = Float64Array.of(0, 0.37);
          const scaled = new Float64Array(sparse.n);
          sparse.catchUpScaledTraces(scaled, lr, 1);
          assertSameBits(scaled, dense.traces.map((x) => 0.37 * x), `scaled traces at step ${t}`);
        }
        assertSameBits(sparse.refrac, dense.refrac, `refrac at step ${t}`);
        assertSameBits(sparse.traces, dense.traces, `traces at step ${t}`);
      }
    }
    sparse.catchUp();
    assertSameBits(sparse.refrac, dense.refrac, 'refrac');
    assertSameBits(sparse.traces, dense.traces, 'traces');
  });
}

test('a population whose rest is at or above threshold, or below its lower bound, or zero, never takes the sparse path', () => {
  assert.equal(population({ rest_pot: -50 }, 0.1).sparseCapable, false);
  assert.equal(population({ lower_bound: -60 }, 0.1).sparseCapable, false);
  assert.equal(population({ rest_pot: 0, reset_pot: 0, threshold: 1 }, 0.1).sparseCapable, false);
});

test('a population stepped densely for a long time starts its sparse steps from step 0 (no long catch-up loop)', () => {
  const pop = population({}, 0.1);
  const dense = population({}, 0.1);
  for (let t = 0; t < 5000; t++) {
    pop.stepDense();
    dense.stepDense();
  }
  // Internal step counter: it runs only while refractory counters and traces lag.
  assert.equal((pop as unknown as { t: number }).t, 0);
  const nz = new Int32Array(pop.n);
  for (let t = 0; t < 10; t++) {
    pop.stepSparse(null, nz, 0);
    dense.stepDense();
  }
  pop.catchUp();
  assertSameBits(pop.traces, dense.traces, 'traces');
  assertSameBits(pop.refrac, dense.refrac, 'refrac');
});

test('inputs as Float64Array, reused buffers included, give the same run as plain arrays, around a rejected input', () => {
  const spec = {
    dt: 0.1,
    populations: { pre: { n: 50, refrac_length: 0.5 }, post: { n: 8, reset_pot: -66, lower_bound: -64 } },
    connections: {
      ff: { pre: 'pre', post: 'post', w_max: 4, rule: { type: 'STDP', lr: [0.01, 0.02] } },
      back: { pre: 'post', post: 'pre', w_min: -1, w_max: 0, rule: { type: 'MSTDP', lr: 0.05 } },
    },
  };
  const typed = Network.create(spec, { seed: 3 });
  const plain = Network.create(spec, { seed: 3 });
  const rnd = lcg(11);
  const buffer = new Float64Array(50);
  for (let t = 0; t < 300; t++) {
    for (let i = 0; i < 50; i++) buffer[i] = rnd() < 0.1 ? 30 + rnd() * 20 : 0;
    const reward = rnd() - 0.5;
    if (t % 37 === 5) {
      // A rejected input leaves both networks (and the typed one's buffers) as they were.
      const bad = buffer.slice();
      bad[23] = Number.NaN;
      assert.throws(() => typed.step({ pre: bad }, reward), /inputs\.pre\[23\]/);
      assert.throws(() => plain.step({ pre: Array.from(bad) }, reward), /inputs\.pre\[23\]/);
    }
    if (t % 50 === 10) {
      // Other kinds of input in between: a number for every neuron, and none.
      typed.step({ pre: 3 }, reward);
      plain.step({ pre: 3 }, reward);
      typed.step(null, reward);
      plain.step(null, reward);
    }
    typed.step({ pre: buffer, post: t % 3 === 0 ? new Float64Array(8).fill(1) : new Float64Array(8) }, reward);
    plain.step({ pre: Array.from(buffer), post: t % 3 === 0 ? new Array(8).fill(1) : new Array(8).fill(0) }, reward);
    for (const p of ['pre', 'post']) assert.deepEqual(typed.spikes(p), plain.spikes(p), `${p} spikes at step ${t}`);
    if (t % 60 === 0) assert.deepEqual(typed.snapshot(), plain.snapshot());
  }
  assert.deepEqual(typed.snapshot(), plain.snapshot());
});

test('networks whose input populations take the sparse path agree with the dense reference transcription of model.md', () => {
  // Populations of 40-60 neurons (the sparse path starts at 32) with sparse
  // input, every rule, both bounds, lazy and eager decay, a recurrent
  // connection into an input population, and state read mid-run (which
  // catches lagging neurons up) before stepping on.
  const rules = [
    { type: 'STDP', lr: [0.02, 0.03], weight_decay: 0.001 },
    { type: 'STDP', lr: [0.02, 0.03], boundary: 'soft' },
    { type: 'MSTDP', lr: 0.05, weight_decay: 0.01 },
    { type: 'MSTDP', lr: 0.05, boundary: 'soft' },
    { type: 'NoOp', weight_decay: 0.01 },
  ];
  rules.forEach((rule, r) => {
    const spec = {
      dt: r % 2 === 0 ? 0.1 : 0.5,
      populations: {
        a: { n: 48, refrac_length: r % 3, reset_pot: r === 1 ? -66 : -62, lower_bound: r === 1 ? -64 : null, additive_spike_trace: r === 2 },
        b: { n: 60, refrac_length: 0 },
        c: { n: 40, tau_s: 5 },
      },
      connections: {
        ab: { pre: 'a', post: 'b', w_min: r === 4 ? 0.1 : 0, w_max: 3, rule },
        ca: { pre: 'c', post: 'a', w_min: -1, w_max: 0, rule: { type: 'NoOp' } },
        bc: { pre: 'b', post: 'c', w_max: 2, rule },
      },
    };
    const net = Network.create(spec, { seed: r + 1 });
    const weights = Object.fromEntries(net.connectionNames.map((k) => [k, net.weights(k)]));
    const ref = new ReferenceNetwork(net.spec, weights);
    const rnd = lcg(100 + r);
    for (let t = 0; t < 250; t++) {
      const inputs = {
        a: Array.from({ length: 48 }, () => (rnd() < 0.06 ? 30 + rnd() * 30 : 0)),
        b: Array.from({ length: 60 }, () => (rnd() < 0.04 ? rnd() * 60 : 0)),
      };
      const reward = rnd() - 0.4;
      net.step({ a: Float64Array.from(inputs.a), b: inputs.b }, reward);
      ref.step(inputs, reward);
      for (const p of net.populationNames) assert.deepEqual(net.spikes(p), ref.spikes(p), `rule ${r}, ${p} spikes at step ${t}`);
      if (t % 41 === 7 || t === 249) {
        for (const p of net.populationNames) {
          const pop = ref.pops.get(p)!;
          const [v, refrac, traces] = [net.potentials(p), net.refractory(p), net.traces(p)];
          for (let i = 0; i < pop.n; i++) {
            assert.ok(Math.abs(v[i] - pop.v[i]) <= 1e-9, `rule ${r}, v.${p}[${i}] at step ${t}`);
            assert.ok(Math.abs(refrac[i] - pop.refrac[i]) <= 1e-9, `rule ${r}, refrac.${p}[${i}] at step ${t}`);
            assert.ok(Math.abs(traces[i] - pop.traces[i]) <= 1e-9, `rule ${r}, traces.${p}[${i}] at step ${t}`);
          }
        }
        for (const k of net.connectionNames) {
          const rw = ref.conns.get(k)!.w;
          net.weights(k).forEach((row, i) => row.forEach((x, j) => assert.ok(Math.abs(x - rw[i][j]) <= 1e-9, `rule ${r}, ${k}[${i}][${j}] at step ${t}`)));
        }
      }
    }
  });
});
