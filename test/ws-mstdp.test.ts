/**
 * The seed's MSTDP task played over the WebSocket by the typed client, one
 * step message and one reward message per network step (step with
 * deferReward, look at the output's spikes in the reply, reward that step):
 * at least 90% right on trials 201 to 300, in JSON and in binary. At the
 * quick depth (test/helpers/fuzz.ts) it plays the first 120 trials and
 * checks the last 40 of them the same way.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { atDepth } from './helpers/fuzz.js';
import { SEED_MSTDP_NETWORK, accuracy, playSeedTask } from './helpers/seed-mstdp-task.js';
import { liveServer, type LiveServer } from './helpers/ws.js';

let srv: LiveServer;
before(async () => {
  srv = await liveServer();
});
after(() => srv.close());

/** Trials played; the accuracy is checked on the last third of them. */
const TRIALS = atDepth(300, 120);
const FROM = (TRIALS * 2) / 3 + 1;

for (const format of ['json', 'binary'] as const) {
  test(`the seed's MSTDP task over the WebSocket (${format}): >= 90% on trials ${FROM}-${TRIALS}`, async () => {
    const { id } = await srv.rest.createSession({ network: SEED_MSTDP_NETWORK, seed: 1 });
    const ws = await srv.rest.socket(id, { format });
    let steps = 0;
    let rewards = 0;
    const acks: Promise<void>[] = [];
    const { correct } = await playSeedTask(
      {
        step: async (pre) => {
          const r = await ws.step({ inputs: { pre }, deferReward: true, return: { populations: ['post'] } });
          steps++;
          assert.equal(r.pending, true);
          return r.spikes!.post[0].length > 0;
        },
        // Not awaited: the socket answers in order, so the next step waits
        // behind this reward anyway; each reply is checked as it comes.
        reward: (reward) => {
          acks.push(
            ws.reward(reward).then((r) => {
              rewards++;
              assert.equal(r.pending, false);
            }),
          );
        },
      },
      TRIALS,
    );
    await Promise.all(acks);
    assert.equal(steps, TRIALS * 50);
    assert.equal(rewards, TRIALS * 50);
    const acc = accuracy(correct, FROM, TRIALS);
    assert.ok(acc >= 0.9, `accuracy on trials ${FROM}-${TRIALS} was ${acc}`);
    // The learned weights, read over REST, favour the input that should fire.
    const w = (await srv.rest.weights(id)).weights.pre_post;
    assert.ok(w[0][0] > w[1][0], `w ${JSON.stringify(w)}`);
    assert.equal((await srv.rest.getSession(id)).step, TRIALS * 50);
    await ws.close();
  });
}
