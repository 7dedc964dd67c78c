/**
 * A request through a node that does not own its session is answered as the
 * owner answers it directly, on a real redis-server and two real nodes with
 * API keys: every endpoint of a session, on every way of writing its path
 * (test/helpers/paths.ts), with no key, a wrong key, another key and the
 * owner's, from a browser of another origin, with a Host not allowed, gets
 * the same status and error code through either node. What the node asked
 * refuses before anything reaches the owner (no key or a wrong one, a Host
 * or origin it does not allow), it refuses itself, passing nothing on;
 * what it serves, the owner serves (its reply names it). Sent over raw
 * HTTP, so that each path reaches the nodes exactly as written.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ALICE, BOB, startCluster, type TestCluster } from './helpers/cluster.js';
import { variants } from './helpers/paths.js';
import { rawRequest, type RawReply } from './helpers/raw-http.js';

const WRONG = 'wrong-secret-0123456789ab';
const NET = { populations: { a: { n: 2 }, b: { n: 1 } }, connections: { ab: { pre: 'a', post: 'b' } } };

let cluster: TestCluster;
let id: string;
before(async () => {
  cluster = await startCluster(2, { API_KEYS: `alice:${ALICE},bob:${BOB}`, ALLOWED_HOSTS: 'spikeserve.test' }, { apiKey: ALICE });
  const created = await rawRequest(cluster.nodes[0].port, '/v1/sessions', { method: 'POST', key: ALICE, body: { network: NET }, headers: { 'spikeserve-place-on': 'n1' } });
  assert.equal(created.status, 201, created.body);
  id = created.json.id;
  // n2 finds the owner once (in Redis) and remembers it: the requests below are those it passes on from memory.
  const first = await rawRequest(cluster.nodes[1].port, `/v1/sessions/${id}`, { key: ALICE });
  assert.equal(first.status, 200, first.body);
  assert.equal(first.headers['spikeserve-node'], 'n1');
  // A session missing from the directory is "not yet" (503) until every node
  // has had time to claim its sessions in this Redis, a few seconds after
  // the cluster first met it; the answers compared below are settled ones.
  const unknown = '/v1/sessions/00000000-0000-4000-8000-000000000000';
  for (const n of cluster.nodes) {
    const deadline = Date.now() + 20_000;
    let r = await rawRequest(n.port, unknown, { key: ALICE });
    while (r.status === 503 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      r = await rawRequest(n.port, unknown, { key: ALICE });
    }
    assert.equal(r.status, 404, r.body);
  }
});
after(async () => {
  await cluster?.stop();
});

const outcome = (r: RawReply) => `${r.status} ${r.json?.error?.code ?? ''}`;

/**
 * The answer once it is not a 503: that one says "retry" (a node waiting on
 * Redis on a loaded machine), and a client retries it, up to three times here.
 */
async function answered(port: number, path: string, opts: Parameters<typeof rawRequest>[2]): Promise<RawReply> {
  let r = await rawRequest(port, path, opts);
  for (let retry = 0; retry < 3 && r.status === 503; retry++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    r = await rawRequest(port, path, opts);
  }
  return r;
}

/** [method, path, body] of every endpoint of the session (its deletion last). */
const endpoints = (): [string, string, unknown][] => [
  ['GET', `/v1/sessions/${id}`, undefined],
  ['GET', `/v1/sessions/${id}/state`, undefined],
  ['GET', `/v1/sessions/${id}/snapshot`, undefined],
  ['HEAD', `/v1/sessions/${id}/snapshot`, undefined],
  ['GET', `/v1/sessions/${id}/weights`, undefined],
  ['GET', `/v1/sessions/${id}/weights/ab`, undefined],
  ['PUT', `/v1/sessions/${id}/weights/ab`, { weights: [[0.25], [0.5]] }],
  ['POST', `/v1/sessions/${id}/step`, { steps: 2 }],
  ['POST', `/v1/sessions/${id}/reward`, { reward: 1 }],
  ['POST', `/v1/sessions/${id}/reset`, { weights: true }],
  ['POST', `/v1/sessions/${id}/ws-ticket`, undefined],
  ['DELETE', `/v1/sessions/${id}`, undefined],
];

test('every endpoint of a session, on every way of writing its path, with every key: the same answer through either node', async () => {
  const [owner, other] = cluster.nodes.map((n) => n.port);
  const differ: string[] = [];
  const misplaced: string[] = [];
  for (const [method, path, body] of endpoints()) {
    for (const p of [path, ...variants(path)]) {
      // The owner's key is sent last, and never to delete: the session stays for the next endpoint.
      const keys: [string, string | undefined][] = [['no key', undefined], ['a wrong key', WRONG], ['another key', BOB]];
      if (method !== 'DELETE') keys.push(['the owner\'s key', ALICE]);
      for (const [who, key] of keys) {
        const direct = await answered(owner, p, { method, key, body });
        const through = await answered(other, p, { method, key, body });
        if (outcome(direct) !== outcome(through)) differ.push(`${method} ${p} with ${who}: ${outcome(direct)} from its owner, ${outcome(through)} through n2`);
        // Refused for want of a valid key by the node asked (which names itself), never passed on; served by the owner.
        const by = through.headers['spikeserve-node'];
        if (through.status === 401 ? by !== 'n2' : through.status < 300 && by !== 'n1') misplaced.push(`${method} ${p} with ${who}: ${outcome(through)} from ${by}`);
      }
    }
  }
  assert.deepEqual(differ, []);
  assert.deepEqual(misplaced, []);
});

test('a browser of another origin, or a Host not allowed: refused by the node asked, as by the owner', async () => {
  const [owner, other] = cluster.nodes.map((n) => n.port);
  const created = await rawRequest(owner, '/v1/sessions', { method: 'POST', key: ALICE, body: { network: NET }, headers: { 'spikeserve-place-on': 'n1' } });
  const sid = created.json.id;
  assert.equal((await rawRequest(other, `/v1/sessions/${sid}`, { key: ALICE })).status, 200);
  const cases: [string, string, Record<string, string>, string][] = [
    ['POST', `/v1/sessions/${sid}/step`, { origin: 'http://evil.example' }, 'ORIGIN_NOT_ALLOWED'],
    ['POST', `/v1/sessions/${sid}/step`, { host: 'evil.example' }, 'HOST_NOT_ALLOWED'],
    ['GET', `/v1/sessions/${sid}/state`, { host: 'evil.example' }, 'HOST_NOT_ALLOWED'],
  ];
  for (const [method, path, headers, code] of cases) {
    const direct = await rawRequest(owner, path, { method, key: ALICE, body: method === 'POST' ? { steps: 1 } : undefined, headers });
    const through = await rawRequest(other, path, { method, key: ALICE, body: method === 'POST' ? { steps: 1 } : undefined, headers });
    assert.equal(direct.json?.error?.code, code, direct.body);
    assert.equal(through.json?.error?.code, code, through.body);
    assert.equal(through.status, direct.status);
    assert.equal(through.headers['spikeserve-node'], 'n2', 'refused by the node asked, not passed on');
    assert.equal(direct.headers['spikeserve-node'], 'n1');
  }
  // Nothing ran: the session is at step 0.
  const state = await rawRequest(other, `/v1/sessions/${sid}`, { key: ALICE });
  assert.equal(state.json.step, 0, state.body);
});
