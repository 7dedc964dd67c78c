/**
 * Fingerprints of the benchmark networks' trajectories, for checking that a
 * change to the engine keeps every bit: for each case of bench/networks.ts,
 * a SHA-256 of every step's spikes (every population) and of the snapshot
 * at the end (JSON: potentials, traces, weights, rule state). Run it on two
 * builds and compare the lines:
 *
 *   node dist/bench/trajectories.js [STEPS] [ENGINE] [CASE_SUBSTRING]
 *
 * ENGINE is the directory of another build's engine (its dist/src/engine),
 * to fingerprint that build with this script's cases. Steps as sessions do
 * (bench/session-path.ts), so the input path is part of what is compared.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as Engine from '../src/engine/index.js';
import { BUSY_CASES, COPIES_CASES, DENSE_CASES, STANDARD_CASES } from './networks.js';
import { sessionStepper } from './session-path.js';

const steps = Number(process.argv[2] ?? 3000);
const engine = (process.argv[3] ? await import(pathToFileURL(path.resolve(process.argv[3], 'index.js')).href) : await import('../src/engine/index.js')) as typeof Engine;

const only = process.argv[4] ?? '';

for (const c of [...STANDARD_CASES, ...BUSY_CASES, ...DENSE_CASES, ...COPIES_CASES]) {
  if (!c.name.includes(only)) continue;
  const net = engine.Network.create(c.spec, { seed: 1 });
  const spikes = createHash('sha256');
  const pops = net.populationNames.map((_, p) => p);
  const out = new Int32Array(Math.max(...net.sizes));
  const copies = net.copies ?? 1;
  sessionStepper(net, c, () => {
    for (const p of pops) {
      for (let b = 0; b < copies; b++) {
        const n = net.readSpikes(p, out, b);
        spikes.update(new Uint8Array(out.buffer, 0, 4 * n));
        spikes.update(new Uint8Array(Int32Array.of(-1).buffer));
      }
    }
  })(0, steps);
  const snapshot = createHash('sha256').update(JSON.stringify(net.snapshot())).digest('hex').slice(0, 16);
  console.log(`${c.name.padEnd(58)} ${steps} steps  spikes ${spikes.digest('hex').slice(0, 16)}  snapshot ${snapshot}`);
  net.dispose();
}
