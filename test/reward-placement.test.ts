/**
 * A reward, or deferring one, on a network with no MSTDP or MSTDPET
 * connection is a misplaced parameter: INPUT_INVALID saying so, over HTTP and
 * WebSocket alike, and the session is untouched. Where such a rule learns from it,
 * it is taken as before.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { liveServer, rawSocket, type LiveServer } from './helpers/ws.js';
import { call } from './helpers/http.js';

const populations = { a: { n: 2, refrac_length: 0 }, b: { n: 1 } };
const network = (type: string) => ({ populations, connections: { ab: { pre: 'a', post: 'b', rule: { type, lr: 0.01 } } } });
const MESSAGE = /^(reward|deferReward): this network has no MSTDP or MSTDPET connection, so no rule learns from a reward/;

let srv: LiveServer;
before(async () => {
  srv = await liveServer();
});
after(() => srv.close());

const misplaced: [string, Record<string, unknown>, string][] = [
  ['a reward', { inputs: { a: 100 }, reward: 1 }, 'reward'],
  ['a reward of 0', { reward: 0 }, 'reward'],
  ['one reward per step', { steps: 2, reward: [1, 2] }, 'reward'],
  ['deferReward', { deferReward: true }, 'deferReward'],
];

for (const type of ['NoOp', 'STDP']) {
  test(`HTTP, ${type}: rewards and deferReward are INPUT_INVALID, POST .../reward too; nothing changes`, async () => {
    const { id } = await srv.rest.createSession({ network: network(type) });
    for (const [what, body, field] of misplaced) {
      const r = await call(srv.app, 'POST', `/v1/sessions/${id}/step`, body);
      assert.equal(r.status, 400, what);
      assert.equal(r.body.error.code, 'INPUT_INVALID', what);
      assert.match(r.body.error.message, MESSAGE, what);
      assert.equal(r.body.error.details.field, field, what);
    }
    const r = await call(srv.app, 'POST', `/v1/sessions/${id}/reward`, { reward: 1 });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'INPUT_INVALID');
    assert.match(r.body.error.message, MESSAGE);
    assert.equal((await call(srv.app, 'GET', `/v1/sessions/${id}`)).body.step, 0, 'nothing ran');
    // Without them it steps as usual.
    assert.equal((await call(srv.app, 'POST', `/v1/sessions/${id}/step`, { inputs: { a: 100 } })).status, 200);
  });
}

for (const type of ['MSTDP', 'MSTDPET']) {
  test(`HTTP, ${type}: rewards and deferReward are taken`, async () => {
    const { id } = await srv.rest.createSession({ network: network(type) });
    for (const [what, body] of misplaced) assert.equal((await call(srv.app, 'POST', `/v1/sessions/${id}/step`, body)).status, 200, what);
    assert.equal((await call(srv.app, 'POST', `/v1/sessions/${id}/reward`, { reward: 1 })).status, 200);
  });
}

test('WebSocket: the same error for step and reward messages; the socket and session go on', async () => {
  const { id } = await srv.rest.createSession({ network: network('STDP') });
  const s = await rawSocket(`${srv.wsBase}/v1/sessions/${id}/ws`);
  await s.next();
  const messages = [...misplaced.map(([, body]) => ({ type: 'step', ...body })), { type: 'reward', reward: 1 }];
  for (const m of messages) {
    s.ws.send(JSON.stringify(m));
    const [reply] = await s.next();
    assert.equal(reply.type, 'error', JSON.stringify(m));
    assert.equal(reply.error.code, 'INPUT_INVALID');
    assert.match(reply.error.message, MESSAGE);
  }
  s.ws.send(JSON.stringify({ type: 'step', inputs: { a: 100 } }));
  const [ok] = await s.next();
  assert.equal(ok.type, 'reply');
  assert.equal(ok.result.step, 1);
  s.ws.close();
});
