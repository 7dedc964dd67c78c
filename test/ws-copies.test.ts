/**
 * A batch over the session WebSocket (websocket.md, "Binary frames" and
 * "Streams"; model.md, "Batches"): the hello gives the batch size; a binary
 * step reply carries a copy section before each copy's spikes, counts and
 * potentials, the shared weights last, and reads as the JSON reply; the
 * spikes and potentials streams come per copy, for the copies subscribed
 * to, in JSON and binary; a reward per copy is a copy and a reward section
 * per copy; bad copy selections are refused naming the field; a network of
 * one copy keeps its frames and events without any copy level.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { stepResultOf } from '../src/client/frames.js';
import { liveServer, rawSocket, type LiveServer, type RawSocket } from './helpers/ws.js';

const NETWORK = {
  batch_size: 3,
  populations: { pre: { n: 2, refrac_length: 0 }, post: { n: 1, refrac_length: 0 } },
  connections: { pre_post: { pre: 'pre', post: 'post', w_max: 10, w: [[6], [7]], rule: { type: 'MSTDP', lr: 0.5 } } },
};
const ONE_COPY = { ...NETWORK, batch_size: 1 };
/** Copy 0 drives neuron 0, copy 1 nothing, copy 2 neuron 1. */
const INPUTS = { pre: [[100, 0], [0, 0], [0, 100]] };

let srv: LiveServer;
before(async () => {
  srv = await liveServer();
});
after(() => srv.close());

async function open(network: typeof NETWORK, query = ''): Promise<{ id: string; sock: RawSocket; hello: any }> {
  const { id } = await srv.rest.createSession({ network, seed: 5 });
  const sock = await rawSocket(`${srv.wsBase}/v1/sessions/${id}/ws${query}`);
  const [hello] = await sock.next();
  return { id, sock, hello };
}

async function ask(sock: RawSocket, msg: object): Promise<any> {
  sock.ws.send(JSON.stringify(msg));
  return (await sock.next())[0];
}

/** Potentials and weights as the float32 values binary frames carry. */
function asFloat32(r: any): any {
  const round = (x: unknown): unknown => (Array.isArray(x) ? x.map(round) : Math.fround(x as number));
  const out = { ...r };
  for (const key of ['potentials', 'weights']) if (out[key]) out[key] = Object.fromEntries(Object.entries(out[key]).map(([k, v]) => [k, round(v)]));
  return out;
}

const layoutOf = (f: any) => f.sections.map((s: any) => (s.type === 'copy' ? `copy ${s.copy}` : `${s.type} ${s.index}`));

test('the hello of a batch gives its batch size; a network of one copy\'s hello has none', async () => {
  const batch = await open(NETWORK);
  assert.deepEqual(batch.hello.session, { id: batch.id, name: null, step: 0, pending: false, batchSize: 3 });
  const one = await open(ONE_COPY);
  assert.deepEqual(one.hello.session, { id: one.id, name: null, step: 0, pending: false });
  batch.sock.ws.close();
  one.sock.ws.close();
});

test('a batch\'s binary step reply: a copy section before each copy\'s spikes and potentials, the shared weights last; it reads as the JSON reply', async () => {
  const json = await open(NETWORK);
  const binary = await open(NETWORK, '?format=binary');
  const body = { steps: 4, inputs: INPUTS, reward: [1, -1, 0.5], return: { copies: [2, 0], potentials: true, weights: true } };
  const j = await ask(json.sock, { type: 'step', id: 1, ...body });
  const { binary: f } = await ask(binary.sock, { type: 'step', id: 1, ...body });
  assert.equal(j.type, 'reply', JSON.stringify(j));
  assert.deepEqual(j.result.copies, [2, 0]);
  assert.deepEqual(layoutOf(f), ['copy 2', 'spikes 0', 'spikes 1', 'potentials 0', 'potentials 1', 'copy 0', 'spikes 0', 'spikes 1', 'potentials 0', 'potentials 1', 'weights 0']);
  assert.deepEqual({ kind: f.kind, id: f.id, step: f.step, steps: f.steps }, { kind: 'step', id: 1, step: 4, steps: 4 });
  assert.deepEqual(stepResultOf(f, binary.hello), asFloat32(j.result));
  // Copy 2's neuron 1 fired and copy 0's neuron 0: the sections are each copy's own.
  assert.ok(j.result.spikes.pre.some((perCopy: number[][]) => perCopy[0].includes(1)));
  assert.ok(j.result.spikes.pre.some((perCopy: number[][]) => perCopy[1].includes(0)));

  // Counts, every copy (the default).
  const counts = { steps: 3, inputs: INPUTS, return: { spikes: 'counts' } };
  const jc = await ask(json.sock, { type: 'step', ...counts });
  const { binary: fc } = await ask(binary.sock, { type: 'step', ...counts });
  assert.deepEqual(layoutOf(fc), ['copy 0', 'counts 0', 'counts 1', 'copy 1', 'counts 0', 'counts 1', 'copy 2', 'counts 0', 'counts 1']);
  assert.deepEqual(stepResultOf(fc, binary.hello), jc.result);
  assert.deepEqual(jc.result.spikeCounts.pre[1], [0, 0], 'copy 1 had no input');
  json.sock.ws.close();
  binary.sock.ws.close();
});

