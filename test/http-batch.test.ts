/**
 * POST /v1/batch/step: many sessions stepped in one request, each item
 * answered on its own (a failure does not fail the others), items of one
 * session in order, the limit on items, ownership under API keys, and each
 * acknowledged item on disk (a kill -9 right after the reply loses none).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { InjectOptions } from 'fastify';
import { call, createSession, makeApp } from './helpers/http.js';
import { request, startServer } from './helpers/server.js';

const NET = {
  dt: 0.1,
  populations: { pre: { n: 2, refrac_length: 0 }, post: { n: 1, refrac_length: 0 } },
  connections: { pre_post: { pre: 'pre', post: 'post', w_min: 0, w_max: 10, rule: { type: 'MSTDP', lr: [0.0003, 0.0002] } } },
};

test('one request steps many sessions, replying per item, in order, as single steps would', async () => {
  const app = await makeApp();
  try {
    const a = await createSession(app, { network: NET, seed: 1 });
    const b = await createSession(app, { network: NET, seed: 1 });
    const twin = await createSession(app, { network: NET, seed: 1 });
    const r = await call(app, 'POST', '/v1/batch/step', {
      items: [
        { id: a, inputs: { pre: [100, 0] }, steps: 3, reward: 1, return: { potentials: true } },
        { id: 'no-such-session', inputs: { pre: [100, 0] } },
        { id: b, inputs: { pre: [1, 2, 3] } },
        { id: a, inputs: { pre: [0, 100] }, deferReward: true, return: { spikes: 'counts' } },
      ],
    });
    assert.equal(r.status, 200);
    const [ra, missing, bad, ra2] = r.body.results;
    assert.equal(ra.ok, true);
    assert.equal(ra.result.step, 3);
    assert.equal(missing.ok, false);
    assert.equal(missing.error.code, 'SESSION_NOT_FOUND');
    assert.equal(bad.ok, false);
    assert.equal(bad.error.code, 'INPUT_INVALID');
    assert.equal(bad.error.details.field, 'inputs.pre');
    assert.deepEqual(ra2.result, { step: 4, steps: 1, pending: true, spikeCounts: { pre: [0, 1], post: [0] } });
    // The same steps one at a time give the same result, bit for bit.
    const single = await call(app, 'POST', `/v1/sessions/${twin}/step`, { inputs: { pre: [100, 0] }, steps: 3, reward: 1, return: { potentials: true } });
    assert.deepEqual(ra.result, single.body);
    assert.equal((await call(app, 'GET', `/v1/sessions/${b}`)).body.step, 0, 'the refused item changed nothing');
  } finally {
    await app.close();
  }
});

test('more items than MAX_BATCH_ITEMS is refused whole; a bad item shape is REQUEST_INVALID', async () => {
  const app = await makeApp({ maxBatchItems: 2 });
  try {
    const a = await createSession(app, { network: NET, seed: 1 });
    const r = await call(app, 'POST', '/v1/batch/step', { items: [{ id: a }, { id: a }, { id: a }] });
    assert.equal(r.status, 422);
    assert.equal(r.body.error.code, 'LIMIT_EXCEEDED');
    assert.equal(r.body.error.details.limit, 'maxBatchItems');
    assert.equal((await call(app, 'GET', `/v1/sessions/${a}`)).body.step, 0);
    const bad = await call(app, 'POST', '/v1/batch/step', { items: [{ id: a, stepz: 1 }] });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'REQUEST_INVALID');
  } finally {
    await app.close();
  }
});

test('with API keys, another key\'s session is a per-item SESSION_NOT_FOUND, and no key is a 401', async () => {
  const ALICE = 'alice-secret-0123456789';
  const BOB = 'bob-secret-9876543210ab';
  const app = await makeApp({ apiKeys: [{ id: 'alice', secret: ALICE }, { id: 'bob', secret: BOB }] });
  const send = async (key: string | undefined, body: unknown) => {
    const opts: InjectOptions = { method: 'POST', url: '/v1/batch/step', payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } };
    if (key) opts.headers!.authorization = `Bearer ${key}`;
    const r = await app.inject(opts);
    return { status: r.statusCode, body: r.json() };
  };
  try {
    const create = async (key: string) =>
      (await app.inject({ method: 'POST', url: '/v1/sessions', payload: JSON.stringify({ network: NET }), headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` } })).json().id as string;
    const mine = await create(ALICE);
    const theirs = await create(BOB);
    assert.equal((await send(undefined, { items: [{ id: mine }] })).status, 401);
    const r = await send(ALICE, { items: [{ id: mine }, { id: theirs }] });
    assert.equal(r.status, 200);
    assert.equal(r.body.results[0].ok, true);
    assert.equal(r.body.results[1].ok, false);
    assert.equal(r.body.results[1].error.code, 'SESSION_NOT_FOUND');
    assert.equal((await app.inject({ method: 'GET', url: `/v1/sessions/${theirs}`, headers: { authorization: `Bearer ${BOB}` } })).json().step, 0);
  } finally {
    await app.close();
  }
});

test('every acknowledged item is on disk: kill -9 after the reply, restart, and each session has its steps', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spikeserve-batch-'));
  try {
    let srv = await startServer({ env: { DATA_DIR: dir, OVERLOAD_EVENT_LOOP_DELAY_MS: '0' } });
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push((await request(srv.base, 'POST', '/v1/sessions', { network: NET, seed: i })).body.id);
    const r = await request(srv.base, 'POST', '/v1/batch/step', { items: ids.map((id, i) => ({ id, steps: i + 1, inputs: { pre: [100, 0] }, reward: 1 })) });
    assert.equal(r.status, 200);
    assert.ok(r.body.results.every((x: { ok: boolean }) => x.ok));
    srv.child.kill('SIGKILL');
    await srv.exited;
    srv = await startServer({ env: { DATA_DIR: dir, OVERLOAD_EVENT_LOOP_DELAY_MS: '0' } });
    try {
      for (const [i, id] of ids.entries()) assert.equal((await request(srv.base, 'GET', `/v1/sessions/${id}`)).body.step, i + 1);
    } finally {
      srv.child.kill('SIGTERM');
      await srv.exited;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
