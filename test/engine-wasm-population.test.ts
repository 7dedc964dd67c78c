/**
 * The WebAssembly dense LIF step (src/engine/backends/native/population-kernels.wat)
 * against the JavaScript loop it replaces, bit for bit: a population gives
 * the same potentials, refractory counters, traces and spikes whichever runs
 * its dense steps, including when dense and sparse steps alternate (the
 * sparse step then starts from the list of unsettled neurons the dense
 * kernel left). And a network whose populations run in WebAssembly
 * snapshots and restores bit for bit.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Network } from '../src/engine/index.js';
import { LifPopulation, WASM_MIN_NEURONS } from '../src/engine/backends/native/population.js';
import { wasmKernelsAvailable } from '../src/engine/backends/native/wasm-weights.js';
import { resolveSpec } from '../src/engine/validate.js';
import { DEFAULT_ENGINE_LIMITS } from '../src/engine/limits.js';
import { assertSameBits, lcg } from './helpers/bits.js';

/** Both populations brought up to date: their refractory counters and traces agree bit for bit. */
function assertCaughtUpAlike(js: LifPopulation, wa: LifPopulation, what: string): void {
  js.catchUp();
  wa.catchUp();
  assertSameBits(js.refrac, wa.refrac, `${what}: refrac`);
  assertSameBits(js.traces, wa.traces, `${what}: traces`);
}

function population(n: number, params: Record<string, unknown>, dt: number, kernels: 'auto' | 'js' | 'wasm'): LifPopulation {
  const spec = resolveSpec({ dt, populations: { p: { n, ...params } }, connections: {} }, DEFAULT_ENGINE_LIMITS);
  return new LifPopulation(spec.populations.p, dt, kernels);
}

test('populations below the size threshold keep the JavaScript step, larger ones take WebAssembly', () => {
  assert.ok(wasmKernelsAvailable(), 'this Node lacks WebAssembly SIMD, so nothing below is really compared');
  assert.equal(population(WASM_MIN_NEURONS - 1, {}, 0.1, 'auto').usesWasm, false);
  assert.equal(population(WASM_MIN_NEURONS, {}, 0.1, 'auto').usesWasm, true);
  assert.equal(population(WASM_MIN_NEURONS, {}, 0.1, 'js').usesWasm, false);
  assert.equal(population(1, {}, 0.1, 'wasm').usesWasm, true);
});

const variants: [string, Record<string, unknown>, number][] = [
  ['defaults', {}, 0.1],
  ['no refractory period', { refrac_length: 0 }, 0.1],
  ['reset below rest, lower bound between', { reset_pot: -70, lower_bound: -66, refrac_length: 1 }, 0.5],
  ['lower bound above rest (never settles)', { lower_bound: -60 }, 0.1],
  ['additive traces', { additive_spike_trace: true, trace_scale: 0.5, refrac_length: 0.3 }, 0.1],
  ['rest at 0 (no sparse path)', { rest_pot: 0, reset_pot: 0, threshold: 10 }, 0.1],
  ['rest above threshold (fires every step it can)', { rest_pot: -50, reset_pot: -60, refrac_length: 0.2 }, 0.1],
  ['long steps', { tau_s: 5, refrac_length: 2 }, 1],
];

for (const [label, params, dt] of variants) {
  test(`a dense population step gives the same bits in WebAssembly as in JavaScript: ${label}`, () => {
    for (const n of [1, 2, 3, 40, 257]) {
      const js = population(n, params, dt, 'js');
      const wa = population(n, params, dt, 'wasm');
      assert.equal(js.sparseCapable, wa.sparseCapable);
      const rnd = lcg(n * 7919 + label.length);
      const x = new Float64Array(n);
      const nz = new Int32Array(n);
      for (let t = 0; t < 300; t++) {
        let count = 0;
        const quiet = rnd() < 0.3;
        for (let i = 0; i < n; i++) {
          const u = rnd();
          // Mostly zero; spikes, sub-threshold drive, negative input, -0, and huge values now and then.
          x[i] = quiet ? 0 : u < 0.1 ? 40 : u < 0.2 ? rnd() * 12 - 2 : u < 0.22 ? -0 : u < 0.23 ? 1e300 * (rnd() - 0.5) : 0;
          if (x[i] !== 0) nz[count++] = i;
        }
        // Dense steps mostly; sparse ones (as the kernel takes them when
        // nothing was delivered) where the population allows it.
        if (js.sparseCapable && rnd() < 0.3) {
          js.stepSparse(x, nz, count);
          wa.stepSparse(x, nz, count);
        } else {
          js.current.set(x);
          wa.current.set(x);
          js.stepDense();
          wa.stepDense();
        }
        const what = `n ${n}, step ${t}`;
        assert.deepEqual(Array.from(wa.spikeIdx.subarray(0, wa.spikeCount)), Array.from(js.spikeIdx.subarray(0, js.spikeCount)), `${what}: spikes`);
        assert.deepEqual(Array.from(wa.s), Array.from(js.s), `${what}: spike mask`);
        assertSameBits(js.v, wa.v, `${what}: v`);
        if (t % 7 === 0) {
          assertCaughtUpAlike(js, wa, what);
        }
      }
      assertCaughtUpAlike(js, wa, `n ${n}: final`);
    }
  });
}

