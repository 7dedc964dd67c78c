/**
 * Cluster faults done for real, on a real redis-server and three node
 * processes, while clients play the seed's MSTDP task through the nodes
 * (test/helpers/cluster-player.ts: each command runs exactly once):
 *
 * - a rolling restart (SIGTERM each node in turn, start it again): each node
 *   moves its sessions to the others before it exits; no request fails, and
 *   every trajectory is exactly the single-process one;
 * - kill -9 of a session's node at a random moment: requests for it through
 *   the other nodes answer 503 SESSION_UNAVAILABLE with Retry-After, and once
 *   the node is back on its DATA_DIR the session continues exactly;
 * - a node that comes back with an old copy of a session that moved meanwhile
 *   is fenced: the copy is dropped, never written, and the session's requests
 *   through that node go to its new owner;
 * - Redis killed and started again empty: the nodes claim their sessions
 *   again, and the trajectories stay exact;
 * - a WebSocket whose session moves is closed with 1001, and the
 *   TypeScript client opens it again by itself and resumes in order: the
 *   trajectory is exact, and pipelined steps each run once.
 */
import assert from 'node:assert/strict';
import { cpSync, rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { RestClient } from '../src/client/index.js';
import { clusterPlayer } from './helpers/cluster-player.js';
import { startCluster, type TestCluster } from './helpers/cluster.js';
import { SEED_MSTDP_NETWORK, playSeedTask, referenceTrajectory } from './helpers/seed-mstdp-task.js';
import { request } from './helpers/server.js';

const TRIALS = 30;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let cluster: TestCluster;
before(async () => {
  cluster = await startCluster(3);
});
after(async () => {
  await cluster?.stop();
});

const all = () => cluster.nodes.map((n) => n.base);

async function create(seed: number, on: string, via = 0): Promise<string> {
  const r = await request(cluster.nodes[via].base, 'POST', '/v1/sessions', { network: SEED_MSTDP_NETWORK, seed }, { 'spikeserve-place-on': on });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(r.headers.get('spikeserve-node'), on);
  return r.body.id;
}

async function ownerOf(id: string, via = 0): Promise<string | null> {
  const r = await request(cluster.nodes[via].base, 'GET', `/v1/sessions/${id}`);
  return r.status === 200 ? r.headers.get('spikeserve-node') : null;
}

async function finalWeights(id: string): Promise<number[][]> {
  const w = await request(cluster.nodes[0].base, 'GET', `/v1/sessions/${id}/weights/pre_post`);
  assert.equal(w.status, 200);
  return w.body.weights;
}

test('a rolling restart of every node while clients step: sessions move off each node before it stops, no request fails, trajectories exact', async () => {
  const seeds = [11, 12, 13];
  const ids = await Promise.all(seeds.map((seed, i) => create(seed, `n${i + 1}`)));
  const plays = ids.map((id) => clusterPlayer(all, id));
  const done = Promise.all(plays.map(({ player }, i) => playSeedTask(player, TRIALS, { seed: seeds[i] })));
  for (let i = 0; i < 3; i++) {
    await sleep(300);
    const server = cluster.nodes[i].server!;
    const exited = await cluster.kill(i, 'SIGTERM');
    assert.equal(exited.code, 0, server.errors());
    const drained = server.lines().find((l) => l.msg === 'drained: sessions moved to the other nodes');
    assert.ok(drained, 'the node drained before it stopped');
    assert.equal(drained.stayed, 0, 'no session stayed behind');
    await cluster.start(i);
    await cluster.waitAlive(['n1', 'n2', 'n3'], (i + 1) % 3);
  }
  await done;
  for (let i = 0; i < 3; i++) {
    const { log } = plays[i];
    assert.deepEqual(log.failures, [], 'no request failed');
    const ref = await referenceTrajectory(seeds[i], TRIALS);
    assert.deepEqual(log.fired, ref.fired);
    assert.deepEqual(await finalWeights(ids[i]), ref.weights);
  }
});

test('kill -9 of a session\'s node at a random moment: 503 SESSION_UNAVAILABLE with Retry-After through the other nodes, then exact once it is back', async () => {
  const id = await create(21, 'n1', 1);
  const others = () => [cluster.nodes[1].base, cluster.nodes[2].base];
  const { player, log } = clusterPlayer(others, id);
  const done = playSeedTask(player, TRIALS, { seed: 21 });
  const at = 200 + Math.floor(Math.random() * 1500);
  await sleep(at);
  await cluster.kill(0, 'SIGKILL');
  // Long enough for its registration to expire: the others then know it is down.
  await sleep(1500);
  await cluster.start(0);
  await done;
  assert.ok(log.unavailable > 0, `requests through the other nodes got SESSION_UNAVAILABLE while n1 was down (killed after ${at} ms)`);
  assert.deepEqual(log.failures, []);
  const ref = await referenceTrajectory(21, TRIALS);
  assert.deepEqual(log.fired, ref.fired, `killed after ${at} ms`);
  assert.deepEqual(await finalWeights(id), ref.weights);
  assert.equal(await ownerOf(id, 2), 'n1');
});

test('a node back with an old copy of a session that moved while it was away is fenced: the copy is dropped, requests go to the new owner', async () => {
  const id = await create(31, 'n1');
  const { player, log } = clusterPlayer(all, id);
  await playSeedTask(player, 5, { seed: 31 });
  // The old copy: n1's DATA_DIR as it was before the session moved.
  await cluster.kill(0, 'SIGKILL');
  const stale = `${cluster.nodes[0].dataDir}-stale`;
  cpSync(cluster.nodes[0].dataDir, stale, { recursive: true });
  await cluster.start(0);
  await cluster.waitAlive(['n1', 'n2', 'n3']);
  const drainedAway = await cluster.kill(0, 'SIGTERM');
  assert.equal(drainedAway.code, 0);
  const owner = await ownerOf(id, 1);
  assert.ok(owner === 'n2' || owner === 'n3', `moved to ${owner}`);
  rmSync(cluster.nodes[0].dataDir, { recursive: true, force: true });
  cpSync(stale, cluster.nodes[0].dataDir, { recursive: true });
  rmSync(stale, { recursive: true, force: true });
  await cluster.start(0);
  await cluster.waitAlive(['n1', 'n2', 'n3']);
  assert.ok(cluster.nodes[0].server!.lines().some((l) => l.sessionId === id && String(l.msg).includes('fenced')), 'n1 found its copy stale');
  // Through n1 itself: served by the new owner, and the trajectory goes on from where the new owner has it.
  const direct = await request(cluster.nodes[0].base, 'GET', `/v1/sessions/${id}`);
  assert.equal(direct.headers.get('spikeserve-node'), owner);
  // Five more trials through n1 only: the task goes on from the new owner's copy (the first five trials' draws are replayed unsent).
  const rest = clusterPlayer(() => [cluster.nodes[0].base], id, log.fired.length);
  const ref = await referenceTrajectory(31, 10);
  let steps = 0;
  let rewards = 0;
  await playSeedTask(
    {
      step: (pre) => (steps < log.fired.length ? log.fired[steps++] : rest.player.step(pre)),
      reward: async (r) => {
        if (rewards++ < log.fired.length) return;
        await rest.player.reward(r);
      },
    },
    10,
    { seed: 31 },
  );
  const fired = [...log.fired, ...rest.log.fired];
  assert.deepEqual(fired, ref.fired);
  assert.deepEqual(await finalWeights(id), ref.weights);
  const view = await request(cluster.nodes[0].base, 'GET', '/v1/cluster');
  assert.equal(view.body.nodes.find((n: { id: string }) => n.id === 'n1').sessions, 0, 'n1 holds no copy');
});

test('Redis killed and started again empty mid-run: the nodes claim their sessions again and the trajectories stay exact', async () => {
  const seeds = [41, 42, 43];
  const ids = await Promise.all(seeds.map((seed, i) => create(seed, `n${i + 1}`)));
  const plays = ids.map((id) => clusterPlayer(all, id));
  const done = Promise.all(plays.map(({ player }, i) => playSeedTask(player, TRIALS, { seed: seeds[i] })));
  await sleep(800);
  await cluster.redis.restart();
  await done;
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(plays[i].log.failures, []);
    const ref = await referenceTrajectory(seeds[i], TRIALS);
    assert.deepEqual(plays[i].log.fired, ref.fired);
    assert.deepEqual(await finalWeights(ids[i]), ref.weights);
  }
  await cluster.waitAlive(['n1', 'n2', 'n3']);
  for (let i = 0; i < 3; i++) assert.equal(await ownerOf(ids[i], (i + 1) % 3), `n${i + 1}`);
});

