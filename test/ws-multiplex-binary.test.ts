/**
 * The binary step_batch of the multiplexed socket: a frame of float64 arrays
 * in, a frame of arrays out, giving what the JSON step_batch gives for the
 * same steps (step counts, pending, spike counts, potentials exactly), one
 * row's error failing no other; a frame the layout, the header's schema or
 * the limit refuses is refused whole with a JSON error, nothing run; another
 * key's session is SESSION_NOT_FOUND; the reply's layout byte for byte as
 * docs/websocket.md lays it out.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RestClient } from '../src/client/index.js';
import { decodeStepBatchReply, encodeStepBatchReply, encodeStepBatchRequest } from '../src/ws/batch-frame.js';
import { SEED_MSTDP_NETWORK } from './helpers/seed-mstdp-task.js';
import { liveServer, rawSocket, type RawSocket } from './helpers/ws.js';

async function mux(wsBase: string, headers: Record<string, string> = {}): Promise<RawSocket> {
  const s = await rawSocket(`${wsBase}/v1/ws`, { headers });
  const [hello] = await s.next();
  assert.equal(hello.type, 'hello', JSON.stringify(hello));
  return s;
}

test('a binary step_batch steps every row as the JSON step_batch steps its item: counts, potentials (float64, exact), step and pending; a failed row fails no other', async () => {
  const srv = await liveServer();
  try {
    const ids: string[] = [];
    const twins: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await srv.rest.createSession({ network: SEED_MSTDP_NETWORK, seed: 1 + i })).id);
    for (let i = 0; i < 3; i++) twins.push((await srv.rest.createSession({ network: SEED_MSTDP_NETWORK, seed: 1 + i })).id);
    const x = [
      [100, 0],
      [0, 100],
      [100, 50],
    ];
    const rewards = [1, -1, 0.5];
    const s = await mux(srv.wsBase);
    for (let round = 0; round < 3; round++) {
      const defer = round === 1;
      s.ws.send(
        encodeStepBatchRequest(
          { type: 'step_batch', id: `b${round}`, sessions: ids, inputs: [{ population: 'pre', n: 2 }], rewards: true, steps: 5, deferReward: defer, counts: ['pre', 'post'], potentials: ['post'] },
          [x.flat(), rewards],
        ),
      );
      s.ws.send(
        JSON.stringify({
          type: 'step_batch',
          id: `j${round}`,
          items: twins.map((id, i) => ({ id, inputs: { pre: x[i] }, reward: rewards[i], steps: 5, deferReward: defer, return: { populations: ['pre', 'post'], spikes: 'counts', potentials: true } })),
        }),
      );
      const [b, j] = await s.next(2);
      const r = b.binary;
      assert.equal(r.id, `b${round}`);
      assert.deepEqual(r.errors, []);
      const results = j.result.results.map((o: { result: unknown }) => o.result);
      assert.deepEqual(Array.from(r.step), results.map((q: { step: number }) => q.step));
      assert.deepEqual(Array.from(r.steps), [5, 5, 5]);
      assert.deepEqual(r.ok, [true, true, true]);
      assert.deepEqual(r.pending, results.map((q: { pending: boolean }) => q.pending));
      assert.deepEqual(r.pending, [defer, defer, defer]);
      assert.deepEqual(
        r.sections.map((sec: { type: string; index: number }) => [sec.type, sec.index]),
        [
          ['counts', 0],
          ['counts', 1],
          ['potentials', 0],
        ],
      );
      const [pre, post, v] = r.sections;
      assert.deepEqual(Array.from(pre.sizes), [2, 2, 2]);
      assert.deepEqual(Array.from(pre.values), results.flatMap((q: { spikeCounts: { pre: number[] } }) => q.spikeCounts.pre));
      assert.deepEqual(Array.from(post.values), results.flatMap((q: { spikeCounts: { post: number[] } }) => q.spikeCounts.post));
      assert.deepEqual(Array.from(v.values), results.flatMap((q: { potentials: { post: number[] } }) => q.potentials.post), 'float64: exactly the JSON values');
      assert.ok((Array.from(pre.values) as number[]).some((c) => c > 0), 'the inputs reached the sessions');
    }
    // Rows of one session run in order; an unknown session and a row of the wrong width fail alone.
    s.ws.send(
      encodeStepBatchRequest({ type: 'step_batch', sessions: [ids[0], 'no-such-session', ids[0], ids[1]], inputs: [{ population: 'pre', n: 2 }], counts: ['post'] }, [[100, 0, 1, 1, 100, 0, 0, 0]]),
    );
    s.ws.send(encodeStepBatchRequest({ type: 'step_batch', sessions: [ids[1]], inputs: [{ population: 'pre', n: 3 }] }, [[1, 2, 3]]));
    const [[m], [w]] = [await s.next(), await s.next()];
    const r = m.binary;
    assert.equal(r.id, undefined);
    assert.deepEqual(Array.from(r.step), [16, 0, 17, 16]);
    assert.deepEqual(r.ok, [true, false, true, true]);
    assert.deepEqual(Array.from(r.sections[0].sizes), [1, 0, 1, 1]);
    assert.equal(r.sections[0].values.length, 3);
    assert.equal(r.errors.length, 1);
    assert.equal(r.errors[0].index, 1);
    assert.equal(r.errors[0].error.code, 'SESSION_NOT_FOUND');
    assert.deepEqual(r.errors[0].error.details, { sessionId: 'no-such-session' });
    assert.deepEqual(w.binary.ok, [false]);
    assert.equal(w.binary.errors[0].error.code, 'INPUT_INVALID');
    assert.equal(w.binary.errors[0].error.details.field, 'inputs.pre');
    assert.equal((await srv.rest.getSession(ids[1])).step, 16, 'the refused row changed nothing');
    s.ws.close();
  } finally {
    await srv.close();
  }
});

test('a binary step_batch that does not follow the layout, the header\'s schema or the limit is refused whole with a JSON error, nothing run; the session socket still takes no binary frame', async () => {
  const srv = await liveServer({ maxBatchItems: 2 });
  try {
    const a = (await srv.rest.createSession({ network: SEED_MSTDP_NETWORK, seed: 1 })).id;
    const s = await mux(srv.wsBase);
    const good = encodeStepBatchRequest({ type: 'step_batch', id: 1, sessions: [a], inputs: [{ population: 'pre', n: 2 }] }, [[100, 0]]);
    s.ws.send(good.subarray(0, good.length - 8)); // a value short
    const wrongKind = Buffer.from(good);
    wrongKind[1] = 1;
    s.ws.send(wrongKind);
    s.ws.send(encodeStepBatchRequest({ type: 'step_batch', id: 3, sessions: [a], inputs: [{ population: 'pre', n: 2 }], steps: 0 }, [[100, 0]]));
    s.ws.send(encodeStepBatchRequest({ type: 'step_batch', id: 4, sessions: [a, a, a] }, []));
    s.ws.send(encodeStepBatchRequest({ type: 'step_batch', id: 5, sessions: [a], inputs: [{ population: 'pre', n: 1 }, { population: 'pre', n: 1 }] }, [[1], [1]]));
    s.ws.send(encodeStepBatchRequest({ type: 'step_batch', id: 6, sessions: [a], rewards: true }, [[Number.NaN]]));
    const [short, kind, schema, limit, twice, nan] = await s.next(6);
    assert.equal(short.type, 'error');
    assert.equal(short.id, 1);
    assert.equal(short.request, 'step_batch');
    assert.equal(short.error.code, 'MESSAGE_INVALID');
    assert.deepEqual(short.error.details, { expected: 2, got: 1 });
    assert.equal(kind.error.code, 'MESSAGE_INVALID');
    assert.match(kind.error.message, /kind 1/);
    assert.equal(schema.id, 3);
    assert.equal(schema.error.code, 'REQUEST_INVALID');
    assert.equal(schema.error.details.field, 'steps');
    assert.equal(limit.error.code, 'LIMIT_EXCEEDED');
    assert.deepEqual(limit.error.details, { field: 'sessions', limit: 'maxBatchItems', max: 2, value: 3 });
    assert.equal(twice.error.code, 'REQUEST_INVALID');
    assert.equal(twice.error.details.field, 'inputs[1].population');
    // A NaN reward is one row's bad input, as a bad value in a JSON item is.
    assert.equal(nan.binary.errors[0].error.code, 'INPUT_INVALID');
    assert.equal((await srv.rest.getSession(a)).step, 0, 'nothing ran');
    s.ws.close();

    const own = await rawSocket(`${srv.wsBase}/v1/sessions/${a}/ws`);
    await own.next();
    own.ws.send(good);
    const [refused] = await own.next();
    assert.equal(refused.error.code, 'MESSAGE_INVALID');
    own.ws.close();
  } finally {
    await srv.close();
  }
});

test('with API_KEYS, a binary step_batch steps its key\'s sessions only: another key\'s is SESSION_NOT_FOUND', async () => {
  const srv = await liveServer({ apiKeys: [{ id: 'alice', secret: 'bin-alice-0123456789abcdef' }, { id: 'bob', secret: 'bin-bob-0123456789abcdef' }] });
  try {
    const mine = (await new RestClient(srv.base, { apiKey: 'bin-alice-0123456789abcdef' }).createSession({ network: SEED_MSTDP_NETWORK })).id;
    const bob = new RestClient(srv.base, { apiKey: 'bin-bob-0123456789abcdef' });
    const theirs = (await bob.createSession({ network: SEED_MSTDP_NETWORK })).id;
    const s = await mux(srv.wsBase, { authorization: 'Bearer bin-alice-0123456789abcdef' });
    s.ws.send(encodeStepBatchRequest({ type: 'step_batch', sessions: [theirs, mine] }, []));
    const [m] = await s.next();
    assert.deepEqual(m.binary.ok, [false, true]);
    assert.equal(m.binary.errors[0].error.code, 'SESSION_NOT_FOUND');
    assert.equal((await bob.getSession(theirs)).step, 0);
    s.ws.close();
  } finally {
    await srv.close();
  }
});

test('the reply frame is laid out as docs/websocket.md shows it, byte for byte', () => {
  const frame = encodeStepBatchReply({
    id: 7,
    items: [
      { ok: true, step: 12, steps: 1, pending: true },
      { ok: false, step: 0, steps: 0, pending: false },
    ],
    sections: [{ type: 'counts', index: 0, values: [[3], []] }],
    errors: [{ index: 1, error: { code: 'SESSION_NOT_FOUND', message: 'x' } }],
  });
  const hex = frame.toString('hex').replace(/(..)/g, '$1 ').trim();
  const expected = [
    '01 08 00 00 01 00 00 00 02 00 00 00 01 00 00 00 40 00 00 00 00 00 00 00', // version 1, kind 8; id of 1 byte; 2 items; 1 section; 64 bytes of errors
    '37 00 00 00 00 00 00 00', // id "7", padded to 8
    '00 00 00 00 00 00 28 40 00 00 00 00 00 00 00 00', // step: 12, 0
    '01 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00', // steps: 1, 0; status: ok and pending, failed; padding
    '01 00 00 00 02 00 00 00 01 00 00 00 00 00 00 00', // counts of the first population asked for: 2 items, 1 value
    '01 00 00 00 00 00 00 00', // sizes: 1, 0
    '03 00 00 00 00 00 00 00', // count 3, padded to 8
  ].join(' ');
  assert.equal(hex.slice(0, expected.length), expected);
  assert.equal(frame.subarray(frame.length - 64).toString(), '[{"index":1,"error":{"code":"SESSION_NOT_FOUND","message":"x"}}]');
  const back = decodeStepBatchReply(frame);
  assert.deepEqual(back.ok, [true, false]);
  assert.deepEqual(back.pending, [true, false]);
  assert.deepEqual(Array.from(back.sections[0].values), [3]);
});
