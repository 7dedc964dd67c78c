/**
 * The benchmark networks, shared by bench/engine.ts (native) and
 * bench/engine-backends.ts (native vs tfjs), so both time the same thing.
 *
 * Input firing is set by giving a chosen share of the input neurons a current
 * that crosses threshold within the step; the patterns are drawn in advance so
 * only the step is timed. Weights scale with the fan-in (w_max = 2 / expected
 * input spikes per step, learning rates with it) so that the output fires at
 * about the input's rate too, as in a working network; with unscaled weights a
 * 10000-neuron input drives every output neuron every step and the benchmark
 * measures saturation instead. Each result prints the output rate it ran at.
 */
import type { BatchStepInputs, NetworkSpec } from '../src/engine/index.js';
import { Rng } from '../src/engine/random.js';

export interface BenchCase {
  name: string;
  spec: NetworkSpec;
  /** One step's inputs each (repeating); a batch's give each copy its own (`[B][n]`). */
  inputs: BatchStepInputs[];
  /** One step's reward each (repeating); a batch's may give one per copy. */
  rewards: (number | number[])[];
  /** The target on the 2-core machine, in microseconds per step, where one is set. */
  targetUs?: number;
}

/** The seed's MSTDP network (model.md, last section): what the HTTP and WebSocket benchmarks step. */
export const SEED_NETWORK: NetworkSpec = {
  dt: 0.1,
  populations: { pre: { n: 2, refrac_length: 0 }, post: { n: 1, refrac_length: 0 } },
  connections: { pre_post: { pre: 'pre', post: 'post', w_min: 0, w_max: 10, rule: { type: 'MSTDP', lr: [0.0003, 0.0002] } } },
};

function patterns(n: number, rate: number, count: number, seed: number): Float64Array[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => {
    const x = new Float64Array(n);
    for (let i = 0; i < n; i++) if (rng.nextFloat() < rate) x[i] = 100;
    return x;
  });
}

function rewards(seed: number): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: 89 }, () => (rng.nextFloat() < 0.5 ? 1 : -1));
}

export type Rule = { type: string; lr: number[]; weight_decay?: number; boundary?: 'hard' | 'soft'; reduction?: 'sum' | 'mean' };

/** pre -> post; `gain` multiplies the weights, to make the output busy too. */
export function layered(name: string, nPre: number, nPost: number, rule: Rule, rate: number, targetUs?: number, gain = 1): BenchCase {
  const wMax = (gain * 2) / (nPre * rate);
  return {
    name,
    spec: {
      dt: 0.1,
      populations: { pre: { n: nPre, refrac_length: 0 }, post: { n: nPost, refrac_length: 0 } },
      connections: { pre_post: { pre: 'pre', post: 'post', w_min: 0, w_max: wMax, rule: { ...rule, lr: [rule.lr[0] * wMax, rule.lr[1] * wMax] } } },
    },
    inputs: patterns(nPre, rate, 97, 2).map((pre) => ({ pre })),
    rewards: rewards(3),
    targetUs,
  };
}

const STDP: Rule = { type: 'STDP', lr: [0.0003, 0.0002], weight_decay: 0.0001 };
const MSTDP: Rule = { type: 'MSTDP', lr: [0.0003, 0.0002] };
const NOOP: Rule = { type: 'NoOp', lr: [0, 0] };

/** The networks the issues set targets for. */
export const STANDARD_CASES: BenchCase[] = [
  {
    name: "seed's 2 -> 1 (STDP)",
    spec: {
      dt: 0.1,
      populations: { pre: { n: 2, refrac_length: 0 }, post: { n: 1, refrac_length: 0 } },
      connections: { pre_post: { pre: 'pre', post: 'post', w: [[0.4434], [0.8602]], rule: STDP } },
    },
    inputs: [{ pre: new Float64Array([0, 50]), post: new Float64Array([50]) }],
    rewards: [0],
    targetUs: 1,
  },
  layered('100 -> 100 STDP, 1% input', 100, 100, STDP, 0.01, 5),
  layered('100 -> 100 MSTDP, 1% input', 100, 100, MSTDP, 0.01, 5),
  layered('1000 -> 1000 STDP, 1% input', 1000, 1000, STDP, 0.01, 30),
  layered('1000 -> 1000 MSTDP, 1% input', 1000, 1000, MSTDP, 0.01, 30),
  layered('10000 -> 100 STDP, 1% input', 10000, 100, STDP, 0.01, 30),
  layered('10000 -> 100 NoOp, 1% input', 10000, 100, NOOP, 0.01, 30),
];

/**
 * The busy workload of issue #17: the inputs driven by constant currents
 * U(0, 1.2), held for every step, so that about 0.7% of them fire a step
 * (those above 0.5 fire periodically, R x crossing threshold - rest = 10);
 * weights U(0, w_max); the outputs refractory for 10 steps, which keeps them
 * firing 3-5% of steps at these weights (without it 1000 -> 1000 fires
 * 6-7%). STDP without weight decay, as the peer benchmark's Brian2 model
 * (bench/peers.ts).
 */
