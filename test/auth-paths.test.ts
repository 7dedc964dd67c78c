/**
 * API keys hold whatever the path looks like: every guarded endpoint, reached
 * by a path the router decodes or normalises (percent-encoded, double-encoded,
 * mixed case, dot segments, doubled slashes, `;`, a trailing slash), asked
 * with no key, a wrong key or another key, over raw HTTP so the path reaches
 * the server exactly as written. None is served, the WebSocket upgrade never
 * gets a socket, and the session is untouched; the plain paths with the
 * owner's key still work.
 */
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { makeApp } from './helpers/http.js';
import { variants } from './helpers/paths.js';
import { rawRequest, rawUpgrade } from './helpers/raw-http.js';

const ALICE = 'alice-paths-secret-0123456789';
const BOB = 'bob-paths-secret-9876543210ab';
const WRONG = 'wrong-paths-secret-000000000';
const NET = { populations: { a: { n: 2 }, b: { n: 1 } }, connections: { ab: { pre: 'a', post: 'b' } } };
const REFUSED = [400, 401, 404];

/** Keep-alive connections, one at a time: the paths are the same bytes, without a connection set up for each of the thousands of requests. */
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

/** One request with `path` sent byte for byte as given. */
function raw(port: number, method: string, path: string, key?: string, body?: unknown) {
  return rawRequest(port, path, { method, key, body, agent });
}

/** A WebSocket upgrade on `path` as written. */
function upgrade(port: number, path: string, key?: string) {
  return rawUpgrade(port, path, { key });
}

describe('API keys on every way of writing a path', () => {
  let app: FastifyInstance;
  let port: number;
  let id: string;
  let bobs: string;

  before(async () => {
    app = await makeApp({ apiKeys: [{ id: 'alice', secret: ALICE }, { id: 'bob', secret: BOB }] });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as AddressInfo).port;
    id = JSON.parse((await raw(port, 'POST', '/v1/sessions', ALICE, { network: NET, name: 'alice-only' })).body).id;
    bobs = JSON.parse((await raw(port, 'POST', '/v1/sessions', BOB, { network: NET })).body).id;
  });

  after(async () => {
    agent.destroy();
    await app.close();
  });

  /** [method, path, body, whether another key may use it] for every guarded endpoint of alice's session. */
  const endpoints = (): [string, string, unknown, boolean][] => [
    ['GET', '/v1/sessions', undefined, true],
    ['HEAD', '/v1/sessions', undefined, true],
    ['POST', '/v1/sessions', { network: NET }, true],
    ['GET', `/v1/sessions/${id}`, undefined, false],
    ['GET', `/v1/sessions/${id}/state`, undefined, false],
    ['GET', `/v1/sessions/${id}/snapshot`, undefined, false],
    ['HEAD', `/v1/sessions/${id}/snapshot`, undefined, false],
    ['GET', `/v1/sessions/${id}/weights`, undefined, false],
    ['GET', `/v1/sessions/${id}/weights/ab`, undefined, false],
    ['PUT', `/v1/sessions/${id}/weights/ab`, { weights: [[0.123], [0.456]] }, false],
    ['POST', `/v1/sessions/${id}/step`, { steps: 2 }, false],
    ['POST', `/v1/sessions/${id}/reward`, { reward: 1 }, false],
    ['POST', `/v1/sessions/${id}/reset`, { weights: true }, false],
    ['POST', `/v1/sessions/${id}/ws-ticket`, undefined, false],
    ['DELETE', `/v1/sessions/${id}`, undefined, false],
    ['GET', '/metrics', undefined, true],
  ];

  test('no key, a wrong key, or (for one session\'s endpoints) another key: never served, on any path', async () => {
    const before = { sessions: app.sessions.size, weights: (await app.sessions.get(id).weights('ab')).weights };
    const served: string[] = [];
    for (const [method, path, body, shared] of endpoints()) {
      for (const p of variants(path)) {
        const keys: [string, string | undefined][] = [['no key', undefined], ['a wrong key', WRONG]];
        if (!shared) keys.push(['another key', BOB]);
        for (const [who, key] of keys) {
          const r = await raw(port, method, p, key, body);
          if (!REFUSED.includes(r.status)) served.push(`${method} ${p} with ${who}: ${r.status} ${r.body.slice(0, 80)}`);
        }
        // The list another key gets is its own, whatever the path.
        if (method === 'GET' && path === '/v1/sessions') {
          const r = await raw(port, method, p, BOB);
          if (r.body.includes(id)) served.push(`${method} ${p} with another key lists alice's session`);
        }
      }
    }
    assert.deepEqual(served, []);
    // Nothing changed: no session created without a key, alice's session still there, at step 0, weights as they were.
    assert.equal(app.sessions.size, before.sessions);
    const s = app.sessions.get(id, 'alice');
    assert.equal(s.stepCount, 0);
    assert.deepEqual((await s.weights('ab')).weights, before.weights);
  });

  test('the WebSocket upgrade: no socket without the owner\'s key, on any path', async () => {
    const opened: string[] = [];
    for (const p of [`/v1/sessions/${id}/ws`, ...variants(`/v1/sessions/${id}/ws`)]) {
      for (const [who, key] of [['no key', undefined], ['a wrong key', WRONG], ['another key', BOB]] as const) {
        const r = await upgrade(port, p, key);
        if (r.opened || !(r.status === 101 ? ['UNAUTHORIZED', 'SESSION_NOT_FOUND', 'REQUEST_INVALID'].includes(r.first?.error?.code ?? '') : REFUSED.includes(r.status))) {
          opened.push(`${p} with ${who}: ${r.status} ${JSON.stringify(r.first)}`);
        }
      }
    }
    assert.deepEqual(opened, []);
  });

  test('the plain paths with the owner\'s key still work', async () => {
    const list = await raw(port, 'GET', '/v1/sessions', ALICE);
    assert.equal(list.status, 200);
    assert.deepEqual(JSON.parse(list.body).sessions.map((s: { id: string }) => s.id), [id]);
    assert.equal((await raw(port, 'GET', `/v1/sessions/${id}`, ALICE)).status, 200);
    assert.equal((await raw(port, 'POST', `/v1/sessions/${id}/step`, ALICE, { steps: 2 })).status, 200);
    assert.equal((await raw(port, 'GET', `/v1/sessions/${id}/state`, ALICE)).status, 200);
    assert.equal((await raw(port, 'GET', `/v1/sessions/${id}/snapshot`, ALICE)).status, 200);
    assert.equal((await raw(port, 'GET', `/v1/sessions/${id}/weights`, ALICE)).status, 200);
    assert.equal((await raw(port, 'PUT', `/v1/sessions/${id}/weights/ab`, ALICE, { weights: [[0.5], [0.5]] })).status, 200);
    assert.equal((await raw(port, 'POST', `/v1/sessions/${id}/reset`, ALICE, {})).status, 200);
    assert.equal((await raw(port, 'POST', `/v1/sessions/${id}/ws-ticket`, ALICE)).status, 201);
    assert.equal((await raw(port, 'GET', '/metrics', ALICE)).status, 200);
    const ws = await upgrade(port, `/v1/sessions/${id}/ws`, ALICE);
    assert.equal(ws.opened, true, JSON.stringify(ws.first));
    // Bob's own session is his, by every route.
    assert.equal((await raw(port, 'GET', `/v1/sessions/${bobs}`, BOB)).status, 200);
    assert.equal((await raw(port, 'DELETE', `/v1/sessions/${id}`, ALICE)).status, 200);
    assert.equal((await raw(port, 'GET', `/v1/sessions/${id}`, ALICE)).status, 404);
  });
});
