/**
 * QUOTA_STEPS_PER_S holds over the whole cluster, on a real redis-server and
 * two real nodes: a key's steps on both nodes come out of one bucket, with
 * the code and message of a single server, whichever node a call comes
 * through; another key has its own; while Redis does not answer, each node
 * counts the key's steps in a bucket of its own rather than stalling them.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ALICE, bearer, BOB, startCluster, type TestCluster } from './helpers/cluster.js';
import { request } from './helpers/server.js';

const NET = { populations: { a: { n: 2 }, b: { n: 2 } }, connections: { ab: { pre: 'a', post: 'b' } } };

let cluster: TestCluster;
before(async () => {
  // One step a second and a bucket of 100: within a test the bucket only drains.
  cluster = await startCluster(2, { API_KEYS: `alice:${ALICE},bob:${BOB}`, QUOTA_STEPS_PER_S: '1', QUOTA_STEPS_BURST: '100' }, { apiKey: ALICE });
});
after(async () => {
  await cluster?.stop();
});

async function created(key: string, on: string): Promise<string> {
  const r = await request(cluster.nodes[0].base, 'POST', '/v1/sessions', { network: NET }, { ...bearer(key), 'spikeserve-place-on': on });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(r.headers.get('spikeserve-node'), on);
  return r.body.id;
}

async function step(key: string, id: string, steps: number, via: number) {
  return request(cluster.nodes[via].base, 'POST', `/v1/sessions/${id}/step`, { steps, inputs: { a: 5 }, return: { spikes: 'none' } }, bearer(key));
}

function assertStepQuota(r: Awaited<ReturnType<typeof step>>, retryAtLeast: number): void {
  assert.equal(r.status, 429, JSON.stringify(r.body));
  assert.equal(r.body.error.code, 'QUOTA_EXCEEDED');
  assert.equal(r.body.error.details.quota, 'stepsPerSecond');
  assert.match(r.body.error.message, /quota of 1 network steps per second \(QUOTA_STEPS_PER_S\)/);
  assert.ok(Number(r.headers.get('retry-after')) >= retryAtLeast, `retry-after ${r.headers.get('retry-after')}`);
}

test('a key\'s steps on both nodes come out of one bucket, through either node; another key has its own', async () => {
  const onN1 = await created(ALICE, 'n1');
  const onN2 = await created(ALICE, 'n2');
  const bobs = await created(BOB, 'n2');
  assert.equal((await step(ALICE, onN1, 60, 0)).status, 200);
  // 40 left in the key's bucket: 60 more are refused on the other node too, with the wait the shortfall takes.
  assertStepQuota(await step(ALICE, onN2, 60, 1), 19);
  assert.equal((await step(BOB, bobs, 60, 1)).status, 200, 'another key');
  assert.equal((await step(ALICE, onN2, 30, 1)).status, 200);
  // About 10 left: a call through node 2 for node 1's session counts there, the same bucket.
  assertStepQuota(await step(ALICE, onN1, 30, 1), 19);
  assert.equal((await step(ALICE, onN1, 5, 1)).status, 200);
  const s = await request(cluster.nodes[0].base, 'GET', `/v1/sessions/${onN1}`, undefined, bearer(ALICE));
  assert.equal(s.body.step, 65, 'the refused calls ran no step');
});

test('while Redis does not answer, a node counts the key\'s steps in its own bucket; then the shared one again', async () => {
  const id = await created(BOB, 'n1');
  cluster.redis.pause();
  try {
    // Node 1's own bucket is full: 100 steps, then a refusal, each within a moment of Redis not answering.
    assert.equal((await step(BOB, id, 60, 0)).status, 200);
    assert.equal((await step(BOB, id, 40, 0)).status, 200);
    assertStepQuota(await step(BOB, id, 10, 0), 9);
  } finally {
    cluster.redis.resume();
  }
  // Redis answers again, and grants the leases asked while it was stopped to the node that asked: it holds 40 of
  // them (the bucket held too few for the first 60); the shared bucket (60 taken by the first test) is nearly empty.
  assert.equal((await step(BOB, id, 30, 0)).status, 200);
  assertStepQuota(await step(BOB, id, 30, 0), 10);
});