test('the TypeScript client\'s WebSocket, opened through another node, is closed with 1001 when its session moves (its node drains), opens again by itself and resumes in order: the trajectory is exact', async () => {
  const id = await create(51, 'n3');
  const rest = new RestClient(cluster.nodes[0].base);
  const ws = await rest.socket(id, { format: 'binary' });
  const drops: { code: number; reason: string; at: number }[] = [];
  const fired: boolean[] = [];
  ws.on('reconnect', (e) => drops.push({ ...e, at: fired.length }));
  let stopping: ReturnType<TestCluster['kill']> | null = null;
  await playSeedTask(
    {
      step: async (pre) => {
        // Half way: n3 drains while the task goes on; the socket drops as the session leaves it.
        if (fired.length === 250) stopping = cluster.kill(2, 'SIGTERM');
        // On a loaded machine the drain may not have reached the socket yet: the
        // last steps wait for it, so that the drop still comes while the task runs.
        for (let waited = 0; fired.length === 450 && drops.length === 0; waited += 20) {
          assert.ok(waited < 120_000, 'the drain dropped the socket');
          await sleep(20);
        }
        const r = await ws.step({ inputs: { pre }, deferReward: true, return: { populations: ['post'] } });
        fired.push(r.spikes!.post[0].length > 0);
        return fired[fired.length - 1];
      },
      reward: async (reward) => {
        await ws.reward(reward);
      },
    },
    10,
    { seed: 51 },
  );
  assert.equal((await stopping!)!.code, 0);
  assert.equal(drops.length, 1, 'one drop, one reconnection');
  assert.equal(drops[0].code, 1001);
  assert.match(drops[0].reason, /^SHUTTING_DOWN: the session is moving/);
  assert.ok(drops[0].at < fired.length, `the drop came while the task ran (after ${drops[0].at} of ${fired.length} steps)`);
  assert.equal(ws.reconnects, 1);
  await ws.close();
  const ref = await referenceTrajectory(51, 10);
  assert.deepEqual(fired, ref.fired);
  assert.deepEqual(await finalWeights(id), ref.weights);
  const owner = await ownerOf(id, 1);
  assert.ok(owner === 'n1' || owner === 'n2', `moved to ${owner}`);
  await cluster.start(2);
  await cluster.waitAlive(['n1', 'n2', 'n3']);
});

