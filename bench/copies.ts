/**
 * Batches and MSTDPET (issue #15), on the native backend, stepped as sessions
 * step (prepareRun and runSlice, calls of CALL_STEPS steps):
 * - one network of batch_size 16 against 16 networks of one copy, all in
 *   this process, in copy-steps per second (each copy its own input
 *   pattern and reward);
 * - MSTDPET against MSTDP on the 1000 -> 1000 network, in microseconds per
 *   step, rewarded every step and only every 50th step (an episode's end).
 * Run with `npm run bench:copies`; figures go to docs/benchmarks.md.
 */
import { Network, type RunRequest } from '../src/engine/index.js';
import { layered, type BenchCase } from './networks.js';
import { CALL_STEPS, sessionStepper } from './session-path.js';

const COPIES = 16;
const REPS = 3;

/** The fastest of REPS timed runs of `run(steps)`, in microseconds per step, after a warm-up. */
function time(run: (steps: number) => void, steps: number): number {
  run(steps);
  let best = Infinity;
  for (let r = 0; r < REPS; r++) {
    const t0 = process.hrtime.bigint();
    run(steps);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1000 / steps);
  }
  return best;
}

function batchVsSessions(c: BenchCase): void {
  const nets = Array.from({ length: COPIES }, () => Network.create(c.spec, { seed: 1 }));
  // Copy b sees the case's patterns shifted by b, so the copies differ.
  const shifted = (b: number): BenchCase => ({ ...c, inputs: c.inputs.map((_, t) => c.inputs[(t + 7 * b) % c.inputs.length]), rewards: c.rewards.map((_, t) => c.rewards[(t + b) % c.rewards.length]) });
  const steppers = nets.map((net, b) => sessionStepper(net, shifted(b)));
  let t = 0;
  const separate = time((steps) => {
    for (let from = 0; from < steps; from += CALL_STEPS) {
      const n = Math.min(CALL_STEPS, steps - from);
      for (const s of steppers) s(t, n);
      t += n;
    }
  }, 4000);
  const batch = Network.create({ ...c.spec, batch_size: COPIES }, { seed: 1 });
  const copies = Array.from({ length: COPIES }, (_, b) => shifted(b));
  let u = 0;
  const together = time((steps) => {
    for (let from = 0; from < steps; from += CALL_STEPS) {
      const n = Math.min(CALL_STEPS, steps - from);
      const pre: number[][][] = [];
      const reward: number[][] = [];
      for (let k = 0; k < n; k++) {
        const tk = u + k;
        pre.push(copies.map((cb) => Array.from(cb.inputs[tk % cb.inputs.length].pre as Float64Array)));
        reward.push(copies.map((cb) => cb.rewards[tk % cb.rewards.length]));
      }
      const plan = batch.prepareRun({ steps: n, inputs: { pre }, reward } as RunRequest);
      batch.runSlice(plan, 0, n);
      u += n;
    }
  }, 4000);
  const sepRate = 1e6 / (separate / COPIES);
  const batchRate = 1e6 / (together / COPIES);
  console.log(`${c.name}: ${COPIES} networks ${Math.round(sepRate)} copy-steps/s, one batch of ${COPIES} ${Math.round(batchRate)} copy-steps/s (${(batchRate / sepRate).toFixed(2)}x)`);
}

function etVsMstdp(): void {
  const every = (rewardEvery: number) => (c: BenchCase): BenchCase => ({ ...c, rewards: Array.from({ length: 100 }, (_, t) => ((t + 1) % rewardEvery === 0 ? (t % 3 === 0 ? -1 : 1) : 0)) });
  for (const rewardEvery of [1, 50]) {
    const us: Record<string, number> = {};
    for (const type of ['MSTDP', 'MSTDPET']) {
      const c = every(rewardEvery)(layered(`1000 -> 1000 ${type}, 1% input`, 1000, 1000, { type, lr: [0.0003, 0.0002] }, 0.01));
      const net = Network.create(c.spec, { seed: 1 });
      const step = sessionStepper(net, c);
      let t = 0;
      us[type] = time((steps) => {
        step(t, steps);
        t += steps;
      }, 2000);
    }
    console.log(`1000 -> 1000, 1% input, reward every ${rewardEvery === 1 ? 'step' : `${rewardEvery}th step`}: MSTDP ${us.MSTDP.toFixed(1)} us/step, MSTDPET ${us.MSTDPET.toFixed(1)} us/step (${(us.MSTDPET / us.MSTDP).toFixed(2)}x)`);
  }
}

batchVsSessions(layered('100 -> 100 MSTDP, 1% input', 100, 100, { type: 'MSTDP', lr: [0.0003, 0.0002] }, 0.01));
etVsMstdp();
