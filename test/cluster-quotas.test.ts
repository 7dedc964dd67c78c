/**
 * An API key's quotas (QUOTA_SESSIONS, QUOTA_SYNAPSES) hold over the whole
 * cluster, on a real redis-server and two real nodes: a key's sessions on
 * both nodes count together, with the codes and messages of a single server;
 * a session that moves is counted once; the sessions of a node killed with
 * -9 still count; and after Redis restarts without its data, the nodes count
 * their sessions again before the quota admits anything.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ALICE, bearer, BOB, startCluster, type TestCluster } from './helpers/cluster.js';
import { request } from './helpers/server.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// 2 x 2 = 4 synapses.
const SMALL = { populations: { a: { n: 2 }, b: { n: 2 } }, connections: { ab: { pre: 'a', post: 'b' } } };
// 4 x 4 = 16 synapses.
const LARGE = { populations: { a: { n: 4 }, b: { n: 4 } }, connections: { ab: { pre: 'a', post: 'b' } } };

let cluster: TestCluster;
before(async () => {
  cluster = await startCluster(2, { API_KEYS: `alice:${ALICE},bob:${BOB}`, QUOTA_SESSIONS: '3', QUOTA_SYNAPSES: '20' }, { apiKey: ALICE });
  // A new Redis cannot be told from one that lost its data: creations wait out the nodes' first count, as after a Redis restart.
  await remove(BOB, (await createdOnceCounted(BOB, 'n1')).body.id);
});
after(async () => {
  await cluster?.stop();
});

async function create(key: string, on: string, via = 0, network: object = SMALL) {
  return request(cluster.nodes[via].base, 'POST', '/v1/sessions', { network }, { ...bearer(key), 'spikeserve-place-on': on });
}

async function created(key: string, on: string, via = 0): Promise<string> {
  const r = await create(key, on, via);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(r.headers.get('spikeserve-node'), on);
  return r.body.id;
}

async function remove(key: string, id: string, via = 0): Promise<void> {
  const r = await request(cluster.nodes[via].base, 'DELETE', `/v1/sessions/${id}`, undefined, bearer(key));
  assert.equal(r.status, 200, JSON.stringify(r.body));
}

function assertSessionQuota(r: Awaited<ReturnType<typeof create>>): void {
  assert.equal(r.status, 429, JSON.stringify(r.body));
  assert.equal(r.body.error.code, 'QUOTA_EXCEEDED');
  assert.equal(r.body.error.details.quota, 'sessions');
  assert.equal(r.body.error.details.max, 3);
  assert.match(r.body.error.message, /quota of 3 sessions \(QUOTA_SESSIONS\)/);
}

test('QUOTA_SESSIONS counts a key\'s sessions on both nodes together, through either node; another key has its own; a deletion frees one', async () => {
  const ids = [await created(ALICE, 'n1'), await created(ALICE, 'n2'), await created(ALICE, 'n2', 0)];
  // n1 holds one of alice's sessions: only the cluster's count says she is at her quota.
  for (const [on, via] of [['n1', 0], ['n1', 1], ['n2', 0]] as const) assertSessionQuota(await create(ALICE, on, via));
  const bob = await created(BOB, 'n1');
  await remove(ALICE, ids[1], 0);
  const again = await created(ALICE, 'n1', 1);
  assertSessionQuota(await create(ALICE, 'n2'));
  for (const id of [ids[0], ids[2], again]) await remove(ALICE, id, 1);
  await remove(BOB, bob);
});

test('QUOTA_SYNAPSES sums a key\'s synapses over both nodes', async () => {
  const a = await created(BOB, 'n1');
  const b = await created(BOB, 'n2');
  const r = await create(BOB, 'n1', 1, LARGE);
  assert.equal(r.status, 429, JSON.stringify(r.body));
  assert.equal(r.body.error.code, 'QUOTA_EXCEEDED');
  assert.equal(r.body.error.details.quota, 'synapses');
  assert.equal(r.body.error.details.value, 24);
  assert.equal(r.body.error.details.max, 20);
  assert.match(r.body.error.message, /16 synapses would take this API key past its quota of 20 synapses over its sessions \(QUOTA_SYNAPSES; 8 in use\)/);
  await remove(BOB, a);
  const large = await create(BOB, 'n1', 1, LARGE);
  assert.equal(large.status, 201, JSON.stringify(large.body));
  await remove(BOB, b);
  await remove(BOB, large.body.id);
});

test('a session that moves (its node drains) counts once; the sessions of a node killed with -9 still count', async () => {
  const ids = [await created(ALICE, 'n1'), await created(ALICE, 'n2'), await created(ALICE, 'n2')];
  const drained = await cluster.kill(1, 'SIGTERM');
  assert.equal(drained.code, 0);
  await cluster.start(1);
  await cluster.waitAlive(['n1', 'n2']);
  // All three are on n1 now, counted three times, not five: one deleted leaves room for exactly one.
  for (const id of ids) assert.equal((await request(cluster.nodes[1].base, 'GET', `/v1/sessions/${id}`, undefined, bearer(ALICE))).headers.get('spikeserve-node'), 'n1');
  assertSessionQuota(await create(ALICE, 'n2', 1));
  await remove(ALICE, ids[0], 1);
  const moved = await created(ALICE, 'n2', 0);
  assertSessionQuota(await create(ALICE, 'n1'));
  // n2 dies with one of alice's sessions on its disk: it comes back with it, so it still counts.
  await cluster.kill(1, 'SIGKILL');
  await sleep(1000);
  assertSessionQuota(await create(ALICE, 'n1'));
  await cluster.start(1);
  await cluster.waitAlive(['n1', 'n2']);
  assertSessionQuota(await create(ALICE, 'n1'));
  for (const id of [ids[1], ids[2], moved]) await remove(ALICE, id, 0);
});

/** Creates, retrying while the nodes are still counting their sessions (503 SESSION_UNAVAILABLE with Retry-After). */
async function createdOnceCounted(key: string, on: string) {
  let r = await create(key, on);
  for (let t = 0; r.status === 503 && t < 200; t++) {
    assert.equal(r.body.error.code, 'SESSION_UNAVAILABLE');
    assert.match(r.body.error.message, /counting its sessions again/);
    assert.ok(Number(r.headers.get('retry-after')) > 0);
    await sleep(100);
    r = await create(key, on);
  }
  return r;
}

test('Redis restarted without its data: the nodes count their sessions again, and the quota holds as before', async () => {
  const ids = [await created(ALICE, 'n1'), await created(ALICE, 'n2'), await created(ALICE, 'n2')];
  await cluster.redis.restart();
  // Until every node has had time to claim its sessions again, a creation the quotas bound is not admitted on short counts.
  assertSessionQuota(await createdOnceCounted(ALICE, 'n1'));
  await remove(ALICE, ids[0], 1);
  const again = await createdOnceCounted(ALICE, 'n1');
  assert.equal(again.status, 201, JSON.stringify(again.body));
  assertSessionQuota(await create(ALICE, 'n2'));
  for (const id of [ids[1], ids[2], again.body.id]) await remove(ALICE, id);
});
