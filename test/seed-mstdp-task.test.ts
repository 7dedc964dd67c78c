import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Network } from '../src/engine/index.js';
import { SEED_MSTDP_NETWORK, accuracy, playSeedTask } from './helpers/seed-mstdp-task.js';

for (const seed of [1, 2, 3]) {
  test(`the seed's MSTDP task in trials of 50 steps is learned (network seed ${seed})`, async () => {
    const net = Network.create(SEED_MSTDP_NETWORK, { seed });
    const { correct } = await playSeedTask(
      {
        step: (pre) => {
          net.step({ pre }, undefined, { deferReward: true });
          return net.spikeCount(1) > 0;
        },
        reward: (r) => net.reward(r),
      },
      300,
      { seed },
    );
    const acc = accuracy(correct, 201, 300);
    assert.ok(acc >= 0.9, `accuracy on trials 201-300 was ${acc}`);
    // The silent pattern's weight is driven to the floor, the other one up.
    const [[wFire], [wSilent]] = net.weights('pre_post');
    assert.ok(wFire > wSilent, `w from the FIRE input (${wFire}) should exceed w from the SILENT input (${wSilent})`);
  });
}
