/**
 * Sessions on the "tfjs" backend across a restart of the real server on the
 * same DATA_DIR: they come back exactly, on every tfjs platform that starts
 * here (cpu, wasm). Started where tfjs cannot run (TFJS_BACKEND=node, whose
 * package is not installed), the server keeps them on disk untouched, lists
 * them as not loaded and answers 503 BACKEND_UNAVAILABLE (not 404); they come
 * back, unchanged, once it restarts with tfjs.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { request, startServer, type ServerProcess } from './helpers/server.js';
import { SEED_MSTDP_NETWORK } from './helpers/seed-mstdp-task.js';

async function start(dataDir: string, platform: string): Promise<ServerProcess> {
  return startServer({ env: { DATA_DIR: dataDir, TFJS_BACKEND: platform, SHUTDOWN_TIMEOUT_S: '20' } });
}

async function stop(server: ServerProcess): Promise<void> {
  server.child.kill('SIGTERM');
  assert.deepEqual(await server.exited, { code: 0, signal: null }, server.errors());
}

async function ok(base: string, method: string, path: string, body?: unknown) {
  const r = await request(base, method, path, body);
  assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** What a client reads of the session: its detail (but the times), state and weights. */
async function observable(base: string, id: string) {
  const { lastUsedAt: _l, expiresAt: _e, ...detail } = await ok(base, 'GET', `/v1/sessions/${id}`);
  return { detail, state: await ok(base, 'GET', `/v1/sessions/${id}/state`), weights: await ok(base, 'GET', `/v1/sessions/${id}/weights`) };
}

const STEPS = [
  { steps: 20, inputs: { pre: [100, 30] }, reward: 1 },
  { steps: 5, inputs: { pre: [60, 100] }, reward: [0.5, -1, 0, 2, -0.25] },
  { inputs: { pre: [100, 0] }, deferReward: true },
];

for (const platform of ['cpu', 'wasm']) {
  test(`tfjs sessions come back after a restart (${platform} platform)`, async () => {
    const dir = mkdtempSync(join(tmpdir(), `spikeserve-tfjs-${platform}-`));
    let server = await start(dir, platform);
    try {
      const id = (await ok(server.base, 'POST', '/v1/sessions', { network: SEED_MSTDP_NETWORK, seed: 5, backend: 'tfjs' })).id as string;
      for (const s of STEPS) await ok(server.base, 'POST', `/v1/sessions/${id}/step`, s);
      const before = await observable(server.base, id);
      assert.equal(before.detail.backend, 'tfjs');
      await stop(server);

      server = await start(dir, platform);
      assert.deepEqual(await observable(server.base, id), before);
      // ...and it goes on: the pending reward, then more steps.
      await ok(server.base, 'POST', `/v1/sessions/${id}/reward`, { reward: 1.5 });
      const next = await ok(server.base, 'POST', `/v1/sessions/${id}/step`, { steps: 3, inputs: { pre: [100, 100] } });
      assert.equal(next.step, before.detail.step + 3);
    } finally {
      server.child.kill('SIGKILL');
      await server.exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('where tfjs cannot start, tfjs sessions stay on disk untouched and answer 503 BACKEND_UNAVAILABLE, and come back when it can', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spikeserve-tfjs-none-'));
  let server = await start(dir, 'cpu');
  try {
    const id = (await ok(server.base, 'POST', '/v1/sessions', { network: SEED_MSTDP_NETWORK, seed: 9, backend: 'tfjs', name: 'on tfjs' })).id as string;
    const native = (await ok(server.base, 'POST', '/v1/sessions', { network: SEED_MSTDP_NETWORK, seed: 9 })).id as string;
    for (const s of STEPS) await ok(server.base, 'POST', `/v1/sessions/${id}/step`, s);
    const before = await observable(server.base, id);
    await stop(server);

    // @tensorflow/tfjs-node is not installed: forcing it leaves the server without tfjs.
    server = await start(dir, 'node');
    const health = await ok(server.base, 'GET', '/healthz');
    assert.equal(health.tfjs.ready, false);
    for (const [method, path, body] of [
      ['GET', `/v1/sessions/${id}`],
      ['POST', `/v1/sessions/${id}/step`, {}],
      ['POST', `/v1/sessions/${id}/reward`, { reward: 1 }],
      ['GET', `/v1/sessions/${id}/weights`],
    ] as [string, string, unknown?][]) {
      const r = await request(server.base, method, path, body);
      assert.equal(r.status, 503, `${method} ${path}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, 'BACKEND_UNAVAILABLE');
      assert.match(r.body.error.message, /kept on disk, unchanged/);
    }
    const list = await ok(server.base, 'GET', '/v1/sessions');
    assert.equal(list.total, 2);
    const listed = list.sessions.find((s: { id: string }) => s.id === id);
    assert.equal(listed.loaded, false);
    assert.equal(listed.name, 'on tfjs');
    assert.equal(listed.step, before.detail.step);
    assert.equal(listed.pending, true);
    // Native sessions run as usual.
    await ok(server.base, 'POST', `/v1/sessions/${native}/step`, { steps: 2 });
    await stop(server);

    server = await start(dir, 'cpu');
    assert.deepEqual(await observable(server.base, id), before);
    await ok(server.base, 'POST', `/v1/sessions/${id}/reward`, { reward: 1 });
    assert.equal((await ok(server.base, 'GET', `/v1/sessions/${native}`)).step, 2);
  } finally {
    server.child.kill('SIGKILL');
    await server.exited;
    rmSync(dir, { recursive: true, force: true });
  }
});
