/**
 * The TypeScript client drives a batch (model.md, "Batches"): REST steps
 * with inputs per copy, a deferred reward per copy, a WebSocket step whose
 * JSON reply carries every copy's spikes, and binary replies and events
 * that read as the JSON ones, copy by copy.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { StepBody } from '../src/api/step.js';
import type { SessionSocket } from '../src/client/index.js';
import { liveServer, type LiveServer } from './helpers/ws.js';

const network = {
  batch_size: 2,
  populations: { pre: { n: 2, refrac_length: 0 }, post: { n: 1, refrac_length: 0 } },
  connections: { pre_post: { pre: 'pre', post: 'post', w_max: 10, w: [[5], [5]], rule: { type: 'MSTDPET', lr: 0.5 } } },
};

let srv: LiveServer;
before(async () => {
  srv = await liveServer();
});
after(() => srv.close());

test('REST and WebSocket: inputs and rewards per copy, spikes per copy', async () => {
  const { id } = await srv.rest.createSession({ network });
  const r = await srv.rest.step(id, { steps: 30, inputs: { pre: [[100, 0], [0, 0]] }, deferReward: true, return: { spikes: 'counts' } });
  assert.deepEqual(r.copies, [0, 1]);
  assert.deepEqual((r.spikeCounts!.pre as number[][])[1], [0, 0], 'copy 1 had no input');
  assert.ok((r.spikeCounts!.pre as number[][])[0][0] > 0);
  assert.equal((await srv.rest.reward(id, [1, -1])).pending, false);
  const w = (await srv.rest.weights(id)).weights.pre_post;
  assert.ok(w[0][0] > 5, 'copy 0\'s reward potentiated what its spikes earned');
  const socket = await srv.rest.socket(id, { format: 'json' });
  const s = await socket.step({ inputs: { pre: [[0, 100], [100, 0]] } });
  assert.deepEqual(s.copies, [0, 1]);
  assert.equal((s.spikes!.pre[0] as number[][]).length, 2, 'one list per copy');
  await socket.close();
  // The state per copy: every copy, or those asked for.
  const state = await srv.rest.state(id);
  assert.deepEqual(state.copies, [0, 1]);
  assert.deepEqual(state.populations.pre.spikes, s.spikes!.pre[0]);
  const second = await srv.rest.state(id, [1]);
  assert.deepEqual(second.copies, [1]);
  assert.deepEqual(second.populations.post.v, [(state.populations.post.v as number[][])[1]]);
  await srv.rest.deleteSession(id);
});

test('WebSocket in binary: a batch\'s step replies and its spikes, potentials and rewards events read as the JSON ones', async () => {
  const [a, b] = [(await srv.rest.createSession({ network, seed: 3 })).id, (await srv.rest.createSession({ network, seed: 3 })).id];
  const json = await srv.rest.socket(a, { format: 'json' });
  const binary = await srv.rest.socket(b, { format: 'binary' });
  assert.equal(binary.hello.session.batchSize, 2);
  const seen = new Map<SessionSocket, unknown[]>([
    [json, []],
    [binary, []],
  ]);
  for (const [s, events] of seen) {
    s.on('spikes', (e) => events.push(e));
    s.on('potentials', (e) => events.push(e));
    s.on('reward', (e) => events.push(e));
    assert.deepEqual((await s.subscribe({ stream: 'spikes', copies: [1] })).copies, [1]);
    await s.subscribe({ stream: 'potentials' });
    await s.subscribe({ stream: 'rewards' });
  }
  const body: StepBody = { steps: 2, inputs: { pre: [[100, 0], [0, 100]] }, reward: [0.5, -0.5], return: { copies: [1, 0], potentials: true, weights: true } };
  const rj = await json.step(body);
  const rb = await binary.step(body);
  assert.deepEqual(rj.copies, [1, 0]);
  assert.deepEqual(rb, float32(rj));
  const counts: StepBody = { steps: 5, inputs: { pre: [100, 100] }, return: { spikes: 'counts' } };
  assert.deepEqual(await binary.step(counts), await json.step(counts));
  assert.equal(seen.get(json)!.length, 3 * 7, 'a spikes, a potentials and a reward event per step');
  assert.deepEqual(seen.get(binary), seen.get(json)!.map(float32));
  assert.deepEqual(seen.get(json)![2], { type: 'reward', step: 1, reward: [0.5, -0.5], source: 'step' });
  await json.close();
  await binary.close();
});

/** Potentials and weights as the float32 values binary frames carry. */
function float32<T>(r: T): T {
  const round = (x: unknown): unknown => (Array.isArray(x) ? x.map(round) : Math.fround(x as number));
  const out = { ...r } as Record<string, unknown>;
  for (const key of ['potentials', 'weights']) {
    if (out[key]) out[key] = Object.fromEntries(Object.entries(out[key] as Record<string, unknown>).map(([k, v]) => [k, round(v)]));
  }
  return out as T;
}
