/**
 * Engine benchmark: microseconds per network step on the native backend.
 * Run with `npm run bench`. That the step allocates nothing is a test
 * (test/engine-allocation.test.ts), not a figure here.
 *
 * Input firing is controlled by giving a chosen ~1% of the input neurons a
 * current that crosses threshold within the step; the patterns are drawn in
 * advance so only the step is timed.
 */
import { Network, type StepInputs } from '../src/engine/index.js';
import { Rng } from '../src/engine/random.js';

interface Case {
  name: string;
  target: number;
  build(): { net: Network; inputs: StepInputs[]; rewards: number[] };
}

function patterns(n: number, rate: number, count: number, seed: number): Float64Array[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => {
    const x = new Float64Array(n);
    for (let i = 0; i < n; i++) if (rng.nextFloat() < rate) x[i] = 100;
    return x;
  });
}

/**
 * Weights are scaled with the fan-in (w_max = 2 / expected input spikes per
 * step, learning rates with it) so that the output population fires at about
 * 1% too, as in a working network; with unscaled weights a 10000-neuron input
 * drives every output neuron to fire every step and the benchmark measures
 * saturation instead. The post rate is printed with each result.
 */
function layered(nPre: number, nPost: number, rule: { type: string; lr: number[] }, rate: number): Case['build'] {
  return () => {
    const wMax = 2 / (nPre * rate);
    const net = Network.create(
      {
        dt: 0.1,
        populations: { pre: { n: nPre, refrac_length: 0 }, post: { n: nPost, refrac_length: 0 } },
        connections: { pre_post: { pre: 'pre', post: 'post', w_min: 0, w_max: wMax, rule: { ...rule, lr: rule.lr.map((x) => x * wMax) } } },
      },
      { seed: 1 },
    );
    const inputs = patterns(nPre, rate, 97, 2).map((pre) => ({ pre }));
    const rng = new Rng(3);
    const rewards = Array.from({ length: 89 }, () => (rng.nextFloat() < 0.5 ? 1 : -1));
    return { net, inputs, rewards };
  };
}

const STDP = { type: 'STDP', lr: [0.0003, 0.0002], weight_decay: 0.0001 };
const MSTDP = { type: 'MSTDP', lr: [0.0003, 0.0002] };
const NOOP = { type: 'NoOp', lr: [0, 0] };

const cases: Case[] = [
  {
    name: "seed's 2 -> 1 (STDP)",
    target: 1,
    build: () => {
      const net = Network.create(
        {
          dt: 0.1,
          populations: { pre: { n: 2, refrac_length: 0 }, post: { n: 1, refrac_length: 0 } },
          connections: { pre_post: { pre: 'pre', post: 'post', w: [[0.4434], [0.8602]], rule: STDP } },
        },
        { seed: 1 },
      );
      return { net, inputs: [{ pre: new Float64Array([0, 50]), post: new Float64Array([50]) }], rewards: [0] };
    },
  },
  { name: '100 -> 100 STDP, 1% input firing', target: 5, build: layered(100, 100, STDP, 0.01) },
  { name: '100 -> 100 MSTDP, 1% input firing', target: 5, build: layered(100, 100, MSTDP, 0.01) },
  { name: '1000 -> 1000 STDP, 1% input firing', target: 30, build: layered(1000, 1000, STDP, 0.01) },
  { name: '1000 -> 1000 MSTDP, 1% input firing', target: 30, build: layered(1000, 1000, MSTDP, 0.01) },
  { name: '10000 -> 100 STDP, 1% input firing', target: 30, build: layered(10000, 100, STDP, 0.01) },
  { name: '10000 -> 100 NoOp, 1% input firing', target: 30, build: layered(10000, 100, NOOP, 0.01) },
];

function measure(c: Case): { usPerStep: number; steps: number; postRate: number } {
  const { net, inputs, rewards } = c.build();
  const postIndex = net.populationNames.indexOf('post');
  const run = (steps: number) => {
    for (let t = 0; t < steps; t++) net.step(inputs[t % inputs.length], rewards[t % rewards.length]);
  };
  run(2000); // warm up the JIT
  // Size the timed run to about half a second.
  let steps = 1000;
  for (;;) {
    const t0 = process.hrtime.bigint();
    run(steps);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (ms > 100 || steps >= 1e7) {
      steps = Math.max(steps, Math.round((steps * 500) / Math.max(ms, 1)));
      break;
    }
    steps *= 4;
  }
  let postSpikes = 0;
  const t0 = process.hrtime.bigint();
  for (let t = 0; t < steps; t++) {
    net.step(inputs[t % inputs.length], rewards[t % rewards.length]);
    postSpikes += net.spikeCount(postIndex);
  }
  const ns = Number(process.hrtime.bigint() - t0);
  return {
    usPerStep: ns / 1000 / steps,
    steps,
    postRate: postSpikes / steps / net.populationSize('post'),
  };
}

console.log(`engine benchmark, native backend, node ${process.version}`);
console.log('case'.padEnd(40) + 'us/step'.padStart(10) + 'target'.padStart(9) + 'steps'.padStart(11) + 'post rate'.padStart(11));
for (const c of cases) {
  const r = measure(c);
  console.log(
    c.name.padEnd(40) +
      r.usPerStep.toFixed(3).padStart(10) +
      `< ${c.target}`.padStart(9) +
      String(r.steps).padStart(11) +
      `${(r.postRate * 100).toFixed(2)}%`.padStart(11),
  );
}
