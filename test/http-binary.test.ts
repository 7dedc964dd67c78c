/**
 * The binary media type (application/octet-stream): weights as exact float64
 * frames for GET and PUT, snapshots as blobs that POST /v1/sessions takes
 * back, even past BODY_LIMIT_BYTES: every snapshot the server exports can be
 * imported again.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { decodeFrame, encodeFrame } from '../src/ws/binary-format.js';
import { call, createSession, makeApp } from './helpers/http.js';

const BIN = 'application/octet-stream';

function weightsOf(payload: Buffer) {
  const s = decodeFrame(payload).sections[0];
  assert.ok(s.type === 'weights64');
  return s;
}

describe('binary weights', () => {
  let app: FastifyInstance;
  let id: string;

  before(async () => {
    // A body limit far below the matrices sent: binary weights are bounded by the synapse limit instead.
    app = await makeApp({ bodyLimitBytes: 1024 });
    id = await createSession(app, {
      network: { populations: { a: { n: 30 }, b: { n: 20 } }, connections: { ab: { pre: 'a', post: 'b', w_min: -1, w_max: 1 }, ba: { pre: 'b', post: 'a' } } },
      seed: 3,
    });
  });
  after(() => app.close());

  test('GET in binary holds exactly the numbers of the JSON reply', async () => {
    const json = (await call(app, 'GET', `/v1/sessions/${id}/weights`)).body;
    const r = await app.inject({ method: 'GET', url: `/v1/sessions/${id}/weights`, headers: { accept: BIN } });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['content-type'], BIN);
    const frame = decodeFrame(r.rawPayload);
    assert.equal(frame.kind, 'weights');
    assert.equal(frame.step, json.step);
    assert.deepEqual(
      frame.sections.map((s) => s.index),
      [0, 1],
    );
    for (const [k, name] of ['ab', 'ba'].entries()) {
      const s = frame.sections[k];
      assert.ok(s.type === 'weights64');
      const rows: number[][] = json.weights[name];
      assert.equal(s.rows, rows.length);
      assert.deepEqual(Array.from(s.values), rows.flat());
    }
  });

  test('PUT in binary stores the values, clamped, larger than BODY_LIMIT_BYTES', async () => {
    const one = await app.inject({ method: 'GET', url: `/v1/sessions/${id}/weights/ab`, headers: { accept: BIN } });
    const s = weightsOf(one.rawPayload);
    const values = s.values.map((_, k) => (k % 7) * 0.4 - 1.2);
    const body = Buffer.concat([one.rawPayload.subarray(0, one.rawPayload.length - values.byteLength), Buffer.from(values.buffer)]);
    assert.ok(body.length > 1024);
    const r = await app.inject({ method: 'PUT', url: `/v1/sessions/${id}/weights/ab`, payload: body, headers: { 'content-type': BIN } });
    assert.equal(r.statusCode, 200, r.body);
    const stored = (r.json().weights as number[][]).flat();
    assert.deepEqual(stored, Array.from(values, (v) => Math.min(1, Math.max(-1, v))));
    const back = weightsOf((await app.inject({ method: 'GET', url: `/v1/sessions/${id}/weights/ab`, headers: { accept: BIN } })).rawPayload);
    assert.deepEqual(Array.from(back.values), stored);
  });

  test('a binary body sent without content-length (chunked), or a frame with an id, is read the same', async () => {
    const one = weightsOf((await app.inject({ method: 'GET', url: `/v1/sessions/${id}/weights/ab`, headers: { accept: BIN } })).rawPayload);
    const values = one.values.map((_, k) => (k % 5) * 0.3 - 0.6);
    const frame = encodeFrame({ kind: 'weights', step: 0, sections: [{ type: 'weights64', index: 0, rows: one.rows, cols: one.cols, values }] });
    // In pieces of odd sizes, as a stream: no content-length.
    const pieces = Array.from({ length: Math.ceil(frame.length / 333) }, (_, k) => frame.subarray(k * 333, (k + 1) * 333));
    let r = await app.inject({ method: 'PUT', url: `/v1/sessions/${id}/weights/ab`, payload: Readable.from(pieces), headers: { 'content-type': BIN, accept: BIN } });
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.headers['content-length'], undefined);
    assert.deepEqual(weightsOf(r.rawPayload).values, values);
    // An id (not sent by the HTTP API's own frames) moves the values off the alignment the body is read into: copied instead.
    const withId = encodeFrame({ kind: 'weights', id: 'abc', step: 0, sections: [{ type: 'weights64', index: 0, rows: one.rows, cols: one.cols, values: values.map((v) => -v) }] });
    r = await app.inject({ method: 'PUT', url: `/v1/sessions/${id}/weights/ab`, payload: withId, headers: { 'content-type': BIN, accept: BIN } });
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(weightsOf(r.rawPayload).values, values.map((v) => -v));
  });

  test('a binary body past its bound (8 bytes a synapse of MAX_SYNAPSES_PER_SESSION, and a margin) is 413 BODY_TOO_LARGE naming that bound, with or without content-length', async () => {
    const small = await makeApp({ bodyLimitBytes: 1024, maxSynapses: 1000, maxTotalSynapses: 1000 });
    try {
      const sid = await createSession(small, { network: { populations: { a: { n: 10 }, b: { n: 10 } }, connections: { ab: { pre: 'a', post: 'b' } } } });
      const tooMany = Buffer.alloc(8 * 1000 + 64 * 1024 + 1);
      for (const payload of [tooMany, Readable.from([tooMany.subarray(0, 40_000), tooMany.subarray(40_000)])]) {
        const r = await small.inject({ method: 'PUT', url: `/v1/sessions/${sid}/weights/ab`, payload, headers: { 'content-type': BIN } });
        assert.equal(r.statusCode, 413, r.body);
        assert.equal(r.json().error.code, 'BODY_TOO_LARGE');
        assert.match(r.json().error.message, new RegExp(`limit of ${8 * 1000 + 64 * 1024} bytes`));
        assert.equal(r.json().error.details.max, 8 * 1000 + 64 * 1024);
      }
    } finally {
      await small.close();
    }
  });

  test('a frame of the wrong shape, or not a frame, is WEIGHTS_INVALID; an unknown connection 404', async () => {
    const other = (await app.inject({ method: 'GET', url: `/v1/sessions/${id}/weights/ba`, headers: { accept: BIN } })).rawPayload;
    const put = (url: string, payload: Buffer) => app.inject({ method: 'PUT', url, payload, headers: { 'content-type': BIN } });
    let r = await put(`/v1/sessions/${id}/weights/ab`, other);
    assert.equal(r.statusCode, 400);
    assert.equal(r.json().error.code, 'WEIGHTS_INVALID');
    assert.match(r.json().error.message, /20 x 30; this connection is 30 x 20/);
    r = await put(`/v1/sessions/${id}/weights/ab`, Buffer.from('not a frame at all, just some bytes'));
    assert.equal(r.statusCode, 400);
    assert.equal(r.json().error.code, 'WEIGHTS_INVALID');
    r = await put(`/v1/sessions/${id}/weights/nope`, other);
    assert.equal(r.statusCode, 404);
    assert.equal(r.json().error.code, 'CONNECTION_NOT_FOUND');
  });
});

describe('binary snapshots', () => {
  let app: FastifyInstance;

  before(async () => {
    app = await makeApp({ bodyLimitBytes: 1024 });
  });
  after(() => app.close());

  test('a snapshot larger than BODY_LIMIT_BYTES comes back in binary, and the copy continues exactly as the original', async () => {
    const id = await createSession(app, {
      network: {
        populations: { a: { n: 40 }, b: { n: 30 } },
        connections: { ab: { pre: 'a', post: 'b', w_max: 5, rule: { type: 'MSTDP', lr: [0.01, 0.01] } } },
      },
      seed: 9,
    });
    for (let t = 0; t < 5; t++) {
      const r = await app.inject({ method: 'POST', url: `/v1/sessions/${id}/step`, payload: { steps: 20, inputs: { a: 40 }, reward: 1 }, headers: { 'content-type': 'application/json' } });
      assert.equal(r.statusCode, 200, r.body);
    }
    const json = await app.inject({ method: 'GET', url: `/v1/sessions/${id}/snapshot` });
    assert.equal(json.statusCode, 200);
    assert.ok(json.rawPayload.length > 1024, 'the JSON snapshot is over the body limit');
    const tooLarge = await app.inject({ method: 'POST', url: '/v1/sessions', payload: `{"snapshot":${json.body}}`, headers: { 'content-type': 'application/json' } });
    assert.equal(tooLarge.statusCode, 413);

    const bin = await app.inject({ method: 'GET', url: `/v1/sessions/${id}/snapshot`, headers: { accept: BIN } });
    assert.equal(bin.statusCode, 200);
    assert.equal(bin.headers['content-type'], BIN);
    const fork = await app.inject({ method: 'POST', url: '/v1/sessions?name=fork', payload: bin.rawPayload, headers: { 'content-type': BIN } });
    assert.equal(fork.statusCode, 201, fork.body);
    assert.equal(fork.json().name, 'fork');
    const forkId = fork.json().id as string;
    assert.deepEqual((await call(app, 'GET', `/v1/sessions/${forkId}/snapshot`)).body, { ...json.json(), name: 'fork' });
    const step = (sid: string) => call(app, 'POST', `/v1/sessions/${sid}/step`, { steps: 30, inputs: { a: 35 }, reward: -1, return: { spikes: 'counts', weights: true } });
    assert.deepEqual((await step(forkId)).body, (await step(id)).body);
  });

  test('the JSON snapshot is what JSON.stringify would write', async () => {
    const id = await createSession(app, { network: { populations: { a: { n: 3 } }, connections: { aa: { pre: 'a', post: 'a', w_min: -1 } } } });
    const r = await app.inject({ method: 'GET', url: `/v1/sessions/${id}/snapshot` });
    assert.equal(r.body, JSON.stringify(JSON.parse(r.body)));
  });

  test('bytes that are not a snapshot are SNAPSHOT_INVALID; name and backend in the query go with a binary body only', async () => {
    let r = await app.inject({ method: 'POST', url: '/v1/sessions', payload: Buffer.from('SSB1 but nothing else'), headers: { 'content-type': BIN } });
    assert.equal(r.statusCode, 400);
    assert.equal(r.json().error.code, 'SNAPSHOT_INVALID');
    r = await app.inject({ method: 'POST', url: '/v1/sessions?name=x', payload: { network: { populations: { a: { n: 1 } } } }, headers: { 'content-type': 'application/json' } });
    assert.equal(r.statusCode, 400);
    assert.equal(r.json().error.code, 'REQUEST_INVALID');
  });
});
