/**
 * A WebSocket request of a large session must not keep every other client
 * waiting: while its `snapshot` or `weights` reply (77 MB of JSON text at
 * the default limits) or a binary weights frame (16 MB) goes out, /healthz
 * keeps answering. The server runs in a process of its own; the probe asks
 * /healthz every 10 ms and the slowest answer must stay under a bound far
 * above a healthy server's (a few ms) and far below what such a reply built
 * in one go costs (seconds).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { probeDuring, rawRequest } from './helpers/loop-probe.js';
import { startServer, type ServerProcess } from './helpers/server.js';

/** Generous: the machine is shared by many processes. Built in one go, these replies stall it for seconds. */
const WORST_MS = 1000;
/** MAX_SYNAPSES_PER_SESSION's default: 2000 x 2000. */
const N = 2000;

/** A session's socket whose messages are kept as bytes (not parsed while the probe runs: that would stall this process, not the server). */
async function open(url: string): Promise<{ ws: WebSocket; next: () => Promise<Buffer> }> {
  const ws = new WebSocket(url, { maxPayload: 1024 ** 3, skipUTF8Validation: true, perMessageDeflate: false });
  const queue: Buffer[] = [];
  const waiting: ((b: Buffer) => void)[] = [];
  ws.on('message', (d: Buffer) => {
    const w = waiting.shift();
    if (w) w(d);
    else queue.push(d);
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const next = () => (queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise<Buffer>((r) => waiting.push(r)));
  await next(); // hello
  return { ws, next };
}

describe(`WebSocket replies of a ${N} x ${N} session do not stall the server`, () => {
  let server: ServerProcess;
  let dir: string;
  let id: string;
  let socket: Awaited<ReturnType<typeof open>>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'spikeserve-ws-stalls-'));
    server = await startServer({ env: { DATA_DIR: dir, OVERLOAD_EVENT_LOOP_DELAY_MS: '0', OVERLOAD_MEMORY_MB: '0' } });
    const body = JSON.stringify({ network: { populations: { a: { n: N }, b: { n: N } }, connections: { ab: { pre: 'a', post: 'b' } } } });
    const r = await rawRequest(server.base, 'POST', '/v1/sessions', { body, headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 201, r.body.toString().slice(0, 300));
    id = JSON.parse(r.body.toString()).id;
    socket = await open(`${server.base.replace('http', 'ws')}/v1/sessions/${id}/ws`);
  });

  after(async () => {
    socket?.ws.terminate();
    server.child.kill('SIGTERM');
    await server.exited;
    rmSync(dir, { recursive: true, force: true });
  });

  for (const request of ['snapshot', 'weights'] as const) {
    test(`${request} as JSON`, async (t) => {
      const { result: text, worstMs } = await probeDuring(server.base, () => {
        socket.ws.send(JSON.stringify({ type: request, id: 1 }));
        return socket.next();
      });
      assert.ok(text.length > 8 * N * N, `${text.length} bytes`);
      const reply = JSON.parse(text.toString('utf8'));
      assert.equal(reply.type, 'reply', text.subarray(0, 300).toString());
      assert.equal(reply.request, request);
      const w = request === 'weights' ? reply.result.weights.ab : reply.result.state.connections.ab.w;
      assert.equal(w.length, request === 'weights' ? N : N * N);
      t.diagnostic(`worst /healthz: ${worstMs.toFixed(0)} ms`);
      assert.ok(worstMs < WORST_MS, `/healthz waited ${worstMs.toFixed(0)} ms`);
    });
  }

  test('weights as a binary frame', async (t) => {
    const { result: frame, worstMs } = await probeDuring(server.base, () => {
      socket.ws.send(JSON.stringify({ type: 'weights', id: 2, format: 'binary' }));
      return socket.next();
    });
    // Header, id, one section of N x N float32.
    assert.equal(frame.length, 24 + 4 + 12 + 4 * N * N);
    assert.equal(frame[1], 2, 'a weights frame');
    t.diagnostic(`worst /healthz: ${worstMs.toFixed(0)} ms`);
    assert.ok(worstMs < WORST_MS, `/healthz waited ${worstMs.toFixed(0)} ms`);
  });
});
