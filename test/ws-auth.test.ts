/**
 * The WebSocket upgrade's auth over a real socket, on the app as the server
 * builds it: with API_KEYS set, a socket opens with its key or a fresh
 * ticket; no key, a wrong key, another key's session, an expired, reused or
 * other-session ticket and a foreign Origin are refused on the socket, an
 * `error` message then a close with 4000 + the error's status, and another
 * key's session is refused exactly as an id that never existed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RestClient } from '../src/client/index.js';
import { SEED_MSTDP_NETWORK } from './helpers/seed-mstdp-task.js';
import { liveServer, rawSocket, waitFor, type LiveServer } from './helpers/ws.js';

const ALICE = 'ws-auth-alice-0123456789abcdef';
const BOB = 'ws-auth-bob-0123456789abcdef';
const KEYS = [
  { id: 'alice', secret: ALICE },
  { id: 'bob', secret: BOB },
];

interface Refusal {
  code: number;
  reason: string;
  error: { code: string; message: string };
}

/** Opens a raw socket expected to be refused: its one error message and its close. */
async function refused(url: string, headers: Record<string, string> = {}): Promise<Refusal> {
  const s = await rawSocket(url, { headers });
  const closed = await s.closed;
  assert.equal(s.messages.length, 1, `one message before the close: ${JSON.stringify(s.messages)}`);
  assert.equal(s.messages[0].type, 'error');
  return { ...closed, error: s.messages[0].error };
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

async function ticketFor(srv: LiveServer, id: string, key: string): Promise<string> {
  const r = await fetch(`${srv.base}/v1/sessions/${id}/ws-ticket`, { method: 'POST', headers: bearer(key) });
  assert.equal(r.status, 201);
  return ((await r.json()) as { ticket: string }).ticket;
}

test('with API_KEYS: the owner\'s key opens the socket; no key or a wrong key gets UNAUTHORIZED and 4401', async () => {
  const srv = await liveServer({ apiKeys: KEYS });
  try {
    const alice = new RestClient(srv.base, { apiKey: ALICE });
    const { id } = await alice.createSession({ network: SEED_MSTDP_NETWORK });
    const url = `${srv.wsBase}/v1/sessions/${id}/ws`;

    const none = await refused(url);
    assert.equal(none.code, 4401);
    assert.equal(none.error.code, 'UNAUTHORIZED');
    assert.match(none.reason, /^UNAUTHORIZED: /);
    assert.match(none.error.message, /Authorization: Bearer/);

    const wrong = await refused(url, bearer('not-one-of-the-keys-000000'));
    assert.equal(wrong.code, 4401);
    assert.equal(wrong.error.code, 'UNAUTHORIZED');
    assert.equal(wrong.error.message, 'the API key is not valid');

    const ctl = await alice.socket(id);
    const r = await ctl.step({ inputs: { pre: [1, 0] } });
    assert.equal(r.step, 1);
    ctl.close();
    await waitFor(() => srv.app.websockets.stats().connections === 0, 'the socket to close');
  } finally {
    await srv.close();
  }
});

test('another key\'s session is refused exactly as one that does not exist (4404), and its session is untouched', async () => {
  const srv = await liveServer({ apiKeys: KEYS });
  try {
    const alice = new RestClient(srv.base, { apiKey: ALICE });
    const { id } = await alice.createSession({ network: SEED_MSTDP_NETWORK });
    const theirs = await refused(`${srv.wsBase}/v1/sessions/${id}/ws`, bearer(BOB));
    const missing = '00000000-0000-4000-8000-000000000000';
    const nobody = await refused(`${srv.wsBase}/v1/sessions/${missing}/ws`, bearer(BOB));
    assert.equal(theirs.code, 4404);
    assert.equal(theirs.error.code, 'SESSION_NOT_FOUND');
    // Nothing tells the two apart but the id the caller already knows.
    assert.equal(JSON.stringify(theirs).replaceAll(id, 'ID'), JSON.stringify(nobody).replaceAll(missing, 'ID'));
    // Bob's ticket for Alice's session cannot be had either.
    const t = await fetch(`${srv.base}/v1/sessions/${id}/ws-ticket`, { method: 'POST', headers: bearer(BOB) });
    assert.equal(t.status, 404);
    // Alice's controller slot was never taken.
    const ctl = await alice.socket(id);
    assert.equal(ctl.hello.session.step, 0);
    ctl.close();
  } finally {
    await srv.close();
  }
});

test('tickets: a fresh one opens the socket once, for its key; reused, expired, unknown or another session\'s get 4401', async () => {
  const srv = await liveServer({ apiKeys: KEYS, wsTicketTtlS: 1 });
  try {
    const alice = new RestClient(srv.base, { apiKey: ALICE });
    const { id } = await alice.createSession({ network: SEED_MSTDP_NETWORK });
    const other = (await alice.createSession({ network: SEED_MSTDP_NETWORK })).id;
    const url = `${srv.wsBase}/v1/sessions/${id}/ws`;

    const ticket = await ticketFor(srv, id, ALICE);
    const s = await rawSocket(`${url}?ticket=${ticket}&role=observer`);
    const [hello] = await s.next();
    assert.equal(hello.type, 'hello');
    assert.equal(hello.role, 'observer');
    assert.equal(hello.session.id, id);

    const reused = await refused(`${url}?ticket=${ticket}&role=observer`);
    const unknown = await refused(`${url}?ticket=made-up-ticket`);
    const elsewhere = await refused(`${url}?ticket=${await ticketFor(srv, other, ALICE)}`);
    const late = await ticketFor(srv, id, ALICE);
    await new Promise((r) => setTimeout(r, 1100));
    const expired = await refused(`${url}?ticket=${late}`);
    const messages = new Set<string>();
    for (const r of [reused, unknown, elsewhere, expired]) {
      assert.equal(r.code, 4401);
      assert.equal(r.error.code, 'UNAUTHORIZED');
      messages.add(r.error.message);
    }
    assert.equal(messages.size, 1, 'every bad ticket gets the same answer');
    s.ws.close();
  } finally {
    await srv.close();
  }
});

test('a foreign Origin is refused with 4403 before credentials are read; a listed one is let in', async () => {
  const srv = await liveServer({ apiKeys: KEYS, corsOrigins: ['https://lab.example'] });
  try {
    const alice = new RestClient(srv.base, { apiKey: ALICE });
    const { id } = await alice.createSession({ network: SEED_MSTDP_NETWORK });
    const url = `${srv.wsBase}/v1/sessions/${id}/ws`;
    const foreign = await refused(url, { ...bearer(ALICE), origin: 'https://evil.example' });
    assert.equal(foreign.code, 4403);
    assert.equal(foreign.error.code, 'ORIGIN_NOT_ALLOWED');
    const s = await rawSocket(`${url}?ticket=${await ticketFor(srv, id, ALICE)}`, { headers: { origin: 'https://lab.example' } });
    assert.equal((await s.next())[0].type, 'hello');
    s.ws.close();
  } finally {
    await srv.close();
  }
});

test('without API_KEYS sockets need nothing, but a ticket given must be valid; ?ticket is the only extra parameter', async () => {
  const srv = await liveServer();
  try {
    const { id } = await srv.rest.createSession({ network: SEED_MSTDP_NETWORK });
    const url = `${srv.wsBase}/v1/sessions/${id}/ws`;
    const bad = await refused(`${url}?ticket=made-up`);
    assert.equal(bad.code, 4401);
    const odd = await refused(`${url}?token=x`);
    assert.equal(odd.code, 4400);
    assert.match(odd.error.message, /role, format, ticket/);
    const ctl = await srv.rest.socket(id);
    ctl.close();
  } finally {
    await srv.close();
  }
});
