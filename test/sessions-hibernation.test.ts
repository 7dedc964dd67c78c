/**
 * With DATA_DIR, a session idle past SESSION_IDLE_TIMEOUT_S hibernates: it
 * leaves memory, stays on disk and in the listing (loaded: false), still
 * counts in its key's quotas, and its next request of any kind (HTTP or a
 * WebSocket) loads it back exactly: it goes on bit for bit as a twin that
 * never slept, also across a restart while it sleeps. Deletion is only by
 * DELETE or SESSION_RETENTION_S.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { FastifyInstance, InjectOptions } from 'fastify';
import type { Config } from '../src/config.js';
import { makeApp } from './helpers/http.js';
import { SEED_MSTDP_NETWORK } from './helpers/seed-mstdp-task.js';
import { liveServer } from './helpers/ws.js';
import { RestClient } from '../src/client/index.js';

const KEY = 'hibernation-key-0123456789';
const OTHER = 'other-key-secret-0123456789';
const KEYS = [
  { id: 'a', secret: KEY },
  { id: 'b', secret: OTHER },
];

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'spikeserve-hibernate-'));
}

async function req(app: FastifyInstance, method: InjectOptions['method'], url: string, body?: unknown, key = KEY) {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  const opts: InjectOptions = { method, url, headers };
  if (body !== undefined) {
    opts.payload = JSON.stringify(body);
    headers['content-type'] = 'application/json';
  }
  const r = await app.inject(opts);
  return { status: r.statusCode, body: r.headers['content-type']?.toString().includes('json') ? r.json() : r.body };
}

async function ok(app: FastifyInstance, method: InjectOptions['method'], url: string, body?: unknown) {
  const r = await req(app, method, url, body);
  assert.ok(r.status < 300, `${method} ${url}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Steps with varied inputs and rewards, ending on a step whose update waits for its reward. */
function script(k: number): { method: 'POST'; path: string; body: unknown }[] {
  const out: { method: 'POST'; path: string; body: unknown }[] = [];
  for (let i = 0; i < 6; i++) {
    out.push({ method: 'POST', path: '/step', body: { steps: 7, inputs: { pre: [100 - i * 3 - k, 40 + i + k] }, reward: [1, -0.5, 0.25, 0, 2, -1, 0.75] } });
    out.push({ method: 'POST', path: '/step', body: { inputs: { pre: [90, 10 + k] }, deferReward: true } });
    out.push({ method: 'POST', path: '/reward', body: { reward: i % 2 === 0 ? 1.5 : -0.75 } });
  }
  out.push({ method: 'POST', path: '/step', body: { steps: 3, inputs: { pre: [100, 100] }, deferReward: true } });
  return out;
}

async function play(app: FastifyInstance, ids: string[], k: number): Promise<void> {
  for (const c of script(k)) {
    const replies = [];
    for (const id of ids) replies.push(await ok(app, c.method, `/v1/sessions/${id}${c.path}`, c.body));
    for (const r of replies.slice(1)) assert.deepEqual(r, replies[0], `${c.path} ${JSON.stringify(c.body)}`);
  }
}

/** Everything a client can read of a session, but its id, name and times. */
async function observable(app: FastifyInstance, id: string) {
  const detail = await ok(app, 'GET', `/v1/sessions/${id}`);
  const { id: _id, name: _name, createdAt: _c, lastUsedAt: _l, expiresAt: _e, ...rest } = detail;
  return {
    detail: rest,
    state: await ok(app, 'GET', `/v1/sessions/${id}/state`),
    weights: await ok(app, 'GET', `/v1/sessions/${id}/weights`),
    snapshot: { ...(await ok(app, 'GET', `/v1/sessions/${id}/snapshot`)), name: null },
  };
}

function listed(list: { sessions: { id: string; loaded: boolean; step: number; pending: boolean; name: string | null; expiresAt: string | null }[] }, id: string) {
  const s = list.sessions.find((x) => x.id === id);
  assert.ok(s, `session ${id} is listed`);
  return s;
}

