/**
 * One heavy request must not keep every other client waiting: while it is
 * served, /healthz keeps answering. The server runs in a process of its own
 * (as in production); the probe asks /healthz every 10 ms and the slowest
 * answer must stay under a bound far above a healthy server's (a few ms) and
 * far below what an unsliced request of this size costs (seconds).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { probeDuring, rawRequest } from './helpers/loop-probe.js';
import { startServer, type ServerProcess } from './helpers/server.js';

/** Generous: the machine is shared by many processes. Unsliced, these requests stall it for seconds to tens of seconds. */
const WORST_MS = 1000;
const JSON_HEADERS = { 'content-type': 'application/json' };

function json(body: Buffer): any {
  return JSON.parse(body.toString('utf8'));
}

describe('heavy requests do not stall the server', () => {
  let server: ServerProcess;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'spikeserve-stalls-'));
    server = await startServer({ env: { DATA_DIR: dir, OVERLOAD_EVENT_LOOP_DELAY_MS: '0', OVERLOAD_MEMORY_MB: '0' } });
  });

  after(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    rmSync(dir, { recursive: true, force: true });
  });

  test('a 16 MB body of nested [ is refused at once with 400 naming the depth limit', async () => {
    const body = '['.repeat(16 * 1024 * 1024 - 1024);
    const { result: r, worstMs } = await probeDuring(server.base, () => rawRequest(server.base, 'POST', '/v1/sessions', { body, headers: JSON_HEADERS }));
    assert.equal(r.status, 400);
    const e = json(r.body).error;
    assert.equal(e.code, 'REQUEST_INVALID');
    assert.match(e.message, /MAX_JSON_DEPTH/);
    assert.equal(e.details.limit, 'maxJsonDepth');
    assert.ok(worstMs < WORST_MS, `/healthz waited ${worstMs.toFixed(0)} ms`);
  });

  test('JSON nested as deep as a request needs is still accepted', async () => {
    // A step with one input vector per step: body, inputs, population, steps, vector.
    const created = await rawRequest(server.base, 'POST', '/v1/sessions', {
      body: JSON.stringify({ network: { populations: { a: { n: 2 } } } }),
      headers: JSON_HEADERS,
    });
    assert.equal(created.status, 201);
    const id = json(created.body).id;
    const r = await rawRequest(server.base, 'POST', `/v1/sessions/${id}/step`, {
      body: JSON.stringify({ steps: 2, inputs: { a: [[1, 2], [3, 4]] }, reward: [0, 0] }),
      headers: JSON_HEADERS,
    });
    assert.equal(r.status, 200, r.body.toString());
  });

  test('a network of 100,000 populations is refused with LIMIT_EXCEEDED naming the limit', async () => {
    const populations: Record<string, { n: number }> = {};
    for (let i = 0; i < 100_000; i++) populations[`p${i}`] = { n: 1 };
    const body = JSON.stringify({ network: { populations } });
    const { result: r, worstMs } = await probeDuring(server.base, () => rawRequest(server.base, 'POST', '/v1/sessions', { body, headers: JSON_HEADERS }));
    assert.equal(r.status, 422, r.body.toString().slice(0, 200));
    const e = json(r.body).error;
    assert.equal(e.code, 'LIMIT_EXCEEDED');
    assert.equal(e.details.limit, 'maxPopulations');
    assert.match(e.message, /MAX_POPULATIONS_PER_SESSION/);
    assert.ok(worstMs < WORST_MS, `/healthz waited ${worstMs.toFixed(0)} ms`);
  });

  test('a network of as many populations and connections as allowed is created', async () => {
    const populations: Record<string, { n: number }> = {};
    const connections: Record<string, { pre: string; post: string }> = {};
    for (let i = 0; i < 1000; i++) {
      populations[`p${i}`] = { n: 1 };
      connections[`c${i}`] = { pre: `p${i}`, post: `p${(i + 1) % 1000}` };
    }
    const r = await rawRequest(server.base, 'POST', '/v1/sessions', { body: JSON.stringify({ network: { populations, connections } }), headers: JSON_HEADERS });
    assert.equal(r.status, 201, r.body.toString().slice(0, 200));
    connections.extra = { pre: 'p0', post: 'p0' };
    const over = await rawRequest(server.base, 'POST', '/v1/sessions', { body: JSON.stringify({ network: { populations, connections } }), headers: JSON_HEADERS });
    assert.equal(over.status, 422);
    assert.equal(json(over.body).error.details.limit, 'maxConnections');
  });
});
