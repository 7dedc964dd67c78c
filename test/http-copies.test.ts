/**
 * A batch over HTTP (model.md, "Batches"): inputs per copy or for every
 * copy, rewards per copy, spikes, counts and potentials per copy with the
 * `copies` selector, a deferred reward per copy, snapshots that restore the
 * batch, the state per copy (the same selector), and errors naming the field.
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

test('GET state of a batch: potentials, traces, refractory counters, last spikes and eligibility per copy, for the copies asked for; a network of one copy as before', async () => {
  const et = { ...NETWORK, connections: { pre_post: { ...NETWORK.connections.pre_post, rule: { type: 'MSTDPET', lr: 0.5, tc_e_trace: 20, reduction: 'mean' } } } };
  for (const network of [NETWORK, et]) {
    const id = await createSession(app, { network });
    const step = await call(app, 'POST', `/v1/sessions/${id}/step`, {
      steps: 20,
      inputs: { pre: [[100, 0], [0, 0], [0, 100]] },
      deferReward: true,
      return: { spikes: 'steps', potentials: true },
    });
    assert.equal(step.status, 200, JSON.stringify(step.body));
    const all = await call(app, 'GET', `/v1/sessions/${id}/state`);
    assert.equal(all.status, 200, JSON.stringify(all.body));
    assert.deepEqual(all.body.copies, [0, 1, 2]);
    assert.equal(all.body.pending, true);
    for (const pop of ['pre', 'post']) {
      const s = all.body.populations[pop];
      // The same per-copy values as the step's reply: potentials after it, the spikes of its last step.
      assert.deepEqual(s.v, step.body.potentials[pop]);
      assert.deepEqual(s.spikes, step.body.spikes[pop][19]);
      for (const field of ['traces', 'refractory']) assert.equal(s[field].length, 3, `${pop}.${field}: one per copy`);
    }
    assert.notDeepEqual(all.body.populations.pre.traces[0], all.body.populations.pre.traces[2], 'copies 0 and 2 had different inputs');
    const c = all.body.connections.pre_post;
    assert.equal(c.eligibility.length, 3);
    assert.deepEqual(c.eligibility[1], [[0], [0]], 'copy 1 had no input: no eligibility');
    assert.notDeepEqual(c.eligibility[0], c.eligibility[2]);
    if (network === et) assert.equal(c.eligibility_trace.length, 3);
    else assert.equal(c.eligibility_trace, undefined);
    // Some copies, in the order asked for.
    const some = await call(app, 'GET', `/v1/sessions/${id}/state?copies=2&copies=0`);
    assert.equal(some.status, 200, JSON.stringify(some.body));
    assert.deepEqual(some.body.copies, [2, 0]);
    assert.deepEqual(some.body.populations.pre.traces, [all.body.populations.pre.traces[2], all.body.populations.pre.traces[0]]);
    assert.deepEqual(some.body.connections.pre_post.eligibility, [c.eligibility[2], c.eligibility[0]]);
    assert.deepEqual((await call(app, 'GET', `/v1/sessions/${id}/state?copies=1`)).body.populations.post.refractory, [all.body.populations.post.refractory[1]]);
  }
  const id = await createSession(app, { network: NETWORK });
  const bad = await call(app, 'GET', `/v1/sessions/${id}/state?copies=0&copies=3`);
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, 'INPUT_INVALID');
  assert.equal(bad.body.error.details.field, 'query.copies[1]');
  const twice = await call(app, 'GET', `/v1/sessions/${id}/state?copies=1&copies=1`);
  assert.equal(twice.status, 400);
  assert.equal(twice.body.error.code, 'REQUEST_INVALID');
  // One copy: no copy level, as before; only copy 0 may be asked for.
  const { batch_size: _b, ...one } = NETWORK;
  const single = await createSession(app, { network: one });
  await call(app, 'POST', `/v1/sessions/${single}/step`, { inputs: { pre: [100, 0] }, deferReward: true });
  const plain = await call(app, 'GET', `/v1/sessions/${single}/state`);
  assert.equal(plain.body.copies, undefined);
  assert.equal(plain.body.populations.pre.v.length, 2);
  assert.equal(typeof plain.body.populations.pre.v[0], 'number');
  assert.deepEqual(plain.body.connections.pre_post.eligibility.length, 2);
  assert.deepEqual((await call(app, 'GET', `/v1/sessions/${single}/state?copies=0`)).body, plain.body);
  const other = await call(app, 'GET', `/v1/sessions/${single}/state?copies=1`);
  assert.equal(other.status, 400);
  assert.equal(other.body.error.code, 'INPUT_INVALID');
  assert.match(other.body.error.message, /one copy/);
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
