/**
 * One benchmark case, for profilers and instruction counters: builds the named
 * case of bench/networks.ts, warms it up, then runs a fixed number of steps.
 * Deterministic (no timing decides how many steps run), so two runs that
 * differ only in STEPS give the instructions of those steps under
 * `valgrind --tool=callgrind` (use node --single-threaded there). Steps as
 * sessions do (bench/session-path.ts).
 *
 *   node dist/bench/engine-one.js CASE_SUBSTRING [STEPS] [WARMUP]
 */
import { Network } from '../src/engine/index.js';
import { BUSY_CASES, COPIES_CASES, DENSE_CASES, STANDARD_CASES } from './networks.js';
import { sessionStepper } from './session-path.js';

const [pattern = '', stepsArg = '1000', warmArg = '2000'] = process.argv.slice(2);
const c = [...STANDARD_CASES, ...BUSY_CASES, ...DENSE_CASES, ...COPIES_CASES].find((k) => k.name.includes(pattern));
if (!c) {
  console.error(`no case matches "${pattern}"; cases: ${[...STANDARD_CASES, ...BUSY_CASES, ...DENSE_CASES, ...COPIES_CASES].map((k) => k.name).join('; ')}`);
  process.exit(2);
}
const steps = Number(stepsArg);
const warm = Number(warmArg);
const net = Network.create(c.spec, { seed: 1 });
const stepper = sessionStepper(net, c);
let t = 0;
const run = (n: number) => {
  stepper(t, n);
  t += n;
};
run(warm);
const t0 = process.hrtime.bigint();
run(steps);
const us = Number(process.hrtime.bigint() - t0) / 1000 / steps;
console.log(`${c.name}: ${steps} steps after ${warm} warm-up, ${us.toFixed(3)} us/step`);