test('a network of one copy: binary replies and events have no copy section, JSON events no copies; copies [0] is taken, any other refused', async () => {
  const { sock } = await open(ONE_COPY, '?format=binary');
  assert.deepEqual((await ask(sock, { type: 'subscribe', stream: 'spikes', copies: [0], format: 'json' })).result, { stream: 'spikes', populations: ['pre', 'post'], every: 1, format: 'json' });
  sock.ws.send(JSON.stringify({ type: 'step', inputs: { pre: [100, 0] }, return: { potentials: true } }));
  const [event, { binary: f }] = await sock.next(2);
  assert.deepEqual(Object.keys(event), ['type', 'step', 'pending', 'spikes']);
  assert.deepEqual(event.spikes, { pre: [0], post: [] });
  assert.deepEqual(layoutOf(f), ['spikes 0', 'spikes 1', 'potentials 0', 'potentials 1']);
  const bad = await ask(sock, { type: 'subscribe', stream: 'potentials', copies: [1] });
  assert.equal(bad.error.code, 'REQUEST_INVALID');
  assert.match(bad.error.message, /^copies: this network has one copy \(batch_size 1\)/);
  sock.ws.close();
});

test('streams of a batch: spikes and potentials per copy, for the copies subscribed to, in JSON and binary', async () => {
  const ctl = await open(NETWORK);
  const obs = await rawSocket(`${srv.wsBase}/v1/sessions/${ctl.id}/ws?role=observer&format=binary`);
  const [hello] = await obs.next();
  const sub = await ask(ctl.sock, { type: 'subscribe', stream: 'spikes', copies: [2, 0] });
  assert.deepEqual(sub.result, { stream: 'spikes', populations: ['pre', 'post'], copies: [2, 0], every: 1, format: 'json' });
  assert.deepEqual((await ask(obs, { type: 'subscribe', stream: 'potentials', populations: ['post'] })).result, { stream: 'potentials', populations: ['post'], copies: [0, 1, 2], every: 1, format: 'binary' });
  assert.equal((await ask(obs, { type: 'subscribe', stream: 'spikes', copies: [1] })).type, 'reply');

  ctl.sock.ws.send(JSON.stringify({ type: 'step', inputs: INPUTS, return: { potentials: true } }));
  const [spikes, reply] = await ctl.sock.next(2);
  assert.equal(reply.type, 'reply', JSON.stringify(reply));
  const r = reply.result;
  assert.deepEqual(spikes, {
    type: 'spikes',
    step: 1,
    pending: false,
    copies: [2, 0],
    spikes: { pre: [r.spikes.pre[0][2], r.spikes.pre[0][0]], post: [r.spikes.post[0][2], r.spikes.post[0][0]] },
  });
  assert.deepEqual(spikes.spikes.pre, [[1], [0]], 'each copy its own input neuron');

  const events = await obs.next(2);
  const potentials = events.find((e) => e.binary.kind === 'potentialsEvent').binary;
  assert.deepEqual(layoutOf(potentials), ['copy 0', 'potentials 1', 'copy 1', 'potentials 1', 'copy 2', 'potentials 1']);
  assert.deepEqual(
    potentials.sections.filter((s: any) => s.type === 'potentials').map((s: any) => Array.from(s.values)),
    r.potentials.post.map((v: number[]) => v.map(Math.fround)),
  );
  const copy1 = events.find((e) => e.binary.kind === 'spikesEvent').binary;
  assert.deepEqual(layoutOf(copy1), ['copy 1', 'spikes 0', 'spikes 1']);
  assert.deepEqual(Array.from(copy1.sections[1].indices), [], 'copy 1 had no input');
  assert.equal(hello.session.batchSize, 3);
  ctl.sock.ws.close();
  obs.ws.close();
});

