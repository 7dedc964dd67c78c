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

test('copyRows: a batch session\'s entry holds one row per copy (inputs [B][n], rewards [B]) or one for every copy, stepping as the JSON step_batch does; a wrong count fails that row alone (INPUT_INVALID, copyRows[i]) or the frame (REQUEST_INVALID, MESSAGE_INVALID)', async () => {
  const srv = await liveServer();
  try {
    const batch = { ...SEED_MSTDP_NETWORK, batch_size: 2 };
    // Sessions of batch_size 2 (rows per copy, and one row for both copies) and of batch_size 1, each with a JSON twin.
    const nets = [batch, batch, SEED_MSTDP_NETWORK];
    const ids: string[] = [];
    const twins: string[] = [];
    for (const [i, network] of nets.entries()) {
      ids.push((await srv.rest.createSession({ network, seed: 1 + i })).id);
      twins.push((await srv.rest.createSession({ network, seed: 1 + i })).id);
    }
    const copyRows = [2, 1, 1];
    const x = [[100, 0], [0, 100], [100, 50], [50, 100]]; // rows in order: session 0's copies 0 and 1, session 1's, session 2's
    const post = [[0], [20], [0], [0]];
    const rewards = [1, -1, 0.5, 2];
    const s = await mux(srv.wsBase);
    for (let round = 0; round < 3; round++) {
      const defer = round === 1;
      s.ws.send(
        encodeStepBatchRequest(
          {
            type: 'step_batch',
            id: round,
            sessions: ids,
            inputs: [
              { population: 'pre', n: 2 },
              { population: 'post', n: 1 },
            ],
            copyRows,
            rewards: true,
            steps: 5,
            deferReward: defer,
            counts: ['pre', 'post'],
            potentials: ['post'],
          },
          [x.flat(), post.flat(), rewards],
        ),
      );
      const items = [
        { id: twins[0], inputs: { pre: x.slice(0, 2), post: post.slice(0, 2) }, reward: rewards.slice(0, 2) },
        { id: twins[1], inputs: { pre: x[2], post: post[2] }, reward: rewards[2] },
        { id: twins[2], inputs: { pre: x[3], post: post[3] }, reward: rewards[3] },
      ];
      s.ws.send(
        JSON.stringify({
          type: 'step_batch',
          id: `j${round}`,
          items: items.map((item) => ({ ...item, steps: 5, deferReward: defer, return: { populations: ['pre', 'post'], spikes: 'counts', potentials: true } })),
        }),
      );
      const [b, j] = await s.next(2);
      const r = b.binary;
      assert.deepEqual(r.errors, []);
      const results = j.result.results.map((o: { ok: boolean; result: unknown }) => (assert.ok(o.ok, JSON.stringify(o)), o.result));
      const flat = (v: number[] | number[][]) => v.flat();
      assert.deepEqual(Array.from(r.step), results.map((q: { step: number }) => q.step));
      assert.deepEqual(r.pending, [defer, defer, defer]);
      const [pre, postCounts, v] = r.sections;
      assert.deepEqual(Array.from(pre.sizes), [4, 4, 2], 'a batch session\'s values are per copy');
      assert.deepEqual(Array.from(pre.values), results.flatMap((q: { spikeCounts: { pre: number[][] } }) => flat(q.spikeCounts.pre)));
      assert.deepEqual(Array.from(postCounts.values), results.flatMap((q: { spikeCounts: { post: number[][] } }) => flat(q.spikeCounts.post)));
      assert.deepEqual(Array.from(v.values), results.flatMap((q: { potentials: { post: number[][] } }) => flat(q.potentials.post)), 'float64: exactly the JSON values');
      assert.deepEqual(Array.from(pre.values).slice(0, 4), [5, 0, 0, 5], 'each copy got its own row');
      if (defer) for (const [i, id] of [...ids, ...twins].entries()) await srv.rest.reward(id, i % 3 === 0 ? [1, -2] : 1);
    }
    for (let i = 0; i < 3; i++) assert.deepEqual(await srv.rest.weights(ids[i]), await srv.rest.weights(twins[i]), `session ${i}: the same learning`);
    // Rows that are neither 1 nor the session's batch_size fail that row alone, naming it; the others run.
    s.ws.send(encodeStepBatchRequest({ type: 'step_batch', sessions: [ids[0], ids[2], ids[1]], inputs: [{ population: 'pre', n: 2 }], copyRows: [3, 2, 2], rewards: true }, [new Array(14).fill(1), new Array(7).fill(0)]));
    s.ws.send(encodeStepBatchRequest({ type: 'step_batch', sessions: [ids[1]], copyRows: [2], rewards: true }, [[0, Number.NaN]]));
    // Too few or too many copyRows, or values for other rows than they say: the frame is refused whole.
    s.ws.send(encodeStepBatchRequest({ type: 'step_batch', id: 'few', sessions: [ids[0], ids[1]], copyRows: [2], rewards: true }, [[1, 2, 3]]));
    s.ws.send(encodeStepBatchRequest({ type: 'step_batch', id: 'zero', sessions: [ids[0]], copyRows: [0] }, []));
    s.ws.send(encodeStepBatchRequest({ type: 'step_batch', id: 'short', sessions: [ids[0], ids[1]], copyRows: [2, 1], rewards: true }, [[1, 2]]));
    const [wrong, nan, few, zero, short] = await s.next(5);
    assert.deepEqual(wrong.binary.ok, [false, false, true]);
    assert.deepEqual(
      wrong.binary.errors.map((e: { index: number; error: { code: string; details: unknown } }) => [e.index, e.error.code, e.error.details]),
      [
        [0, 'INPUT_INVALID', { field: 'copyRows[0]', expected: [1, 2], got: 3 }],
        [1, 'INPUT_INVALID', { field: 'copyRows[1]', expected: [1], got: 2 }],
      ],
    );
    assert.match(wrong.binary.errors[0].error.message, /^copyRows\[0\]: 3 rows for session .*batch_size 2: give 1 row \(for every copy\) or 2 \(one per copy\)/);
    assert.deepEqual(nan.binary.ok, [false]);
    assert.equal(nan.binary.errors[0].error.code, 'INPUT_INVALID');
    assert.equal(few.error.code, 'REQUEST_INVALID');
    assert.deepEqual(few.error.details, { field: 'copyRows', expected: 2, got: 1 });
    assert.equal(zero.error.code, 'REQUEST_INVALID');
    assert.equal(short.error.code, 'MESSAGE_INVALID');
    assert.deepEqual(short.error.details, { expected: 3, got: 2 });
    assert.match(short.error.message, /2 sessions, 3 rows/);
    const steps = await Promise.all(ids.map(async (id) => (await srv.rest.getSession(id)).step));
    assert.deepEqual(steps, [15, 16, 15], 'only the row that fitted ran');
    s.ws.close();
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