test('many lagging neurons caught up in WebAssembly give the same bits as in JavaScript', () => {
  // Long runs of sparse steps with input to a dozen or two neurons a step,
  // each last given input between 1 and a few hundred steps before: the
  // lagging candidates are caught up in groups side by side, each group
  // after its own remaining steps (population-kernels.wat catchUpList).
  for (const [label, params, dt] of variants) {
    const n = 400;
    const js = population(n, params, dt, 'js');
    const wa = population(n, params, dt, 'wasm');
    if (!js.sparseCapable) continue;
    const rnd = lcg(label.length * 31 + 7);
    const x = new Float64Array(n);
    const nz = new Int32Array(n);
    for (let t = 0; t < 1500; t++) {
      x.fill(0);
      const want = Math.floor(rnd() * 24);
      const chosen = new Set<number>();
      // Neurons from a narrow band now and then, so that some lag little and others long.
      for (let k = 0; k < want; k++) chosen.add(rnd() < 0.3 ? Math.floor(rnd() * 20) : Math.floor(rnd() * n));
      const list = [...chosen].sort((a, b) => a - b);
      list.forEach((i, k) => {
        x[i] = rnd() < 0.5 ? 40 : rnd() * 3;
        nz[k] = i;
      });
      js.stepSparse(x, nz, list.length);
      wa.stepSparse(x, nz, list.length);
      const what = `${label}, step ${t}`;
      assert.deepEqual(Array.from(wa.spikeIdx.subarray(0, wa.spikeCount)), Array.from(js.spikeIdx.subarray(0, js.spikeCount)), `${what}: spikes`);
      assertSameBits(js.v, wa.v, `${what}: v`);
      if (t % 500 === 499) {
        assertCaughtUpAlike(js, wa, what);
      }
    }
    assertCaughtUpAlike(js, wa, `${label}: final`);
  }
});

test('a network whose populations step in WebAssembly restores from a snapshot bit for bit', () => {
  const n = 2 * WASM_MIN_NEURONS;
  const spec = {
    dt: 0.1,
    populations: { pre: { n, refrac_length: 0.5 }, post: { n: n + 3, lower_bound: -65, reset_pot: -68 } },
    connections: {
      ff: { pre: 'pre', post: 'post', w_min: 0, w_max: 3, rule: { type: 'MSTDP', lr: 0.01 } },
      rec: { pre: 'post', post: 'pre', w_min: -1, w_max: 0, rule: { type: 'STDP', lr: [0.001, 0.002] } },
    },
  };
  const net = Network.create(spec, { seed: 5 });
  const rnd = lcg(11);
  const inputs = Array.from({ length: 60 }, () => Float64Array.from({ length: n }, () => (rnd() < 0.05 ? 100 : rnd() < 0.1 ? 5 : 0)));
  for (let t = 0; t < 150; t++) net.step({ pre: inputs[t % inputs.length] }, rnd() - 0.5);
  const copy = Network.fromSnapshot(JSON.parse(JSON.stringify(net.snapshot())));
  for (let t = 150; t < 300; t++) {
    const r = rnd() - 0.5;
    net.step({ pre: inputs[t % inputs.length] }, r);
    copy.step({ pre: inputs[t % inputs.length] }, r);
    for (const p of ['pre', 'post']) assert.deepEqual(copy.spikes(p), net.spikes(p), `${p} spikes at step ${t}`);
  }
  assert.deepEqual(JSON.stringify(copy.snapshot()), JSON.stringify(net.snapshot()));
});
