/**
 * CPU time per step (user + system, process.cpuUsage) of the engine
 * benchmark's cases, for a loaded machine where wall-clock time mostly
 * measures the other processes: each case runs fixed stretches of its
 * trajectory, the best of REPS counts.
 *
 *   node dist/bench/engine-cpu.js [CASE_SUBSTRING] [ENGINE] [STEPS] [step]
 *
 * ENGINE is the directory of another build's engine (its dist/src/engine),
 * as for bench/engine.ts. With `step` last, each step is one Network.step()
 * call (what the engine benchmark timed before it stepped as sessions do)
 * instead of calls of CALL_STEPS steps through prepareRun and runSlice.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as Engine from '../src/engine/index.js';
import { BUSY_CASES, STANDARD_CASES } from './networks.js';
import { sessionStepper } from './session-path.js';

const REPS = 5;
const only = process.argv[2] ?? '';
const { Network } = (process.argv[3] ? await import(pathToFileURL(path.resolve(process.argv[3], 'index.js')).href) : await import('../src/engine/index.js')) as typeof Engine;
const stepsArg = Number(process.argv[4] || 0);
const oneCallPerStep = process.argv[5] === 'step';

for (const c of [...STANDARD_CASES, ...BUSY_CASES]) {
  if (!c.name.includes(only)) continue;
  const net = Network.create(c.spec, { seed: 1 });
  const stepper = oneCallPerStep
    ? (from: number, n: number) => {
        for (let t = from; t < from + n; t++) net.step(c.inputs[t % c.inputs.length], c.rewards[t % c.rewards.length] as number);
      }
    : sessionStepper(net, c);
  let t = 0;
  stepper(t, 3000);
  t += 3000;
  const steps = stepsArg > 0 ? stepsArg : net.sizes.reduce((a, b) => a + b, 0) >= 2000 ? 2000 : 20000;
  let best = Infinity;
  for (let r = 0; r < REPS; r++) {
    const u0 = process.cpuUsage();
    stepper(t, steps);
    t += steps;
    const u = process.cpuUsage(u0);
    best = Math.min(best, (u.user + u.system) / steps);
  }
  console.log(`${c.name.padEnd(34)} ${best.toFixed(3).padStart(9)} CPU us/step (steps ${steps} x ${REPS})`);
  net.dispose();
}
