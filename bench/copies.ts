/**
 * Batches and MSTDPET (issue #15), on the native backend, stepped as sessions
 * step (prepareRun and runSlice, calls of CALL_STEPS steps), in CPU time
 * (process.cpuUsage, user + system: on a shared machine wall-clock time
 * mostly measures the other processes):
 * - one network of batch_size 16 against 16 networks of one copy, all in
 *   this process, in copy-steps per CPU second (each copy its own input
 *   pattern and reward);
 * - MSTDPET against MSTDP on the 1000 -> 1000 network, in CPU microseconds
 *   per step, rewarded every step, every 10th and only every 50th step (an
 *   episode's end).
 *
 *   npm run bench:copies
 *   node dist/bench/copies.js [ENGINE] [batch|mstdpet]
 *
 * ENGINE is the directory of another build's engine (its dist/src/engine),
 * to time that build with these cases (as bench/engine-cpu.ts); the second
 * argument runs one of the two parts only. Figures go to docs/benchmarks.md.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as Engine from '../src/engine/index.js';
import { batchOf, layered, rewardedEvery, shifted, type BenchCase } from './networks.js';
import { CALL_STEPS, sessionStepper } from './session-path.js';

const COPIES = 16;
const REPS = 5;
const { Network } = (process.argv[2] ? await import(pathToFileURL(path.resolve(process.argv[2], 'index.js')).href) : await import('../src/engine/index.js')) as typeof Engine;
const only = process.argv[3] ?? '';

/** The least CPU time of REPS runs of `run(steps)`, in microseconds per step, after a warm-up of as many steps. */
function time(run: (steps: number) => void, steps: number): number {
  run(steps);
  let best = Infinity;
  for (let r = 0; r < REPS; r++) {
    const u0 = process.cpuUsage();
    run(steps);
    const u = process.cpuUsage(u0);
    best = Math.min(best, (u.user + u.system) / steps);
  }
  return best;
}

function batchVsSessions(c: BenchCase): void {
  // Copy b of the batch is the network that shifted(c, b) steps; both get their inputs as Float64Arrays.
  const steppers = Array.from({ length: COPIES }, (_, b) => sessionStepper(Network.create(c.spec, { seed: 1 }), shifted(c, b)));
  let t = 0;
  const separate = time((steps) => {
    for (let from = 0; from < steps; from += CALL_STEPS) {
      const n = Math.min(CALL_STEPS, steps - from);
      for (const s of steppers) s(t, n);
      t += n;
    }
  }, 4000);
  const batch = sessionStepper(Network.create(batchOf(c, COPIES).spec, { seed: 1 }), batchOf(c, COPIES));
  let u = 0;
  const together = time((steps) => {
    batch(u, steps);
    u += steps;
  }, 4000);
  const sepRate = 1e6 / (separate / COPIES);
  const batchRate = 1e6 / (together / COPIES);
  console.log(
    `${c.name}: ${COPIES} networks ${separate.toFixed(2)} CPU us a step of all ${COPIES} (${Math.round(sepRate)} copy-steps/s), ` +
      `one batch of ${COPIES} ${together.toFixed(2)} CPU us a step (${Math.round(batchRate)} copy-steps/s): ${(batchRate / sepRate).toFixed(2)}x`,
  );
}

function etVsMstdp(): void {
  for (const rewardEvery of [1, 10, 50]) {
    const us: Record<string, number> = {};
    for (const type of ['MSTDP', 'MSTDPET']) {
      const c = rewardedEvery(layered(`1000 -> 1000 ${type}, 1% input`, 1000, 1000, { type, lr: [0.0003, 0.0002] }, 0.01), rewardEvery);
      const net = Network.create(c.spec, { seed: 1 });
      const step = sessionStepper(net, c);
      let t = 0;
      us[type] = time((steps) => {
        step(t, steps);
        t += steps;
      }, 2000);
    }
    console.log(`1000 -> 1000, 1% input, reward every ${rewardEvery === 1 ? 'step' : `${rewardEvery}th step`}: MSTDP ${us.MSTDP.toFixed(1)} CPU us/step, MSTDPET ${us.MSTDPET.toFixed(1)} CPU us/step (${(us.MSTDPET / us.MSTDP).toFixed(2)}x)`);
  }
}

if (only === '' || only === 'batch') batchVsSessions(layered('100 -> 100 MSTDP, 1% input', 100, 100, { type: 'MSTDP', lr: [0.0003, 0.0002] }, 0.01));
if (only === '' || only === 'mstdpet') etVsMstdp();
