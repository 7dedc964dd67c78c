/**
 * MSTDP's and STDP's lazy column updates
 * (src/engine/backends/native/lazy-columns.ts) against the eager ones, bit
 * for bit: the same connection stepped with random spikes and rewards, with
 * snapshots, restores, weight reads and writes, resets and deferred rewards
 * in the middle of pending columns, and with the pending list run into each
 * of its bounds.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LAZY_COLUMNS_MIN_SYNAPSES } from '../src/engine/backends/native/kernel.js';
import { TICK_LIMIT } from '../src/engine/backends/native/lazy-columns.js';
import { LifPopulation } from '../src/engine/backends/native/population.js';
import type { ExportedRuleState } from '../src/engine/backends/kernel.js';
import { MstdpRule, StdpRule, type NativeRule } from '../src/engine/backends/native/rules.js';
import { LAZY_ENTRIES, lazyPoolSize, wasmKernelsAvailable } from '../src/engine/backends/native/wasm-weights.js';
import { DenseWeights } from '../src/engine/backends/native/weights.js';
import { Network } from '../src/engine/index.js';
import { DEFAULT_ENGINE_LIMITS } from '../src/engine/limits.js';
import { resolveSpec } from '../src/engine/validate.js';
import { assertSameBits, lcg } from './helpers/bits.js';
import { atDepth } from './helpers/fuzz.js';

interface PopState {
  v: Float64Array;
  refrac: Float64Array;
  traces: Float64Array;
  spikes: number[];
}

interface HarnessState {
  stored: Float64Array;
  scale: number;
  rule: ExportedRuleState;
  pre: PopState;
  post: PopState;
}

/** One MSTDP or STDP connection stepped as the native kernel steps it; `mode` picks how its columns run. */
class Harness {
  readonly pre: LifPopulation;
  readonly post: LifPopulation;
  readonly w: DenseWeights;
  readonly rule: NativeRule;

  constructor(spec: unknown, mode: 'lazy' | 'eager' | 'js') {
    const net = resolveSpec(spec, DEFAULT_ENGINE_LIMITS);
    const c = net.connections.c;
    const kernels = mode === 'js' ? 'js' : 'wasm';
    this.pre = new LifPopulation(net.populations.pre, net.dt, kernels);
    this.post = new LifPopulation(net.populations.post, net.dt, kernels);
    this.w = new DenseWeights({ rows: this.pre.n, cols: this.post.n, wMin: c.w_min, wMax: c.w_max, weightDecay: c.rule.weight_decay, soft: c.rule.boundary === 'soft', kernels, lazyColumns: mode === 'lazy' });
    const rnd = lcg(99);
    this.w.setFlat(Array.from({ length: this.pre.n * this.post.n }, () => c.w_min + rnd() * (c.w_max - c.w_min)));
    const parts = { pre: this.pre, post: this.post, w: this.w, rule: c.rule, dt: net.dt };
    this.rule = c.rule.type === 'STDP' ? new StdpRule(parts) : new MstdpRule(parts);
  }

  /** Populations and delivery; the rule's update is update(), possibly later (a deferred reward). */
  stepPopulations(x: Float64Array): void {
    this.pre.current.set(x);
    this.pre.stepDense();
    this.post.current.fill(0);
    if (this.pre.spikeCount > 0) this.w.deliver(this.pre.spikeIdx, this.pre.spikeCount, this.post.current);
    this.post.stepDense();
  }

  update(reward: number): void {
    this.rule.update(reward);
  }

  /** As the kernel's exportState: every row brought up to date first. */
  save(): HarnessState {
    this.w.flushAll();
    const pop = (p: LifPopulation): PopState => {
      p.catchUp();
      return { v: p.v.slice(), refrac: p.refrac.slice(), traces: p.traces.slice(), spikes: Array.from(p.spikeIdx.subarray(0, p.spikeCount)) };
    };
    return { stored: this.w.stored.slice(), scale: this.w.scale, rule: this.rule.getState(), pre: pop(this.pre), post: pop(this.post) };
  }

