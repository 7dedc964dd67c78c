/**
 * The red-team reproducer over HTTP and WebSocket: a spec whose step could
 * overflow is refused at creation; at the bounds, a native session stays
 * finite (its /state and /snapshot answer); a tfjs session (float32) refuses
 * the step that overflows with STEP_OVERFLOW, keeps the steps of the call
 * before it, and logs exactly those, so a restart brings back the same state.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { initTfjs } from '../src/engine/index.js';
import { call, createSession, makeApp } from './helpers/http.js';
import { liveServer, rawSocket, type LiveServer } from './helpers/ws.js';

const AT_BOUND = { populations: { a: { n: 1, R: 1e30 } } };
let dataDir: string;
let app: FastifyInstance;

before(async () => {
  await initTfjs({ prefer: 'cpu' });
  dataDir = mkdtempSync(join(tmpdir(), 'spikeserve-overflow-'));
  app = await makeApp({ dataDir });
});
after(async () => {
  await app.close();
  rmSync(dataDir, { recursive: true, force: true });
});

test('HTTP: the exact reproducer is refused at creation, naming the field and the limit', async () => {
  const r = await call(app, 'POST', '/v1/sessions', { network: { populations: { a: { n: 1, R: 1e300 } } } });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, 'SPEC_INVALID');
  assert.match(r.body.error.message, /^network\.populations\.a\.R: must be a finite number of magnitude at most 1e\+30/);
});

test('HTTP: at the bound, a native session stepped with -1e30 a thousand times stays finite; /state and /snapshot answer', async () => {
  const id = await createSession(app, { network: AT_BOUND });
  const r = await call(app, 'POST', `/v1/sessions/${id}/step`, { steps: 1000, inputs: { a: -1e30 }, return: { potentials: true } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.ok(Number.isFinite(r.body.potentials.a[0]));
  const state = await call(app, 'GET', `/v1/sessions/${id}/state`);
  assert.equal(state.status, 200);
  assert.ok(Number.isFinite(state.body.populations.a.v[0]));
  assert.equal((await call(app, 'GET', `/v1/sessions/${id}/snapshot`)).status, 200);
});

test('HTTP: on tfjs the overflowing step is refused; the steps of the call before it stand, and are what is logged', async () => {
  // With an MSTDP rule, so that the call's rewards are in place.
  const network = { ...AT_BOUND, connections: { aa: { pre: 'a', post: 'a', rule: { type: 'MSTDP' } } } };
  const id = await createSession(app, { network, backend: 'tfjs' });
  const twin = await createSession(app, { network, backend: 'tfjs' });
  const before = await call(app, 'GET', `/v1/sessions/${id}/snapshot`);
  // A single step: refused, nothing changes.
  let r = await call(app, 'POST', `/v1/sessions/${id}/step`, { inputs: { a: -1e30 } });
  assert.equal(r.status, 422);
  assert.equal(r.body.error.code, 'STEP_OVERFLOW');
  assert.match(r.body.error.message, /^step 1 of this call: this step overflows: v of population a, neuron 0 becomes -Infinity/);
  assert.deepEqual(r.body.error.details, { population: 'a', variable: 'v', index: 0, step: 1, stepsRun: 0 });
  assert.deepEqual((await call(app, 'GET', `/v1/sessions/${id}/snapshot`)).body, before.body);

  // Four steps, the third overflows: two run and stand.
  r = await call(app, 'POST', `/v1/sessions/${id}/step`, { steps: 4, inputs: { a: [[1], [2], [-1e30], [1]] }, reward: [1, 2, 3, 4] });
  assert.equal(r.status, 422);
  assert.equal(r.body.error.details.stepsRun, 2);
  assert.match(r.body.error.message, /^step 3 of this call: .*; the call's first 2 steps ran and stand \(step 2\)$/);
  assert.equal((await call(app, 'GET', `/v1/sessions/${id}`)).body.step, 2);
  assert.equal((await call(app, 'GET', `/v1/sessions/${id}/state`)).status, 200);
  assert.equal((await call(app, 'POST', `/v1/sessions/${twin}/step`, { steps: 2, inputs: { a: [[1], [2]] }, reward: [1, 2] })).status, 200);
  const snap = (await call(app, 'GET', `/v1/sessions/${id}/snapshot`)).body;
  assert.deepEqual(snap, (await call(app, 'GET', `/v1/sessions/${twin}/snapshot`)).body);

  // The log holds those two steps: a restart brings back the same state.
  await app.close();
  app = await makeApp({ dataDir });
  const restored = await call(app, 'GET', `/v1/sessions/${id}/snapshot`);
  assert.equal(restored.status, 200, JSON.stringify(restored.body));
  assert.deepEqual(restored.body, snap);
});

let srv: LiveServer;
test('WebSocket: the same on a socket, and the session goes on', async (t) => {
  srv = await liveServer();
  t.after(() => srv.close());
  const native = await srv.rest.createSession({ network: AT_BOUND });
  const tfjs = await srv.rest.createSession({ network: AT_BOUND, backend: 'tfjs' });

  const a = await rawSocket(`${srv.wsBase}/v1/sessions/${native.id}/ws`);
  await a.next();
  a.ws.send(JSON.stringify({ type: 'step', id: 1, inputs: { a: -1e30 }, steps: 1000, return: { potentials: true } }));
  const [ok] = await a.next();
  assert.equal(ok.type, 'reply', JSON.stringify(ok));
  assert.ok(Number.isFinite(ok.result.potentials.a[0]));
  a.ws.close();

  const b = await rawSocket(`${srv.wsBase}/v1/sessions/${tfjs.id}/ws`);
  await b.next();
  b.ws.send(JSON.stringify({ type: 'step', id: 2, inputs: { a: -1e30 } }));
  const [err] = await b.next();
  assert.equal(err.type, 'error');
  assert.equal(err.id, 2);
  assert.equal(err.error.code, 'STEP_OVERFLOW');
  assert.match(err.error.message, /v of population a, neuron 0 becomes -Infinity/);
  b.ws.send(JSON.stringify({ type: 'step', id: 3, inputs: { a: 1 } }));
  const [next] = await b.next();
  assert.equal(next.type, 'reply');
  assert.equal(next.result.step, 1);
  b.ws.close();
});
