/**
 * DNS rebinding and cross-origin writes, on a real listening server with raw
 * requests (so the Host and Origin headers are exactly those a browser would
 * send): without keys only loopback names and ALLOWED_HOSTS are served, on
 * every route and on the WebSocket upgrade; with keys the Host is checked
 * only when ALLOWED_HOSTS is set; and a request that changes something from a
 * page of another origin (scheme included) is refused before it runs, even
 * one without a body or a content type, which browsers send without asking.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../src/config.js';
import { makeApp } from './helpers/http.js';
import { rawRequest, rawUpgrade } from './helpers/raw-http.js';

const NET = { populations: { a: { n: 2 }, b: { n: 1 } }, connections: { ab: { pre: 'a', post: 'b' } } };
const KEY = 'hosts-test-secret-0123456789';

async function listening(overrides: Partial<Config> = {}): Promise<{ app: FastifyInstance; port: number; id: string; key?: string }> {
  const app = await makeApp(overrides);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  const key = overrides.apiKeys?.length ? KEY : undefined;
  const created = await rawRequest(port, '/v1/sessions', { method: 'POST', body: { network: NET }, key });
  assert.equal(created.status, 201, created.body);
  return { app, port, id: created.json.id, key };
}

function assertHostRefused(r: { status: number; json: any }, what: string): void {
  assert.equal(r.status, 403, what);
  assert.equal(r.json?.error?.code, 'HOST_NOT_ALLOWED', what);
  assert.match(r.json.error.message, /ALLOWED_HOSTS/, what);
}

describe('Host names (DNS rebinding)', () => {
  test('without keys: a foreign Host is refused on every route, public ones included, before anything runs', async () => {
    const { app, port, id } = await listening();
    try {
      const host = `evil.example:${port}`;
      const origin = `http://${host}`;
      const requests: [string, string, unknown?][] = [
        ['GET', '/v1/sessions'],
        ['POST', '/v1/sessions', { network: NET }],
        ['GET', `/v1/sessions/${id}`],
        ['GET', `/v1/sessions/${id}/weights`],
        ['POST', `/v1/sessions/${id}/step`, { steps: 3 }],
        ['POST', `/v1/sessions/${id}/reset`],
        ['PUT', `/v1/sessions/${id}/weights/ab`, { weights: [[0.1], [0.2]] }],
        ['POST', `/v1/sessions/${id}/ws-ticket`],
        ['DELETE', `/v1/sessions/${id}`],
        ['GET', '/metrics'],
        ['GET', '/healthz'],
        ['GET', '/openapi.yaml'],
        ['GET', '/dashboard'],
        ['GET', '/no/such/route'],
        ['OPTIONS', '/v1/sessions'],
      ];
      // As the rebound page sends them: same-origin to the browser (its Origin matches its Host), or with no Origin at all.
      for (const headers of [{ host, origin }, { host }] as Record<string, string>[]) {
        for (const [method, path, body] of requests) {
          const h: Record<string, string> = { ...headers };
          if (method === 'OPTIONS') h['access-control-request-method'] = 'POST';
          assertHostRefused(await rawRequest(port, path, { method, headers: h, body }), `${method} ${path} ${JSON.stringify(headers)}`);
        }
      }
      for (const bad of ['localhost.evil.example', '127.0.0.1.evil.example', `evil.example@127.0.0.1:${port}`, `0.0.0.0:${port}`, `[::2]:${port}`, 'localhost:99999']) {
        assertHostRefused(await rawRequest(port, '/v1/sessions', { headers: { host: bad } }), bad);
      }
      assert.equal(app.sessions.size, 1);
      assert.equal(app.sessions.get(id).stepCount, 0);
      // Loopback names, with or without a port, are this machine's.
      for (const good of ['localhost', `localhost:${port}`, `LocalHost:${port}`, `127.0.0.1:${port}`, `127.1.2.3:${port}`, `[::1]:${port}`, '[::1]']) {
        assert.equal((await rawRequest(port, '/v1/sessions', { headers: { host: good } })).status, 200, good);
      }
    } finally {
      await app.close();
    }
  });

  test('without keys: the WebSocket upgrade with a foreign Host gets no socket, even with its matching Origin', async () => {
    const { app, port, id } = await listening();
    try {
      for (const headers of [{ host: `evil.example:${port}`, origin: `http://evil.example:${port}` }, { host: `evil.example:${port}` }] as Record<string, string>[]) {
        const r = await rawUpgrade(port, `/v1/sessions/${id}/ws`, { headers });
        assert.equal(r.opened, false, JSON.stringify(headers));
        assert.equal(r.first?.error?.code, 'HOST_NOT_ALLOWED');
      }
      assert.equal(app.websockets.stats().connections, 0);
      const own = await rawUpgrade(port, `/v1/sessions/${id}/ws`, { headers: { host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}` } });
      assert.equal(own.opened, true, JSON.stringify(own.first));
    } finally {
      await app.close();
    }
  });

  test('ALLOWED_HOSTS: its names are served (with the port it gives, if any), loopback still is, others are not', async () => {
    const { app, port } = await listening({ allowedHosts: ['spikeserve.lan', 'box.lan:8080'] });
    try {
      for (const good of [`spikeserve.lan:${port}`, 'spikeserve.lan', `SPIKESERVE.lan:${port}`, 'box.lan:8080', `localhost:${port}`]) {
        assert.equal((await rawRequest(port, '/v1/sessions', { headers: { host: good } })).status, 200, good);
      }
      for (const bad of ['box.lan:8081', 'box.lan', `spikeserve.lan.evil.example:${port}`, `evil.example:${port}`]) {
        assertHostRefused(await rawRequest(port, '/v1/sessions', { headers: { host: bad } }), bad);
      }
    } finally {
      await app.close();
    }
    const open = await listening({ allowedHosts: ['*'] });
    try {
      assert.equal((await rawRequest(open.port, '/v1/sessions', { headers: { host: 'anything.example' } })).status, 200);
    } finally {
      await open.app.close();
    }
  });

  test('with keys: any Host with a key (a rebound page has none), unless ALLOWED_HOSTS is set', async () => {
    const keyed = await listening({ apiKeys: [{ id: 'k', secret: KEY }] });
    try {
      const host = `spikeserve.example.org:${keyed.port}`;
      assert.equal((await rawRequest(keyed.port, '/v1/sessions', { headers: { host }, key: KEY })).status, 200);
      assert.equal((await rawRequest(keyed.port, '/v1/sessions', { headers: { host } })).status, 401);
    } finally {
      await keyed.app.close();
    }
    const listed = await listening({ apiKeys: [{ id: 'k', secret: KEY }], allowedHosts: ['spikeserve.example.org'] });
    try {
      assert.equal((await rawRequest(listed.port, '/v1/sessions', { headers: { host: `spikeserve.example.org:${listed.port}` }, key: KEY })).status, 200);
      assertHostRefused(await rawRequest(listed.port, '/v1/sessions', { headers: { host: `evil.example:${listed.port}` }, key: KEY }), 'keyed, listed');
      const ws = await rawUpgrade(listed.port, `/v1/sessions/${listed.id}/ws`, { headers: { host: `evil.example:${listed.port}` }, key: KEY });
      assert.equal(ws.first?.error?.code, 'HOST_NOT_ALLOWED');
    } finally {
      await listed.app.close();
    }
  });
});

describe('cross-origin requests that change something', () => {
  test('a bodyless POST, PUT or DELETE from another origin (or another scheme, or an opaque one) is refused before it runs; the same origin and CORS_ORIGINS may', async () => {
    const { app, port, id } = await listening({ corsOrigins: ['https://lab.example'] });
    try {
      const host = `127.0.0.1:${port}`;
      assert.equal((await rawRequest(port, `/v1/sessions/${id}/step`, { method: 'POST', headers: { host }, body: { steps: 3 } })).status, 200);
      // What a page elsewhere can send without a preflight: no content type, no body.
      const attacks: [string, string][] = [
        ['POST', `/v1/sessions/${id}/reset`],
        ['POST', `/v1/sessions/${id}/step`],
        ['POST', `/v1/sessions/${id}/ws-ticket`],
        ['POST', '/v1/sessions'],
        ['DELETE', `/v1/sessions/${id}`],
        ['PUT', `/v1/sessions/${id}/weights/ab`],
      ];
      for (const origin of ['http://evil.example', `https://${host}`, `http://localhost:${port}`, 'null', 'not an origin']) {
        for (const [method, path] of attacks) {
          const r = await rawRequest(port, path, { method, headers: { host, origin } });
          assert.equal(r.status, 403, `${method} ${path} from ${origin}`);
          assert.equal(r.json?.error?.code, 'ORIGIN_NOT_ALLOWED');
          assert.equal(r.headers['access-control-allow-origin'], undefined);
        }
      }
      assert.equal(app.sessions.size, 1);
      assert.equal(app.sessions.get(id).stepCount, 3, 'neither reset nor stepped');
      // Reading from elsewhere is not refused, and not shared with the page either (no CORS header).
      const read = await rawRequest(port, `/v1/sessions/${id}`, { headers: { host, origin: 'http://evil.example' } });
      assert.equal(read.status, 200);
      assert.equal(read.headers['access-control-allow-origin'], undefined);
      // The server's own pages (same scheme, host and port), a listed origin, and clients that send no Origin may.
      assert.equal((await rawRequest(port, `/v1/sessions/${id}/reset`, { method: 'POST', headers: { host, origin: `http://${host}` } })).status, 200);
      assert.equal((await rawRequest(port, `/v1/sessions/${id}/step`, { method: 'POST', headers: { host, origin: 'https://lab.example' }, body: { steps: 1 } })).status, 200);
      assert.equal((await rawRequest(port, `/v1/sessions/${id}/reset`, { method: 'POST', headers: { host } })).status, 200);
    } finally {
      await app.close();
    }
  });
});