  /** As the kernel's importState. */
  load(s: HarnessState): void {
    for (const [p, ps] of [[this.pre, s.pre], [this.post, s.post]] as const) {
      p.v.set(ps.v);
      p.refrac.set(ps.refrac);
      p.traces.set(ps.traces);
      p.setSpikes(ps.spikes);
      p.resync();
    }
    this.w.flushAll();
    this.w.stored.set(s.stored);
    this.w.scale = s.scale;
    this.rule.setState(s.rule);
  }

  reset(): void {
    this.pre.reset();
    this.post.reset();
    this.rule.reset();
  }
}

function assertSameState(a: HarnessState, b: HarnessState, what: string): void {
  assertSameBits(a.stored, b.stored, `${what}: stored weights`);
  assert.ok(Object.is(a.scale, b.scale), `${what}: scale`);
  assert.deepEqual(a.rule, b.rule, `${what}: rule state`);
  for (const k of ['pre', 'post'] as const) {
    assertSameBits(a[k].v, b[k].v, `${what}: ${k} v`);
    assertSameBits(a[k].traces, b[k].traces, `${what}: ${k} traces`);
    assert.deepEqual(a[k].spikes, b[k].spikes, `${what}: ${k} spikes`);
  }
}

function spec(nPre: number, nPost: number, wMin: number, wMax: number, rule: object, pre: object = {}): unknown {
  return {
    dt: 0.1,
    populations: { pre: { n: nPre, refrac_length: 0, ...pre }, post: { n: nPost, refrac_length: 0.3 } },
    connections: { c: { pre: 'pre', post: 'post', w_min: wMin, w_max: wMax, rule: { type: 'MSTDP', ...rule } } },
  };
}

test('this Node has WebAssembly SIMD, so lazy columns are really exercised', () => {
  assert.ok(wasmKernelsAvailable());
  const w = new DenseWeights({ rows: 40, cols: 40, wMin: 0, wMax: 1, weightDecay: 0, soft: false, kernels: 'wasm', lazyColumns: true });
  assert.ok(w.lazyColumns !== null);
  // Where the lazy scale is not exact, or bounds are soft, columns stay eager.
  assert.equal(new DenseWeights({ rows: 40, cols: 40, wMin: 0.1, wMax: 1, weightDecay: 0.01, soft: false, kernels: 'wasm', lazyColumns: true }).lazyColumns, null);
  assert.equal(new DenseWeights({ rows: 40, cols: 40, wMin: 0, wMax: 1, weightDecay: 0, soft: true, kernels: 'wasm', lazyColumns: true }).lazyColumns, null);
  assert.equal(new DenseWeights({ rows: 40, cols: 40, wMin: 0, wMax: 1, weightDecay: 0, soft: false, kernels: 'js', lazyColumns: true }).lazyColumns, null);
});