test('the TypeScript client resumes pipelined commands in order across a drain: each step runs once, and the replies come in order', async () => {
  const id = await create(52, 'n3');
  const ws = await new RestClient(cluster.nodes[1].base).socket(id);
  const replies: Promise<{ step: number }>[] = [];
  // Steps go on until the drain has dropped the socket and 100 more were sent
  // after it: on a loaded machine the drain can take longer than a fixed count.
  let afterDrop = 0;
  for (let i = 0; afterDrop < 100; i++) {
    if (i === 100) void cluster.kill(2, 'SIGTERM');
    replies.push(ws.step({ steps: 3, inputs: { pre: [100, 0] } }));
    if (i % 50 === 49) await replies[i].catch(() => undefined);
    if (ws.reconnects > 0) afterDrop++;
    assert.ok(i < 100_000, 'the drain dropped the socket');
  }
  const steps: (number | null)[] = [];
  const lost: unknown[] = [];
  for (const r of replies) {
    try {
      steps.push((await r).step);
    } catch (e) {
      // A step that ran but whose reply the drop took: told, never run twice.
      assert.equal((e as { code?: string }).code, 'COMMAND_LOST');
      assert.equal((e as { details?: { applied?: unknown } }).details?.applied, true);
      lost.push(e);
      steps.push(null);
    }
  }
  assert.ok(ws.reconnects >= 1);
  // Each reply says where the session was after its step: the i-th step ran i-th, once (a lost reply's step too).
  steps.forEach((s, i) => assert.ok(s === null || s === (i + 1) * 3, `reply ${i}: step ${s}, not ${(i + 1) * 3}`));
  const r = await request(cluster.nodes[0].base, 'GET', `/v1/sessions/${id}`);
  assert.equal(r.body.step, 3 * replies.length, `each of the ${replies.length} steps ran exactly once`);
  await ws.close();
  await cluster.start(2);
  await cluster.waitAlive(['n1', 'n2', 'n3']);
});