function busy(name: string, nPre: number, nPost: number, rule: Rule, wMax: number, targetUs?: number): BenchCase {
  const rng = new Rng(4);
  const pre = new Float64Array(nPre);
  for (let i = 0; i < nPre; i++) pre[i] = 1.2 * rng.nextFloat();
  return {
    name,
    spec: {
      dt: 0.1,
      populations: { pre: { n: nPre, refrac_length: 0 }, post: { n: nPost, refrac_length: 1 } },
      connections: { pre_post: { pre: 'pre', post: 'post', w_min: 0, w_max: wMax, rule } },
    },
    inputs: [{ pre }],
    rewards: rewards(3),
    targetUs,
  };
}

const STDP_NO_DECAY: Rule = { type: 'STDP', lr: [0.0003, 0.0002] };

/** Busy networks: every input current held, outputs firing (bench/peers.ts runs the STDP ones on Brian2 too). */
export const BUSY_CASES: BenchCase[] = [
  busy('2 -> 1 STDP, busy', 2, 1, STDP_NO_DECAY, 1),
  busy('100 -> 100 STDP, busy', 100, 100, STDP_NO_DECAY, 1),
  busy('1000 -> 1000 STDP, busy', 1000, 1000, STDP_NO_DECAY, 1, 15),
  busy('1000 -> 1000 MSTDP, busy', 1000, 1000, MSTDP, 1, 15),
  busy('10000 -> 100 STDP, busy', 10000, 100, STDP_NO_DECAY, 0.12),
  busy('10000 -> 100 MSTDP, busy', 10000, 100, MSTDP, 0.12),
];

/** Dense and busy: half the inputs fire every step and stronger weights make many outputs fire too. */
export const DENSE_CASES: BenchCase[] = [
  layered('2000 -> 2000 NoOp, 50% input', 2000, 2000, NOOP, 0.5, undefined, 20),
  layered('2000 -> 2000 STDP, 50% input', 2000, 2000, STDP, 0.5, undefined, 20),
  layered('2000 -> 2000 MSTDP, 50% input', 2000, 2000, MSTDP, 0.5, undefined, 20),
];

/**
 * Case c as one network of `copies` copies (model.md, "Batches"): copy b
 * sees c's input patterns from pattern 7 * b on and c's rewards from reward
 * b on, so the copies differ. Copy b is then the network of one copy that
 * shifted(c, b) steps.
 */
export function batchOf(c: BenchCase, copies: number): BenchCase {
  const per = Array.from({ length: copies }, (_, b) => shifted(c, b));
  const steps = c.inputs.length;
  return {
    name: `${c.name}, batch of ${copies}`,
    spec: { ...c.spec, batch_size: copies },
    inputs: Array.from({ length: steps }, (_, t) => Object.fromEntries(Object.keys(c.inputs[0]).map((pop) => [pop, per.map((cb) => cb.inputs[t][pop])]))) as BatchStepInputs[],
    rewards: Array.from({ length: c.rewards.length }, (_, t) => per.map((cb) => cb.rewards[t] as number)),
  };
}

/** Case c with its input patterns starting at pattern 7 * b and its rewards at reward b. */
export function shifted(c: BenchCase, b: number): BenchCase {
  return {
    ...c,
    inputs: c.inputs.map((_, t) => c.inputs[(t + 7 * b) % c.inputs.length]),
    rewards: c.rewards.map((_, t) => c.rewards[(t + b) % c.rewards.length]),
  };
}

/** Rewards of +1 or -1 at every `every`th step, 0 between (an episode's end). */
export function rewardedEvery(c: BenchCase, every: number): BenchCase {
  return { ...c, rewards: Array.from({ length: 100 }, (_, t) => ((t + 1) % every === 0 ? (t % 3 === 0 ? -1 : 1) : 0)) };
}

/**
 * MSTDPET and batches (issue #15): bench/copies.ts times them, and
 * bench/trajectories.ts fingerprints them with the others, soft bounds,
 * weight decay and reduction mean included.
 */
export const COPIES_CASES: BenchCase[] = [
  rewardedEvery(layered('1000 -> 1000 MSTDPET, 1% input, reward every 50th', 1000, 1000, { type: 'MSTDPET', lr: [0.0003, 0.0002] }, 0.01), 50),
  layered('100 -> 100 MSTDPET, 1% input', 100, 100, { type: 'MSTDPET', lr: [0.0003, 0.0002] }, 0.01),
  layered('100 -> 100 MSTDPET soft, 1% input', 100, 100, { type: 'MSTDPET', lr: [0.0003, 0.0002], boundary: 'soft', weight_decay: 0.0001 }, 0.01),
  batchOf(layered('100 -> 100 MSTDP, 1% input', 100, 100, MSTDP, 0.01), 16),
  batchOf(layered('100 -> 100 STDP, 1% input', 100, 100, STDP, 0.01), 4),
  batchOf(layered('100 -> 100 STDP soft mean, 5% input', 100, 100, { ...STDP, boundary: 'soft', reduction: 'mean' }, 0.05), 3),
  batchOf(layered('100 -> 100 MSTDPET, 1% input', 100, 100, { type: 'MSTDPET', lr: [0.0003, 0.0002], reduction: 'mean' }, 0.01), 4),
  batchOf(layered('20 -> 10 MSTDP soft, 10% input', 20, 10, { ...MSTDP, boundary: 'soft', weight_decay: 0.001 }, 0.1), 5),
  batchOf(layered('200 -> 300 NoOp, 2% input', 200, 300, { ...NOOP, weight_decay: 0.001 }, 0.02), 2),
];
