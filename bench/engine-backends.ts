/**
 * The engine benchmark on both backends side by side: microseconds per
 * network step on native and on tfjs (on the platform initTfjs chooses, or
 * TFJS_BACKEND=node|wasm|cpu), and their ratio. Run with
 * `npm run bench:backends`; `-- --quick` times each case for a tenth of the
 * time.
 *
 * The networks are those of bench/networks.ts: the ones bench/engine.ts times,
 * plus large dense networks at high firing rates, where the dense tensor
 * kernels do no more work than the sparse native ones. Both backends get the same
 * inputs and rewards; the output firing rate is printed, and whether both
 * backends produced the same output spike counts over the steps both timed.
 */
import { Network, initTfjs, type BackendName } from '../src/engine/index.js';
import { DENSE_CASES, STANDARD_CASES, type BenchCase } from './networks.js';
import { sessionStepper } from './session-path.js';

const QUICK = process.argv.includes('--quick');
/** Warm-up and each of the REPS timed runs last about this long. */
const TARGET_MS = QUICK ? 50 : 500;

const cases: BenchCase[] = [...STANDARD_CASES, ...DENSE_CASES];

interface Result {
  usPerStep: number;
  steps: number;
  /** Output spikes per step of the first timed run, which starts from a reset network. */
  postSpikes: number[];
  postSize: number;
}

/** Timed runs per case; the fastest counts (the others absorb noise from other processes). */
const REPS = 3;

function measure(c: BenchCase, backend: BackendName): Result {
  const net = Network.create(c.spec, { seed: 1, backend });
  const post = net.populationNames.indexOf('post');
  const postSpikes: number[] = [];
  let record = false;
  const stepper = sessionStepper(net, c, () => {
    if (record) postSpikes.push(net.spikeCount(post));
  });
  const run = (from: number, steps: number, recording: boolean) => {
    record = recording;
    stepper(from, steps);
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