test('lazy columns give the eager bits through snapshots, restores, weight reads and writes, resets and deferred rewards', () => {
  // Two of the input rate's cycles at the quick depth.
  const steps = atDepth(1500, 600);
  // MSTDP, then STDP (its entries scale the pre traces, additive ones too).
  const rules: [object, object][] = [
    [{ lr: 0.05 }, {}],
    [{ lr: 0.05, weight_decay: 0.01 }, {}],
    [{ lr: [0.2, 0.1], tc_plus: 5, tc_minus: 30, a_plus: 0.7, a_minus: -1.3 }, {}],
    [{ lr: 0.05, a_plus: -0.5 }, {}],
    [{ type: 'STDP', lr: [0.04, 0.05] }, {}],
    [{ type: 'STDP', lr: [0.04, 0.05], weight_decay: 0.01 }, { tau_s: 3 }],
    [{ type: 'STDP', lr: [-0.02, -0.05] }, { additive_spike_trace: true, trace_scale: 0.7 }],
  ];
  for (const [nPre, nPost] of [[60, 45], [45, 131]]) {
    for (const [wMin, wMax] of [[0, 2], [-1, 1]]) {
      rules.forEach(([rule, pre], r) => {
        const s = spec(nPre, nPost, wMin, wMax, rule, pre);
        const lazy = new Harness(s, 'lazy');
        const eager = new Harness(s, 'eager');
        const js = new Harness(s, 'js');
        const all = [lazy, eager, js];
        assert.ok(lazy.w.lazyColumns !== null && eager.w.lazyColumns === null);
        const rnd = lcg(11 + r + 7 * nPre + wMin);
        const x = new Float64Array(nPre);
        let saved: HarnessState[] | null = null;
        let maxPending = 0;
        const what = (t: number) => `${nPre}x${nPost} [${wMin}, ${wMax}] ${JSON.stringify(rule)} at step ${t}`;
        for (let t = 0; t < steps; t++) {
          const rate = t % 300 < 150 ? 0.15 : 0.02;
          for (let i = 0; i < nPre; i++) x[i] = rnd() < rate ? 60 + rnd() * 40 : 0;
          // Runs of zero reward (no columns recorded, p still decays), and of non-zero.
          const reward = t % 97 < 20 ? 0 : rnd() - 0.4;
          for (const h of all) h.stepPopulations(x);
          const event = rnd();
          if (event < 0.02) {
            // A deferred reward: the weights are read while the update waits.
            const flat = all.map((h) => h.w.toFlat());
            assertSameBits(flat[0], flat[1], `${what(t)}: weights read before a deferred reward`);
            assertSameBits(flat[0], flat[2], `${what(t)}: weights read before a deferred reward (js)`);
          }
          for (const h of all) h.update(reward);
          maxPending = Math.max(maxPending, lazy.w.lazyColumns?.pendingEntries ?? 0);
          assert.deepEqual(
            lazy.post.spikeIdx.subarray(0, lazy.post.spikeCount),
            eager.post.spikeIdx.subarray(0, eager.post.spikeCount),
            `${what(t)}: post spikes`,
          );
          assertSameBits(lazy.post.v, eager.post.v, `${what(t)}: post v`);
          assertSameBits(lazy.w.preVector, eager.w.preVector, `${what(t)}: p_plus`);
          if (event >= 0.02 && event < 0.03) {
            const w = Float64Array.from({ length: nPre * nPost }, () => wMin + rnd() * (wMax - wMin));
            for (const h of all) h.w.setFlat(w);
          } else if (event < 0.04) {
            saved = all.map((h) => h.save());
            assertSameState(saved[0], saved[1], `${what(t)}: snapshot`);
            assertSameState(saved[0], saved[2], `${what(t)}: snapshot (js)`);
          } else if (event < 0.05 && saved !== null) {
            // Restore an older snapshot while columns are pending.
            const from = saved;
            all.forEach((h, k) => h.load(from[k]));
          } else if (event < 0.055) {
            for (const h of all) h.reset();
          } else if (event < 0.06) {
            const e = all.map((h) => h.rule.eligibility()?.flat() ?? []);
            assertSameBits(e[0], e[1], `${what(t)}: eligibility`);
          }
        }
        // With w_min < 0 the outputs fire too seldom to leave much pending; with w_min = 0 they must.
        if (wMin === 0) assert.ok(maxPending > 10, `${what(steps)}: columns were left pending (${maxPending} at most)`);
        const end = all.map((h) => h.save());
        assertSameState(end[0], end[1], `${what(steps)}: final state`);
        assertSameState(end[0], end[2], `${what(steps)}: final state (js)`);
      });
    }
  }
});

/**
 * Steps lazy and eager harnesses together with no global reads, post neurons
 * driven to spike at postRate and rewards non-zero at rewardRate; returns
 * the most pending entries seen and the pending count before each time the
 * list emptied on its own (a bound flushed every row).
 */
function runUntouched(s: unknown, steps: number, postRate: number, rewardRate: number, seed: number): { maxPending: number; before: number[] } {
  const lazy = new Harness(s, 'lazy');
  const eager = new Harness(s, 'eager');
  const nPre = lazy.pre.n;
  const nPost = lazy.post.n;
  const rnd = lcg(seed);
  const x = new Float64Array(nPre);
  const y = new Float64Array(nPost);
  let maxPending = 0;
  const before: number[] = [];
  let last = 0;
  for (let t = 0; t < steps; t++) {
    // Half the pre neurons never spike, so their rows are flushed by the bounds alone.
    for (let i = 0; i < nPre; i++) x[i] = i < nPre / 2 && rnd() < 0.1 ? 100 : 0;
    for (let j = 0; j < nPost; j++) y[j] = rnd() < postRate ? 1000 : 0;
    const reward = rnd() < rewardRate ? rnd() - 0.4 : 0;
    for (const h of [lazy, eager]) {
      h.pre.current.set(x);
      h.pre.stepDense();
      h.post.current.set(y);
      if (h.pre.spikeCount > 0) h.w.deliver(h.pre.spikeIdx, h.pre.spikeCount, h.post.current);
      h.post.stepDense();
      h.update(reward);
    }
    const pending = lazy.w.lazyColumns?.pendingEntries ?? 0;
    if (pending < last) before.push(last);
    last = pending;
    maxPending = Math.max(maxPending, pending);
  }
  assertSameState(lazy.save(), eager.save(), `${JSON.stringify(s)} after ${steps} steps`);
  return { maxPending, before };
}