describe('idle sessions hibernate on disk', () => {
  test('over HTTP: listed and counted while asleep, any request wakes it, and it goes on bit for bit as one that never slept, across a restart too', async () => {
    const dir = tmp();
    let now = Date.parse('2030-01-01T00:00:00Z');
    const config: Partial<Config> = { dataDir: dir, sessionIdleTimeoutS: 60, apiKeys: KEYS, quotaSessions: 2 };
    let app = await makeApp(config, { sessions: { now: () => now } });
    try {
      const sleeper = (await ok(app, 'POST', '/v1/sessions', { network: SEED_MSTDP_NETWORK, seed: 7, name: 'overnight' })).id as string;
      const twin = (await ok(app, 'POST', '/v1/sessions', { network: SEED_MSTDP_NETWORK, seed: 7, name: 'twin' })).id as string;
      await play(app, [sleeper, twin], 0);

      // The sleeper is left alone; the twin is used now and then.
      now += 40_000;
      await ok(app, 'GET', `/v1/sessions/${twin}`);
      now += 30_000;
      assert.deepEqual(app.sessions.evictIdle(), [sleeper]);
      const list = await ok(app, 'GET', '/v1/sessions');
      assert.equal(list.total, 2);
      const asleep = listed(list, sleeper);
      assert.equal(asleep.loaded, false);
      assert.equal(asleep.name, 'overnight');
      assert.equal(asleep.pending, true, 'its deferred reward is still awaited');
      assert.equal(asleep.step, listed(list, twin).step);
      assert.equal(listed(list, twin).loaded, true);
      assert.equal(asleep.expiresAt, null, 'no SESSION_RETENTION_S: never deleted for being idle');
      assert.equal(app.sessions.size, 1, 'only the twin is in memory');
      // Still its owner's: the quota of 2 counts it, and another key does not see it.
      const third = await req(app, 'POST', '/v1/sessions', { network: SEED_MSTDP_NETWORK });
      assert.equal(third.status, 429);
      assert.equal(third.body.error.code, 'QUOTA_EXCEEDED');
      assert.equal((await req(app, 'GET', `/v1/sessions/${sleeper}`, undefined, OTHER)).status, 404);
      assert.equal((await req(app, 'GET', '/v1/sessions', undefined, OTHER)).body.total, 0);
      assert.equal(app.sessions.size, 1, 'neither look loaded it');

      // Its pending reward, as the first request: it wakes, and the reward lands where it would have.
      const woke = await ok(app, 'POST', `/v1/sessions/${sleeper}/reward`, { reward: -2 });
      assert.deepEqual(woke, await ok(app, 'POST', `/v1/sessions/${twin}/reward`, { reward: -2 }));
      assert.equal(listed(await ok(app, 'GET', '/v1/sessions'), sleeper).loaded, true);
      await play(app, [sleeper, twin], 1);
      assert.deepEqual(await observable(app, sleeper), await observable(app, twin));

      // Asleep again when the server stops: it comes back after the restart, and still goes on as its twin.
      now += 61_000;
      await ok(app, 'GET', `/v1/sessions/${twin}/state`);
      now += 30_000;
      assert.deepEqual(app.sessions.evictIdle(), [sleeper]);
      await app.close();
      app = await makeApp(config, { sessions: { now: () => now } });
      assert.equal((await ok(app, 'GET', '/v1/sessions')).total, 2);
      await ok(app, 'POST', `/v1/sessions/${sleeper}/reward`, { reward: 0.5 });
      await ok(app, 'POST', `/v1/sessions/${twin}/reward`, { reward: 0.5 });
      await play(app, [sleeper, twin], 2);
      assert.deepEqual(await observable(app, sleeper), await observable(app, twin));
      assert.equal((await ok(app, 'GET', `/v1/sessions/${sleeper}`)).name, 'overnight');
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('over WebSocket: opening a socket wakes it exactly; a session with a socket open is in use and stays in memory', async () => {
    const dir = tmp();
    let now = Date.parse('2030-01-01T00:00:00Z');
    const srv = await liveServer({ dataDir: dir, sessionIdleTimeoutS: 60 }, { sessions: { now: () => now } });
    const rest: RestClient = srv.rest;
    try {
      const sleeper = (await rest.createSession({ network: SEED_MSTDP_NETWORK, seed: 3 })).id;
      const twin = (await rest.createSession({ network: SEED_MSTDP_NETWORK, seed: 3 })).id;
      await play(srv.app, [sleeper, twin], 4);
      const held = await rest.socket(twin);
      now += 120_000;
      assert.deepEqual(srv.app.sessions.evictIdle(), [sleeper], 'the twin has a socket open: not idle');
      assert.equal((await rest.listSessions()).sessions.find((s) => s.id === sleeper)?.loaded, false);

      const ctl = await rest.socket(sleeper);
      assert.equal(ctl.hello.session.step, held.hello.session.step);
      assert.equal(ctl.hello.session.pending, true);
      assert.deepEqual(await ctl.reward(0.25), await held.reward(0.25));
      for (let i = 0; i < 5; i++) {
        const body = { steps: 9, inputs: { pre: [100, 20 * i] }, reward: (i % 3) - 1, return: { spikes: 'steps' as const, potentials: true, weights: true } };
        assert.deepEqual(await ctl.step(body), await held.step(body));
      }
      await ctl.close();
      await held.close();
      assert.deepEqual(await observable(srv.app, sleeper), await observable(srv.app, twin));
    } finally {
      await srv.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('DELETE removes a hibernated session for good; SESSION_RETENTION_S deletes sessions unused that long; memory only (DATA_DIR=) eviction deletes', async () => {
    const dir = tmp();
    let now = Date.parse('2030-01-01T00:00:00Z');
    const config: Partial<Config> = { dataDir: dir, sessionIdleTimeoutS: 60, sessionRetentionS: 3600 };
    let app = await makeApp(config, { sessions: { now: () => now } });
    try {
      const gone = (await ok(app, 'POST', '/v1/sessions', { network: SEED_MSTDP_NETWORK })).id as string;
      const kept = (await ok(app, 'POST', '/v1/sessions', { network: SEED_MSTDP_NETWORK })).id as string;
      const expiring = (await ok(app, 'POST', '/v1/sessions', { network: SEED_MSTDP_NETWORK })).id as string;
      now += 61_000;
      assert.deepEqual(app.sessions.evictIdle().sort(), [gone, kept, expiring].sort());
      const asleep = listed(await ok(app, 'GET', '/v1/sessions'), expiring);
      assert.equal(asleep.expiresAt, new Date(now - 61_000 + 3_600_000).toISOString());
      assert.deepEqual(await ok(app, 'DELETE', `/v1/sessions/${gone}`), { id: gone, deleted: true });
      assert.equal((await req(app, 'GET', `/v1/sessions/${gone}`)).status, 404);
      now += 1_800_000;
      await ok(app, 'GET', `/v1/sessions/${kept}`);
      now += 1_800_000;
      // Past the retention: deleted; the one used since only hibernates again.
      assert.deepEqual(app.sessions.evictIdle().sort(), [expiring, kept].sort());
      assert.equal((await req(app, 'GET', `/v1/sessions/${expiring}`)).status, 404);
      await app.close();
      app = await makeApp(config, { sessions: { now: () => now } });
      const list = await ok(app, 'GET', '/v1/sessions');
      assert.deepEqual(list.sessions.map((s: { id: string }) => s.id), [kept]);
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }

    const memory = await makeApp({ sessionIdleTimeoutS: 60, sessionRetentionS: 3600 }, { sessions: { now: () => now } });
    try {
      const id = (await ok(memory, 'POST', '/v1/sessions', { network: SEED_MSTDP_NETWORK })).id as string;
      assert.equal((await ok(memory, 'GET', `/v1/sessions/${id}`)).expiresAt, new Date(now + 60_000).toISOString());
      now += 61_000;
      assert.deepEqual(memory.sessions.evictIdle(), [id]);
      assert.equal((await req(memory, 'GET', `/v1/sessions/${id}`)).status, 404);
      assert.equal((await ok(memory, 'GET', '/v1/sessions')).total, 0);
    } finally {
      await memory.close();
    }
  });
});
