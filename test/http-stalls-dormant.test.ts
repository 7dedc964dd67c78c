/**
 * A large session leaving memory after being idle (hibernation: a snapshot
 * of it written) and coming back on its next request (read back and
 * rebuilt) must not keep every other client waiting: /healthz keeps
 * answering meanwhile, as in http-stalls.test.ts (same probe, same bound),
 * and the session comes back exactly as it left.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeFrame } from '../src/ws/binary-format.js';
import { probeDuring, rawRequest } from './helpers/loop-probe.js';
import { startServer, type ServerProcess } from './helpers/server.js';

/** Generous: the machine is shared by many processes. In one go, these take seconds on a session of this size. */
const WORST_MS = 1000;
const JSON_HEADERS = { 'content-type': 'application/json' };
const BIN = 'application/octet-stream';
const N = 3000;

function json(body: Buffer): any {
  return JSON.parse(body.toString('utf8'));
}

async function weights(base: string, id: string): Promise<Float64Array> {
  const r = await rawRequest(base, 'GET', `/v1/sessions/${id}/weights/ab`, { headers: { accept: BIN } });
  assert.equal(r.status, 200, r.body.toString().slice(0, 300));
  const s = decodeFrame(r.body).sections[0];
  assert.ok(s.type === 'weights64' && s.rows === N && s.cols === N);
  return s.values;
}

describe(`a session of ${N} x ${N} synapses, idle past SESSION_IDLE_TIMEOUT_S`, () => {
  let server: ServerProcess;
  let dir: string;
  let id: string;
  let before_: Float64Array;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'spikeserve-stalls-dormant-'));
    server = await startServer({
      env: { DATA_DIR: dir, SESSION_IDLE_TIMEOUT_S: '4', MAX_SYNAPSES_PER_SESSION: String(N * N), OVERLOAD_EVENT_LOOP_DELAY_MS: '0', OVERLOAD_MEMORY_MB: '0' },
    });
    const body = JSON.stringify({ network: { populations: { a: { n: N }, b: { n: N } }, connections: { ab: { pre: 'a', post: 'b' } } } });
    const created = await rawRequest(server.base, 'POST', '/v1/sessions', { body, headers: JSON_HEADERS });
    assert.equal(created.status, 201, created.body.toString().slice(0, 300));
    id = json(created.body).id;
    before_ = await weights(server.base, id);
    // A step logged after its first snapshot (no input, no spike: the weights stay): leaving memory needs a new snapshot.
    // Last, and quick: the session is idle from here on, and leaves memory while the probe runs.
    const stepped = await rawRequest(server.base, 'POST', `/v1/sessions/${id}/step`, { body: JSON.stringify({ steps: 2 }), headers: JSON_HEADERS });
    assert.equal(stepped.status, 200, stepped.body.toString().slice(0, 300));
    assert.equal(json(stepped.body).step, 2);
  });

  after(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    rmSync(dir, { recursive: true, force: true });
  });

  test('hibernates (its snapshot written) without stalling the server', async (t) => {
    const { worstMs } = await probeDuring(server.base, async () => {
      for (let i = 0; i < 600; i++) {
        const r = await rawRequest(server.base, 'GET', '/v1/sessions');
        const s = json(r.body).sessions.find((x: { id: string }) => x.id === id);
        if (s.loaded === false) return;
        await new Promise((res) => setTimeout(res, 100));
      }
      assert.fail('the session did not hibernate within a minute');
    });
    t.diagnostic(`slowest /healthz while it hibernated: ${worstMs.toFixed(0)} ms`);
    assert.ok(worstMs < WORST_MS, `/healthz waited ${worstMs.toFixed(0)} ms`);
  });

  test('its next request loads it back, exactly, without stalling the server', async (t) => {
    const { result: r, worstMs } = await probeDuring(server.base, () => rawRequest(server.base, 'GET', `/v1/sessions/${id}`));
    assert.equal(r.status, 200, r.body.toString().slice(0, 300));
    assert.equal(json(r.body).loaded, true);
    t.diagnostic(`slowest /healthz while it was loaded back: ${worstMs.toFixed(0)} ms`);
    assert.ok(worstMs < WORST_MS, `/healthz waited ${worstMs.toFixed(0)} ms`);
    assert.deepEqual(await weights(server.base, id), before_);
  });
});