test('the pending list stays within its bounds (column indices, entries, steps), each flushing every row', () => {
  // Many post spikes a step: the pool of column indices (2048 for 32 columns) fills first.
  assert.equal(lazyPoolSize(32), 2048);
  const byPool = runUntouched(spec(40, 32, 0, 2, { lr: 0.05 }), 1000, 0.5, 1, 3);
  assert.ok(byPool.before.length >= 3, `the pool bound flushed (${JSON.stringify(byPool.before)})`);
  assert.ok(byPool.maxPending < LAZY_ENTRIES);
  // About one post spike a step on 1100 columns (a pool of 65536): the entry bound.
  const byEntries = runUntouched(spec(40, 1100, 0, 2, { lr: 0.05 }), LAZY_ENTRIES + 1500, 1 / 1100, 1, 5);
  assert.ok(byEntries.before.includes(LAZY_ENTRIES), `the entry bound flushed (${JSON.stringify(byEntries.before)})`);
  // Rare rewards leave few entries over many steps: the step bound.
  const bySteps = runUntouched(spec(40, 64, 0, 2, { lr: 0.05 }), TICK_LIMIT + 800, 0.05, 0.05, 7);
  assert.ok(bySteps.before.length > 0 && bySteps.maxPending < LAZY_ENTRIES / 4, `the step bound flushed (${JSON.stringify(bySteps)})`);
  // STDP records an entry at every step with post spikes, whatever the reward.
  const stdp = { type: 'STDP', lr: [0.04, 0.05] };
  const stdpPool = runUntouched(spec(40, 32, 0, 2, stdp), 1000, 0.5, 0, 3);
  assert.ok(stdpPool.before.length >= 3, `STDP: the pool bound flushed (${JSON.stringify(stdpPool.before)})`);
  const stdpSteps = runUntouched(spec(40, 64, 0, 2, stdp), TICK_LIMIT + 800, 0.002, 0, 7);
  assert.ok(stdpSteps.before.length > 0 && stdpSteps.maxPending < LAZY_ENTRIES / 2, `STDP: the step bound flushed (${JSON.stringify(stdpSteps)})`);
});

for (const type of ['MSTDP', 'STDP']) test(`a network with lazy ${type} columns continues bit for bit whatever reads it, and from its snapshot`, () => {
  const n = 400;
  assert.ok(n * n >= LAZY_COLUMNS_MIN_SYNAPSES);
  const s = {
    dt: 0.1,
    populations: { pre: { n, refrac_length: 0 }, post: { n, refrac_length: 0 } },
    connections: { c: { pre: 'pre', post: 'post', w_min: 0, w_max: 3, rule: { type, lr: 0.05 } } },
  };
  const quiet = Network.create(s, { seed: 4 });
  const busy = Network.create(s, { seed: 4 });
  const rnd = lcg(8);
  let copy: Network | null = null;
  for (let t = 0; t < 600; t++) {
    const x = Array.from({ length: n }, () => (rnd() < 0.05 ? 80 : 0));
    const reward = rnd() - 0.4;
    quiet.step({ pre: x }, reward);
    if (t % 50 === 7) {
      busy.step({ pre: x }, undefined, { deferReward: true });
      busy.weights('c');
      busy.eligibility('c');
      busy.reward(reward);
    } else {
      busy.step({ pre: x }, reward);
    }
    copy?.step({ pre: x }, reward);
    if (t === 300) copy = Network.fromSnapshot(JSON.parse(JSON.stringify(busy.snapshot())));
  }
  assertSameBits(quiet.weightsFlat('c'), busy.weightsFlat('c'), 'weights read or not');
  assert.deepEqual(copy?.snapshot(), quiet.snapshot());
});
