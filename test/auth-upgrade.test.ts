/**
 * The WebSocket upgrade's check, on upgrade requests as the endpoint hands
 * them over: no key, a wrong key, another key's session, an expired, reused
 * or other-session ticket, and a foreign Origin are each refused with the
 * documented code; a key, a fresh ticket, or (without keys) nothing at all
 * is let in. The multiplexed socket (no session in its path) is let in
 * with a key, which the check returns as the owner its messages are checked
 * against; without keys, with no owner; a ticket never opens it.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import type { SpikeserveError } from '../src/errors.js';
import { HostPolicy } from '../src/security/hosts.js';
import { KeyRing } from '../src/security/keys.js';
import { OriginPolicy } from '../src/security/origins.js';
import { TicketBook } from '../src/security/tickets.js';
import { upgradeAuthorizer } from '../src/security/upgrade.js';
import { SessionManager } from '../src/sessions/manager.js';

const KEY_A = 'upgrade-key-a-0123456789';
const KEY_B = 'upgrade-key-b-0123456789';

function setup(withKeys: boolean) {
  const sessions = new SessionManager({
    limits: { maxNeurons: 100, maxSynapses: 100, maxStepsPerCall: 100, maxSpikeRecordsPerCall: 1000 },
    maxSessions: 10,
    maxTotalSynapses: 1000,
    idleTimeoutMs: 0,
    sliceMs: 5,
  });
  const keys = new KeyRing(withKeys ? [{ id: 'a', secret: KEY_A }, { id: 'b', secret: KEY_B }] : []);
  let now = 1_000_000;
  const tickets = new TicketBook({ ttlMs: 30_000, now: () => now });
  const check = upgradeAuthorizer({ keys, tickets, origins: new OriginPolicy(['https://lab.example']), hosts: new HostPolicy([], withKeys), sessions });
  const s = sessions.create({ network: { populations: { x: { n: 1 } } } }, withKeys ? 'a' : null);
  /** `session: null`: the multiplexed socket. */
  const upgrade = (opts: { key?: string; ticket?: string; origin?: string; session?: string | null; host?: string }) => {
    const headers: Record<string, string> = { host: opts.host ?? (withKeys ? 'spikeserve.example:3000' : 'localhost:3000') };
    if (opts.key) headers.authorization = `Bearer ${opts.key}`;
    if (opts.origin) headers.origin = opts.origin;
    const id = opts.session === undefined ? s.id : opts.session;
    const path = id === null ? '/v1/ws' : `/v1/sessions/${id}/ws`;
    const url = new URL(`http://spikeserve.example:3000${path}${opts.ticket ? `?ticket=${opts.ticket}` : ''}`);
    return () => check({ headers } as IncomingMessage, { sessionId: id, url });
  };
  return { sessions, tickets, s, upgrade, advance: (ms: number) => (now += ms) };
}

const code = (c: string) => (e: SpikeserveError) => e.code === c;

test('with keys: a key or a fresh ticket opens the owner\'s session; anything else is refused with its code', async () => {
  const { sessions, tickets, s, upgrade, advance } = setup(true);
  upgrade({ key: KEY_A })();
  assert.throws(upgrade({}), code('UNAUTHORIZED'));
  assert.throws(upgrade({ key: 'not-a-key-000000000000' }), code('UNAUTHORIZED'));
  // Another key: the session does not exist for it.
  assert.throws(upgrade({ key: KEY_B }), code('SESSION_NOT_FOUND'));
  const t = tickets.issue(s.id, 'a').ticket;
  upgrade({ ticket: t })();
  assert.throws(upgrade({ ticket: t }), code('UNAUTHORIZED'), 'a ticket is good once');
  const other = sessions.create({ network: { populations: { x: { n: 1 } } } }, 'a');
  assert.throws(upgrade({ ticket: tickets.issue(other.id, 'a').ticket }), code('UNAUTHORIZED'), 'a ticket is for its own session');
  const late = tickets.issue(s.id, 'a').ticket;
  advance(30_001);
  assert.throws(upgrade({ ticket: late }), code('UNAUTHORIZED'), 'an expired ticket');
  // A ticket issued to key b for a's session (had b ever seen it) still finds no session.
  assert.throws(upgrade({ ticket: tickets.issue(s.id, 'b').ticket }), code('SESSION_NOT_FOUND'));
  await sessions.close();
});

test('origins: none (not a browser), the server\'s own, or a listed one; any other is refused before credentials are read', async () => {
  const { sessions, upgrade } = setup(true);
  upgrade({ key: KEY_A, origin: 'http://spikeserve.example:3000' })();
  upgrade({ key: KEY_A, origin: 'https://lab.example' })();
  // The same host by another scheme is another origin.
  assert.throws(upgrade({ key: KEY_A, origin: 'https://spikeserve.example:3000' }), code('ORIGIN_NOT_ALLOWED'));
  assert.throws(upgrade({ key: KEY_A, origin: 'null' }), code('ORIGIN_NOT_ALLOWED'));
  assert.throws(upgrade({ key: KEY_A, origin: 'https://evil.example' }), code('ORIGIN_NOT_ALLOWED'));
  assert.throws(upgrade({ origin: 'https://evil.example' }), code('ORIGIN_NOT_ALLOWED'));
  await sessions.close();
});

test('without keys: anyone on this machine may open a socket, by a loopback name; a ticket, if given, must still be valid', async () => {
  const { sessions, upgrade } = setup(false);
  upgrade({})();
  for (const host of ['127.0.0.1:3000', '[::1]:3000', 'localhost']) upgrade({ host, origin: `http://${host}` })();
  assert.throws(upgrade({ ticket: 'made-up' }), code('UNAUTHORIZED'));
  // A page on a name rebound to 127.0.0.1: its own origin, but not a name this server answers to.
  assert.throws(upgrade({ host: 'evil.example:3000', origin: 'http://evil.example:3000' }), code('HOST_NOT_ALLOWED'));
  assert.throws(upgrade({ host: 'evil.example:3000' }), code('HOST_NOT_ALLOWED'));
  await sessions.close();
});

test('the multiplexed socket: a key opens it, and is returned as the owner of what it drives; no key, a wrong key or a ticket is refused; without keys, no owner', async () => {
  const keyed = setup(true);
  assert.deepEqual(keyed.upgrade({ key: KEY_A, session: null })(), { owner: 'a' });
  assert.deepEqual(keyed.upgrade({ key: KEY_B, session: null })(), { owner: 'b' });
  assert.throws(keyed.upgrade({ session: null }), code('UNAUTHORIZED'));
  assert.throws(keyed.upgrade({ key: 'not-a-key-000000000000', session: null }), code('UNAUTHORIZED'));
  assert.throws(keyed.upgrade({ ticket: keyed.tickets.issue(keyed.s.id, 'a').ticket, session: null }), code('UNAUTHORIZED'));
  assert.throws(keyed.upgrade({ key: KEY_A, session: null, origin: 'https://evil.example' }), code('ORIGIN_NOT_ALLOWED'));
  await keyed.sessions.close();
  const open = setup(false);
  assert.deepEqual(open.upgrade({ session: null })(), {});
  assert.throws(open.upgrade({ session: null, host: 'evil.example:3000' }), code('HOST_NOT_ALLOWED'));
  await open.sessions.close();
});
