/**
 * The engine benchmark on both backends side by side: microseconds per
 * network step on native and on tfjs (on the platform initTfjs chooses, or
 * TFJS_BACKEND=node|wasm|cpu), and their ratio. Run with
 * `npm run bench:backends`; `-- --quick` times each case for a tenth of the
 * time.
 *
 * The networks are those of bench/engine.ts (same sizes, rules, ~1% input
 * firing, weights scaled with the fan-in so the output fires sparsely), plus
 * large dense networks at high firing rates, where the dense tensor kernels
 * do no more work than the sparse native ones. Both backends get the same
 * inputs and rewards; the output firing rate is printed, and whether both
 * backends produced the same output spike counts over the steps both timed.
 */
import { Network, initTfjs, type BackendName, type NetworkSpec, type StepInputs } from '../src/engine/index.js';
import { Rng } from '../src/engine/random.js';

const QUICK = process.argv.includes('--quick');
/** Warm-up and each of the REPS timed runs last about this long. */
const TARGET_MS = QUICK ? 50 : 500;

interface Case {
  name: string;
  spec: NetworkSpec;
  inputs: StepInputs[];
  rewards: number[];
}

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

/**
 * As bench/engine.ts: w_max = 0.8 / expected input spikes per step, learning
 * rates scaled with it. `gain` multiplies the weights, to make the output fire
 * too (the dense, busy cases).
 */
function layered(name: string, nPre: number, nPost: number, rule: { type: string; lr: number[]; weight_decay?: number }, rate: number, gain = 1): Case {
  const wMax = Math.min(gain, (gain * 0.8) / (nPre * rate));
  return {
    name,
    spec: {
      dt: 0.1,
      populations: { pre: { n: nPre, refrac_length: 0 }, post: { n: nPost, refrac_length: 0 } },
      connections: { pre_post: { pre: 'pre', post: 'post', w_min: 0, w_max: wMax, rule: { ...rule, lr: [rule.lr[0] * wMax, rule.lr[1] * wMax] } } },
    },
    inputs: patterns(nPre, rate, 97, 2).map((pre) => ({ pre })),
    rewards: rewards(3),
  };
}

const STDP = { type: 'STDP', lr: [0.0003, 0.0002], weight_decay: 0.0001 };
const MSTDP = { type: 'MSTDP', lr: [0.0003, 0.0002] };
const NOOP = { type: 'NoOp', lr: [0, 0] };

const cases: Case[] = [
  {
    name: "seed's 2 -> 1 (STDP)",
    spec: {
      dt: 0.1,
      populations: { pre: { n: 2, refrac_length: 0 }, post: { n: 1, refrac_length: 0 } },
      connections: { pre_post: { pre: 'pre', post: 'post', w: [[0.4434], [0.8602]], rule: STDP } },
    },
    inputs: [{ pre: new Float64Array([0, 50]), post: new Float64Array([50]) }],
    rewards: [0],
  },
  layered('100 -> 100 STDP, 1% input', 100, 100, STDP, 0.01),
  layered('100 -> 100 MSTDP, 1% input', 100, 100, MSTDP, 0.01),
  layered('1000 -> 1000 STDP, 1% input', 1000, 1000, STDP, 0.01),
  layered('1000 -> 1000 MSTDP, 1% input', 1000, 1000, MSTDP, 0.01),
  layered('10000 -> 100 STDP, 1% input', 10000, 100, STDP, 0.01),
  layered('10000 -> 100 NoOp, 1% input', 10000, 100, NOOP, 0.01),
  // Dense and busy: half the inputs fire every step and weights 50 times
  // stronger make a large share of the outputs fire too.
  layered('2000 -> 2000 NoOp, 50% input', 2000, 2000, NOOP, 0.5, 50),
  layered('2000 -> 2000 STDP, 50% input', 2000, 2000, STDP, 0.5, 50),
  layered('2000 -> 2000 MSTDP, 50% input', 2000, 2000, MSTDP, 0.5, 50),
];

interface Result {
  usPerStep: number;
  steps: number;
  /** Output spikes per step of the first timed run, which starts from a reset network. */
  postSpikes: number[];
  postSize: number;
}

/** Timed runs per case; the fastest counts (the others absorb noise from other processes). */
const REPS = 3;

function measure(c: Case, backend: BackendName): Result {
  const net = Network.create(c.spec, { seed: 1, backend });
  const post = net.populationNames.indexOf('post');
  const postSpikes: number[] = [];
  const run = (from: number, steps: number, record: boolean) => {
    for (let t = from; t < from + steps; t++) {
      net.step(c.inputs[t % c.inputs.length], c.rewards[t % c.rewards.length]);
      const n = net.spikeCount(post);
      if (record) postSpikes.push(n);
    }
  };
  // Warm up (the JIT; tfjs's kernels and buffers) in growing batches for
  // about TARGET_MS, then size the timed runs from the last batch's pace.
  let t = 0;
  let batch = 1;
  let spent = 0;
  let pace = 0;
  while (spent < TARGET_MS && t < 1e7) {
    const t0 = process.hrtime.bigint();
    run(t, batch, false);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    t += batch;
    spent += ms;
    pace = ms / batch;
    batch *= 2;
  }
  const steps = Math.max(5, Math.round(TARGET_MS / Math.max(pace, 1e-6)));
  // Both backends time the same session from a fresh start.
  net.reset({ weights: true });
  let best = Infinity;
  for (let rep = 0; rep < REPS; rep++) {
    const t0 = process.hrtime.bigint();
    run(rep * steps, steps, rep === 0);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1000 / steps);
  }
  const postSize = net.populationSize('post');
  net.dispose();
  return { usPerStep: best, steps, postSpikes, postSize };
}

function fmt(us: number): string {
  return us >= 100 ? us.toFixed(0) : us >= 1 ? us.toFixed(2) : us.toFixed(3);
}

const info = await initTfjs({ prefer: process.env.TFJS_BACKEND });
console.log(`engine backends benchmark: native vs tfjs on the "${info.platform}" platform (tfjs ${info.version}), node ${process.version}`);
console.log('case'.padEnd(34) + 'native us'.padStart(11) + 'tfjs us'.padStart(11) + 'tfjs/native'.padStart(13) + 'post rate'.padStart(11) + '  same spikes');
for (const c of cases) {
  const native = measure(c, 'native');
  const tfjs = measure(c, 'tfjs');
  const ratio = tfjs.usPerStep / native.usPerStep;
  // Over the steps both timed: the two backends must have run the same simulation.
  const common = Math.min(native.postSpikes.length, tfjs.postSpikes.length);
  let spikes = 0;
  let same = true;
  for (let t = 0; t < common; t++) {
    spikes += native.postSpikes[t];
    if (native.postSpikes[t] !== tfjs.postSpikes[t]) same = false;
  }
  console.log(
    c.name.padEnd(34) +
      fmt(native.usPerStep).padStart(11) +
      fmt(tfjs.usPerStep).padStart(11) +
      (ratio >= 10 ? `${ratio.toFixed(0)}x` : `${ratio.toFixed(2)}x`).padStart(13) +
      `${((spikes / common / native.postSize) * 100).toFixed(1)}%`.padStart(11) +
      `  ${same ? 'yes' : 'NO'} (${common} steps)`,
  );
}
