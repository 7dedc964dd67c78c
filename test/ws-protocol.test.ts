/**
 * The WebSocket protocol as a client relies on it: the hello, pipelining
 * with replies in order and ids echoed, every command giving what its HTTP
 * endpoint gives, the format chosen per connection or per message,
 * subscriptions (streams, selection, every k steps, replacing, stopping) and
 * the observer's read-only role.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SpikeserveClientError } from '../src/client/index.js';
import { SEED_MSTDP_NETWORK } from './helpers/seed-mstdp-task.js';
import { DEFAULT_HELLO_LIMITS, liveServer, rawSocket, waitFor } from './helpers/ws.js';
import { forTests } from './helpers/for-tests.js';

const CHAIN = {
  dt: 1,
  populations: { a: { n: 3 }, b: { n: 2 }, c: { n: 4 } },
  connections: {
    ab: { pre: 'a', post: 'b', w_max: 5, rule: { type: 'MSTDP', lr: [0.01, 0.01] } },
    bc: { pre: 'b', post: 'c', w_max: 5 },
  },
};

describe('the WebSocket protocol', () => {
  const srv = forTests(() => liveServer());

  test('the first message is the hello: version, role, format, session, populations and connections with sizes, limits; no per-message deflate', async () => {
    const { id } = await srv().rest.createSession({ network: CHAIN, name: 'chain' });
    await srv().rest.step(id, { steps: 3 });
    // ws offers per-message deflate by default; the server declines it.
    const raw = await rawSocket(`${srv().wsBase}/v1/sessions/${id}/ws?role=observer&format=binary`, { perMessageDeflate: true });
    assert.equal(raw.ws.extensions, '', 'no extension negotiated');
    const [hello] = await raw.next();
    assert.deepEqual(hello, {
      type: 'hello',
      protocol: 1,
      role: 'observer',
      format: 'binary',
      session: { id, name: 'chain', step: 3, pending: false },
      populations: [
        { name: 'a', n: 3 },
        { name: 'b', n: 2 },
        { name: 'c', n: 4 },
      ],
      connections: [
        { name: 'ab', pre: 'a', post: 'b', rule: 'MSTDP', rows: 3, cols: 2 },
        { name: 'bc', pre: 'b', post: 'c', rule: 'NoOp', rows: 2, cols: 4 },
      ],
      limits: DEFAULT_HELLO_LIMITS,
    });
    raw.ws.close();
  });

  test('pipelining: 1,000 requests sent without waiting get 1,000 replies, in order, ids echoed', async () => {
    const { id } = await srv().rest.createSession({ network: SEED_MSTDP_NETWORK, seed: 1 });
    const raw = await rawSocket(`${srv().wsBase}/v1/sessions/${id}/ws`);
    await raw.next();
    const N = 1000;
    // Mixed kinds, some invalid: each gets exactly one reply, in its place.
    const sent: { id: string; type: string; ok: boolean }[] = [];
    for (let i = 0; i < N; i++) {
      const mid = `m${i}`;
      if (i % 100 === 99) {
        raw.ws.send(JSON.stringify({ type: 'step', id: mid, inputs: { nope: 1 } }));
        sent.push({ id: mid, type: 'step', ok: false });
      } else if (i % 10 === 5) {
        raw.ws.send(JSON.stringify({ type: 'weights', id: mid }));
        sent.push({ id: mid, type: 'weights', ok: true });
      } else {
        raw.ws.send(JSON.stringify({ type: 'step', id: mid, inputs: { pre: [100, 0] }, return: { spikes: 'none' } }));
        sent.push({ id: mid, type: 'step', ok: true });
      }
    }
    const replies = await raw.next(N);
    assert.equal(replies.length, N);
    let step = 0;
    replies.forEach((r, i) => {
      assert.equal(r.id, sent[i].id, `reply ${i} answers message ${i}`);
      assert.equal(r.request, sent[i].type);
      assert.equal(r.type, sent[i].ok ? 'reply' : 'error');
      if (sent[i].type === 'step' && sent[i].ok) {
        step++;
        assert.equal(r.result.step, step, 'steps ran in the order sent');
      }
      if (!sent[i].ok) assert.equal(r.error.code, 'INPUT_INVALID');
    });
    assert.equal((await srv().rest.getSession(id)).step, step);
    raw.ws.close();
  });

  test('every command gives what its HTTP endpoint gives', async () => {
    const { id } = await srv().rest.createSession({ network: CHAIN, seed: 7 });
    const { id: twin } = await srv().rest.createSession({ network: CHAIN, seed: 7 });
    const ws = await srv().rest.socket(id);
    const body = { steps: 5, inputs: { a: [30, 0, 30] }, reward: 0.5, return: { potentials: true, weights: true } };
    assert.deepEqual(await ws.step(body), await srv().rest.step(twin, body));
    assert.deepEqual(await ws.step({ inputs: { a: 40 }, deferReward: true }), await srv().rest.step(twin, { inputs: { a: 40 }, deferReward: true }));
    assert.deepEqual(await ws.reward(2), await srv().rest.reward(twin, 2));
    assert.deepEqual(await ws.weights(), await srv().rest.weights(twin));
    assert.deepEqual(await ws.weights('bc'), await srv().rest.connectionWeights(twin, 'bc'));
    const w = [
      [9, 0.5],
      [-1, 1],
      [2, 3],
    ];
    assert.deepEqual(await ws.setWeights('ab', w), await srv().rest.setWeights(twin, 'ab', w));
    assert.deepEqual(await ws.reset({ weights: false }), await srv().rest.reset(twin, { weights: false }));
    const snap = await ws.snapshot();
    assert.deepEqual(snap, await srv().rest.snapshot(twin));
    assert.equal(snap.format, 'spikeserve-snapshot');
    await ws.close();
  });

  test('binary per connection, JSON per message, and the other way round', async () => {
    const { id } = await srv().rest.createSession({ network: CHAIN, seed: 3 });
    const bin = await rawSocket(`${srv().wsBase}/v1/sessions/${id}/ws?format=binary`);
    await bin.next();
    bin.ws.send(JSON.stringify({ type: 'step', id: 1, steps: 4, inputs: { a: 40 }, return: { spikes: 'counts', potentials: true } }));
    bin.ws.send(JSON.stringify({ type: 'step', id: 2, format: 'json' }));
    bin.ws.send(JSON.stringify({ type: 'weights', id: 'w', connection: 'bc' }));
    bin.ws.send(JSON.stringify({ type: 'reward', id: 3, reward: 1 }));
    const [a, b, c, d] = await bin.next(4);
    assert.equal(a.binary.kind, 'step');
    assert.equal(a.binary.id, 1);
    assert.equal(a.binary.step, 4);
    assert.equal(a.binary.steps, 4);
    assert.deepEqual(
      a.binary.sections.map((s: any) => [s.type, s.index]),
      [
        ['counts', 0],
        ['counts', 1],
        ['counts', 2],
        ['potentials', 0],
        ['potentials', 1],
        ['potentials', 2],
      ],
    );
    assert.equal(b.type, 'reply');
    assert.equal(b.result.step, 5);
    assert.equal(c.binary.kind, 'weights');
    assert.equal(c.binary.id, 'w');
    assert.deepEqual(
      c.binary.sections.map((s: any) => [s.type, s.index, s.rows, s.cols]),
      [['weights', 1, 2, 4]],
    );
    // Replies without heavy data stay JSON; this one is an error (nothing pending).
    assert.equal(d.type, 'error');
    assert.equal(d.error.code, 'REWARD_NOT_PENDING');
    bin.ws.close();
    await new Promise((r) => bin.ws.once('close', r));

    const json = await srv().rest.socket(id);
    const viaBinary = await json.step({ format: 'binary', return: { spikes: 'steps', potentials: true } });
    const state = await srv().rest.state(id);
    for (const p of ['a', 'b', 'c']) {
      // One copy: a vector per population.
      assert.deepEqual(viaBinary.potentials![p], (state.populations[p].v as number[]).map(Math.fround));
      assert.deepEqual(viaBinary.spikes![p], [state.populations[p].spikes]);
    }
    await json.close();
  });

  test('subscriptions: chosen populations, every k steps, replaced, stopped; events before the reply of the step that made them', async () => {
    const { id } = await srv().rest.createSession({ network: CHAIN, seed: 5 });
    const ctl = await srv().rest.socket(id);
    const obs = await srv().rest.socket(id, { role: 'observer' });
    const log: string[] = [];
    const spikes: any[] = [];
    const weights: any[] = [];
    ctl.on('spikes', (e) => {
      spikes.push(e);
      log.push(`spikes ${e.step}`);
    });
    obs.on('weights', (e) => weights.push(e));
    assert.deepEqual(await ctl.subscribe({ stream: 'spikes', populations: ['c', 'a'] }), { stream: 'spikes', populations: ['a', 'c'], every: 1, format: 'json' });
    assert.deepEqual(await obs.subscribe({ stream: 'weights', connections: ['ab'], every: 4, format: 'binary' }), {
      stream: 'weights',
      connections: ['ab'],
      every: 4,
      format: 'binary',
    });
    const r = await ctl.step({ steps: 10, inputs: { a: 40 } });
    log.push(`reply ${r.step}`);
    assert.deepEqual(log, [...Array.from({ length: 10 }, (_, t) => `spikes ${t + 1}`), 'reply 10']);
    for (const e of spikes) assert.deepEqual(Object.keys(e.spikes), ['a', 'c']);
    assert.deepEqual(
      spikes.map((e) => e.spikes.a),
      r.spikes!.a,
    );
    await waitFor(() => weights.length === 2, 'two weights events');
    assert.deepEqual(
      weights.map((e) => e.step),
      [4, 8],
    );
    assert.deepEqual(Object.keys(weights[1].weights), ['ab']);
    assert.deepEqual(await obs.unsubscribe('weights'), { streams: ['weights'], dropped: 0 });
    // A subscription sent after a step starts after it, even with the step still running.
    assert.deepEqual(await ctl.unsubscribe('spikes'), { streams: ['spikes'], dropped: 0 });
    spikes.length = 0;
    const long = ctl.step({ steps: 100_000, return: { spikes: 'none' } });
    const sub = ctl.subscribe({ stream: 'spikes', populations: ['b'], every: 1000 });
    await long;
    await sub;
    assert.equal(spikes.length, 0);
    await ctl.step({ steps: 2000, return: { spikes: 'none' } });
    assert.deepEqual(
      spikes.map((e) => [e.step, Object.keys(e.spikes)]),
      [
        [101_000, ['b']],
        [102_000, ['b']],
      ],
    );
    assert.deepEqual(await ctl.unsubscribe(), { streams: ['spikes'], dropped: 0 });
    assert.deepEqual(await obs.unsubscribe('potentials'), { streams: [], dropped: 0 });
    await ctl.step({ steps: 1000 });
    assert.equal(spikes.length, 2);
    await assert.rejects(ctl.subscribe({ stream: 'spikes', populations: ['x'] }), (e: SpikeserveClientError) => {
      assert.equal(e.code, 'POPULATION_NOT_FOUND');
      assert.match(e.message, /populations\[0\]: unknown population "x"; this network has a, b, c/);
      return true;
    });
    await assert.rejects(ctl.subscribe({ stream: 'weights', connections: ['zz'] }), { code: 'CONNECTION_NOT_FOUND' });
    await assert.rejects(ctl.subscribe({ stream: 'weights', populations: ['a'] }), { code: 'REQUEST_INVALID' });
    await assert.rejects(ctl.request({ type: 'subscribe', stream: 'spikes', every: 0 }), { code: 'REQUEST_INVALID', message: /every: / });
    await ctl.close();
    await obs.close();
  });

  test('an observer reads and watches, but cannot change the session', async () => {
    const { id } = await srv().rest.createSession({ network: CHAIN, seed: 5 });
    const obs = await srv().rest.socket(id, { role: 'observer' });
    assert.equal(obs.hello.role, 'observer');
    for (const [type, body] of [
      ['step', {}],
      ['reward', { reward: 1 }],
      ['reset', {}],
      ['set_weights', { connection: 'ab', weights: [[0, 0], [0, 0], [0, 0]] }],
    ] as const) {
      await assert.rejects(obs.request({ type, ...body }), (e: SpikeserveClientError) => {
        assert.equal(e.code, 'WS_READ_ONLY');
        assert.match(e.message, new RegExp(`^${type}: an observer cannot change the session`));
        return true;
      });
    }
    assert.deepEqual(await obs.weights(), await srv().rest.weights(id));
    assert.equal((await obs.snapshot()).step, 0);
    // An observer is no controller: one can still connect, and several observers may watch.
    const ctl = await srv().rest.socket(id);
    const obs2 = await srv().rest.socket(id, { role: 'observer' });
    assert.equal((await ctl.step()).step, 1);
    assert.deepEqual(
      srv().app.websockets
        .connectionsOf(id)
        .map((c) => c.role)
        .sort(),
      ['controller', 'observer', 'observer'],
    );
    await Promise.all([obs.close(), obs2.close(), ctl.close()]);
  });

  test('a plain GET on the socket path gets 426 with the error shape', async () => {
    const { id } = await srv().rest.createSession({ network: CHAIN });
    const r = await fetch(`${srv().base}/v1/sessions/${id}/ws`);
    assert.equal(r.status, 426);
    assert.equal(r.headers.get('upgrade'), 'websocket');
    const body = (await r.json()) as any;
    assert.equal(body.error.code, 'UPGRADE_REQUIRED');
  });
});
