/**
 * Cluster mode on a real redis-server and three real nodes: every node
 * registers and sees the others (GET /v1/cluster); new sessions spread over
 * the nodes by free capacity (or go where the request pins them); the
 * seed's MSTDP task, its sessions created through one node and stepped
 * through all three in turn (HTTP) or through a node that does not own it
 * (WebSocket, proxied), follows exactly the single-process trajectory; and
 * every reply names the node that served it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RestClient } from '../src/client/index.js';
import { startCluster, type TestCluster } from './helpers/cluster.js';
import { SEED_MSTDP_NETWORK, playOnSocket, playSeedTask, referenceTrajectory } from './helpers/seed-mstdp-task.js';
import { request } from './helpers/server.js';

const TRIALS = 40;

let cluster: TestCluster;
before(async () => {
  cluster = await startCluster(3);
});
after(async () => {
  await cluster?.stop();
});

const reference = (seed: number) => referenceTrajectory(seed, TRIALS);

test('every node registers and sees the others; /v1/cluster lists them with their load', async () => {
  for (const node of cluster.nodes) {
    const r = await request(node.base, 'GET', '/v1/cluster');
    assert.equal(r.status, 200);
    assert.equal(r.body.mode, 'cluster');
    assert.equal(r.body.node, node.id);
    assert.equal(r.headers.get('spikeserve-node'), node.id);
    assert.deepEqual(r.body.nodes.map((n: { id: string }) => n.id), ['n1', 'n2', 'n3']);
    for (const n of r.body.nodes) {
      assert.equal(n.alive, true);
      assert.equal(n.url, cluster.nodes.find((x) => x.id === n.id)!.base);
    }
  }
});

test('the seed\'s MSTDP task on sessions created through one node and stepped through every node in turn gives the single-process trajectory', async () => {
  // Created one after the other: each placement sees the load the previous creation registered.
  const created: Awaited<ReturnType<typeof request>>[] = [];
  for (const seed of [1, 2, 3]) created.push(await request(cluster.nodes[0].base, 'POST', '/v1/sessions', { network: SEED_MSTDP_NETWORK, seed }));
  const owners = new Set(created.map((c) => c.headers.get('spikeserve-node')));
  await Promise.all(
    [1, 2, 3].map(async (seed, i) => {
      assert.equal(created[i].status, 201);
      const id: string = created[i].body.id;
      const fired: boolean[] = [];
      let turn = 0;
      const via = () => cluster.nodes[turn++ % 3].base;
      await playSeedTask(
        {
          step: async (pre) => {
            const r = await request(via(), 'POST', `/v1/sessions/${id}/step`, { inputs: { pre }, deferReward: true, return: { populations: ['post'] } });
            assert.equal(r.status, 200, JSON.stringify(r.body));
            fired.push(r.body.spikes.post[0].length > 0);
            return fired[fired.length - 1];
          },
          reward: async (reward) => {
            const r = await request(via(), 'POST', `/v1/sessions/${id}/reward`, { reward });
            assert.equal(r.status, 200, JSON.stringify(r.body));
          },
        },
        TRIALS,
        { seed },
      );
      const ref = await reference(seed);
      assert.deepEqual(fired, ref.fired);
      for (const node of cluster.nodes) {
        const w = await request(node.base, 'GET', `/v1/sessions/${id}/weights/pre_post`);
        assert.equal(w.status, 200);
        assert.deepEqual(w.body.weights, ref.weights);
        assert.equal(w.headers.get('spikeserve-node'), created[i].headers.get('spikeserve-node'), 'the reply names the owner, whichever node was asked');
      }
    }),
  );
  // Three sessions on three empty nodes: one each.
  assert.equal(owners.size, 3);
});

test('a request pinned to a node creates the session there', async () => {
  const r = await request(cluster.nodes[0].base, 'POST', '/v1/sessions', { network: SEED_MSTDP_NETWORK, seed: 9 }, { 'spikeserve-place-on': 'n3' });
  assert.equal(r.status, 201);
  assert.equal(r.headers.get('spikeserve-node'), 'n3');
  const view = await request(cluster.nodes[1].base, 'GET', '/v1/cluster');
  assert.ok(view.body.nodes.find((n: { id: string }) => n.id === 'n3').directorySessions >= 1);
  const gone = await request(cluster.nodes[1].base, 'DELETE', `/v1/sessions/${r.body.id}`);
  assert.equal(gone.status, 200);
  const after = await request(cluster.nodes[0].base, 'GET', `/v1/sessions/${r.body.id}`);
  assert.equal(after.status, 404);
  assert.equal(after.body.error.code, 'SESSION_NOT_FOUND');
});

test('the seed\'s MSTDP task over a WebSocket opened on a node that does not own the session (proxied) gives the single-process trajectory', async () => {
  const created = await request(cluster.nodes[0].base, 'POST', '/v1/sessions', { network: SEED_MSTDP_NETWORK, seed: 4 }, { 'spikeserve-place-on': 'n2' });
  assert.equal(created.status, 201);
  const id: string = created.body.id;
  for (const format of ['json', 'binary'] as const) {
    // A fresh session per format: both start from the same state.
    const sid = format === 'json' ? id : (await request(cluster.nodes[2].base, 'POST', '/v1/sessions', { network: SEED_MSTDP_NETWORK, seed: 4 }, { 'spikeserve-place-on': 'n2' })).body.id;
    const ws = await new RestClient(cluster.nodes[0].base).socket(sid, { format });
    const fired = await playOnSocket(ws, TRIALS, 4);
    await ws.close();
    const ref = await reference(4);
    assert.deepEqual(fired, ref.fired);
    const w = await request(cluster.nodes[2].base, 'GET', `/v1/sessions/${sid}/weights/pre_post`);
    assert.deepEqual(w.body.weights, ref.weights);
  }
});
