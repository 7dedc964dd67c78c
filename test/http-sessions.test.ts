/**
 * The session resource over HTTP: create, list in pages, describe, delete,
 * reset, weights, state; the request log; health and readiness.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { call, createSession, makeApp, seedStdpNetwork, type Reply } from './helpers/http.js';
import { forTests } from './helpers/for-tests.js';

const NET = {
  populations: { a: { n: 3, threshold: -55 }, b: { n: 2 } },
  connections: { ab: { pre: 'a', post: 'b', rule: { type: 'mstdp', lr: [0.01, 0] } } },
};

describe('sessions over HTTP', () => {
  const app = forTests(() => makeApp());

  test('create: 201, a random UUID, Location, the network with defaults filled in, and the limits', async () => {
    const r = await call(app(), 'POST', '/v1/sessions', { network: NET, seed: 5, name: 'agent-1' });
    assert.equal(r.status, 201);
    assert.match(r.body.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(r.headers.location, `/v1/sessions/${r.body.id}`);
    assert.equal(r.body.name, 'agent-1');
    assert.equal(r.body.seed, 5);
    assert.equal(r.body.step, 0);
    assert.equal(r.body.pending, false);
    assert.deepEqual(r.body.populations, { a: 3, b: 2 });
    assert.deepEqual(r.body.connections, { ab: { pre: 'a', post: 'b', rule: 'MSTDP' } });
    const net = r.body.network;
    assert.equal(net.dt, 0.1);
    assert.deepEqual(net.populations.a, { n: 3, threshold: -55, rest_pot: -62, reset_pot: -62, refrac_length: 5, tau_s: 10, R: 20, lower_bound: null, additive_spike_trace: false, trace_scale: 1 });
    assert.deepEqual(net.connections.ab, {
      pre: 'a', post: 'b', w_min: 0, w_max: 1,
      rule: { type: 'MSTDP', lr: [0.01, 0], weight_decay: 0, boundary: 'hard', reduction: 'sum', tc_plus: 20, tc_minus: 20, a_plus: 1, a_minus: -1 },
    });
    assert.deepEqual(r.body.limits, { maxNeurons: 100000, maxSynapses: 4000000, maxBatchSize: 64, maxStepsPerCall: 100000, maxSpikeRecordsPerCall: 5000000, idleTimeoutSeconds: 3600 });
    assert.equal(Date.parse(r.body.expiresAt) - Date.parse(r.body.lastUsedAt), 3600 * 1000);
    const other = await call(app(), 'POST', '/v1/sessions', { network: NET, seed: 5 });
    assert.notEqual(other.body.id, r.body.id);
    assert.equal(other.body.name, null);
  });

  test('declaration order survives the round trip: populations and connections come back in the order sent', async () => {
    const network = { populations: { z: { n: 1 }, m: { n: 1 }, a: { n: 1 } }, connections: { zm: { pre: 'z', post: 'm' }, am: { pre: 'a', post: 'm' } } };
    const r = await call(app(), 'POST', '/v1/sessions', { network });
    assert.deepEqual(Object.keys(r.body.network.populations), ['z', 'm', 'a']);
    assert.deepEqual(Object.keys(r.body.populations), ['z', 'm', 'a']);
    assert.deepEqual(Object.keys(r.body.network.connections), ['zm', 'am']);
    const snap = await call(app(), 'GET', `/v1/sessions/${r.body.id}/snapshot`);
    assert.deepEqual(Object.keys(snap.body.network.populations), ['z', 'm', 'a']);
  });

  test('the same seed draws the same initial weights; another seed others', async () => {
    const big = { populations: { a: { n: 4 }, b: { n: 3 } }, connections: { ab: { pre: 'a', post: 'b', w_min: -1, w_max: 2 } } };
    const w = async (seed: number) => (await call(app(), 'GET', `/v1/sessions/${await createSession(app(), { network: big, seed })}/weights/ab`)).body.weights;
    const w1 = await w(1);
    assert.deepEqual(await w(1), w1);
    assert.notDeepEqual(await w(2), w1);
    for (const x of w1.flat()) assert.ok(x >= -1 && x <= 2);
  });

  test('list: oldest first, in pages, with a cursor, and total', async () => {
    const fresh = await makeApp();
    try {
      const ids = [];
      for (let i = 0; i < 7; i++) ids.push(await createSession(fresh, { network: NET, name: `s${i}` }));
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const r: Reply = await call(fresh, "GET", `/v1/sessions?limit=3${cursor ? `&cursor=${cursor}` : ""}`);
        assert.equal(r.status, 200);
        assert.equal(r.body.total, 7);
        assert.ok(r.body.sessions.length <= 3);
        seen.push(...r.body.sessions.map((s: { id: string }) => s.id));
        cursor = r.body.next;
        pages++;
      } while (cursor);
      assert.equal(pages, 3);
      assert.deepEqual(seen, ids);
      // A deleted session drops out of the listing without disturbing the paging.
      await call(fresh, 'DELETE', `/v1/sessions/${ids[1]}`);
      const all = await call(fresh, 'GET', '/v1/sessions');
      assert.deepEqual(all.body.sessions.map((s: { id: string }) => s.id), ids.filter((_, i) => i !== 1));
      assert.equal(all.body.next, null);
      const item = all.body.sessions[0];
      assert.deepEqual(Object.keys(item).sort(), ['connections', 'createdAt', 'expiresAt', 'id', 'lastUsedAt', 'loaded', 'name', 'pending', 'populations', 'step']);
    } finally {
      await fresh.close();
    }
  });

  test('describe: step count, pending update, times, spike and weight statistics', async () => {
    const id = await createSession(app(), { network: seedStdpNetwork([0, 0.0002]) });
    const created = await call(app(), 'GET', `/v1/sessions/${id}`);
    assert.deepEqual(created.body.stats.spikes.pre, { total: 0, lastStep: 0, rate: 0 });
    const w0 = created.body.stats.weights.pre_post;
    assert.equal(w0.min, 0.4434);
    assert.equal(w0.max, 0.8602);
    assert.ok(Math.abs(w0.mean - (0.4434 + 0.8602) / 2) < 1e-12);
    assert.ok(Math.abs(w0.std - (0.8602 - 0.4434) / 2) < 1e-12);

    const run = await call(app(), 'POST', `/v1/sessions/${id}/step`, { steps: 100, inputs: { pre: [0, 50], post: [50] }, return: { spikes: 'counts' } });
    const d = await call(app(), 'GET', `/v1/sessions/${id}`);
    assert.equal(d.body.step, 100);
    const total = run.body.spikeCounts.pre.reduce((a: number, b: number) => a + b, 0);
    assert.equal(d.body.stats.spikes.pre.total, total);
    assert.equal(d.body.stats.spikes.pre.rate, total / (2 * 100));
    assert.ok(Date.parse(d.body.lastUsedAt) >= Date.parse(d.body.createdAt));

    // A pending update needs a rule that learns from rewards (MSTDP).
    const m = await createSession(app(), { network: NET });
    await call(app(), 'POST', `/v1/sessions/${m}/step`, { deferReward: true });
    assert.equal((await call(app(), 'GET', `/v1/sessions/${m}`)).body.pending, true);
  });

  test('delete: 200, then 404 everywhere', async () => {
    const id = await createSession(app(), { network: NET });
    const r = await call(app(), 'DELETE', `/v1/sessions/${id}`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { id, deleted: true });
    assert.equal((await call(app(), 'GET', `/v1/sessions/${id}`)).status, 404);
    assert.equal((await call(app(), 'DELETE', `/v1/sessions/${id}`)).status, 404);
  });

  test('step options: spikes per step by default, counts, none, chosen populations, potentials, weights', async () => {
    const id = await createSession(app(), { network: seedStdpNetwork([0, 0.0002]) });
    const url = `/v1/sessions/${id}/step`;
    const inputs = { pre: [0, 50], post: [50] };
    let r = await call(app(), 'POST', url, { steps: 4, inputs });
    assert.deepEqual(Object.keys(r.body).sort(), ['pending', 'spikes', 'step', 'steps']);
    assert.equal(r.body.spikes.pre.length, 4);
    for (const s of r.body.spikes.pre) for (const i of s) assert.ok(i === 0 || i === 1);
    r = await call(app(), 'POST', url, { steps: 4, inputs, return: { spikes: 'none' } });
    assert.deepEqual(r.body, { step: 8, steps: 4, pending: false });
    r = await call(app(), 'POST', url, { steps: 4, inputs, return: { spikes: 'counts', populations: ['post'], potentials: true } });
    assert.deepEqual(Object.keys(r.body.spikeCounts), ['post']);
    assert.deepEqual(Object.keys(r.body.potentials), ['post']);
    assert.equal(r.body.spikeCounts.post.length, 1);
    r = await call(app(), 'POST', url, { return: { weights: true, spikes: 'none' } });
    assert.deepEqual(r.body.weights.pre_post, (await call(app(), 'GET', `/v1/sessions/${id}/weights/pre_post`)).body.weights);
    // No body at all: one step, no input.
    const none = await app().inject({ method: 'POST', url });
    assert.equal(none.statusCode, 200);
    assert.equal(none.json().steps, 1);
  });

  test('inputs: a number for all neurons equals the same vector; per-step vectors; per-step rewards', async () => {
    const mk = async () => createSession(app(), { network: NET, seed: 2 });
    const [x, y, z] = [await mk(), await mk(), await mk()];
    const a = await call(app(), 'POST', `/v1/sessions/${x}/step`, { steps: 30, inputs: { a: 2 }, reward: 0.5, return: { weights: true } });
    const b = await call(app(), 'POST', `/v1/sessions/${y}/step`, { steps: 30, inputs: { a: [2, 2, 2] }, reward: new Array(30).fill(0.5), return: { weights: true } });
    const c = await call(app(), 'POST', `/v1/sessions/${z}/step`, { steps: 30, inputs: { a: new Array(30).fill([2, 2, 2]) }, reward: 0.5, return: { weights: true } });
    assert.deepEqual(b.body, a.body);
    assert.deepEqual(c.body, a.body);
  });

  test('deferred reward: the step then the reward equals the step with its reward', async () => {
    const [x, y] = [await createSession(app(), { network: NET }), await createSession(app(), { network: NET })];
    for (let t = 0; t < 20; t++) {
      const inputs = { a: [3, t % 3, 1] };
      const r = t % 2 ? 1 : -0.5;
      const d = await call(app(), 'POST', `/v1/sessions/${x}/step`, { inputs, deferReward: true });
      assert.equal(d.body.pending, true);
      const rr = await call(app(), 'POST', `/v1/sessions/${x}/reward`, { reward: r });
      assert.deepEqual(rr.body, { step: t + 1, pending: false });
      await call(app(), 'POST', `/v1/sessions/${y}/step`, { inputs, reward: r });
    }
    assert.deepEqual((await call(app(), 'GET', `/v1/sessions/${x}/state`)).body, (await call(app(), 'GET', `/v1/sessions/${y}/state`)).body);
    assert.deepEqual((await call(app(), 'GET', `/v1/sessions/${x}/weights`)).body, (await call(app(), 'GET', `/v1/sessions/${y}/weights`)).body);
  });

  test('reset: state and step count back to 0, weights kept unless asked', async () => {
    const id = await createSession(app(), { network: seedStdpNetwork([0, 0.0002]) });
    await call(app(), 'POST', `/v1/sessions/${id}/step`, { steps: 500, inputs: { pre: [0, 50], post: [50] } });
    const learned = (await call(app(), 'GET', `/v1/sessions/${id}/weights/pre_post`)).body.weights;
    assert.notDeepEqual(learned, [[0.4434], [0.8602]]);
    let r = await call(app(), 'POST', `/v1/sessions/${id}/reset`);
    assert.deepEqual(r.body, { step: 0, pending: false, weightsReset: false });
    const s = (await call(app(), 'GET', `/v1/sessions/${id}/state`)).body;
    assert.deepEqual(s.populations.pre, { v: [-62, -62], traces: [0, 0], refractory: [0, 0], spikes: [] });
    assert.deepEqual((await call(app(), 'GET', `/v1/sessions/${id}/weights/pre_post`)).body.weights, learned);
    assert.equal((await call(app(), 'GET', `/v1/sessions/${id}`)).body.stats.spikes.pre.total, 0);
    r = await call(app(), 'POST', `/v1/sessions/${id}/reset`, { weights: true });
    assert.equal(r.body.weightsReset, true);
    assert.deepEqual((await call(app(), 'GET', `/v1/sessions/${id}/weights/pre_post`)).body.weights, [[0.4434], [0.8602]]);
  });

  test('weights: read all, read one with its bounds, write one (clamped)', async () => {
    const id = await createSession(app(), { network: NET });
    const all = await call(app(), 'GET', `/v1/sessions/${id}/weights`);
    assert.deepEqual(Object.keys(all.body.weights), ['ab']);
    const put = await call(app(), 'PUT', `/v1/sessions/${id}/weights/ab`, { weights: [[0.5, 2], [-1, 0.25], [1, 0]] });
    assert.equal(put.status, 200);
    assert.deepEqual(put.body, { connection: 'ab', pre: 'a', post: 'b', w_min: 0, w_max: 1, step: 0, weights: [[0.5, 1], [0, 0.25], [1, 0]] });
    assert.deepEqual((await call(app(), 'GET', `/v1/sessions/${id}/weights/ab`)).body, put.body);
  });

  test('state: potentials, traces, refractory counters, last spikes and MSTDP eligibility', async () => {
    const id = await createSession(app(), { network: NET });
    await call(app(), 'POST', `/v1/sessions/${id}/step`, { steps: 40, inputs: { a: 5, b: 5 } });
    const s = (await call(app(), 'GET', `/v1/sessions/${id}/state`)).body;
    assert.equal(s.step, 40);
    assert.deepEqual(Object.keys(s.populations), ['a', 'b']);
    assert.equal(s.populations.a.v.length, 3);
    assert.equal(s.populations.b.traces.length, 2);
    assert.equal(s.connections.ab.rule, 'MSTDP');
    assert.equal(s.connections.ab.eligibility.length, 3);
    assert.equal(s.connections.ab.eligibility[0].length, 2);
    assert.ok(s.populations.a.traces.some((x: number) => x > 0), 'the driven population has fired');
  });

  test('health, readiness, request ids', async () => {
    let r = await call(app(), 'GET', '/healthz');
    assert.equal(r.body.status, 'ok');
    assert.equal(typeof r.body.tfjs.ready, 'boolean', 'healthz says whether the tfjs backend runs');
    r = await call(app(), 'GET', '/readyz');
    assert.equal(r.body.status, 'ready');
    assert.equal(typeof r.body.sessions, 'number');
    assert.match(String(r.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    const mine = await app().inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'trace-abc.1' } });
    assert.equal(mine.headers['x-request-id'], 'trace-abc.1');
    const odd = await app().inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'no spaces <script>' } });
    assert.notEqual(odd.headers['x-request-id'], 'no spaces <script>');
  });
});

describe('idle eviction over HTTP', () => {
  test('a session idle past SESSION_IDLE_TIMEOUT_S is evicted: 404 saying so; a used one stays', async () => {
    let now = Date.parse('2030-01-01T00:00:00Z');
    const app = await makeApp({ sessionIdleTimeoutS: 60 }, { sessions: { now: () => now } });
    try {
      const idle = await createSession(app, { network: NET });
      const used = await createSession(app, { network: NET });
      now += 45_000;
      await call(app, 'POST', `/v1/sessions/${used}/step`, {});
      const d = await call(app, 'GET', `/v1/sessions/${used}`);
      assert.equal(d.body.expiresAt, new Date(now + 60_000).toISOString());
      now += 30_000;
      assert.deepEqual(app.sessions.evictIdle(), [idle]);
      const r = await call(app, 'GET', `/v1/sessions/${idle}`);
      assert.equal(r.status, 404);
      assert.equal(r.body.error.code, 'SESSION_NOT_FOUND');
      assert.equal((await call(app, 'GET', `/v1/sessions/${used}`)).status, 200);
      assert.equal((await call(app, 'GET', '/v1/sessions')).body.total, 1);
    } finally {
      await app.close();
    }
  });
});

describe('request log', () => {
  test('one line per request with the request id, the session id in the context, no headers or bodies', async () => {
    const lines: Record<string, unknown>[] = [];
    const stream = new Writable({
      write(chunk, _enc, done) {
        for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l));
        done();
      },
    });
    const app = await makeApp({}, { logger: { level: 'info', stream } });
    try {
      const id = await createSession(app, { network: NET });
      lines.length = 0;
      await app.inject({ method: 'POST', url: `/v1/sessions/${id}/step`, payload: { inputs: { a: 1 } }, headers: { authorization: 'Bearer sekrit', 'x-request-id': 'r-1' } });
      await app.inject({ method: 'POST', url: `/v1/sessions/${id}/reward`, payload: { reward: 1 }, headers: { 'x-request-id': 'r-2' } });
      await app.inject({ method: 'GET', url: '/v1/nope', headers: { 'x-request-id': 'r-3' } });
      const requests = lines.filter((l) => l.msg === 'request');
      assert.equal(requests.length, 3, JSON.stringify(lines));
      assert.deepEqual(requests.map((l) => l.reqId), ['r-1', 'r-2', 'r-3']);
      assert.equal(requests[0].sessionId, id);
      assert.equal(requests[0].status, 200);
      assert.equal(requests[0].method, 'POST');
      assert.equal(typeof requests[0].ms, 'number');
      assert.equal(requests[1].status, 409);
      assert.equal(requests[1].code, 'REWARD_NOT_PENDING');
      assert.equal(requests[2].code, 'ROUTE_NOT_FOUND');
      const all = JSON.stringify(lines);
      assert.doesNotMatch(all, /sekrit|authorization/i);
      assert.doesNotMatch(all, /"inputs"/);
    } finally {
      await app.close();
    }
  });
});
