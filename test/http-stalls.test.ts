/**
 * One heavy request must not keep every other client waiting: while it is
 * served, /healthz keeps answering. The server runs in a process of its own
 * (as in production); the probe asks /healthz every 10 ms and the slowest
 * answer must stay under a bound far above a healthy server's (a few ms) and
 * far below what an unsliced request of this size costs (seconds).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { get as httpGet, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeBlob } from '../src/persist/codec.js';
import { decodeFrame } from '../src/ws/binary-format.js';
import { heldDuring, probeDuring, rawRequest } from './helpers/loop-probe.js';
import { makeApp } from './helpers/http.js';
import { startServer, type ServerProcess } from './helpers/server.js';

/** Generous: the machine is shared by many processes. Unsliced, these requests stall it for seconds to tens of seconds. */
const WORST_MS = 1000;
/**
 * The most the main thread of an app in this process may run between two
 * turns of its event loop (heldDuring: its own run time, which the
 * machine's load does not stretch): a few slices and their garbage
 * collection, below what one copy of the 72 MB a request below carries costs.
 */
const HELD_MS = 60;
const JSON_HEADERS = { 'content-type': 'application/json' };
const BIN = 'application/octet-stream';
const N = 2000;
/** 288 MB of weights: a frame this large built in one go holds the loop past WORST_MS. */
const BIG = 6000;
/** 3000 x 3000 MSTDPET: 72 MB of weights and as much eligibility trace; its snapshot built in one go holds the loop for seconds. */
const TRACED = 3000;
const BIG_MSTDPET = { populations: { a: { n: TRACED }, b: { n: TRACED } }, connections: { ab: { pre: 'a', post: 'b', rule: { type: 'MSTDPET', lr: [0.01, 0.01] } } } };

