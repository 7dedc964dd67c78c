/**
 * Quotas per API key and overload protection answer with their documented
 * codes (429 QUOTA_EXCEEDED, 503 OVERLOADED, with Retry-After where there is
 * a time to wait) while other keys and light work are still served; browsers
 * get the CORS allow-list and the security headers.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FastifyInstance, InjectOptions } from 'fastify';
import type { LoadReading } from '../src/overload.js';
import { makeApp } from './helpers/http.js';

const A = 'key-a-secret-0123456789';
const B = 'key-b-secret-0123456789';
const KEYS = [
  { id: 'a', secret: A },
  { id: 'b', secret: B },
];
// 3 + 2 neurons, 6 synapses: 11 per step.
const NET = { populations: { x: { n: 3 }, y: { n: 2 } }, connections: { xy: { pre: 'x', post: 'y' } } };

/**
 * Holds the event loop for `ms`, as a runaway computation would: the main
 * thread does not return to it. It sleeps rather than spins: the monitor sees
 * only how late its probes are, and a spin would take a core from the tests
 * running beside this one.
 */
function holdLoop(ms: number): void {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (let left = ms, until = performance.now() + ms; left > 0; left = until - performance.now()) Atomics.wait(cell, 0, 0, left);
}

async function req(app: FastifyInstance, method: InjectOptions['method'], url: string, key?: string, body?: unknown, headers: Record<string, string> = {}) {
  const h: Record<string, string> = { ...headers };
  if (key) h.authorization = `Bearer ${key}`;
  const opts: InjectOptions = { method, url, headers: h };
  if (body !== undefined) {
    opts.payload = JSON.stringify(body);
    h['content-type'] = 'application/json';
  }
  const r = await app.inject(opts);
  const type = String(r.headers['content-type'] ?? '');
  return { status: r.statusCode, body: type.includes('json') ? r.json() : r.body, headers: r.headers };
}

describe('quotas per key', () => {
  test('sessions and synapses: 429 QUOTA_EXCEEDED naming the quota; another key is still served; deleting frees the quota', async () => {
    const app = await makeApp({ apiKeys: KEYS, quotaSessions: 2, quotaSynapses: 10 });
    try {
      const first = await req(app, 'POST', '/v1/sessions', A, { network: NET });
      assert.equal(first.status, 201);
      // 6 + 6 synapses would pass 10.
      const tooBig = await req(app, 'POST', '/v1/sessions', A, { network: NET });
      assert.equal(tooBig.status, 429);
      assert.equal(tooBig.body.error.code, 'QUOTA_EXCEEDED');
      assert.equal(tooBig.body.error.details.quota, 'synapses');
      assert.match(tooBig.body.error.message, /QUOTA_SYNAPSES/);
      const small = { populations: { x: { n: 1 } } };
      assert.equal((await req(app, 'POST', '/v1/sessions', A, { network: small })).status, 201);
      const third = await req(app, 'POST', '/v1/sessions', A, { network: small });
      assert.equal(third.status, 429);
      assert.equal(third.body.error.details.quota, 'sessions');
      assert.match(third.body.error.message, /quota of 2 sessions \(QUOTA_SESSIONS\)/);
      assert.equal(third.headers['retry-after'], undefined, 'no time to wait: a session must be deleted');
      // Key b has its own quota.
      assert.equal((await req(app, 'POST', '/v1/sessions', B, { network: NET })).status, 201);
      assert.equal((await req(app, 'DELETE', `/v1/sessions/${first.body.id}`, A)).status, 200);
      assert.equal((await req(app, 'POST', '/v1/sessions', A, { network: small })).status, 201);
      const metrics = (await req(app, 'GET', '/metrics', A)).body as string;
      assert.match(metrics, /spikeserve_rejected_requests_total\{code="QUOTA_EXCEEDED",transport="http"\} 2/);
    } finally {
      await app.close();
    }
  });

  test('steps per second: a token bucket per key, 429 with Retry-After past it, other keys unaffected, refilled with time', async () => {
    // The quota's own clock, moved by hand: a loaded machine's pauses must not refill the bucket between two requests.
    let now = 0;
    const app = await makeApp({ apiKeys: KEYS, quotaStepsPerS: 100, quotaStepsBurst: 50 }, { quotaClock: () => now });
    try {
      const a = (await req(app, 'POST', '/v1/sessions', A, { network: NET })).body.id;
      const b = (await req(app, 'POST', '/v1/sessions', B, { network: NET })).body.id;
      assert.equal((await req(app, 'POST', `/v1/sessions/${a}/step`, A, { steps: 45 })).status, 200);
      const over = await req(app, 'POST', `/v1/sessions/${a}/step`, A, { steps: 20 });
      assert.equal(over.status, 429);
      assert.equal(over.body.error.code, 'QUOTA_EXCEEDED');
      assert.equal(over.body.error.details.quota, 'stepsPerSecond');
      assert.equal(over.headers['retry-after'], '1');
      assert.equal(over.body.error.details.retryAfterSeconds, 1);
      // Refused means not run.
      assert.equal((await req(app, 'GET', `/v1/sessions/${a}`, A)).body.step, 45);
      assert.equal((await req(app, 'POST', `/v1/sessions/${b}/step`, B, { steps: 50 })).status, 200);
      // A call larger than the bucket runs once the bucket is full, then the key waits it off.
      now += 600;
      const big = await req(app, 'POST', `/v1/sessions/${a}/step`, A, { steps: 500 });
      assert.equal(big.status, 200);
      const after = await req(app, 'POST', `/v1/sessions/${a}/step`, A, { steps: 1 });
      assert.equal(after.status, 429);
      assert.ok(Number(after.headers['retry-after']) >= 4, `retry after ${after.headers['retry-after']} s`);
    } finally {
      await app.close();
    }
  });
});

