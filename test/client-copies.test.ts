/**
 * The TypeScript client drives a batch (model.md, "Batches"): REST steps
 * with inputs per copy, a deferred reward per copy, and a WebSocket step
 * whose JSON reply carries every copy's spikes.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
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
  await srv.rest.deleteSession(id);
});
