/**
 * Fuzzing every endpoint with random JSON bodies (and random near-valid ones,
 * which get past the schema into the engine's checks): never a 5xx, always
 * the one error shape, and a refused request never changes the session.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance, InjectOptions } from 'fastify';
import fc from 'fast-check';
import { ERROR_CATALOGUE } from '../src/errors.js';
import { fuzzRuns } from './helpers/fuzz.js';
import { makeApp } from './helpers/http.js';

const NET = {
  populations: { a: { n: 3, refrac_length: 0 }, b: { n: 2 } },
  connections: { ab: { pre: 'a', post: 'b', rule: { type: 'MSTDP', lr: [0.01, 0] } } },
};

const RUNS = fuzzRuns(300);

const anyJson = fc.jsonValue({ maxDepth: 4 });
const num = fc.oneof(fc.double(), fc.integer({ min: -3, max: 6 }), anyJson);
const vec = fc.array(num, { maxLength: 4 });
const pop = fc.constantFrom('a', 'b', 'zz', '__proto__', 'constructor', '1');

const stepBody = fc.record(
  {
    inputs: fc.oneof(fc.dictionary(pop, fc.oneof(num, vec, fc.array(vec, { maxLength: 4 }))), anyJson),
    steps: fc.oneof(fc.integer({ min: -2, max: 6 }), anyJson),
    reward: fc.oneof(num, vec),
    deferReward: fc.oneof(fc.boolean(), anyJson),
    return: fc.oneof(
      fc.record(
        { spikes: fc.oneof(fc.constantFrom('steps', 'counts', 'none'), anyJson), populations: fc.oneof(fc.array(pop, { maxLength: 3 }), anyJson), potentials: fc.oneof(fc.boolean(), anyJson), weights: fc.oneof(fc.boolean(), anyJson) },
        { requiredKeys: [] },
      ),
      anyJson,
    ),
  },
  { requiredKeys: [] },
);

const matrix = fc.oneof(fc.array(fc.array(num, { maxLength: 3 }), { maxLength: 4 }), anyJson);

const networkBody = fc.record(
  {
    network: fc.oneof(
      anyJson,
      fc.record(
        {
          dt: num,
          populations: fc.oneof(fc.dictionary(pop, fc.record({ n: num, threshold: num, refrac_length: num, tau_s: num, lower_bound: num }, { requiredKeys: [] }), { maxKeys: 3 }), anyJson),
          connections: fc.oneof(
            fc.dictionary(pop, fc.record({ pre: pop, post: pop, w_min: num, w_max: num, w: matrix, rule: fc.oneof(fc.record({ type: fc.constantFrom('NoOp', 'stdp', 'MSTDP', 'x'), lr: fc.oneof(num, vec), tc_plus: num }, { requiredKeys: [] }), anyJson) }, { requiredKeys: [] }), { maxKeys: 2 }),
            anyJson,
          ),
        },
        { requiredKeys: [] },
      ),
    ),
    snapshot: anyJson,
    seed: num,
    name: anyJson,
  },
  { requiredKeys: [] },
);

describe('fuzz: random bodies against every endpoint', () => {
  let app: FastifyInstance;
  let id: string;
  before(async () => {
    app = await makeApp({ maxStepsPerCall: 20, maxSessions: 10_000, maxNeurons: 50, maxSynapses: 500 });
    const r = await app.inject({ method: 'POST', url: '/v1/sessions', payload: { network: NET } });
    id = r.json().id;
  });
  after(() => app.close());

  const snapshot = async () => (await app.inject({ method: 'GET', url: `/v1/sessions/${id}/snapshot` })).json();
  /**
   * The session's snapshot as a refused request left it, for the next probe
   * to start from (rather than asking for it again); null once anything else
   * may have changed the session.
   */
  let unchanged: unknown = null;
  /** Sends a request outside probe(): the session may change. */
  const send = (opts: InjectOptions) => {
    unchanged = null;
    return app.inject(opts);
  };

  /** Sends the body; asserts no 5xx and the error shape; if refused, asserts the session is as it was. */
  async function probe(method: 'POST' | 'PUT' | 'GET' | 'DELETE', url: string, body: unknown, raw = false): Promise<number> {
    const before = unchanged ?? (await snapshot());
    unchanged = null;
    const payload = body === undefined ? '' : raw ? (body as string) : JSON.stringify(body);
    const r = await app.inject(body === undefined ? { method, url } : { method, url, payload, headers: { 'content-type': 'application/json' } });
    assert.ok(r.statusCode < 500, `${method} ${url} ${payload.slice(0, 300)} -> ${r.statusCode} ${r.body}`);
    if (r.statusCode >= 400) {
      const e = r.json().error;
      assert.ok(e && typeof e.message === 'string' && e.code in ERROR_CATALOGUE, r.body);
      assert.equal(ERROR_CATALOGUE[e.code as keyof typeof ERROR_CATALOGUE].status, r.statusCode);
      const after = await snapshot();
      assert.deepEqual(after, before, `${method} ${url} was refused (${r.body}) but changed the session`);
      unchanged = after;
    }
    return r.statusCode;
  }

  test('POST .../step', async () => {
    const statuses = new Set<number>();
    await fc.assert(fc.asyncProperty(fc.oneof(stepBody, anyJson), async (body) => void statuses.add(await probe('POST', `/v1/sessions/${id}/step`, body))), { numRuns: RUNS * 2, seed: 1 });
    assert.ok(statuses.has(200) && statuses.has(400), `both accepted and refused bodies were tried: ${[...statuses]}`);
  });

  test('POST .../reward', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.record({ reward: num }, { requiredKeys: [] }), anyJson), fc.boolean(), async (body, defer) => {
        if (defer) await send({ method: 'POST', url: `/v1/sessions/${id}/step`, payload: { deferReward: true } });
        await probe('POST', `/v1/sessions/${id}/reward`, body);
      }),
      { numRuns: RUNS, seed: 2 },
    );
  });

  test('POST .../reset', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(fc.record({ weights: fc.oneof(fc.boolean(), anyJson) }, { requiredKeys: [] }), anyJson), async (body) => void (await probe('POST', `/v1/sessions/${id}/reset`, body))), { numRuns: RUNS, seed: 3 });
  });

  test('PUT .../weights/{connection}', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.record({ weights: matrix }, { requiredKeys: [] }), anyJson), fc.constantFrom('ab', 'ba', 'a%20b'), async (body, conn) => void (await probe('PUT', `/v1/sessions/${id}/weights/${conn}`, body))),
      { numRuns: RUNS, seed: 4 },
    );
  });

  test('POST /v1/sessions: a refused body creates nothing', async () => {
    await fc.assert(
      fc.asyncProperty(networkBody, async (body) => {
        const before = app.sessions.size;
        const status = await probe('POST', '/v1/sessions', body);
        if (status === 201) {
          assert.equal(app.sessions.size, before + 1);
        } else {
          assert.equal(app.sessions.size, before);
        }
      }),
      { numRuns: RUNS * 2, seed: 5 },
    );
  });

  test('GET and DELETE routes with random paths and query strings', async () => {
    const segment = fc.oneof(fc.constantFrom(id, 'sessions', 'weights', 'state', 'snapshot', 'ab', '..', '%00', '%zz', ''), fc.string({ maxLength: 8 }).map(encodeURIComponent));
    await fc.assert(
      fc.asyncProperty(fc.array(segment, { maxLength: 5 }), fc.dictionary(fc.constantFrom('limit', 'cursor', 'x'), fc.string({ maxLength: 6 })), fc.constantFrom('GET', 'DELETE') as fc.Arbitrary<'GET' | 'DELETE'>, async (segs, query, method) => {
        const qs = new URLSearchParams(query).toString();
        const url = `/v1/${segs.join('/')}${qs ? `?${qs}` : ''}`;
        // Deleting the fuzzed session itself is a legitimate success; keep it.
        if (method === 'DELETE' && url.startsWith(`/v1/sessions/${id}`) && segs.length === 2) return;
        await probe(method, url, undefined);
      }),
      { numRuns: RUNS, seed: 6 },
    );
  });

  test('bodies that are not JSON at all', async () => {
    await fc.assert(fc.asyncProperty(fc.string({ maxLength: 40 }), async (text) => void (await probe('POST', `/v1/sessions/${id}/step`, text, true))), { numRuns: RUNS, seed: 7 });
  });
});