describe('overload protection', () => {
  test('past a bound: new sessions and heavy steps get 503 OVERLOADED with Retry-After; light steps and health still answer; it lifts when the load does', async () => {
    let reading: LoadReading = { eventLoopDelayMs: 5, rssBytes: 100 * 2 ** 20 };
    const app = await makeApp(
      { overloadEventLoopDelayMs: 200, overloadMemoryMb: 1024, overloadHeavyStepCost: 1100 },
      { overload: { sample: () => reading, intervalMs: 60_000 } },
    );
    try {
      const id = (await req(app, 'POST', '/v1/sessions', undefined, { network: NET })).body.id;
      for (const [r, cause] of [
        [{ eventLoopDelayMs: 450, rssBytes: 100 * 2 ** 20 }, /event-loop delay 450 ms is over OVERLOAD_EVENT_LOOP_DELAY_MS \(200 ms\)/],
        [{ eventLoopDelayMs: 5, rssBytes: 2048 * 2 ** 20 }, /memory in use 2048 MB is over OVERLOAD_MEMORY_MB \(1024 MB\)/],
      ] as const) {
        reading = r;
        app.overload.read();
        const create = await req(app, 'POST', '/v1/sessions', undefined, { network: NET });
        assert.equal(create.status, 503);
        assert.equal(create.body.error.code, 'OVERLOADED');
        assert.match(create.body.error.message, cause);
        assert.equal(create.headers['retry-after'], '60');
        // 100 steps x 11 = 1100: heavy. 99 steps: light, runs.
        const heavy = await req(app, 'POST', `/v1/sessions/${id}/step`, undefined, { steps: 100 });
        assert.equal(heavy.status, 503);
        assert.equal(heavy.body.error.code, 'OVERLOADED');
        assert.equal((await req(app, 'POST', `/v1/sessions/${id}/step`, undefined, { steps: 99 })).status, 200);
        assert.equal((await req(app, 'GET', `/v1/sessions/${id}/weights`)).status, 200);
        assert.equal((await req(app, 'GET', '/healthz')).status, 200);
        assert.equal((await req(app, 'GET', '/readyz')).status, 200);
        assert.match((await req(app, 'GET', '/metrics')).body, /spikeserve_overloaded 1/);
      }
      reading = { eventLoopDelayMs: 5, rssBytes: 100 * 2 ** 20 };
      app.overload.read();
      assert.equal((await req(app, 'POST', '/v1/sessions', undefined, { network: NET })).status, 201);
      assert.equal((await req(app, 'POST', `/v1/sessions/${id}/step`, undefined, { steps: 100 })).status, 200);
      assert.match((await req(app, 'GET', '/metrics')).body, /spikeserve_overloaded 0/);
    } finally {
      await app.close();
    }
  });

  test('the real event-loop reading: a loop kept blocked trips it, a free one does not', async () => {
    const app = await makeApp({ overloadEventLoopDelayMs: 50, overloadMemoryMb: 0 }, { overload: { intervalMs: 60_000 } });
    try {
      await new Promise((r) => setTimeout(r, 50));
      app.overload.read();
      assert.equal(app.overload.overloaded, false);
      // Sustained: one block is one late probe (the next test), so block it again and again.
      for (let i = 0; i < 12; i++) {
        holdLoop(150);
        await new Promise((r) => setTimeout(r, 0));
      }
      await new Promise((r) => setTimeout(r, 20));
      const r = app.overload.read();
      assert.ok(r.eventLoopDelayMs > 50, `p99 delay ${r.eventLoopDelayMs} ms`);
      assert.equal(app.overload.overloaded, true);
    } finally {
      await app.close();
    }
  });

  test('one large request the server ran does not trip it, even just after start: right after a 1000 x 1000 PUT /weights, a heavy step on an idle server runs; sustained delay still trips it', async () => {
    // The request's body is written before the server (and its monitor) starts, and its reply is
    // not parsed: the test's own work on 14 MB of JSON would hold the loop as the request does, late
    // probes that are not the server's, enough on a loaded machine to make the p99 its own.
    const w = Array.from({ length: 1000 }, (_, i) => Array.from({ length: 1000 }, (_, j) => ((i * 7 + j * 13) % 1000) / 1000));
    const putBody = JSON.stringify({ weights: w });
    const app = await makeApp({ overloadEventLoopDelayMs: 200, overloadMemoryMb: 0 }, { overload: { intervalMs: 60_000 } });
    try {
      const big = { populations: { a: { n: 1000 }, b: { n: 1000 } }, connections: { ab: { pre: 'a', post: 'b' } } };
      const id = (await req(app, 'POST', '/v1/sessions', undefined, { network: big })).body.id as string;
      await new Promise((r) => setTimeout(r, 100));
      app.overload.read();
      assert.equal(app.overload.overloaded, false);
      const put = await app.inject({ method: 'PUT', url: `/v1/sessions/${id}/weights/ab`, payload: putBody, headers: { 'content-type': 'application/json' } });
      assert.equal(put.statusCode, 200, put.body.slice(0, 300));
      // The reading the timer takes right after it.
      app.overload.read();
      // 10 x (2000 neurons + 1e6 synapses): heavy.
      const heavy = await req(app, 'POST', `/v1/sessions/${id}/step`, undefined, { steps: 10, return: { spikes: 'none' } });
      assert.equal(heavy.status, 200, JSON.stringify(heavy.body));
      assert.equal(heavy.body.step, 10);
      // Pressure that lasts: the loop late probe after probe.
      for (let i = 0; i < 12; i++) {
        holdLoop(260);
        await new Promise((r) => setTimeout(r, 0));
      }
      const r = app.overload.read();
      assert.ok(r.eventLoopDelayMs > 200, `p99 delay ${r.eventLoopDelayMs} ms`);
      assert.equal(app.overload.overloaded, true);
      const refused = await req(app, 'POST', `/v1/sessions/${id}/step`, undefined, { steps: 10, return: { spikes: 'none' } });
      assert.equal(refused.status, 503);
      assert.equal(refused.body.error.code, 'OVERLOADED');
    } finally {
      await app.close();
    }
  });
});