/** A request whose reply's body is kept as the chunks received (joining tens of megabytes would hold this process's loop). */
function rawChunks(base: string, path: string, headers: Record<string, string>, method = 'GET', body?: Buffer): Promise<{ status: number; headers: IncomingHttpHeaders; chunks: Buffer[] }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(base + path, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, chunks }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * A GET whose reply is read up to its first chunk, then left unread (the
 * server's stream waits) while `meanwhile` runs, then read to its end.
 */
function readAround(base: string, path: string, headers: Record<string, string>, meanwhile: () => Promise<void>): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    httpGet(base + path, { headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let paused = false;
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        if (paused) return;
        paused = true;
        res.pause();
        meanwhile().then(() => res.resume(), reject);
      });
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`${res.statusCode}: ${Buffer.concat(chunks).toString().slice(0, 300)}`))));
      res.on('error', reject);
    }).on('error', reject);
  });
}

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
      body: JSON.stringify({ steps: 2, inputs: { a: [[1, 2], [3, 4]] } }),
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

  describe(`a session of ${N} x ${N} synapses, persistence on`, () => {
    let id: string;
    let weights: Float64Array;

    test('is created', async () => {
      const body = JSON.stringify({ network: { populations: { a: { n: N }, b: { n: N } }, connections: { ab: { pre: 'a', post: 'b' } } } });
      const { result: r, worstMs } = await probeDuring(server.base, () => rawRequest(server.base, 'POST', '/v1/sessions', { body, headers: JSON_HEADERS }));
      assert.equal(r.status, 201, r.body.toString().slice(0, 300));
      id = json(r.body).id;
      // Its first snapshot, 32 MB, is written to the database in parts.
      assert.ok(worstMs < WORST_MS, `/healthz waited ${worstMs.toFixed(0)} ms`);
    });

    test('GET /weights in binary', async () => {
      const { result: r, worstMs } = await probeDuring(server.base, () => rawRequest(server.base, 'GET', `/v1/sessions/${id}/weights`, { headers: { accept: BIN } }));
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-type'], BIN);
      const frame = decodeFrame(r.body);
      assert.equal(frame.kind, 'weights');
      assert.equal(frame.sections.length, 1);
      const s = frame.sections[0];
      assert.ok(s.type === 'weights64' && s.rows === N && s.cols === N);
      weights = s.values;
      assert.ok(worstMs < WORST_MS, `/healthz waited ${worstMs.toFixed(0)} ms`);
    });

    test('GET /weights as JSON, the same weights', async () => {
      const { result: r, worstMs } = await probeDuring(server.base, () => rawRequest(server.base, 'GET', `/v1/sessions/${id}/weights`));
      assert.equal(r.status, 200);
      assert.ok(worstMs < WORST_MS, `/healthz waited ${worstMs.toFixed(0)} ms`);
      const rows = json(r.body).weights.ab as number[][];
      assert.equal(rows.length, N);
      for (const i of [0, 1, N - 1]) assert.deepEqual(rows[i], Array.from(weights.subarray(i * N, (i + 1) * N)));
    });

    test('PUT /weights in binary', async () => {
      const next = weights.map((w, k) => (k % 3 === 0 ? 1 - w : w));
      const frame = Buffer.from(next.buffer);
      const { result: r, worstMs } = await probeDuring(server.base, async () => {
        const one = await rawRequest(server.base, 'GET', `/v1/sessions/${id}/weights/ab`, { headers: { accept: BIN } });
        // The frame as read, its numbers replaced: header and section header are the same.
        const body = Buffer.concat([one.body.subarray(0, one.body.length - frame.length), frame]);
        return rawRequest(server.base, 'PUT', `/v1/sessions/${id}/weights/ab`, { body, headers: { 'content-type': BIN, accept: BIN } });
      });
      assert.equal(r.status, 200, r.body.toString().slice(0, 300));
      const s = decodeFrame(r.body).sections[0];
      assert.ok(s.type === 'weights64');
      assert.deepEqual(s.values, next);
      // Recorded as a snapshot written in parts, not as one 32 MB log row.
      assert.ok(worstMs < WORST_MS, `/healthz waited ${worstMs.toFixed(0)} ms`);
      weights = next;
    });

    test('GET /snapshot as JSON and in binary', async () => {
      for (const accept of ['application/json', BIN]) {
        const { result: r, worstMs } = await probeDuring(server.base, () => rawRequest(server.base, 'GET', `/v1/sessions/${id}/snapshot`, { headers: { accept } }));
        assert.equal(r.status, 200);
        assert.ok(String(r.headers['content-type']).startsWith(accept));
        assert.ok(r.body.length > 8 * N * N, `${r.body.length} bytes`);
        assert.ok(worstMs < WORST_MS, `${accept}: /healthz waited ${worstMs.toFixed(0)} ms`);
      }
    });

    test('a session created from its binary snapshot has the same weights', async () => {
      const snap = await rawRequest(server.base, 'GET', `/v1/sessions/${id}/snapshot`, { headers: { accept: BIN } });
      assert.equal(snap.status, 200);
      const { result: r, worstMs } = await probeDuring(server.base, () => rawRequest(server.base, 'POST', '/v1/sessions', { body: snap.body, headers: { 'content-type': BIN } }));
      assert.equal(r.status, 201, r.body.toString().slice(0, 300));
      // Decoded into typed arrays and checked without the schema's walk over every number; its first snapshot written in parts.
      assert.ok(worstMs < WORST_MS, `/healthz waited ${worstMs.toFixed(0)} ms`);
      const copy = json(r.body).id;
      const w = await rawRequest(server.base, 'GET', `/v1/sessions/${copy}/weights/ab`, { headers: { accept: BIN } });
      const s = decodeFrame(w.body).sections[0];
      assert.ok(s.type === 'weights64');
      assert.deepEqual(s.values, weights);
    });
  });

  describe(`a connection of ${BIG} x ${BIG} synapses, in memory`, () => {
    let big: ServerProcess;
    let id: string;

    before(async () => {
      big = await startServer({ env: { DATA_DIR: '', MAX_SYNAPSES_PER_SESSION: String(BIG * BIG), OVERLOAD_EVENT_LOOP_DELAY_MS: '0', OVERLOAD_MEMORY_MB: '0' } });
      const body = JSON.stringify({ network: { populations: { a: { n: BIG }, b: { n: BIG } }, connections: { ab: { pre: 'a', post: 'b' } } } });
      const r = await rawRequest(big.base, 'POST', '/v1/sessions', { body, headers: JSON_HEADERS });
      assert.equal(r.status, 201, r.body.toString().slice(0, 300));
      id = json(r.body).id;
    });

    after(async () => {
      big.child.kill('SIGTERM');
      await big.exited;
    });

    test('GET /weights/ab in binary', async () => {
      // The body's chunks are joined after the probe: joining 288 MB would stall this process, not the server.
      const { result: r, worstMs } = await probeDuring(big.base, () => rawChunks(big.base, `/v1/sessions/${id}/weights/ab`, { accept: BIN }));
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-type'], BIN);
      assert.ok(worstMs < WORST_MS, `/healthz waited ${worstMs.toFixed(0)} ms`);
      const frame = decodeFrame(Buffer.concat(r.chunks));
      assert.equal(frame.kind, 'weights');
      assert.equal(frame.sections.length, 1);
      const s = frame.sections[0];
      assert.ok(s.type === 'weights64' && s.index === 0 && s.rows === BIG && s.cols === BIG);
      assert.ok(s.values.every((w) => w >= 0 && w <= 1));
    });

    test(`GET /snapshot in binary of a ${TRACED} x ${TRACED} MSTDPET connection (weights and eligibility trace)`, async (t) => {
      const created = await rawRequest(big.base, 'POST', '/v1/sessions', { body: JSON.stringify({ network: BIG_MSTDPET }), headers: JSON_HEADERS });
      assert.equal(created.status, 201, created.body.toString().slice(0, 300));
      const mstdpet = json(created.body).id;
      // A few inputs fire, then the outputs (not together, or the eligibility is 0), then a step takes it into the trace.
      const episode = [{ a: Array.from({ length: TRACED }, (_, i) => (i % 100 === 0 ? 60 : 0)) }, { b: new Array<number>(TRACED).fill(100) }, {}];
      for (const inputs of episode) {
        const stepped = await rawRequest(big.base, 'POST', `/v1/sessions/${mstdpet}/step`, { body: JSON.stringify({ inputs, return: {} }), headers: JSON_HEADERS });
        assert.equal(stepped.status, 200, stepped.body.toString().slice(0, 300));
      }
      const { result: r, worstMs } = await probeDuring(big.base, () => rawChunks(big.base, `/v1/sessions/${mstdpet}/snapshot`, { accept: BIN }));
      t.diagnostic(`/healthz worst ${worstMs.toFixed(0)} ms`);
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-type'], BIN);
      assert.ok(worstMs < WORST_MS, `/healthz waited ${worstMs.toFixed(0)} ms`);
      const snap = decodeBlob(Buffer.concat(r.chunks), { typedKeys: new Set(['w', 'et']) }) as any;
      assert.equal(snap.step, 3);
      const c = snap.state.connections.ab;
      assert.equal(c.w.length, TRACED * TRACED);
      assert.equal(c.rule.et.length, TRACED * TRACED);
      assert.ok(c.rule.et.some((x: number) => x !== 0), 'the trace holds the episode');
      await rawRequest(big.base, 'DELETE', `/v1/sessions/${mstdpet}`);
    });

    test('a snapshot read while steps run is the session of one moment: the steps after the read do not show in it', async () => {
      // STDP: every step with input changes weights all over the matrix.
      const network = { populations: { a: { n: N }, b: { n: N } }, connections: { ab: { pre: 'a', post: 'b', rule: { type: 'STDP', lr: [0.01, 0.01] } } } };
      const created = await rawRequest(big.base, 'POST', '/v1/sessions', { body: JSON.stringify({ network, seed: 3 }), headers: JSON_HEADERS });
      assert.equal(created.status, 201, created.body.toString().slice(0, 300));
      const sid = json(created.body).id;
      const step = JSON.stringify({ steps: 3, inputs: { a: Array.from({ length: N }, (_, i) => (i % 3 === 0 ? 60 : 0)) }, return: {} });
      const path = `/v1/sessions/${sid}/snapshot`;
      const before = await rawRequest(big.base, 'GET', path, { headers: { accept: BIN } });
      assert.equal(before.status, 200);
      // The reply's first chunk is in, the rest (32 MB) not yet sent when the steps run.
      const during = await readAround(big.base, path, { accept: BIN }, async () => {
        for (let k = 1; k <= 4; k++) {
          const r = await rawRequest(big.base, 'POST', `/v1/sessions/${sid}/step`, { body: step, headers: JSON_HEADERS });
          assert.equal(r.status, 200, r.body.toString().slice(0, 300));
          assert.equal(json(r.body).step, 3 * k);
        }
      });
      assert.ok(during.equals(before.body), 'the snapshot read while the steps ran is the one before them, byte for byte');
      const afterSteps = await rawRequest(big.base, 'GET', path, { headers: { accept: BIN } });
      assert.ok(!afterSteps.body.equals(before.body), 'the steps changed the session');
      await rawRequest(big.base, 'DELETE', `/v1/sessions/${sid}`);
    });
  });
});

