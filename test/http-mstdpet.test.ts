/**
 * MSTDPET over HTTP: the episode of docs/model.md rewarded only at its end,
 * its eligibility trace in the state, and a snapshot taken with the episode's
 * reward still to come continuing exactly.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { call, createSession, makeApp } from './helpers/http.js';

const NETWORK = {
  dt: 0.1,
  populations: { pre: { n: 2, refrac_length: 0 }, post: { n: 1, refrac_length: 0 } },
  connections: { pre_post: { pre: 'pre', post: 'post', w_min: 0, w_max: 10, w: [[5], [5]], rule: { type: 'MSTDPET', lr: [0.5, 0], tc_e_trace: 25 } } },
};

let app: FastifyInstance;
before(async () => {
  app = await makeApp();
});
after(() => app.close());

test('the model document\'s episode: a reward after 50 steps potentiates the input that made the output fire', async () => {
  const id = await createSession(app, { network: NETWORK });
  const run = await call(app, 'POST', `/v1/sessions/${id}/step`, { steps: 50, inputs: { pre: [100, 0] }, return: { spikes: 'counts' } });
  assert.equal(run.status, 200);
  assert.ok(run.body.spikeCounts.post[0] > 0, 'the output fired during the episode');
  const state = await call(app, 'GET', `/v1/sessions/${id}/state`);
  assert.equal(state.body.connections.pre_post.rule, 'MSTDPET');
  assert.ok(state.body.connections.pre_post.eligibility_trace[0][0] !== 0, 'the trace holds the episode');
  assert.deepEqual(state.body.connections.pre_post.eligibility_trace[1], [0], 'the silent input earned nothing');
  const end = await call(app, 'POST', `/v1/sessions/${id}/step`, { reward: 1, return: { weights: true } });
  assert.equal(end.status, 200);
  const w = end.body.weights.pre_post;
  assert.ok(w[0][0] > 5, `potentiated: ${w[0][0]}`);
  assert.equal(w[1][0], 5);
  const detail = await call(app, 'GET', `/v1/sessions/${id}`);
  assert.equal(detail.body.network.connections.pre_post.rule.tc_e_trace, 25);
});

test('a snapshot taken before the deferred end-of-episode reward restores and continues exactly', async () => {
  const a = await createSession(app, { network: NETWORK });
  await call(app, 'POST', `/v1/sessions/${a}/step`, { steps: 30, inputs: { pre: [100, 0] } });
  assert.equal((await call(app, 'POST', `/v1/sessions/${a}/step`, { inputs: { pre: [100, 100] }, deferReward: true })).body.pending, true);
  const snap = await call(app, 'GET', `/v1/sessions/${a}/snapshot`);
  assert.equal(snap.status, 200);
  assert.equal(snap.body.state.connections.pre_post.rule.et.length, 2);
  const b = await createSession(app, { snapshot: snap.body });
  for (const id of [a, b]) {
    assert.equal((await call(app, 'POST', `/v1/sessions/${id}/reward`, { reward: -2 })).status, 200);
    await call(app, 'POST', `/v1/sessions/${id}/step`, { steps: 20, inputs: { pre: [0, 100] }, reward: 0.5 });
  }
  const sa = (await call(app, 'GET', `/v1/sessions/${a}/snapshot`)).body;
  const sb = (await call(app, 'GET', `/v1/sessions/${b}/snapshot`)).body;
  assert.deepEqual(sb.state, sa.state);
});

test('tc_e_trace on another rule is SPEC_INVALID naming the field', async () => {
  const network = structuredClone(NETWORK) as any;
  network.connections.pre_post.rule.type = 'MSTDP';
  const r = await call(app, 'POST', '/v1/sessions', { network });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, 'SPEC_INVALID');
  assert.match(r.body.error.message, /^network\.connections\.pre_post\.rule\.tc_e_trace: only MSTDPET has this parameter, not MSTDP/);
});
