/**
 * Every failure a client can cause, with its status, code and message: the
 * one error shape, the field named, never a 500 or a stack trace, and the
 * session untouched.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { ERROR_CATALOGUE } from '../src/errors.js';
import { toCodedError } from '../src/http/errors.js';
import { call, createSession, makeApp, type Reply } from './helpers/http.js';

const NET = {
  populations: { a: { n: 3 }, b: { n: 2 } },
  // MSTDP, so that rewards are in place and their own errors show.
  connections: { ab: { pre: 'a', post: 'b', rule: { type: 'MSTDP', lr: 0.01 } } },
};

function assertError(r: Reply, status: number, code: string, message?: RegExp): void {
  assert.equal(r.status, status, `status of ${JSON.stringify(r.body)}`);
  assert.deepEqual(Object.keys(r.body), ['error'], 'only the error object');
  assert.equal(r.body.error.code, code, JSON.stringify(r.body));
  assert.equal(ERROR_CATALOGUE[code as keyof typeof ERROR_CATALOGUE].status, status, 'status matches the catalogue');
  assert.equal(typeof r.body.error.message, 'string');
  assert.ok(!/\n\s+at /.test(r.body.error.message), 'no stack trace');
  if (message) assert.match(r.body.error.message, message);
}

describe('errors over HTTP', () => {
  let app: FastifyInstance;
  let id: string;
  before(async () => {
    app = await makeApp({ maxSessions: 50, maxNeurons: 1000, maxSynapses: 10_000, maxStepsPerCall: 500, maxSpikeRecords: 2000, bodyLimitBytes: 64 * 1024 });
    id = await createSession(app, { network: NET });
  });
  after(() => app.close());

  test('unknown session: 404 SESSION_NOT_FOUND on every session route', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    const routes: [string, string, unknown?][] = [
      ['GET', `/v1/sessions/${missing}`],
      ['DELETE', `/v1/sessions/${missing}`],
      ['POST', `/v1/sessions/${missing}/step`, {}],
      ['POST', `/v1/sessions/${missing}/reward`, { reward: 1 }],
      ['POST', `/v1/sessions/${missing}/reset`, {}],
      ['GET', `/v1/sessions/${missing}/weights`],
      ['GET', `/v1/sessions/${missing}/weights/ab`],
      ['PUT', `/v1/sessions/${missing}/weights/ab`, { weights: [[0, 0], [0, 0], [0, 0]] }],
      ['GET', `/v1/sessions/${missing}/state`],
      ['GET', `/v1/sessions/${missing}/snapshot`],
      ['GET', '/v1/sessions/not-even-a-uuid'],
    ];
    for (const [method, url, body] of routes) {
      const r = await call(app, method as 'GET', url, body);
      assertError(r, 404, 'SESSION_NOT_FOUND', /no session with id/);
    }
  });

  test('unknown route or method: 404 ROUTE_NOT_FOUND', async () => {
    assertError(await call(app, 'GET', '/v1/nope'), 404, 'ROUTE_NOT_FOUND', /no endpoint GET \/v1\/nope/);
    assertError(await call(app, 'PATCH', '/v1/sessions', {}), 404, 'ROUTE_NOT_FOUND');
    assertError(await call(app, 'GET', '/sessions'), 404, 'ROUTE_NOT_FOUND', /under \/v1/);
  });

  test('invalid spec: 400 SPEC_INVALID naming the field', async () => {
    assertError(await call(app, 'POST', '/v1/sessions', {}), 400, 'REQUEST_INVALID', /^body: must hold exactly one of network/);
    assertError(await call(app, 'POST', '/v1/sessions'), 400, 'REQUEST_INVALID', /^body: a JSON object is required/);
    const cases: [unknown, RegExp, string?][] = [
      [{}, /^network\.populations: required$/, 'network.populations'],
      [{ populations: {} }, /^network\.populations: /],
      [{ populations: { a: { n: 0 } } }, /^network\.populations\.a\.n: /, 'network.populations.a.n'],
      [{ populations: { a: { n: 1.5 } } }, /^network\.populations\.a\.n: expected integer/],
      [{ populations: { a: { n: 1, tau: 3 } } }, /^network\.populations\.a\.tau: unknown field/],
      [{ populations: { '9lives': { n: 1 } } }, /^network\.populations\.9lives: invalid name/],
      [{ populations: { a: { n: 1 } }, connections: { c: { pre: 'a', post: 'zz' } } }, /^network\.connections\.c\.post: unknown population "zz"/],
      [{ populations: { a: { n: 1 } }, connections: { c: { pre: 'a', post: 'a', rule: { type: 'Hebb' } } } }, /^network\.connections\.c\.rule\.type: unknown rule "Hebb"/],
      [{ populations: { a: { n: 1 } }, connections: { c: { pre: 'a', post: 'a', w_min: 2, w_max: 1 } } }, /^network\.connections\.c\.w_min: /],
      [{ populations: { a: { n: 2 } }, connections: { c: { pre: 'a', post: 'a', w: [[1, 2]] } } }, /^network\.connections\.c\.w: must have 2 rows/],
      [{ populations: { a: { n: 1 } }, connections: { c: { pre: 'a', post: 'a', rule: { type: 'STDP', tc_plus: 3 } } } }, /tc_plus: only MSTDP/],
      [{ dt: 0, populations: { a: { n: 1 } } }, /^network\.dt: /],
    ];
    for (const [network, message, field] of cases) {
      const r = await call(app, 'POST', '/v1/sessions', { network });
      assertError(r, 400, 'SPEC_INVALID', message);
      if (field) assert.equal(r.body.error.details.field, field);
    }
    assertError(await call(app, 'POST', '/v1/sessions', { network: NET, seed: -1 }), 400, 'SPEC_INVALID', /^seed: /);
    assertError(await call(app, 'POST', '/v1/sessions', { network: NET, colour: 'red' }), 400, 'REQUEST_INVALID', /^colour: unknown field/);
    assertError(await call(app, 'POST', '/v1/sessions', { network: NET, name: 'x'.repeat(200) }), 400, 'REQUEST_INVALID', /^name: /);
  });

  test('invalid step input or reward: 400 INPUT_INVALID naming the field, and nothing changes', async () => {
    const before = (await call(app, 'GET', `/v1/sessions/${id}/snapshot`)).body;
    const cases: [unknown, RegExp][] = [
      [{ inputs: { zz: 1 } }, /^inputs\.zz: unknown population/],
      [{ inputs: { a: [1, 2] } }, /^inputs\.a: must have 3 entries/],
      [{ inputs: { a: 'high' } }, /^inputs\.a: must be a number, a vector/],
      [{ inputs: { a: [1, 2, 'x'] } }, /^inputs\.a: must be a number, a vector/],
      [{ steps: 3, inputs: { a: [[1, 2, 3], [1, 2, 3]] } }, /^inputs\.a: one vector per step: expected 3 vectors, got 2/],
      [{ steps: 2, inputs: { a: [[1, 2, 3], [1, 2]] } }, /^inputs\.a\[1\]: must have 3 entries/],
      [{ steps: 0 }, /^steps: /],
      [{ steps: 1.5 }, /^steps: expected integer/],
      [{ steps: '2' }, /^steps: expected integer/],
      [{ steps: 3, reward: [1, 2] }, /^reward: one reward per step: expected 3, got 2/],
      [{ reward: 1, deferReward: true }, /^reward: the only step's reward is deferred/],
      [{ steps: 3, reward: [1, 2, 3], deferReward: true }, /^reward: one reward per step before the deferred last one: expected 2, got 3/],
      [{ reward: 'good' }, /^reward: must be a number for every step/],
      [{ deferReward: 'yes' }, /^deferReward: expected boolean/],
      [{ return: { spikes: 'all' } }, /^return\.spikes: /],
      [{ return: { populations: ['zz'] } }, /^return\.populations\[0\]: unknown population "zz"/],
      [{ return: { colour: true } }, /^return\.colour: unknown field/],
      [{ input: { a: 1 } }, /^input: unknown field/],
    ];
    for (const [body, message] of cases) {
      const r = await call(app, 'POST', `/v1/sessions/${id}/step`, body);
      const code = (body as { input?: unknown }).input ? 'REQUEST_INVALID' : 'INPUT_INVALID';
      assertError(r, 400, code, message);
    }
    assertError(await call(app, 'POST', `/v1/sessions/${id}/reward`, { reward: 'x' }), 400, 'INPUT_INVALID', /^reward: must be a number \(the reward that completes the pending update\), or in a batch one number per copy/);
    assertError(await call(app, 'POST', `/v1/sessions/${id}/reward`, {}), 400, 'INPUT_INVALID', /^reward: required/);
    assertError(await call(app, 'POST', `/v1/sessions/${id}/reset`, { weights: 'yes' }), 400, 'REQUEST_INVALID', /^weights: expected boolean/);
    assert.deepEqual((await call(app, 'GET', `/v1/sessions/${id}/snapshot`)).body, before, 'refused requests changed nothing');
  });

  test('weights: wrong shape 400 WEIGHTS_INVALID, unknown connection 404 CONNECTION_NOT_FOUND', async () => {
    const before = (await call(app, 'GET', `/v1/sessions/${id}/weights`)).body;
    const url = `/v1/sessions/${id}/weights/ab`;
    assertError(await call(app, 'PUT', url, { weights: [[1, 1], [1, 1]] }), 400, 'WEIGHTS_INVALID', /^weights: must have 3 rows \(one per pre neuron\), got 2/);
    assertError(await call(app, 'PUT', url, { weights: [[1, 1], [1, 1], [1]] }), 400, 'WEIGHTS_INVALID', /^weights\[2\]: must have 2 columns/);
    assertError(await call(app, 'PUT', url, { weights: [[1, 1], [1, 1], [1, 'x']] }), 400, 'WEIGHTS_INVALID', /^weights\[2\]\[1\]: expected number/);
    assertError(await call(app, 'PUT', url, { w: [] }), 400, 'WEIGHTS_INVALID', /^weights: required/);
    assertError(await call(app, 'PUT', url), 400, 'REQUEST_INVALID', /^body: a JSON object is required/);
    assertError(await call(app, 'PUT', `/v1/sessions/${id}/weights/ba`, { weights: [[1]] }), 404, 'CONNECTION_NOT_FOUND', /connection "ba" does not exist; this network has ab/);
    assertError(await call(app, 'GET', `/v1/sessions/${id}/weights/ba`), 404, 'CONNECTION_NOT_FOUND');
    assert.deepEqual((await call(app, 'GET', `/v1/sessions/${id}/weights`)).body, before);
  });

  test('a reward with nothing pending: 409 REWARD_NOT_PENDING', async () => {
    assertError(await call(app, 'POST', `/v1/sessions/${id}/reward`, { reward: 1 }), 409, 'REWARD_NOT_PENDING', /deferReward/);
  });

  test('limits: 413 for the body, 422 LIMIT_EXCEEDED naming the limit for the rest', async () => {
    const big = { network: NET, name: 'x', pad: 'y'.repeat(70 * 1024) };
    assertError(await call(app, 'POST', '/v1/sessions', big), 413, 'BODY_TOO_LARGE', /BODY_LIMIT_BYTES/);
    let r = await call(app, 'POST', '/v1/sessions', { network: { populations: { a: { n: 600 }, b: { n: 600 } } } });
    assertError(r, 422, 'LIMIT_EXCEEDED', /1200 neurons in all exceeds the limit of 1000/);
    assert.equal(r.body.error.details.limit, 'maxNeurons');
    r = await call(app, 'POST', '/v1/sessions', { network: { populations: { a: { n: 200 } }, connections: { aa: { pre: 'a', post: 'a' } } } });
    assertError(r, 422, 'LIMIT_EXCEEDED', /40000 synapses in all exceeds the limit of 10000/);
    assert.equal(r.body.error.details.limit, 'maxSynapses');
    r = await call(app, 'POST', `/v1/sessions/${id}/step`, { steps: 501 });
    assertError(r, 422, 'LIMIT_EXCEEDED', /steps: 501 exceeds the limit of 500 steps per call/);
    r = await call(app, 'POST', `/v1/sessions/${id}/step`, { steps: 401 });
    assertError(r, 422, 'LIMIT_EXCEEDED', /MAX_SPIKE_RECORDS_PER_CALL/);
    assert.equal(r.body.error.details.limit, 'maxSpikeRecordsPerCall');
    // The same call is fine when it asks for counts, or for fewer populations.
    assert.equal((await call(app, 'POST', `/v1/sessions/${id}/step`, { steps: 401, return: { spikes: 'counts' } })).status, 200);
    assert.equal((await call(app, 'POST', `/v1/sessions/${id}/step`, { steps: 401, return: { populations: ['b'] } })).status, 200);
  });

  test('sessions: 422 LIMIT_EXCEEDED past MAX_SESSIONS, fine again after a delete', async () => {
    const small = await makeApp({ maxSessions: 2 });
    try {
      const first = await createSession(small, { network: NET });
      await createSession(small, { network: NET });
      const r = await call(small, 'POST', '/v1/sessions', { network: NET });
      assertError(r, 422, 'LIMIT_EXCEEDED', /limit of 2 sessions \(MAX_SESSIONS\)/);
      assert.equal(r.body.error.details.limit, 'maxSessions');
      assert.equal((await call(small, 'DELETE', `/v1/sessions/${first}`)).status, 200);
      assert.equal((await call(small, 'POST', '/v1/sessions', { network: NET })).status, 201);
    } finally {
      await small.close();
    }
  });

  test('bodies that are not JSON objects: 400 or 415, never a 500', async () => {
    const url = `/v1/sessions/${id}/step`;
    const raw = async (payload: string, type?: string) => {
      const r = await app.inject({ method: 'POST', url, payload, headers: type ? { 'content-type': type } : {} });
      return { status: r.statusCode, body: r.json(), headers: r.headers } as Reply;
    };
    assertError(await raw('{"steps": ', 'application/json'), 400, 'REQUEST_INVALID', /^body: not valid JSON/);
    assertError(await raw('', 'application/json'), 400, 'REQUEST_INVALID', /^body: empty/);
    assertError(await raw('[1,2]', 'application/json'), 400, 'REQUEST_INVALID', /^body: expected object/);
    assertError(await raw('"hi"', 'application/json'), 400, 'REQUEST_INVALID', /^body: expected object/);
    assertError(await raw('{"__proto__": {"x": 1}}', 'application/json'), 400, 'REQUEST_INVALID', /^body: not valid JSON/);
    assertError(await raw('steps=2', 'application/x-www-form-urlencoded'), 415, 'UNSUPPORTED_MEDIA_TYPE', /application\/json/);
    assertError(await raw('steps', 'text/plain'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    assertError(await raw('1e999', 'application/json'), 400, 'REQUEST_INVALID', /^body: expected object/);
    assertError(await raw('{"inputs": {"a": 1e999}}', 'application/json'), 400, 'INPUT_INVALID', /^inputs\.a: a number too large for a double/);
  });

  test('query parameters: 400 REQUEST_INVALID naming the parameter', async () => {
    assertError(await call(app, 'GET', '/v1/sessions?limit=0'), 400, 'REQUEST_INVALID', /^query\.limit: /);
    assertError(await call(app, 'GET', '/v1/sessions?limit=ten'), 400, 'REQUEST_INVALID', /^query\.limit: expected integer/);
    assertError(await call(app, 'GET', '/v1/sessions?cursor=abc'), 400, 'REQUEST_INVALID', /^query\.cursor: /);
    assertError(await call(app, 'GET', '/v1/sessions?page=2'), 400, 'REQUEST_INVALID', /^query\.page: unknown field/);
  });

  test('an unexpected failure is a 500 INTERNAL_ERROR that reveals only the request id', () => {
    const { status, body } = toCodedError(new TypeError('secret internals at /srv/app.js:12'), 'req-42', 1024);
    assert.equal(status, 500);
    assert.equal(body.error.code, 'INTERNAL_ERROR');
    assert.doesNotMatch(body.error.message, /secret|app\.js/);
    assert.match(body.error.message, /req-42/);
    assert.deepEqual(body.error.details, { requestId: 'req-42' });
  });
});