test('a batch\'s rewards stream: one reward per copy, a list in JSON, and a copy and a reward section per copy in binary', async () => {
  const ctl = await open(NETWORK);
  const obs = await rawSocket(`${srv.wsBase}/v1/sessions/${ctl.id}/ws?role=observer`);
  await obs.next();
  await ask(ctl.sock, { type: 'subscribe', stream: 'rewards' });
  await ask(obs, { type: 'subscribe', stream: 'rewards', format: 'binary' });
  ctl.sock.ws.send(JSON.stringify({ type: 'step', inputs: INPUTS, reward: [1, -1, 0.5], return: { spikes: 'none' } }));
  const [event] = await ctl.sock.next(2);
  assert.deepEqual(event, { type: 'reward', step: 1, reward: [1, -1, 0.5], source: 'step' });
  const [{ binary: f }] = await obs.next();
  assert.deepEqual(f.sections, [
    { type: 'copy', index: 0, copy: 0 },
    { type: 'reward', index: 0, source: 'step', reward: 1 },
    { type: 'copy', index: 0, copy: 1 },
    { type: 'reward', index: 0, source: 'step', reward: -1 },
    { type: 'copy', index: 0, copy: 2 },
    { type: 'reward', index: 0, source: 'step', reward: 0.5 },
  ]);
  // One number for every copy, given with the step or deferred, or the implicit 0: still one per copy.
  ctl.sock.ws.send(JSON.stringify({ type: 'step', inputs: INPUTS, reward: 2, return: { spikes: 'none' } }));
  ctl.sock.ws.send(JSON.stringify({ type: 'step', inputs: INPUTS, deferReward: true, return: { spikes: 'none' } }));
  ctl.sock.ws.send(JSON.stringify({ type: 'reward', reward: 3 }));
  ctl.sock.ws.send(JSON.stringify({ type: 'step', inputs: INPUTS, deferReward: true, return: { spikes: 'none' } }));
  ctl.sock.ws.send(JSON.stringify({ type: 'step', inputs: INPUTS, return: { spikes: 'none' } }));
  const texts = (await ctl.sock.next(9)).filter((m) => m.type === 'reward');
  assert.deepEqual(texts, [
    { type: 'reward', step: 2, reward: [2, 2, 2], source: 'step' },
    { type: 'reward', step: 3, reward: [3, 3, 3], source: 'deferred' },
    { type: 'reward', step: 4, reward: [0, 0, 0], source: 'implicit' },
    { type: 'reward', step: 5, reward: [0, 0, 0], source: 'step' },
  ]);
  const frames = await obs.next(4);
  assert.deepEqual(
    frames.map(({ binary: g }) => g.sections.map((s: any) => (s.type === 'copy' ? `copy ${s.copy}` : `${s.source} ${s.reward}`))),
    [
      ['copy 0', 'step 2', 'copy 1', 'step 2', 'copy 2', 'step 2'],
      ['copy 0', 'deferred 3', 'copy 1', 'deferred 3', 'copy 2', 'deferred 3'],
      ['copy 0', 'implicit 0', 'copy 1', 'implicit 0', 'copy 2', 'implicit 0'],
      ['copy 0', 'step 0', 'copy 1', 'step 0', 'copy 2', 'step 0'],
    ],
  );
  ctl.sock.ws.close();
  obs.ws.close();
});

test('copy selections a stream cannot take are refused naming the field, and change nothing', async () => {
  const { sock } = await open(NETWORK);
  const cases: [object, string, string, RegExp][] = [
    [{ stream: 'spikes', copies: [3] }, 'REQUEST_INVALID', 'copies[0]', /^copies\[0\]: must be a copy of the batch, an integer from 0 to 2/],
    [{ stream: 'potentials', copies: [0, 5] }, 'REQUEST_INVALID', 'copies[1]', /^copies\[1\]: must be a copy of the batch/],
    [{ stream: 'weights', copies: [0] }, 'REQUEST_INVALID', 'copies', /^copies: the weights stream has no copy selection \(the copies of a batch share their weights\)/],
    [{ stream: 'rewards', copies: [0] }, 'REQUEST_INVALID', 'copies', /^copies: the rewards stream has no copy selection/],
    [{ stream: 'spikes', copies: [] }, 'REQUEST_INVALID', 'copies', /copies/],
    [{ stream: 'spikes', copies: [1, 1] }, 'REQUEST_INVALID', 'copies', /copies/],
  ];
  for (const [sub, code, field, message] of cases) {
    const e = await ask(sock, { type: 'subscribe', ...sub });
    assert.equal(e.type, 'error', JSON.stringify(e));
    assert.equal(e.error.code, code, JSON.stringify(e));
    assert.equal(e.error.details.field, field, JSON.stringify(e));
    assert.match(e.error.message, message);
  }
  assert.deepEqual((await ask(sock, { type: 'unsubscribe' })).result, { streams: [], dropped: 0 }, 'no subscription was made');
  sock.ws.close();
});
