/**
 * Two builds' engines in one process, stepping the same case run by run
 * alternately: on a shared machine, where the load moves between two
 * processes run one after the other by more than many changes are worth,
 * the runs of the two engines interleaved see the same load. Prints the
 * least and the median CPU time (process.cpuUsage) of each, in microseconds
 * a step, and their ratios (B over A).
 *
 *   node dist/bench/copies-ab.js ENGINE_A ENGINE_B [batch|networks|one:CASE] [RUNS] [STEPS]
 *
 * ENGINE_A and ENGINE_B are directories of builds' engines (their
 * dist/src/engine; '' for this build's). `batch` (the default) steps one
 * network of batch_size 16 of bench/copies.ts's case, `networks` its 16
 * networks of one copy, `one:CASE` the first case of bench/networks.ts
 * whose name contains CASE; RUNS runs of STEPS steps each (default 40 of
 * 1000), after 4000 warm-up steps.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as Engine from '../src/engine/index.js';
import { batchOf, BUSY_CASES, layered, shifted, STANDARD_CASES } from './networks.js';
import { sessionStepper } from './session-path.js';

const [dirA = '', dirB = '', what = 'batch', runsArg = '40', stepsArg = '1000'] = process.argv.slice(2);

async function engine(dir: string): Promise<typeof Engine> {
  return (dir ? await import(pathToFileURL(path.resolve(dir, 'index.js')).href) : await import('../src/engine/index.js')) as typeof Engine;
}

/** A function stepping `what` on the given engine, n steps a call. */
function stepper({ Network }: typeof Engine): (n: number) => void {
  const c = layered('100 -> 100 MSTDP, 1% input', 100, 100, { type: 'MSTDP', lr: [0.0003, 0.0002] }, 0.01);
  let steppers: ((t: number, steps: number) => void)[];
  if (what.startsWith('one:')) {
    const k = [...STANDARD_CASES, ...BUSY_CASES].find((x) => x.name.includes(what.slice(4)));
    if (k === undefined) throw new Error(`no case matches "${what.slice(4)}"`);
    steppers = [sessionStepper(Network.create(k.spec, { seed: 1 }), k)];
  } else if (what === 'batch') {
    const b = batchOf(c, 16);
    steppers = [sessionStepper(Network.create(b.spec, { seed: 1 }), b)];
  } else if (what === 'networks') {
    steppers = Array.from({ length: 16 }, (_, b) => sessionStepper(Network.create(c.spec, { seed: 1 }), shifted(c, b)));
  } else {
    throw new Error(`unknown case "${what}": batch, networks or one:CASE`);
  }
  let t = 0;
  return (n) => {
    for (const s of steppers) s(t, n);
    t += n;
  };
}

const run = [stepper(await engine(dirA)), stepper(await engine(dirB))];
const steps = Number(stepsArg);
for (const r of run) r(4000);
const times: number[][] = [[], []];
for (let k = 0; k < Number(runsArg); k++) {
  for (let e = 0; e < 2; e++) {
    const u0 = process.cpuUsage();
    run[e](steps);
    const u = process.cpuUsage(u0);
    times[e].push((u.user + u.system) / steps);
  }
}
const least = times.map((a) => Math.min(...a));
const median = times.map((a) => a.slice().sort((x, y) => x - y)[a.length >> 1]);
console.log(
  `${what}: A least ${least[0].toFixed(2)}, median ${median[0].toFixed(2)}; B least ${least[1].toFixed(2)}, median ${median[1].toFixed(2)} CPU us a step; ` +
    `B / A: least ${(least[1] / least[0]).toFixed(3)}, median ${(median[1] / median[0]).toFixed(3)}`,
);
