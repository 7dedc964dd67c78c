/**
 * Engine benchmark: microseconds per network step on the native backend, for
 * the networks the issues set targets for (bench/networks.ts), stepped as
 * sessions step them (bench/session-path.ts), then the busy networks (inputs
 * held, outputs firing). Each case prints the share of input and output
 * neurons that fired per step over its timed runs. Run with `npm run bench`;
 * `node dist/bench/engine.js busy` runs the cases whose name holds "busy".
 * That the step allocates nothing is a test (test/engine-allocation.test.ts),
 * not a figure here.
 *
 *   node dist/bench/engine.js [CASE_SUBSTRING] [ENGINE]
 *
 * ENGINE is the directory of another build's engine (its dist/src/engine),
 * to time that build with these cases and this stepping, so that two builds
 * can be compared run for run.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as Engine from '../src/engine/index.js';
import { BUSY_CASES, STANDARD_CASES, type BenchCase } from './networks.js';
import { sessionStepper } from './session-path.js';

const { Network } = (process.argv[3] ? await import(pathToFileURL(path.resolve(process.argv[3], 'index.js')).href) : await import('../src/engine/index.js')) as typeof Engine;

/** Timed runs per case; the fastest counts (the others absorb noise from other processes). */
const REPS = 3;

function measure(c: BenchCase): { usPerStep: number; steps: number; preRate: number; postRate: number } {
  const net = Network.create(c.spec, { seed: 1 });
  const pre = net.populationNames.indexOf('pre');
  const post = net.populationNames.indexOf('post');
  let t = 0;
  let preSpikes = 0;
  let postSpikes = 0;
  const stepper = sessionStepper(net, c, () => {
    preSpikes += net.spikeCount(pre);
    postSpikes += net.spikeCount(post);
  });
  const run = (steps: number) => {
    stepper(t, steps);
    t += steps;
  };
  run(2000); // warm up the JIT
  // Size the timed runs to about half a second each.
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
  let best = Infinity;
  preSpikes = 0;
  postSpikes = 0;
  for (let rep = 0; rep < REPS; rep++) {
    const t0 = process.hrtime.bigint();
    run(steps);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1000 / steps);
  }
  return {
    usPerStep: best,
    steps,
    preRate: preSpikes / (REPS * steps) / net.populationSize('pre'),
    postRate: postSpikes / (REPS * steps) / net.populationSize('post'),
  };
}

const only = process.argv[2] ?? '';

console.log(`engine benchmark, native backend, node ${process.version} (best of ${REPS} runs), engine ${process.argv[3] ?? 'of this build'}`);
console.log('case'.padEnd(34) + 'us/step'.padStart(10) + 'target'.padStart(9) + 'steps'.padStart(11) + 'input rate'.padStart(12) + 'post rate'.padStart(11));
for (const c of [...STANDARD_CASES, ...BUSY_CASES]) {
  if (!c.name.includes(only)) continue;
  const r = measure(c);
  console.log(
    c.name.padEnd(34) +
      r.usPerStep.toFixed(3).padStart(10) +
      (c.targetUs === undefined ? '' : `< ${c.targetUs}`).padStart(9) +
      String(r.steps).padStart(11) +
      `${(r.preRate * 100).toFixed(2)}%`.padStart(12) +
      `${(r.postRate * 100).toFixed(2)}%`.padStart(11),
  );
}
