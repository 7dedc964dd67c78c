/**
 * The seed's three examples and its MSTDP task, driven entirely over HTTP.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadGolden } from './helpers/golden.js';
import { accuracy, playSeedTask, referenceTrajectory, SEED_MSTDP_NETWORK } from './helpers/seed-mstdp-task.js';
import { atDepth } from './helpers/fuzz.js';
import { assertClose, call, createSession, makeApp, seedStdpNetwork } from './helpers/http.js';
import { forTests } from './helpers/for-tests.js';

const golden = (name: string) => loadGolden(`${name}.json`);

describe('the seed examples over HTTP', () => {
  const app = forTests(() => makeApp());

  test('STDP with lr [0, 0.0002] and the printed initial weights ends at [[0.4012], [0.9686]]', async () => {
    const id = await createSession(app(), { network: seedStdpNetwork([0, 0.0002]) });
    const before = await call(app(), 'GET', `/v1/sessions/${id}/weights/pre_post`);
    assert.deepEqual(before.body.weights, [[0.4434], [0.8602]]);
    const r = await call(app(), 'POST', `/v1/sessions/${id}/step`, { steps: 1000, inputs: { pre: [0, 50], post: [50] }, return: { spikes: 'none', weights: true } });
    assert.equal(r.status, 200);
    assert.equal(r.body.step, 1000);
    // The seed printed 4 decimals of float32 values; agreement within 1e-4 is what it shows.
    assertClose(r.body.weights.pre_post, [[0.4012], [0.9686]], 1e-4);
    const w = await call(app(), 'GET', `/v1/sessions/${id}/weights`);
    assert.deepEqual(w.body.weights.pre_post, r.body.weights.pre_post);
  });

  test('STDP with the seed\'s own lr ends as test/golden/seed-stdp.json says', async () => {
    const g = golden('seed-stdp');
    const id = await createSession(app(), { network: seedStdpNetwork([0.0003, 0.0002]) });
    const r = await call(app(), 'POST', `/v1/sessions/${id}/step`, { steps: 1000, inputs: { pre: [0, 50], post: [50] }, return: { spikes: 'none', weights: true } });
    assert.equal(r.status, 200);
    assertClose(r.body.weights.pre_post, g.expect.weights.pre_post, 1e-4);
    assertClose(r.body.weights.pre_post, [[0.4012], [0.6832]], 1e-4);
  });

  test('NoOp leaves the weights unchanged', async () => {
    const g = golden('seed-noop');
    const weights = g.initial_weights!.pre_post;
    const network = structuredClone(g.network) as { connections: { pre_post: { w?: number[][] } } };
    network.connections.pre_post.w = weights;
    const id = await createSession(app(), { network });
    const r = await call(app(), 'POST', `/v1/sessions/${id}/step`, { steps: 1000, inputs: g.steps[0].inputs, return: { spikes: 'counts', weights: true } });
    assert.equal(r.status, 200);
    assert.ok(r.body.spikeCounts.pre[0] > 0, 'the driven pre neuron fires');
    assert.deepEqual(r.body.weights.pre_post, weights);
  });

  // At the quick depth the first 40 trials: the same trajectory, too early to judge the learning by.
  const trials = atDepth(300, 40);
  test(`the MSTDP task in ${trials} trials of 50 steps, a reward per step after looking at its spikes: the engine's trajectory exactly${trials >= 300 ? ', >= 90% right on trials 201-300' : ''}`, async () => {
    const id = await createSession(app(), { network: SEED_MSTDP_NETWORK, seed: 1 });
    const stepUrl = `/v1/sessions/${id}/step`;
    const rewardUrl = `/v1/sessions/${id}/reward`;
    const fired: boolean[] = [];
    const { correct } = await playSeedTask(
      {
        step: async (pre) => {
          const r = await call(app(), 'POST', stepUrl, { inputs: { pre }, deferReward: true, return: { populations: ['post'] } });
          assert.equal(r.status, 200);
          assert.equal(r.body.pending, true);
          fired.push(r.body.spikes.post[0].length > 0);
          return fired[fired.length - 1];
        },
        reward: async (reward) => {
          const r = await call(app(), 'POST', rewardUrl, { reward });
          assert.equal(r.status, 200);
        },
      },
      trials,
      { seed: 1 },
    );
    const reference = await referenceTrajectory(1, trials);
    assert.deepEqual(fired, reference.fired, 'the output fires at the steps it fires in-process');
    const w = await call(app(), 'GET', `/v1/sessions/${id}/weights/pre_post`);
    assert.deepEqual(w.body.weights, reference.weights);
    const s = await call(app(), 'GET', `/v1/sessions/${id}`);
    assert.equal(s.body.step, trials * 50);
    if (trials >= 300) {
      const acc = accuracy(correct, 201, 300);
      assert.ok(acc >= 0.9, `accuracy on trials 201-300 was ${acc}`);
      const [[wFire], [wSilent]] = w.body.weights;
      assert.ok(wFire > wSilent, `w from the FIRE input (${wFire}) should exceed w from the SILENT input (${wSilent})`);
    }
  });
});