describe(`in one process, the main thread's own time: a ${TRACED} x ${TRACED} connection, persistence on`, () => {
  let app: Awaited<ReturnType<typeof makeApp>>;
  let base: string;
  let dir: string;
  let id: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'spikeserve-stalls-'));
    app = await makeApp({ dataDir: dir, maxSynapses: TRACED * TRACED, maxNeurons: 2 * TRACED, maxTotalSynapses: 2 * TRACED * TRACED });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    const body = JSON.stringify({ network: { populations: { a: { n: TRACED }, b: { n: TRACED } }, connections: { ab: { pre: 'a', post: 'b' } } } });
    const r = await rawRequest(base, 'POST', '/v1/sessions', { body, headers: JSON_HEADERS });
    assert.equal(r.status, 201, r.body.toString().slice(0, 300));
    id = json(r.body).id;
  });

  after(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('PUT /weights in binary: the body is read, checked and stored without holding the event loop', async (t) => {
    const one = await rawRequest(base, 'GET', `/v1/sessions/${id}/weights/ab`, { headers: { accept: BIN } });
    assert.equal(one.status, 200);
    const s = decodeFrame(one.body).sections[0];
    assert.ok(s.type === 'weights64');
    const next = s.values.map((w, k) => (k % 3 === 0 ? 1 - w : w));
    const body = Buffer.concat([one.body.subarray(0, one.body.length - next.byteLength), Buffer.from(next.buffer)]);
    const { result: r, heldMs, worstMs } = await heldDuring(() => rawChunks(base, `/v1/sessions/${id}/weights/ab`, { 'content-type': BIN, accept: BIN }, 'PUT', body));
    t.diagnostic(`the main thread ran at most ${heldMs.toFixed(0)} ms between two turns (longest gap ${worstMs.toFixed(0)} ms)`);
    const reply = Buffer.concat(r.chunks);
    assert.equal(r.status, 200, reply.toString().slice(0, 300));
    assert.ok(heldMs < HELD_MS, `the event loop was held for ${heldMs.toFixed(0)} ms of the main thread's time`);
    const back = decodeFrame(reply).sections[0];
    assert.ok(back.type === 'weights64');
    assert.deepEqual(back.values, next);
  });
});
