/**
 * The multiplexed WebSocket (/v1/ws): one socket driving many sessions. The
 * hello; commands naming their session, answered in order with the session
 * named, each as its session's own socket (or HTTP) would answer it, one
 * session's commands in their order; step_batch as POST /v1/batch/step in
 * one message (an outcome per item, the limit on items); errors from the one
 * catalogue; ownership under API keys (another key's session is not found,
 * in single commands and batches alike; no key, or a ticket, is refused);
 * every acknowledged step on disk (kill -9 right after the replies); the
 * close on shutdown; and the TypeScript client's MultiplexSocket.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MultiplexSocket, RestClient, SpikeserveClientError } from '../src/client/index.js';
import { SEED_MSTDP_NETWORK } from './helpers/seed-mstdp-task.js';
import { request, startServer } from './helpers/server.js';
import { DEFAULT_HELLO_LIMITS, liveServer, rawSocket, type RawSocket } from './helpers/ws.js';

const ALICE = 'ws-mux-alice-0123456789abcdef';
const BOB = 'ws-mux-bob-0123456789abcdef';
const KEYS = [
  { id: 'alice', secret: ALICE },
  { id: 'bob', secret: BOB },
];
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

async function mux(wsBase: string, headers: Record<string, string> = {}): Promise<RawSocket> {
  const s = await rawSocket(`${wsBase}/v1/ws`, { headers });
  const [hello] = await s.next();
  assert.equal(hello.type, 'hello', JSON.stringify(hello));
  return s;
}

test('the hello says the socket is multiplexed, with its limits; a plain GET gets 426, a query parameter is refused (4400)', async () => {
  const srv = await liveServer({ maxBatchItems: 7 });
  try {
    const s = await rawSocket(`${srv.wsBase}/v1/ws`);
    const [hello] = await s.next();
    assert.deepEqual(hello, {
      type: 'hello',
      protocol: 1,
      multiplex: true,
      limits: { ...DEFAULT_HELLO_LIMITS, maxBatchItems: 7 },
    });
    s.ws.close();
    const get = await fetch(`${srv.base}/v1/ws`);
    assert.equal(get.status, 426);
    assert.equal(((await get.json()) as { error: { code: string } }).error.code, 'UPGRADE_REQUIRED');
    const q = await rawSocket(`${srv.wsBase}/v1/ws?format=binary`);
    const closed = await q.closed;
    assert.equal(closed.code, 4400);
    assert.equal(q.messages[0].error.code, 'REQUEST_INVALID');
    assert.equal(q.messages[0].error.details.field, 'query.format');
  } finally {
    await srv.close();
  }
});

test('commands name their session: replies in order, naming it, each as the session\'s own socket gives; one session\'s commands run in their order', async () => {
  const srv = await liveServer();
  try {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await srv.rest.createSession({ network: SEED_MSTDP_NETWORK, seed: 1 + i })).id);
    const twins: string[] = [];
    for (let i = 0; i < 3; i++) twins.push((await srv.rest.createSession({ network: SEED_MSTDP_NETWORK, seed: 1 + i })).id);
    const s = await mux(srv.wsBase);
    // Interleaved, all sent before any reply: a deferred step and its reward per session, then a multi-step run, then reads.
    const sent: { type: string; session: string }[] = [];
    const send = (m: Record<string, unknown> & { type: string; session: string }) => {
      sent.push(m);
      s.ws.send(JSON.stringify({ id: sent.length, ...m }));
    };
    for (const id of ids) send({ type: 'step', session: id, inputs: { pre: [100, 0] }, deferReward: true, return: { spikes: 'counts' } });
    for (const [i, id] of ids.entries()) send({ type: 'reward', session: id, reward: i - 1 });
    for (const id of ids) send({ type: 'step', session: id, steps: 25, inputs: { pre: [100, 0] }, reward: 1, return: { potentials: true } });
    for (const id of ids) send({ type: 'weights', session: id, connection: 'pre_post' });
    send({ type: 'set_weights', session: ids[0], connection: 'pre_post', weights: [[5], [0.5]] });
    send({ type: 'reset', session: ids[0] });
    send({ type: 'snapshot', session: ids[1] });
    const replies = await s.next(sent.length);
    for (const [i, r] of replies.entries()) {
      assert.equal(r.type, 'reply', JSON.stringify(r));
      assert.equal(r.id, i + 1);
      assert.equal(r.request, sent[i].type);
      assert.equal(r.session, sent[i].session);
    }
    // The same commands on each twin's own socket give the same results.
    for (const [i, id] of twins.entries()) {
      const ws = await srv.rest.socket(id);
      assert.deepEqual(replies[i].result, await ws.step({ inputs: { pre: [100, 0] }, deferReward: true, return: { spikes: 'counts' } }));
      assert.deepEqual(replies[3 + i].result, await ws.reward(i - 1));
      assert.deepEqual(replies[6 + i].result, await ws.step({ steps: 25, inputs: { pre: [100, 0] }, reward: 1, return: { potentials: true } }));
      assert.deepEqual(replies[9 + i].result, await ws.weights('pre_post'));
      await ws.close();
    }
    assert.equal(replies[0].result.pending, true);
    assert.deepEqual(replies[3].result, { step: 1, pending: false });
    assert.equal(replies[6].result.step, 26);
    assert.deepEqual(replies[12].result.weights, [[5], [0.5]]);
    assert.deepEqual(replies[13].result, { step: 0, pending: false, weightsReset: false });
    assert.equal(replies[14].result.step, 26);
    s.ws.close();
  } finally {
    await srv.close();
  }
});

test('a session\'s commands and step_batch items run in the order sent, across messages: a step sent after a batch does not overtake its item', async () => {
  const srv = await liveServer();
  try {
    const a = (await srv.rest.createSession({ network: SEED_MSTDP_NETWORK, seed: 1 })).id;
    const b = (await srv.rest.createSession({ network: SEED_MSTDP_NETWORK, seed: 2 })).id;
    const s = await mux(srv.wsBase);
    s.ws.send(JSON.stringify({ type: 'step', id: 1, session: a, steps: 2 }));
    s.ws.send(JSON.stringify({ type: 'step_batch', id: 2, items: [{ id: b, steps: 3 }, { id: a }] }));
    s.ws.send(JSON.stringify({ type: 'step', id: 3, session: a, steps: 4 }));
    s.ws.send(JSON.stringify({ type: 'step_batch', id: 4, items: [{ id: a }] }));
    const [r1, r2, r3, r4] = await s.next(4);
    assert.equal(r1.result.step, 2);
    assert.deepEqual(
      r2.result.results.map((o: { result: { step: number } }) => o.result.step),
      [3, 3],
    );
    assert.equal(r3.result.step, 7);
    assert.equal(r4.result.results[0].result.step, 8);
    s.ws.close();
  } finally {
    await srv.close();
  }
});

test('step_batch steps many sessions in one message: an outcome per item, one item\'s error failing no other, items of a session in order; too many items are refused whole', async () => {
  const srv = await liveServer({ maxBatchItems: 4 });
  try {
    const a = (await srv.rest.createSession({ network: SEED_MSTDP_NETWORK, seed: 1 })).id;
    const b = (await srv.rest.createSession({ network: SEED_MSTDP_NETWORK, seed: 2 })).id;
    const s = await mux(srv.wsBase);
    s.ws.send(
      JSON.stringify({
        type: 'step_batch',
        id: 'b1',
        items: [
          { id: a, inputs: { pre: [100, 0] }, steps: 3, reward: 1 },
          { id: 'no-such-session', inputs: { pre: [100, 0] } },
          { id: b, inputs: { pre: [1, 2, 3] } },
          { id: a, inputs: { pre: [0, 100] }, deferReward: true, return: { spikes: 'counts' } },
        ],
      }),
    );
    s.ws.send(JSON.stringify({ type: 'step_batch', id: 'b2', items: [a, a, b, b, a].map((id) => ({ id })) }));
    s.ws.send(JSON.stringify({ type: 'step_batch', id: 'b3', items: [{ id: a, inputs: { pre: 'loud' } }] }));
    const [r1, r2, r3] = await s.next(3);
    assert.equal(r1.type, 'reply');
    assert.equal(r1.id, 'b1');
    assert.equal(r1.request, 'step_batch');
    assert.equal(r1.session, undefined);
    const out = r1.result.results;
    assert.equal(out.length, 4);
    assert.equal(out[0].ok, true);
    assert.equal(out[0].result.step, 3);
    assert.equal(out[1].ok, false);
    assert.deepEqual(out[1].error.details, { sessionId: 'no-such-session' });
    assert.equal(out[1].error.code, 'SESSION_NOT_FOUND');
    assert.equal(out[2].ok, false);
    assert.equal(out[2].error.code, 'INPUT_INVALID');
    assert.deepEqual(out[3].result, { step: 4, steps: 1, pending: true, spikeCounts: { pre: [0, 1], post: [0] } });
    // Five items, one over the limit: nothing ran.
    assert.equal(r2.type, 'error');
    assert.equal(r2.id, 'b2');
    assert.equal(r2.error.code, 'LIMIT_EXCEEDED');
    assert.deepEqual(r2.error.details, { field: 'items', limit: 'maxBatchItems', max: 4, value: 5 });
    assert.equal((await srv.rest.getSession(a)).step, 4);
    // An item the schema refuses refuses the message, as the HTTP batch's body.
    assert.equal(r3.type, 'error');
    assert.equal(r3.error.code, 'REQUEST_INVALID');
    assert.match(r3.error.details.field, /^items\[0\]\.inputs/);
    s.ws.close();
  } finally {
    await srv.close();
  }
});

test('errors come from the one catalogue: an unknown type, a missing session, bad inputs (naming the session), an unknown session; the socket stays open', async () => {
  const srv = await liveServer();
  try {
    const { id } = await srv.rest.createSession({ network: SEED_MSTDP_NETWORK });
    const s = await mux(srv.wsBase);
    s.ws.send(JSON.stringify({ type: 'subscribe', id: 1, session: id, stream: 'spikes' }));
    s.ws.send(JSON.stringify({ type: 'step', id: 2, inputs: { pre: [1, 0] } }));
    s.ws.send(JSON.stringify({ type: 'step', id: 3, session: id, inputs: { pre: [1] } }));
    s.ws.send(JSON.stringify({ type: 'step', id: 4, session: 'nope' }));
    s.ws.send(JSON.stringify({ type: 'step', id: 5, session: id, format: 'binary' }));
    s.ws.send('not json');
    s.ws.send(JSON.stringify({ type: 'step', id: 6, session: id }));
    const r = await s.next(7);
    assert.equal(r[0].error.code, 'MESSAGE_INVALID');
    assert.match(r[0].error.message, /^type: unknown type "subscribe"; one of step, reward, reset, weights, set_weights, snapshot, step_batch$/);
    assert.equal(r[1].error.code, 'REQUEST_INVALID');
    assert.equal(r[1].error.details.field, 'session');
    assert.equal(r[1].request, 'step');
    assert.deepEqual(r[2], { type: 'error', id: 3, request: 'step', session: id, error: { code: 'INPUT_INVALID', message: 'inputs.pre: must have 2 entries (one per neuron), got 1', details: { field: 'inputs.pre' } } });
    assert.equal(r[3].error.code, 'SESSION_NOT_FOUND');
    assert.equal(r[3].session, 'nope');
    assert.equal(r[4].error.code, 'REQUEST_INVALID', 'no binary replies here: format is not a field');
    assert.equal(r[5].error.code, 'MESSAGE_INVALID');
    assert.equal(r[6].type, 'reply');
    assert.equal(r[6].result.step, 1);
    s.ws.close();
  } finally {
    await srv.close();
  }
});

test('with API_KEYS: the socket drives its key\'s sessions only; another key\'s is SESSION_NOT_FOUND as one that never existed; no key or a ticket is refused (4401)', async () => {
  const srv = await liveServer({ apiKeys: KEYS });
  try {
    const alice = new RestClient(srv.base, { apiKey: ALICE });
    const bob = new RestClient(srv.base, { apiKey: BOB });
    const mine = (await alice.createSession({ network: SEED_MSTDP_NETWORK })).id;
    const theirs = (await bob.createSession({ network: SEED_MSTDP_NETWORK })).id;

    const none = await rawSocket(`${srv.wsBase}/v1/ws`);
    assert.equal((await none.closed).code, 4401);
    assert.equal(none.messages[0].error.code, 'UNAUTHORIZED');
    const ticket = ((await fetch(`${srv.base}/v1/sessions/${mine}/ws-ticket`, { method: 'POST', headers: bearer(ALICE) }).then((r) => r.json())) as { ticket: string }).ticket;
    const withTicket = await rawSocket(`${srv.wsBase}/v1/ws?ticket=${ticket}`);
    assert.equal((await withTicket.closed).code, 4401);
    assert.match(withTicket.messages[0].error.message, /^query\.ticket: /);

    const s = await mux(srv.wsBase, bearer(ALICE));
    for (const type of ['step', 'weights', 'snapshot', 'reset']) s.ws.send(JSON.stringify({ type, session: theirs }));
    s.ws.send(JSON.stringify({ type: 'step', session: 'never-existed' }));
    s.ws.send(JSON.stringify({ type: 'step', session: mine }));
    s.ws.send(JSON.stringify({ type: 'step_batch', items: [{ id: theirs }, { id: mine }, { id: 'never-existed' }] }));
    const r = await s.next(7);
    const message = (sid: string) => r[4].error.message.replace('never-existed', sid);
    for (let i = 0; i < 4; i++) {
      assert.equal(r[i].error.code, 'SESSION_NOT_FOUND');
      assert.equal(r[i].error.message, message(theirs), 'worded as for an id that never existed');
    }
    assert.equal(r[5].result.step, 1);
    const [x, y, z] = r[6].result.results;
    assert.deepEqual([x.ok, y.ok, z.ok], [false, true, false]);
    assert.equal(x.error.message, message(theirs));
    assert.equal(z.error.message, message('never-existed'));
    assert.equal((await bob.getSession(theirs)).step, 0, 'the other key\'s session was not touched');
    s.ws.close();
  } finally {
    await srv.close();
  }
});

test('every acknowledged step is on disk: kill -9 right after the replies, restart, and each session has its steps', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spikeserve-mux-'));
  try {
    let srv = await startServer({ env: { DATA_DIR: dir, OVERLOAD_EVENT_LOOP_DELAY_MS: '0' } });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await request(srv.base, 'POST', '/v1/sessions', { network: SEED_MSTDP_NETWORK, seed: i })).body.id);
    const s = await mux(srv.base.replace(/^http/, 'ws'));
    s.ws.send(JSON.stringify({ type: 'step_batch', items: ids.map((id, i) => ({ id, steps: i + 1, inputs: { pre: [100, 0] }, reward: 1 })) }));
    for (const id of ids) s.ws.send(JSON.stringify({ type: 'step', session: id, steps: 10 }));
    const r = await s.next(5);
    assert.ok(r[0].result.results.every((x: { ok: boolean }) => x.ok));
    assert.ok(r.slice(1).every((x) => x.type === 'reply'));
    srv.child.kill('SIGKILL');
    await srv.exited;
    srv = await startServer({ env: { DATA_DIR: dir, OVERLOAD_EVENT_LOOP_DELAY_MS: '0' } });
    try {
      for (const [i, id] of ids.entries()) assert.equal((await request(srv.base, 'GET', `/v1/sessions/${id}`)).body.step, i + 11);
    } finally {
      srv.child.kill('SIGTERM');
      await srv.exited;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('shutdown: what was read is answered, then the socket closes with 1001', async () => {
  const srv = await liveServer();
  const { id } = await srv.rest.createSession({ network: SEED_MSTDP_NETWORK });
  const s = await mux(srv.wsBase);
  s.ws.send(JSON.stringify({ type: 'step', id: 1, session: id, steps: 50 }));
  const [reply] = await s.next();
  assert.equal(reply.result.step, 50);
  const closing = srv.close();
  const closed = await s.closed;
  await closing;
  assert.equal(closed.code, 1001);
  assert.match(closed.reason, /^SHUTTING_DOWN: /);
});

test('the TypeScript client: MultiplexSocket steps sessions one by one and in batches, raising each error\'s code', async () => {
  const srv = await liveServer();
  try {
    const a = (await srv.rest.createSession({ network: SEED_MSTDP_NETWORK, seed: 1 })).id;
    const b = (await srv.rest.createSession({ network: SEED_MSTDP_NETWORK, seed: 2 })).id;
    const s = await srv.rest.multiplex();
    assert.ok(s instanceof MultiplexSocket);
    assert.equal(s.hello.multiplex, true);
    // Sent together, answered in order.
    const [r1, r2, w, batch] = await Promise.all([
      s.step(a, { inputs: { pre: [100, 0] }, deferReward: true }),
      s.reward(a, 1),
      s.weights(b, 'pre_post'),
      s.stepBatch([
        { id: a, steps: 2 },
        { id: b, inputs: { pre: [1] } },
      ]),
    ]);
    assert.equal(r1.pending, true);
    assert.deepEqual(r2, { step: 1, pending: false });
    assert.equal(w.connection, 'pre_post');
    const [first, second] = batch.results;
    assert.ok(first.ok);
    assert.equal(first.result.step, 3);
    assert.ok(!second.ok);
    assert.equal(second.error.code, 'INPUT_INVALID');
    await assert.rejects(s.step('nope'), (e: unknown) => e instanceof SpikeserveClientError && e.code === 'SESSION_NOT_FOUND');
    assert.equal((await s.reset(b)).step, 0);
    assert.equal((await s.snapshot(a)).step, 3);
    assert.deepEqual((await s.setWeights(b, 'pre_post', [[1], [2]])).weights, [[1], [2]]);
    assert.equal(s.inFlight, 0);
    await s.close();
    await assert.rejects(s.step(a), (e: unknown) => e instanceof SpikeserveClientError && e.code === 'CONNECTION_CLOSED');
  } finally {
    await srv.close();
  }
});
