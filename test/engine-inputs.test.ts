/**
 * Inputs reach the kernel the same way whichever call brings them: a step
 * depends only on the network's state and that step's input, not on what
 * earlier calls left in the engine's input buffers (held vectors, per-step
 * vectors, numbers, populations without input), for step() and run() alike.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Network, type RunRequest } from '../src/engine/index.js';
import { Rng } from '../src/engine/random.js';

const spec = {
  dt: 0.1,
  populations: {
    // 40 neurons: the native kernel's sparse input path (population.ts).
    a: { n: 40, refrac_length: 0.5 },
    b: { n: 3, refrac_length: 0 },
    out: { n: 4, refrac_length: 0 },
  },
  connections: {
    a_out: { pre: 'a', post: 'out', w_min: 0, w_max: 3, rule: { type: 'STDP', lr: [0.01, 0.02] } },
    b_out: { pre: 'b', post: 'out', w_min: 0, w_max: 3, rule: { type: 'MSTDP', lr: 0.05 } },
    out_a: { pre: 'out', post: 'a', w_min: -2, w_max: 0, rule: { type: 'NoOp' } },
  },
};

const sizes: Record<string, number> = { a: 40, b: 3, out: 4 };

/** One population's input for a step, as a vector (mostly zeros), or a number. */
function drawInput(rng: Rng, n: number): number[] | number {
  const kind = rng.nextFloat();
  if (kind < 0.15) return rng.nextFloat() < 0.5 ? 0 : 20 * rng.nextFloat();
  const x = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    const u = rng.nextFloat();
    if (u < 0.15) x[i] = 60 + 60 * rng.nextFloat();
    else if (u < 0.2) x[i] = -10 * rng.nextFloat();
  }
  return x;
}

function dense(x: number[] | number, n: number): number[] {
  return typeof x === 'number' ? new Array<number>(n).fill(x) : x;
}

test('a step gives the same bits as on a fresh network from its state, for every way inputs arrive', () => {
  const rng = new Rng(7);
  const net = Network.create(spec, { seed: 2 });
  let before = JSON.stringify(net.snapshot());
  let checked = 0;
  let outSpikes = 0;
  let aSpikes = 0;
  /** Steps a network restored from `before` with this step's input (its buffers never held anything) and compares. */
  const check = (inputs: Record<string, number[] | number>, reward: number) => {
    const fresh = Network.fromSnapshot(JSON.parse(before));
    fresh.step(inputs, reward);
    const after = JSON.stringify(net.snapshot());
    assert.equal(JSON.stringify(fresh.snapshot()), after, `step ${net.stepCount}`);
    before = after;
    checked++;
    outSpikes += net.spikeCount(net.population('out'));
    aSpikes += net.spikeCount(net.population('a'));
  };
  for (let call = 0; call < 120; call++) {
    // Each population has input in a call with probability 2/3.
    const pops = Object.keys(sizes).filter(() => rng.nextFloat() < 0.67);
    const reward = rng.nextFloat() < 0.5 ? 0 : 1 - 2 * rng.nextFloat();
    const how = rng.nextFloat();
    if (how < 0.4) {
      // step(), with the vector as an array, a Float64Array or a Float32Array of the same values.
      const inputs: Record<string, number[] | number> = {};
      const given: Record<string, number[] | number | Float64Array | Float32Array> = {};
      for (const p of pops) {
        const x = drawInput(rng, sizes[p]);
        const form = rng.nextFloat();
        inputs[p] = typeof x === 'number' ? x : x.map((v) => Math.fround(v));
        const v = inputs[p];
        given[p] = typeof v === 'number' ? v : form < 0.33 ? v : form < 0.67 ? Float64Array.from(v) : Float32Array.from(v);
      }
      net.step(given, reward);
      check(inputs, reward);
    } else {
      // run(): each population's input held for every step, or one vector per step.
      const steps = 1 + Math.floor(rng.nextFloat() * 6);
      const perStep: Record<string, (number[] | number)[]> = {};
      const request: RunRequest = { steps, inputs: {}, reward };
      for (const p of pops) {
        if (rng.nextFloat() < 0.5) {
          const x = drawInput(rng, sizes[p]);
          perStep[p] = new Array(steps).fill(x);
          request.inputs![p] = x;
        } else {
          const xs = Array.from({ length: steps }, () => dense(drawInput(rng, sizes[p]), sizes[p]));
          perStep[p] = xs;
          request.inputs![p] = xs;
        }
      }
      net.run(request, (t) => {
        const inputs: Record<string, number[] | number> = {};
        for (const p of pops) inputs[p] = perStep[p][t];
        check(inputs, reward);
      });
    }
  }
  assert.ok(checked > 200, `${checked} steps checked`);
  assert.ok(outSpikes > 0 && aSpikes > 0, 'the inputs make neurons fire');
});
