/**
 * GET /v1/sessions spans the cluster, on a real redis-server and two real
 * nodes: a key sees its sessions on every node, through either node, oldest
 * first, page by page with the cursor; another key's sessions stay out; and
 * while a node is down the reply names it in unavailableNodes, its sessions
 * missing from the page but counted in total.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ALICE, bearer, BOB, keyedClusterForTests } from './helpers/cluster.js';
import { request } from './helpers/server.js';

const NET = { populations: { a: { n: 2 }, b: { n: 1 } }, connections: { ab: { pre: 'a', post: 'b' } } };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cluster = keyedClusterForTests(2);

async function create(key: string, on: string, name: string): Promise<string> {
  const r = await request(cluster().nodes[0].base, 'POST', '/v1/sessions', { network: NET, name }, { ...bearer(key), 'spikeserve-place-on': on });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id;
}

async function list(key: string, via: number, query = '') {
  const r = await request(cluster().nodes[via].base, 'GET', `/v1/sessions${query}`, undefined, bearer(key));
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as { sessions: { id: string; name: string; createdAt: string }[]; next: string | null; total: number; unavailableNodes: string[] };
}

/** Every page, following next. */
async function allPages(key: string, via: number, limit: number) {
  const pages = [];
  let cursor: string | null = null;
  do {
    const page = await list(key, via, `?limit=${limit}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
    pages.push(page);
    cursor = page.next;
  } while (cursor !== null && pages.length < 20);
  return pages;
}

const aliceIds: string[] = [];

test('a key lists its sessions of both nodes through either node, oldest first, in pages; another key\'s stay out', async () => {
  for (let i = 0; i < 5; i++) {
    aliceIds.push(await create(ALICE, i % 2 === 0 ? 'n1' : 'n2', `alice-${i}`));
    // Creation times apart, so that oldest first is the order they were created in.
    await sleep(5);
  }
  const bobIds = [await create(BOB, 'n2', 'bob-0'), await create(BOB, 'n1', 'bob-1')];
  for (const via of [0, 1]) {
    const whole = await list(ALICE, via);
    assert.deepEqual(whole.sessions.map((s) => s.id), aliceIds, `through n${via + 1}`);
    assert.equal(whole.total, 5);
    assert.equal(whole.next, null);
    assert.deepEqual(whole.unavailableNodes, []);
    const pages = await allPages(ALICE, via, 2);
    assert.deepEqual(pages.map((p) => p.sessions.length), [2, 2, 1]);
    assert.deepEqual(pages.flatMap((p) => p.sessions.map((s) => s.id)), aliceIds);
    for (const p of pages) assert.equal(p.total, 5);
    const bob = await list(BOB, via);
    assert.deepEqual(bob.sessions.map((s) => s.id), bobIds);
    assert.equal(bob.total, 2);
  }
  for (const id of bobIds) assert.equal((await request(cluster().nodes[0].base, 'DELETE', `/v1/sessions/${id}`, undefined, bearer(BOB))).status, 200);
});

test('a page cursor stays good when a session moves between pages (its node drains)', async () => {
  const first = await list(ALICE, 0, '?limit=2');
  const drained = await cluster().kill(1, 'SIGTERM');
  try {
    assert.equal(drained.code, 0);
    // n2's sessions are on n1 now, and n2 has left: it is not asked.
    const rest = await list(ALICE, 0, `?limit=10&cursor=${encodeURIComponent(first.next!)}`);
    assert.deepEqual([...first.sessions, ...rest.sessions].map((s) => s.id), aliceIds);
    assert.deepEqual(rest.unavailableNodes, []);
  } finally {
    // Back for the tests after this one, whatever this one found.
    await cluster().start(1);
    await cluster().waitAlive(['n1', 'n2']);
  }
});

test('while a node is down the listing names it: its sessions are missing from the page but counted in total', async () => {
  const onN2 = [await create(ALICE, 'n2', 'alice-5'), await create(ALICE, 'n2', 'alice-6')];
  await cluster().kill(1, 'SIGKILL');
  for (const wait of [0, 1000]) {
    // Right after the kill (its registration still current, its port closed), then once its registration has expired.
    await sleep(wait);
    const r = await list(ALICE, 0);
    assert.deepEqual(r.unavailableNodes, ['n2']);
    assert.deepEqual(r.sessions.map((s) => s.id), aliceIds);
    assert.equal(r.total, 7);
  }
  await cluster().start(1);
  await cluster().waitAlive(['n1', 'n2']);
  const back = await list(ALICE, 0);
  assert.deepEqual(back.unavailableNodes, []);
  assert.deepEqual(back.sessions.map((s) => s.id), [...aliceIds, ...onN2]);
});

test('a cursor not of this listing is refused with REQUEST_INVALID', async () => {
  const r = await request(cluster().nodes[0].base, 'GET', '/v1/sessions?cursor=12', undefined, bearer(ALICE));
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, 'REQUEST_INVALID');
  assert.equal(r.body.error.details.field, 'cursor');
});
