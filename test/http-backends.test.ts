/**
 * Choosing a session's backend over HTTP: "native" by default, "tfjs" on
 * request once TensorFlow.js runs, the same results on both, and a snapshot
 * that moves a session from one to the other.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { initTfjs } from '../src/engine/index.js';
import { call, createSession, makeApp, assertClose } from './helpers/http.js';
import { loadGolden } from './helpers/golden.js';

const chain = loadGolden('chain-20.json');
let app: FastifyInstance;

before(async () => {
  await initTfjs({ prefer: 'cpu' });
  app = await makeApp();
});
after(() => app.close());

async function run(id: string, from: number, to: number) {
  const steps = chain.steps.slice(from, to);
  const r = await call(app, 'POST', `/v1/sessions/${id}/step`, {
    steps: steps.length,
    inputs: { A: steps.map((s) => s.inputs!.A) },
    reward: steps.map((s) => s.reward ?? 0),
    return: { weights: true, potentials: true },
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

test('a session runs on native unless it asks for tfjs, and says which', async () => {
  const native = await createSession(app, { network: chain.network, seed: 3 });
  const tfjs = await createSession(app, { network: chain.network, seed: 3, backend: 'tfjs' });
  assert.equal((await call(app, 'GET', `/v1/sessions/${native}`)).body.backend, 'native');
  assert.equal((await call(app, 'GET', `/v1/sessions/${tfjs}`)).body.backend, 'tfjs');
  const a = await run(native, 0, 120);
  const b = await run(tfjs, 0, 120);
  assert.deepEqual(b.spikes, a.spikes);
  for (const c of Object.keys(a.weights)) assertClose(b.weights[c], a.weights[c], 1e-4, `weights.${c}`);
});

test('a snapshot taken on native continues on tfjs', async () => {
  const native = await createSession(app, { network: chain.network, seed: 5 });
  await run(native, 0, 60);
  const snap = (await call(app, 'GET', `/v1/sessions/${native}/snapshot`)).body;
  const moved = await createSession(app, { snapshot: snap, backend: 'tfjs' });
  const a = await run(native, 60, 140);
  const b = await run(moved, 60, 140);
  assert.deepEqual(b.spikes, a.spikes);
});

test('an unknown backend is refused naming the field', async () => {
  const r = await call(app, 'POST', '/v1/sessions', { network: chain.network, backend: 'gpu' });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, 'REQUEST_INVALID');
  assert.match(r.body.error.message, /backend/);
});

test('/healthz says which tfjs platform runs', async () => {
  const r = await call(app, 'GET', '/healthz');
  assert.equal(r.status, 200);
  assert.equal(r.body.status, 'ok');
  assert.equal(r.body.tfjs.ready, true);
  assert.equal(r.body.tfjs.platform, 'cpu');
});
