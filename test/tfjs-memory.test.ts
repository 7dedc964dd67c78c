/**
 * No tensor leaks: tfjs does not garbage-collect tensors, so a backend that
 * forgot one dispose per step would grow without bound in a long session.
 * The long run repeats one cycle (a pattern held 50 steps, a reward left out
 * every seventh step: 700 steps in all, every phase of it) and checks the
 * memory at the end of each: a tensor left behind once per cycle, or more
 * often, shows at the first check. TFJS_LEAK_STEPS sets its length: by
 * default 10 cycles (2 in a quick run, test/helpers/fuzz.ts); 1 000 000
 * steps was run by hand, see docs/engine.md, "Backends".
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { Network, initTfjs } from '../src/engine/index.js';
import { atDepth } from './helpers/fuzz.js';
import { loadGolden } from './helpers/golden.js';

/** The length of the cycle of stepOnce's inputs and rewards (lcm of 100 and 7). */
const CYCLE = 700;
const STEPS = process.env.TFJS_LEAK_STEPS ? Number(process.env.TFJS_LEAK_STEPS) : atDepth(10, 2) * CYCLE;
const CHECK_EVERY = CYCLE;

before(async () => {
  await initTfjs({ prefer: process.env.TFJS_BACKEND });
});

/** The seed's 2 -> 1 MSTDP network. */
const SEED_NET = {
  dt: 0.1,
  populations: { pre: { n: 2, refrac_length: 0 }, post: { n: 1, refrac_length: 0 } },
  connections: { pre_post: { pre: 'pre', post: 'post', w_min: 0, w_max: 10, rule: { type: 'MSTDP', lr: [0.0003, 0.0002] } } },
};

function memory() {
  const m = tf.memory();
  return { numTensors: m.numTensors, numDataBuffers: m.numDataBuffers, numBytes: m.numBytes };
}

test(`tensor memory stays flat over ${STEPS} steps with deferred rewards and spike reads`, () => {
  const baseline = memory();
  const net = Network.create(SEED_NET, { backend: 'tfjs', seed: 1 });
  const out = new Int32Array(2);
  let postSpikes = 0;
  const stepOnce = (t: number) => {
    // The seed's task: a pattern held for 50 steps, rewarded after the spikes are seen.
    const fire = t % 100 < 50;
    net.step({ pre: fire ? [100, 0] : [0, 100] }, undefined, { deferReward: true });
    const fired = net.readSpikes(1, out) > 0;
    if (fired) postSpikes++;
    // Every seventh reward is left out: the next step completes it with 0.
    if (t % 7 !== 0) net.reward(fired === fire ? 100 : -100);
  };
  for (let t = 0; t < 1000; t++) stepOnce(t);
  const settled = memory();
  for (let t = 0; t < STEPS; t++) {
    stepOnce(t);
    if (t % CHECK_EVERY === CHECK_EVERY - 1) {
      net.weights('pre_post');
      net.eligibility('pre_post');
      net.potentials('post');
      assert.deepEqual(memory(), settled, `after ${t + 1} steps`);
    }
  }
  assert.deepEqual(memory(), settled, `after ${STEPS} steps`);
  assert.ok(postSpikes > 0, 'the output neuron fired: the run exercised the whole update');
  net.dispose();
  assert.deepEqual(memory(), baseline, 'dispose frees every tensor of the network');
});

test('tensor memory stays flat across every session operation on a network with all rules and a recurrent connection', () => {
  const chain = loadGolden('chain-20.json');
  const baseline = memory();
  let net = Network.create(chain.network, { backend: 'tfjs', seed: 3 });
  let settled: ReturnType<typeof memory> | null = null;
  // The first round settles; at the quick depth two more compare, one of each kind of reset.
  for (let round = 0, rounds = atDepth(5, 3); round < rounds; round++) {
    for (let t = 0; t < chain.steps.length; t++) {
      const s = chain.steps[t];
      if (t % 2 === 0) net.step(s.inputs, s.reward);
      else {
        net.step(s.inputs, undefined, { deferReward: true });
        if (t % 5 !== 0) net.reward(s.reward ?? 1);
      }
      for (const p of net.populationNames) net.spikes(p);
    }
    net.run({ steps: 50, inputs: { A: 2 }, reward: 0.5 });
    net.setWeights('A_B', net.weights('A_B'));
    const next = Network.fromSnapshot(net.snapshot(), { backend: 'tfjs' });
    net.dispose();
    net = next;
    net.reset(round % 2 === 0 ? {} : { weights: true });
    if (settled === null) settled = memory();
    else assert.deepEqual(memory(), settled, `round ${round}`);
  }
  net.dispose();
  assert.deepEqual(memory(), baseline);
});
