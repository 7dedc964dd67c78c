/**
 * API keys: no key, a wrong key, another key's session and a bad ticket are
 * each refused with the documented status, and nothing leaks: not whether a
 * session exists, not a secret in the logs. Without keys the server stays on
 * loopback and says so.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { KeyRing } from '../src/security/keys.js';
import { TicketBook } from '../src/security/tickets.js';
import { makeApp } from './helpers/http.js';
import { startServer } from './helpers/server.js';

const ALICE = 'alice-secret-0123456789';
const BOB = 'bob-secret-9876543210ab';
const BARE = 'bare-secret-ffffffffffff';
const KEYS = [
  { id: 'alice', secret: ALICE },
  { id: 'bob', secret: BOB },
  { id: 'key-bare', secret: BARE },
];
const NET = { populations: { a: { n: 2 }, b: { n: 1 } }, connections: { ab: { pre: 'a', post: 'b' } } };

async function req(app: FastifyInstance, method: InjectOptions['method'], url: string, key?: string, body?: unknown) {
  const headers: Record<string, string> = {};
  if (key !== undefined) headers.authorization = `Bearer ${key}`;
  const opts: InjectOptions = { method, url, headers };
  if (body !== undefined) {
    opts.payload = JSON.stringify(body);
    headers['content-type'] = 'application/json';
  }
  const r = await app.inject(opts);
  const type = String(r.headers['content-type'] ?? '');
  return { status: r.statusCode, body: type.includes('json') ? r.json() : r.body, headers: r.headers };
}

function logCapture() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(c, _e, cb) {
      chunks.push(String(c));
      cb();
    },
  });
  return { logger: { level: 'trace', stream }, text: () => chunks.join('') };
}

describe('API keys', () => {
  test('no key and a wrong key get 401 with a challenge; health, readiness and the contract need none; /metrics does', async () => {
    const app = await makeApp({ apiKeys: KEYS });
    try {
      for (const [key, challenge] of [
        [undefined, /^Bearer realm="spikeserve"$/],
        ['wrong-secret-000000000', /error="invalid_token"/],
        [ALICE + 'x', /error="invalid_token"/],
      ] as const) {
        for (const [method, url] of [['GET', '/v1/sessions'], ['POST', '/v1/sessions'], ['GET', '/metrics'], ['GET', '/v1/nothing-here']] as const) {
          const r = await req(app, method, url, key, method === 'POST' ? { network: NET } : undefined);
          assert.equal(r.status, 401, `${method} ${url} with ${key}`);
          assert.equal(r.body.error?.code ?? JSON.parse(r.body).error.code, 'UNAUTHORIZED');
          assert.match(String(r.headers['www-authenticate']), challenge);
        }
      }
      // A malformed header is a missing key, not a crash.
      const basic = await app.inject({ method: 'GET', url: '/v1/sessions', headers: { authorization: 'Basic YTpi' } });
      assert.equal(basic.statusCode, 401);
      assert.equal(app.sessions.size, 0, 'nothing was created');
      for (const url of ['/healthz', '/readyz', '/openapi.yaml', '/asyncapi.yaml']) assert.equal((await req(app, 'GET', url)).status, 200, url);
      assert.equal((await req(app, 'GET', '/metrics', BOB)).status, 200);
      assert.equal((await req(app, 'GET', '/v1/sessions', BARE)).status, 200);
    } finally {
      await app.close();
    }
  });

  test('another key\'s session answers exactly as one that never existed, on every route; listings show a key its own', async () => {
    const app = await makeApp({ apiKeys: KEYS });
    try {
      const created = await req(app, 'POST', '/v1/sessions', ALICE, { network: NET, name: 'mine' });
      assert.equal(created.status, 201);
      const id = created.body.id as string;
      await req(app, 'POST', '/v1/sessions', BOB, { network: NET });
      const ghost = '00000000-0000-4000-8000-000000000000';
      const routes: [InjectOptions['method'], string, unknown?][] = [
        ['GET', ''],
        ['GET', '/state'],
        ['GET', '/snapshot'],
        ['GET', '/weights'],
        ['GET', '/weights/ab'],
        ['PUT', '/weights/ab', { weights: [[0.5], [0.5]] }],
        ['POST', '/step', { steps: 3 }],
        ['POST', '/reward', { reward: 1 }],
        ['POST', '/reset', {}],
        ['POST', '/ws-ticket'],
        ['DELETE', ''],
      ];
      for (const [method, suffix, body] of routes) {
        const theirs = await req(app, method, `/v1/sessions/${id}${suffix}`, BOB, body);
        const none = await req(app, method, `/v1/sessions/${ghost}${suffix}`, BOB, body);
        assert.equal(theirs.status, 404, `${method} ${suffix}`);
        assert.equal(theirs.body.error.code, 'SESSION_NOT_FOUND');
        // Same answer, but for the id itself: nothing tells an existing session from a made-up id.
        assert.deepEqual(JSON.parse(JSON.stringify(theirs.body).replaceAll(id, 'ID')), JSON.parse(JSON.stringify(none.body).replaceAll(ghost, 'ID')));
      }
      // Untouched by all that: still at step 0, still there.
      const mine = await req(app, 'GET', `/v1/sessions/${id}`, ALICE);
      assert.equal(mine.status, 200);
      assert.equal(mine.body.step, 0);
      const aliceList = await req(app, 'GET', '/v1/sessions', ALICE);
      assert.deepEqual(aliceList.body.sessions.map((s: { id: string }) => s.id), [id]);
      assert.equal(aliceList.body.total, 1);
      const bobList = await req(app, 'GET', '/v1/sessions', BOB);
      assert.equal(bobList.body.total, 1);
      assert.ok(!JSON.stringify(bobList.body).includes(id));
    } finally {
      await app.close();
    }
  });

  test('keys are matched whole: a prefix, a suffix or a longer secret is not a key', () => {
    const ring = new KeyRing(KEYS);
    assert.equal(ring.identify(ALICE), 'alice');
    assert.equal(ring.identify(BARE), 'key-bare');
    for (const s of [ALICE.slice(0, -1), ALICE + '0', ` ${ALICE}`, ALICE.toUpperCase(), '']) assert.equal(ring.identify(s), null, s);
    assert.deepEqual(ring.authenticate(`Bearer ${BOB}`), { id: 'bob' });
    assert.deepEqual(ring.authenticate(`bearer   ${BOB}  `), { id: 'bob' });
    assert.deepEqual(ring.authenticate(`Bearer ${BOB} extra`), { error: 'missing' });
    assert.deepEqual(ring.authenticate(undefined), { error: 'missing' });
    assert.equal(new KeyRing([]).enabled, false);
  });

  test('WebSocket tickets: issued for one\'s own session, good once, for that session, until they expire', async () => {
    const app = await makeApp({ apiKeys: KEYS, wsTicketTtlS: 30 });
    try {
      const id = (await req(app, 'POST', '/v1/sessions', ALICE, { network: NET })).body.id as string;
      const other = (await req(app, 'POST', '/v1/sessions', ALICE, { network: NET })).body.id as string;
      assert.equal((await req(app, 'POST', `/v1/sessions/${id}/ws-ticket`)).status, 401);
      assert.equal((await req(app, 'POST', `/v1/sessions/${id}/ws-ticket`, BOB)).status, 404);
      const issued = await req(app, 'POST', `/v1/sessions/${id}/ws-ticket`, ALICE);
      assert.equal(issued.status, 201);
      const { ticket, url, expiresInSeconds } = issued.body;
      assert.match(ticket, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(url, `/v1/sessions/${id}/ws?ticket=${ticket}`);
      assert.equal(expiresInSeconds, 30);
      const book = app.tickets;
      assert.throws(() => book.consume(ticket, other), (e: Error & { code?: string }) => e.code === 'UNAUTHORIZED');
      // A refused attempt used it up too: a ticket is never tried twice.
      assert.throws(() => book.consume(ticket, id), (e: Error & { code?: string }) => e.code === 'UNAUTHORIZED');
      const second = (await req(app, 'POST', `/v1/sessions/${id}/ws-ticket`, ALICE)).body.ticket;
      assert.deepEqual(book.consume(second, id), { owner: 'alice' });
      assert.throws(() => book.consume(second, id), /not valid/);
      assert.throws(() => book.consume('made-up', id), /not valid/);
    } finally {
      await app.close();
    }
    let now = 1_000_000;
    const book = new TicketBook({ ttlMs: 30_000, now: () => now, maxOutstanding: 3 });
    const t = book.issue('s1', 'alice').ticket;
    now += 30_000;
    assert.throws(() => book.consume(t, 's1'), /not valid/);
    // Bounded: past the limit the oldest tickets go.
    const many = [1, 2, 3, 4].map(() => book.issue('s1', null).ticket);
    assert.equal(book.size, 3);
    assert.throws(() => book.consume(many[0], 's1'), /not valid/);
    assert.deepEqual(book.consume(many[3], 's1'), { owner: null });
  });

  test('secrets and tickets never reach the log', async () => {
    const log = logCapture();
    const app = await makeApp({ apiKeys: KEYS, logLevel: 'trace' }, { logger: log.logger });
    try {
      const id = (await req(app, 'POST', '/v1/sessions', ALICE, { network: NET })).body.id as string;
      await req(app, 'GET', `/v1/sessions/${id}`, BOB);
      await req(app, 'GET', '/v1/sessions', 'not-a-key-but-a-secret-guess');
      const ticket = (await req(app, 'POST', `/v1/sessions/${id}/ws-ticket`, ALICE)).body.ticket as string;
      await req(app, 'GET', `/v1/sessions/${id}/ws?ticket=${ticket}&role=observer`, ALICE);
      const text = log.text();
      assert.match(text, /"msg":"request"/);
      for (const secret of [ALICE, BOB, 'not-a-key-but-a-secret-guess', ticket]) assert.ok(!text.includes(secret), `the log holds ${secret.slice(0, 8)}...`);
      assert.match(text, /ticket=\[redacted\]&role=observer/);
    } finally {
      await app.close();
    }
  });

  test('without keys: a warning at start, and a non-loopback HOST stops the server unless ALLOW_UNAUTHENTICATED_PUBLIC', async () => {
    const log = logCapture();
    const app = await makeApp({}, { logger: log.logger });
    await app.close();
    assert.match(log.text(), /"level":40.*API_KEYS is not set: no authentication/);
    const refused = startServer({ env: { HOST: '0.0.0.0', DATA_DIR: '' } });
    await assert.rejects(refused, /exited \(1\) before listening.*HOST: 0\.0\.0\.0 can be reached from other machines and API_KEYS is empty/s);
  });
});
