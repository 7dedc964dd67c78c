/**
 * POST /v1/batch/step spans the cluster, on a real redis-server and two real
 * nodes: items of sessions on either node, sent through either node, each
 * run by its session's owner in the request's order, the replies in the
 * request's order and bit for bit those of single steps; per-item errors
 * stay per item; and an item whose node was killed with -9 gets
 * SESSION_UNAVAILABLE while the others run.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ALICE, bearer, BOB, keyedClusterForTests } from './helpers/cluster.js';
import { request } from './helpers/server.js';

const NET = {
  dt: 0.1,
  populations: { pre: { n: 2, refrac_length: 0 }, post: { n: 1, refrac_length: 0 } },
  connections: { pre_post: { pre: 'pre', post: 'post', w_min: 0, w_max: 10, rule: { type: 'MSTDP', lr: [0.0003, 0.0002] } } },
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cluster = keyedClusterForTests(2);

async function create(key: string, on: string): Promise<string> {
  const r = await request(cluster().nodes[0].base, 'POST', '/v1/sessions', { network: NET, seed: 1 }, { ...bearer(key), 'spikeserve-place-on': on });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id;
}

const ITEMS = (a: string, b: string, c: string) => [
  { id: a, inputs: { pre: [100, 0] }, steps: 3, reward: 1, return: { potentials: true } },
  { id: b, inputs: { pre: [0, 100] }, steps: 2, return: { spikes: 'counts' } },
  { id: a, inputs: { pre: [0, 100] }, deferReward: true, return: { spikes: 'counts' } },
  { id: c, inputs: { pre: [100, 100] }, steps: 4, return: { weights: true } },
  { id: b, inputs: { pre: [100, 0] }, reward: 0.5, return: { spikes: 'steps' } },
];

test('items of sessions on both nodes, through either node: each runs on its owner, in order, as single steps would', async () => {
  for (const via of [0, 1]) {
    const [a, b, c] = [await create(ALICE, 'n1'), await create(ALICE, 'n2'), await create(ALICE, 'n2')];
    const twins = [await create(ALICE, 'n1'), await create(ALICE, 'n1'), await create(ALICE, 'n1')];
    const r = await request(cluster().nodes[via].base, 'POST', '/v1/batch/step', { items: ITEMS(a, b, c) }, bearer(ALICE));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.headers.get('spikeserve-node'), `n${via + 1}`);
    // The same items as single steps, one by one, on sessions of the same seed.
    const expected = [];
    for (const { id, ...body } of ITEMS(twins[0], twins[1], twins[2])) {
      const single = await request(cluster().nodes[0].base, 'POST', `/v1/sessions/${id}/step`, body, bearer(ALICE));
      assert.equal(single.status, 200);
      expected.push({ ok: true, result: single.body });
    }
    assert.deepEqual(r.body.results, expected);
    assert.deepEqual(r.body.results.map((x: { result: { step: number } }) => x.result.step), [3, 2, 4, 4, 3]);
  }
});

test('per-item errors stay per item across nodes: an unknown id, another key\'s session, a bad input', async () => {
  const a = await create(ALICE, 'n1');
  const b = await create(ALICE, 'n2');
  const bobs = await create(BOB, 'n2');
  // A new cluster answers an unknown id with 503 (not yet 404) until every node has had time to claim its sessions.
  for (let t = 0; t < 100 && (await request(cluster().nodes[0].base, 'GET', '/v1/sessions/no-such-session', undefined, bearer(ALICE))).status === 503; t++) await sleep(100);
  const r = await request(
    cluster().nodes[0].base,
    'POST',
    '/v1/batch/step',
    {
      items: [
        { id: b, inputs: { pre: [1, 2, 3] } },
        { id: 'no-such-session' },
        { id: bobs },
        { id: a },
        { id: b },
      ],
    },
    bearer(ALICE),
  );
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const codes = r.body.results.map((x: { ok: boolean; error?: { code: string } }) => (x.ok ? 'ok' : x.error!.code));
  assert.deepEqual(codes, ['INPUT_INVALID', 'SESSION_NOT_FOUND', 'SESSION_NOT_FOUND', 'ok', 'ok']);
  assert.equal(r.body.results[4].result.step, 1, 'the refused item of b changed nothing');
  const bob = await request(cluster().nodes[1].base, 'GET', `/v1/sessions/${bobs}`, undefined, bearer(BOB));
  assert.equal(bob.body.step, 0, 'another key\'s session was not stepped');
});

test('an item whose node was killed with -9 gets SESSION_UNAVAILABLE; the other items run', async () => {
  const a = await create(ALICE, 'n1');
  const b = await create(ALICE, 'n2');
  await cluster().kill(1, 'SIGKILL');
  for (const wait of [0, 1000]) {
    // Right after the kill (its port closed, its registration current), then once its registration has expired.
    await sleep(wait);
    const r = await request(cluster().nodes[0].base, 'POST', '/v1/batch/step', { items: [{ id: a }, { id: b }, { id: a }] }, bearer(ALICE));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const [first, lost, second] = r.body.results;
    assert.equal(first.ok, true);
    assert.equal(second.ok, true);
    assert.equal(second.result.step, first.result.step + 1);
    assert.equal(lost.ok, false);
    assert.equal(lost.error.code, 'SESSION_UNAVAILABLE');
    assert.equal(lost.error.details.node, 'n2');
    assert.equal(lost.error.details.retryAfterSeconds, 2);
  }
  await cluster().start(1);
  await cluster().waitAlive(['n1', 'n2']);
  const r = await request(cluster().nodes[0].base, 'POST', '/v1/batch/step', { items: [{ id: b }] }, bearer(ALICE));
  assert.equal(r.body.results[0].result.step, 1, 'back with its node, where it was');
});