describe('browsers', () => {
  test('CORS follows the allow-list; preflights from other origins are refused; security headers on every response', async () => {
    const app = await makeApp({ corsOrigins: ['https://lab.example', 'http://localhost:8080'] });
    try {
      const ok = await req(app, 'GET', '/v1/sessions', undefined, undefined, { origin: 'https://lab.example' });
      assert.equal(ok.status, 200);
      assert.equal(ok.headers['access-control-allow-origin'], 'https://lab.example');
      assert.equal(ok.headers.vary, 'Origin');
      assert.match(String(ok.headers['access-control-expose-headers']), /retry-after/);
      const other = await req(app, 'GET', '/v1/sessions', undefined, undefined, { origin: 'https://evil.example' });
      assert.equal(other.headers['access-control-allow-origin'], undefined);
      const pre = await req(app, 'OPTIONS', '/v1/sessions', undefined, undefined, { origin: 'http://localhost:8080', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers['access-control-allow-origin'], 'http://localhost:8080');
      assert.match(String(pre.headers['access-control-allow-methods']), /POST/);
      assert.match(String(pre.headers['access-control-allow-headers']), /authorization/);
      const bad = await req(app, 'OPTIONS', '/v1/sessions', undefined, undefined, { origin: 'https://evil.example', 'access-control-request-method': 'POST' });
      assert.equal(bad.status, 403);
      assert.equal(bad.body.error.code, 'ORIGIN_NOT_ALLOWED');
      for (const url of ['/v1/sessions', '/healthz', '/v1/sessions/nope']) {
        const r = await req(app, 'GET', url);
        assert.equal(r.headers['x-content-type-options'], 'nosniff', url);
        assert.equal(r.headers['x-frame-options'], 'DENY', url);
        assert.equal(r.headers['referrer-policy'], 'no-referrer', url);
        assert.equal(r.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'", url);
        assert.equal(r.headers['cache-control'], 'no-store', url);
      }
      // The interactive docs run scripts: no API policy there.
      const docs = await req(app, 'GET', '/docs/');
      assert.equal(docs.headers['x-content-type-options'], 'nosniff');
      assert.notEqual(docs.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'");
    } finally {
      await app.close();
    }
  });

  test('no stack trace leaves the server', async () => {
    const app = await makeApp();
    try {
      const id = (await req(app, 'POST', '/v1/sessions', undefined, { network: NET })).body.id;
      // Make the session's next command throw something that is not a coded error.
      const s = app.sessions.get(id) as unknown as { state: () => Promise<unknown> };
      s.state = () => Promise.reject(new TypeError('boom at /work/secret/path.ts:12'));
      const r = await req(app, 'GET', `/v1/sessions/${id}/state`);
      assert.equal(r.status, 500);
      assert.equal(r.body.error.code, 'INTERNAL_ERROR');
      assert.ok(!JSON.stringify(r.body).includes('boom') && !JSON.stringify(r.body).includes('.ts:'));
    } finally {
      await app.close();
    }
  });
});
