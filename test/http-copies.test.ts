/**
 * A batch over HTTP (model.md, "Batches"): inputs per copy or for every
 * copy, rewards per copy, spikes, counts and potentials per copy with the
 * `copies` selector, a deferred reward per copy, snapshots that restore the
 * batch, and errors naming the field.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../src/config.js';
import { call, createSession, makeApp } from './helpers/http.js';

const NETWORK = {
  batch_size: 3,
  populations: { pre: { n: 2, refrac_length: 0 }, post: { n: 1, refrac_length: 0 } },
  connections: { pre_post: { pre: 'pre', post: 'post', w_max: 10, w: [[5], [5]], rule: { type: 'MSTDP', lr: 0.5, reduction: 'mean' } } },
};

let app: FastifyInstance;
before(async () => {
  app = await makeApp();
});
after(() => app.close());

test('inputs per copy reach their copy; spikes, counts and potentials come per copy, for the copies asked for', async () => {
  const id = await createSession(app, { network: NETWORK });
  const r = await call(app, 'POST', `/v1/sessions/${id}/step`, {
    steps: 20,
    inputs: { pre: [[100, 0], [0, 0], [0, 100]] },
    reward: [1, 0, -1],
    return: { spikes: 'counts', potentials: true },
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body.copies, [0, 1, 2]);
  const counts = r.body.spikeCounts.pre;
  assert.equal(counts.length, 3);
  assert.ok(counts[0][0] > 0 && counts[0][1] === 0, 'copy 0: input 0 only');
  assert.deepEqual(counts[1], [0, 0], 'copy 1: no input');
  assert.ok(counts[2][1] > 0 && counts[2][0] === 0, 'copy 2: input 1 only');
  assert.equal(r.body.potentials.post.length, 3);
  const some = await call(app, 'POST', `/v1/sessions/${id}/step`, { steps: 2, inputs: { pre: [100, 100] }, return: { copies: [2, 0], potentials: true } });
  assert.equal(some.status, 200, JSON.stringify(some.body));
  assert.deepEqual(some.body.copies, [2, 0]);
  assert.equal(some.body.spikes.pre.length, 2, 'one entry per step');
  assert.equal(some.body.spikes.pre[0].length, 2, 'each with the two copies asked for');
  assert.equal(some.body.potentials.pre.length, 2);
});

test('a deferred reward per copy; a snapshot restores the batch and continues exactly', async () => {
  const a = await createSession(app, { network: NETWORK });
  await call(app, 'POST', `/v1/sessions/${a}/step`, { steps: 10, inputs: { pre: [[100, 0], [0, 100], [100, 100]] }, reward: [[1, 1, 1], [0, 0, 0], 2, 0, 0, 0, 0, 0, 0, [0, -1, 1]] });
  assert.equal((await call(app, 'POST', `/v1/sessions/${a}/step`, { inputs: { pre: [100, 0] }, deferReward: true })).body.pending, true);
  const snap = (await call(app, 'GET', `/v1/sessions/${a}/snapshot`)).body;
  assert.equal(snap.version, 2);
  assert.equal(snap.network.batch_size, 3);
  const b = await createSession(app, { snapshot: snap });
  for (const id of [a, b]) {
    assert.equal((await call(app, 'POST', `/v1/sessions/${id}/reward`, { reward: [1, -1, 0.5] })).status, 200);
    await call(app, 'POST', `/v1/sessions/${id}/step`, { steps: 5, inputs: { pre: Array.from({ length: 5 }, () => [[0, 100], [100, 0], [0, 0]]) }, reward: 1 });
  }
  const sa = (await call(app, 'GET', `/v1/sessions/${a}/snapshot`)).body;
  const sb = (await call(app, 'GET', `/v1/sessions/${b}/snapshot`)).body;
  assert.deepEqual(sb.state, sa.state);
});

test('wrong shapes are INPUT_INVALID naming the field, and nothing runs', async () => {
  const id = await createSession(app, { network: NETWORK });
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ inputs: { pre: [[100, 0], [0, 0]] } }, 'inputs.pre', /one vector per copy: expected 3 vectors of 2, got 2/],
    [{ reward: [1, 2] }, 'reward', /must be a number \(every copy\) or 3 numbers \(one per copy\), got 2/],
    [{ return: { copies: [3] } }, 'return.copies[0]', /must be a copy of the batch, an integer from 0 to 2/],
  ];
  for (const [body, field, message] of cases) {
    const r = await call(app, 'POST', `/v1/sessions/${id}/step`, body);
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.error.code, 'INPUT_INVALID');
    assert.equal(r.body.error.details.field, field);
    assert.match(r.body.error.message, message);
  }
  assert.equal((await call(app, 'GET', `/v1/sessions/${id}`)).body.step, 0);
  const big = await call(app, 'POST', '/v1/sessions', { network: { ...NETWORK, batch_size: 100000 } });
  assert.equal(big.status, 422);
  assert.equal(big.body.error.code, 'LIMIT_EXCEEDED');
  assert.match(big.body.error.message, /^network\.batch_size: 100000 copies exceeds the limit/);
});

test('MAX_BATCH_SIZE: a server set to 4 takes 4 copies and refuses 5 naming the setting; a session\'s details report it', async () => {
  const small = await makeApp({ maxBatchSize: loadConfig({ MAX_BATCH_SIZE: '4' }).maxBatchSize });
  try {
    const four = await call(small, 'POST', '/v1/sessions', { network: { ...NETWORK, batch_size: 4 } });
    assert.equal(four.status, 201, JSON.stringify(four.body));
    assert.equal(four.body.limits.maxBatchSize, 4);
    const five = await call(small, 'POST', '/v1/sessions', { network: { ...NETWORK, batch_size: 5 } });
    assert.equal(five.status, 422, JSON.stringify(five.body));
    assert.equal(five.body.error.code, 'LIMIT_EXCEEDED');
    assert.equal(five.body.error.details.limit, 'maxBatchSize');
    assert.equal(five.body.error.details.max, 4);
    assert.match(five.body.error.message, /^network\.batch_size: 5 copies exceeds the limit of 4 \(MAX_BATCH_SIZE\)/);
    // A snapshot of a larger batch is held to the same limit.
    const snap = (await call(app, 'GET', `/v1/sessions/${await createSession(app, { network: { ...NETWORK, batch_size: 5 } })}/snapshot`)).body;
    const restored = await call(small, 'POST', '/v1/sessions', { snapshot: snap });
    assert.equal(restored.status, 422, JSON.stringify(restored.body));
    assert.equal(restored.body.error.details.limit, 'maxBatchSize');
  } finally {
    await small.close();
  }
  assert.equal((await call(app, 'POST', '/v1/sessions', { network: { ...NETWORK, batch_size: 64 } })).status, 201, 'the default is 64');
  assert.equal((await call(app, 'POST', '/v1/sessions', { network: { ...NETWORK, batch_size: 65 } })).status, 422);
});
