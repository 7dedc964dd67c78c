/**
 * The peer benchmark: the busy STDP networks of bench/networks.ts on
 * spikeserve (stepped as sessions step them, bench/session-path.ts) and on
 * Brian2's C++ standalone device (bench/peers/brian2_stdp.py, the same
 * model, the same initial weights, the same held input currents), each for
 * the same number of steps from the same start, the fastest of REPS runs.
 * Brian2's time is that of its compiled loop: code generation and compiling
 * are left out. Prints both times per step, their ratio, and each side's
 * input and output firing rates (the same network gives the same rates).
 * Run with `npm run bench:peers`; where Brian2 is not installed (Debian:
 * `apt-get install python3-brian`), it says so and skips. BRIAN2_PYTHON
 * names the Python interpreter to use.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Network } from '../src/engine/index.js';
import { BUSY_CASES, type BenchCase } from './networks.js';
import { sessionStepper } from './session-path.js';

const REPS = 3;
/** Steps per case: about a second of spikeserve's time each, on the 2-core VM. */
const STEPS: Record<string, number> = { '2 -> 1': 1_000_000, '100 -> 100': 400_000, '1000 -> 1000': 20_000, '10000 -> 100': 20_000 };
const SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'peers', 'brian2_stdp.py');

/** The first interpreter that imports brian2, with Brian2's version, or null. */
function findBrian2(): { python: string; version: string } | null {
  const candidates = [process.env.BRIAN2_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => !!p);
  for (const python of candidates) {
    const r = spawnSync(python, ['-c', 'import brian2; print(brian2.__version__)'], { encoding: 'utf8' });
    if (r.status === 0) return { python, version: r.stdout.trim() };
  }
  return null;
}

interface Side {
  usPerStep: number;
  preRate: number;
  postRate: number;
}

function spikeserve(c: BenchCase, steps: number): Side {
  let best = Infinity;
  let rates = { pre: 0, post: 0 };
  for (let rep = 0; rep < REPS; rep++) {
    const net = Network.create(c.spec, { seed: 1 });
    let pre = 0;
    let post = 0;
    const stepper = sessionStepper(net, c, () => {
      pre += net.spikeCount(0);
      post += net.spikeCount(1);
    });
    const t0 = process.hrtime.bigint();
    stepper(0, steps);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1000 / steps);
    rates = { pre: pre / steps / net.sizes[0], post: post / steps / net.sizes[1] };
    net.dispose();
  }
  return { usPerStep: best, preRate: rates.pre, postRate: rates.post };
}

function brian2(c: BenchCase, steps: number, python: string): Side {
  const net = Network.create(c.spec, { seed: 1 });
  const { pre, post } = net.spec.populations;
  const conn = net.spec.connections.pre_post;
  const dir = mkdtempSync(path.join(tmpdir(), 'spikeserve-brian2-'));
  try {
    const file = path.join(dir, 'case.json');
    writeFileSync(file, JSON.stringify({
      dt: net.spec.dt,
      steps,
      reps: REPS,
      pre,
      post,
      x_pre: Array.from(c.inputs[0].pre as Float64Array),
      w: Array.from(net.weightsFlat('pre_post')),
      w_min: conn.w_min,
      w_max: conn.w_max,
      lr: conn.rule.lr,
    }));
    const r = spawnSync(python, [SCRIPT, file, path.join(dir, 'build')], { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`Brian2 failed on ${c.name}:\n${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { run_s: number; spikes: { pre: number; post: number } };
    return { usPerStep: (out.run_s * 1e6) / steps, preRate: out.spikes.pre / steps / pre.n, postRate: out.spikes.post / steps / post.n };
  } finally {
    net.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

const found = findBrian2();
if (found === null) {
  console.log('peer benchmark skipped: Brian2 is not installed (Debian: apt-get install python3-brian; or set BRIAN2_PYTHON to a Python that imports brian2)');
  process.exit(0);
}
const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const fmt = (us: number) => (us >= 100 ? us.toFixed(0) : us >= 10 ? us.toFixed(1) : us.toFixed(2));
console.log(`peer benchmark: spikeserve (native, node ${process.version}) and Brian2 ${found.version} C++ standalone (${found.python}), best of ${REPS} runs, us per step`);
console.log(
  'case'.padEnd(26) + 'steps'.padStart(9) + 'spikeserve'.padStart(12) + 'Brian2'.padStart(9) + 'ratio'.padStart(8) +
    '  input rate (ours / Brian2)'.padEnd(30) + 'output rate (ours / Brian2)',
);
for (const c of BUSY_CASES) {
  if (c.spec.connections?.pre_post.rule?.type !== 'STDP') continue;
  const size = Object.keys(STEPS).find((k) => c.name.startsWith(k)) as string;
  const steps = STEPS[size];
  const ours = spikeserve(c, steps);
  const theirs = brian2(c, steps, found.python);
  console.log(
    c.name.padEnd(26) + String(steps).padStart(9) + fmt(ours.usPerStep).padStart(12) + fmt(theirs.usPerStep).padStart(9) +
      `${(ours.usPerStep / theirs.usPerStep).toFixed(2)}x`.padStart(8) +
      `  ${pct(ours.preRate)} / ${pct(theirs.preRate)}`.padEnd(30) + `${pct(ours.postRate)} / ${pct(theirs.postRate)}`,
  );
}
