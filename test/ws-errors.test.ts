/**
 * What goes wrong on a WebSocket gets the documented answer: an invalid
 * message an `error` reply with its code (the socket stays open); a broken
 * or oversized frame, a second controller, a bad connect, a deleted session
 * a close with the documented code. In every case the session is unharmed:
 * it ends exactly where a twin given only the valid commands ends.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SpikeserveClientError } from '../src/client/index.js';
import { SEED_MSTDP_NETWORK } from './helpers/seed-mstdp-task.js';
import { liveServer, rawSocket, waitFor, type LiveServer } from './helpers/ws.js';

describe('WebSocket errors', () => {
  let srv: LiveServer;
  before(async () => {
    srv = await liveServer();
  });
  after(() => srv.close());

  async function sessionPair(): Promise<[string, string]> {
    const a = await srv.rest.createSession({ network: SEED_MSTDP_NETWORK, seed: 2 });
    const b = await srv.rest.createSession({ network: SEED_MSTDP_NETWORK, seed: 2 });
    return [a.id, b.id];
  }

  /** The two sessions are in the same state. */
  async function assertSameState(id: string, twin: string): Promise<void> {
    const [s1, s2] = await Promise.all([srv.rest.snapshot(id), srv.rest.snapshot(twin)]);
    assert.deepEqual(s1, s2, 'the session ends exactly where its twin, given only the valid commands, ends');
  }

  test('invalid messages get an error reply with their code, in their place; the socket stays open and the session unharmed', async () => {
    const [id, twin] = await sessionPair();
    const raw = await rawSocket(`${srv.wsBase}/v1/sessions/${id}/ws`);
    await raw.next();
    const valid = { type: 'step', inputs: { pre: [100, 0] }, reward: 1 };
    const cases: [string | Buffer, string, RegExp, unknown?][] = [
      ['{"type": "step", ', 'MESSAGE_INVALID', /^not valid JSON \(.*\); send one JSON object per message$/],
      ['[1, 2]', 'MESSAGE_INVALID', /^a message must be a JSON object with a "type"$/],
      ['42', 'MESSAGE_INVALID', /^a message must be a JSON object/],
      [JSON.stringify({ id: 1 }), 'MESSAGE_INVALID', /^type: required; one of step, reward, reset, weights, set_weights, snapshot, subscribe, unsubscribe$/, 1],
      [JSON.stringify({ type: 'jump', id: 'j' }), 'MESSAGE_INVALID', /^type: unknown type "jump"; one of step,/, 'j'],
      [JSON.stringify({ type: 'step', id: { a: 1 } }), 'MESSAGE_INVALID', /^id: must be a string of at most 128 characters or a number$/],
      [JSON.stringify({ type: 'step', id: 'x'.repeat(129) }), 'MESSAGE_INVALID', /^id: must be/],
      [Buffer.from([1, 2, 3]), 'MESSAGE_INVALID', /^binary frames are not accepted from clients/],
      [JSON.stringify({ type: 'step', id: 2, inputs: { pre: [1] } }), 'INPUT_INVALID', /^inputs\.pre: must have 2 entries \(one per neuron\), got 1$/, 2],
      [JSON.stringify({ type: 'step', id: 3, inputs: { pre: ['a', 1] } }), 'INPUT_INVALID', /^inputs\.pre/, 3],
      [JSON.stringify({ type: 'step', id: 4, inputs: { out: 1 } }), 'INPUT_INVALID', /^inputs\.out: unknown population; this network has pre, post$/, 4],
      [JSON.stringify({ type: 'step', id: 5, steps: 0 }), 'INPUT_INVALID', /^steps: /, 5],
      [JSON.stringify({ type: 'step', id: 6, steps: 100_001 }), 'LIMIT_EXCEEDED', /^steps: 100001 exceeds the limit of 100000 steps per call/, 6],
      [JSON.stringify({ type: 'step', id: 7, stride: 2 }), 'REQUEST_INVALID', /^stride: unknown field$/, 7],
      [JSON.stringify({ type: 'step', id: 8, format: 'xml' }), 'REQUEST_INVALID', /^format: must be `json` or `binary`/, 8],
      [JSON.stringify({ type: 'reward', id: 9 }), 'INPUT_INVALID', /^reward: required$/, 9],
      [JSON.stringify({ type: 'reward', id: 10, reward: 'lots' }), 'INPUT_INVALID', /^reward: /, 10],
      [JSON.stringify({ type: 'reward', id: 11, reward: 1 }), 'REWARD_NOT_PENDING', /^no step is waiting for a reward/, 11],
      [JSON.stringify({ type: 'set_weights', id: 12, connection: 'pre_post', weights: [[1, 2]] }), 'WEIGHTS_INVALID', /^weights/, 12],
      [JSON.stringify({ type: 'set_weights', id: 13, connection: 'nope', weights: [[1], [2]] }), 'CONNECTION_NOT_FOUND', /nope/, 13],
      [JSON.stringify({ type: 'weights', id: 14, connection: 'nope' }), 'CONNECTION_NOT_FOUND', /nope/, 14],
      [JSON.stringify({ type: 'reset', id: 15, weights: 'yes' }), 'REQUEST_INVALID', /^weights: /, 15],
      [JSON.stringify({ type: 'subscribe', id: 16, stream: 'voltages' }), 'REQUEST_INVALID', /^stream: must be spikes, potentials, weights or rewards$/, 16],
    ];
    let validSent = 0;
    for (const [data, code, message, id] of cases) {
      raw.ws.send(data);
      const [reply] = await raw.next();
      assert.equal(reply.type, 'error', `${String(data).slice(0, 40)} gets an error reply`);
      assert.equal(reply.error.code, code, `${String(data).slice(0, 40)}: ${reply.error.message}`);
      assert.match(reply.error.message, message);
      assert.equal(reply.id, id, 'the id is echoed when the message had a valid one');
      // The socket still serves: a valid step right after each error.
      raw.ws.send(JSON.stringify(valid));
      const [ok] = await raw.next();
      assert.equal(ok.type, 'reply', JSON.stringify(ok));
      validSent++;
      await srv.rest.step(twin, { inputs: { pre: [100, 0] }, reward: 1 });
    }
    assert.equal(raw.ws.readyState, raw.ws.OPEN);
    assert.equal((await srv.rest.getSession(id)).step, validSent);
    await assertSameState(id, twin);
    raw.ws.close();
  });

  test('a step on a deleted session: queued steps get SESSION_NOT_FOUND, then the socket closes with 4404 and the reason', async () => {
    const { id } = await srv.rest.createSession({ network: SEED_MSTDP_NETWORK });
    const other = await srv.rest.createSession({ network: SEED_MSTDP_NETWORK });
    const ws = await srv.rest.socket(id);
    const otherWs = await srv.rest.socket(other.id);
    const steps = [0, 1, 2, 3].map(() => ws.step({ steps: 100_000, return: { spikes: 'none' } }).then(() => 'ok', (e: SpikeserveClientError) => e));
    await srv.rest.deleteSession(id);
    const outcomes = await Promise.all(steps);
    const failed = outcomes.filter((o) => o !== 'ok') as SpikeserveClientError[];
    assert.ok(failed.length >= 3, `steps queued behind the delete fail (${outcomes.length - failed.length} ran first)`);
    for (const e of failed) {
      assert.equal(e.code, 'SESSION_NOT_FOUND');
      assert.equal(e.closeCode, undefined, 'an error reply, sent before the close');
    }
    const closed = await ws.whenClosed();
    assert.deepEqual(closed, { code: 4404, reason: 'SESSION_NOT_FOUND: session deleted' });
    await assert.rejects(ws.step(), { code: 'SESSION_NOT_FOUND' });
    // Connecting to it now: refused with the same code.
    await assert.rejects(srv.rest.socket(id), (e: SpikeserveClientError) => {
      assert.equal(e.code, 'SESSION_NOT_FOUND');
      assert.equal(e.closeCode, 4404);
      assert.match(e.message, new RegExp(`no session with id "${id}"`));
      return true;
    });
    // Another session on the server carries on.
    assert.equal((await otherWs.step()).step, 1);
    await otherWs.close();
  });

  test('a second controller is refused with WS_CONTROLLER_TAKEN and 4409; the first carries on', async () => {
    const [id, twin] = await sessionPair();
    const first = await srv.rest.socket(id);
    await first.step({ inputs: { pre: [100, 0] } });
    const raw = await rawSocket(`${srv.wsBase}/v1/sessions/${id}/ws?role=controller`);
    const [refusal] = await raw.next();
    assert.equal(refusal.type, 'error');
    assert.equal(refusal.error.code, 'WS_CONTROLLER_TAKEN');
    assert.equal(refusal.error.message, 'the session already has a controller; connect with ?role=observer to watch it');
    assert.deepEqual(refusal.error.details, { sessionId: id });
    const closed = await raw.closed;
    assert.deepEqual(closed, { code: 4409, reason: 'WS_CONTROLLER_TAKEN: the session already has a controller; connect with ?role=observer to watch it' });
    assert.equal(raw.messages.length, 1, 'no hello');
    await assert.rejects(srv.rest.socket(id), { code: 'WS_CONTROLLER_TAKEN', closeCode: 4409 });
    await first.step({ inputs: { pre: [100, 0] } });
    await srv.rest.step(twin, { steps: 2, inputs: { pre: [100, 0] } });
    await assertSameState(id, twin);
    // Once the first has closed, the place is free.
    await first.close();
    const next = await srv.rest.socket(id);
    assert.equal(next.hello.session.step, 2);
    await next.close();
  });

  test('bad connect parameters, unknown sessions and paths are refused with their codes', async () => {
    const { id } = await srv.rest.createSession({ network: SEED_MSTDP_NETWORK });
    for (const [query, message] of [
      ['role=boss', /^query\.role: must be one of controller, observer, got "boss"$/],
      ['format=xml', /^query\.format: must be one of json, binary, got "xml"$/],
      ['rolee=observer', /^query\.rolee: unknown parameter; the socket takes role, format, ticket$/],
    ] as const) {
      const raw = await rawSocket(`${srv.wsBase}/v1/sessions/${id}/ws?${query}`);
      const [refusal] = await raw.next();
      assert.equal(refusal.error.code, 'REQUEST_INVALID');
      assert.match(refusal.error.message, message);
      assert.equal((await raw.closed).code, 4400);
    }
    await assert.rejects(srv.rest.socket('no-such-session'), { code: 'SESSION_NOT_FOUND', closeCode: 4404 });
    // Not a socket path at all: HTTP 404 before any upgrade.
    await assert.rejects(
      rawSocket(`${srv.wsBase}/v1/sessions/${id}/socket`),
      (e: Error) => /Unexpected server response: 404/.test(e.message),
    );
    // The session was not touched by any of it.
    assert.equal((await srv.rest.getSession(id)).step, 0);
  });

  test('an oversized frame closes the socket with 1009; the session is unharmed and takes a new controller', async () => {
    const small = await liveServer({ wsMaxPayloadBytes: 4096 });
    try {
      const { id } = await small.rest.createSession({ network: SEED_MSTDP_NETWORK, seed: 1 });
      const ws = await small.rest.socket(id);
      assert.equal(ws.hello.limits.maxPayloadBytes, 4096);
      await ws.step({ inputs: { pre: [100, 0] } });
      const before = await small.rest.snapshot(id);
      const big = ws.step({ inputs: { pre: [100, 0] }, return: { populations: ['x'.repeat(5000)] } });
      await assert.rejects(big, { code: 'CONNECTION_CLOSED', closeCode: 1009 });
      assert.equal((await ws.whenClosed()).code, 1009);
      assert.deepEqual(await small.rest.snapshot(id), before);
      await waitFor(() => small.app.websockets.connectionsOf(id).length === 0, 'the server to drop the socket');
      const again = await small.rest.socket(id);
      assert.equal((await again.step()).step, 2);
      await again.close();
    } finally {
      await small.close();
    }
  });

  test('a broken frame (unmasked, from a client) closes the socket with 1002', async () => {
    const { id } = await srv.rest.createSession({ network: SEED_MSTDP_NETWORK });
    const raw = await rawSocket(`${srv.wsBase}/v1/sessions/${id}/ws`);
    await raw.next();
    // A text frame without the mask every client frame must carry.
    const socket = (raw.ws as unknown as { _socket: import('node:net').Socket })._socket;
    socket.write(Buffer.from([0x81, 0x02, 0x7b, 0x7d]));
    assert.equal((await raw.closed).code, 1002);
    assert.equal((await srv.rest.getSession(id)).step, 0);
  });

  test('past the message rate a connection gets RATE_LIMITED replies, not runs; within it, it is served again', async () => {
    const limited = await liveServer({ wsRateLimitPerS: 2, wsRateBurst: 5 });
    try {
      const { id } = await limited.rest.createSession({ network: SEED_MSTDP_NETWORK });
      const raw = await rawSocket(`${limited.wsBase}/v1/sessions/${id}/ws`);
      await raw.next();
      for (let i = 0; i < 20; i++) raw.ws.send(JSON.stringify({ type: 'step', id: i }));
      const replies = await raw.next(20);
      const ok = replies.filter((r) => r.type === 'reply');
      const refused = replies.filter((r) => r.type === 'error');
      assert.ok(ok.length >= 5 && ok.length <= 6, `${ok.length} served`);
      assert.deepEqual(
        ok.map((r) => r.id),
        ok.map((_, i) => i),
        'the burst is served first',
      );
      for (const r of refused) {
        assert.equal(r.error.code, 'RATE_LIMITED');
        assert.match(r.error.message, /^more than 2 messages a second on this connection \(WS_RATE_LIMIT_PER_S, burst WS_RATE_BURST\); this message was not run, retry in \d+ ms$/);
        assert.ok(r.error.details.retryAfterMs > 0 && r.error.details.retryAfterMs <= 500);
      }
      assert.equal((await limited.rest.getSession(id)).step, ok.length, 'refused messages did not run');
      await new Promise((r) => setTimeout(r, refused[refused.length - 1].error.details.retryAfterMs + 20));
      raw.ws.send(JSON.stringify({ type: 'step', id: 'later' }));
      const [later] = await raw.next();
      assert.equal(later.type, 'reply');
      raw.ws.close();
    } finally {
      await limited.close();
    }
  });

  test('past WS_MAX_OBSERVERS another observer is refused with LIMIT_EXCEEDED and 4422', async () => {
    const few = await liveServer({ wsMaxObservers: 1 });
    try {
      const { id } = await few.rest.createSession({ network: SEED_MSTDP_NETWORK });
      const one = await few.rest.socket(id, { role: 'observer' });
      await assert.rejects(few.rest.socket(id, { role: 'observer' }), (e: SpikeserveClientError) => {
        assert.equal(e.code, 'LIMIT_EXCEEDED');
        assert.equal(e.closeCode, 4422);
        assert.equal(e.details?.limit, 'maxObservers');
        return true;
      });
      // The controller's place is not an observer's.
      const ctl = await few.rest.socket(id);
      await ctl.close();
      await one.close();
    } finally {
      await few.close();
    }
  });
});
