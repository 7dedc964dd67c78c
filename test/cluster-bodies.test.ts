/**
 * A request body too large for its endpoint gets 413 BODY_TOO_LARGE through
 * a node that does not own its session as from the owner asked directly,
 * with content-length or without (chunked), on a real redis-server and two
 * real nodes with small limits. One larger than any endpoint takes is
 * refused by the node asked (its reply names it: nothing was passed on),
 * whether that node passes requests on before fastify (a session whose
 * owner it remembers) or from fastify's hook (a new session pinned to the
 * other node); one that only its endpoint refuses is refused by the owner.
 */
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { after, before, test } from 'node:test';
import { startCluster, type TestCluster } from './helpers/cluster.js';
import { rawRequest } from './helpers/raw-http.js';

const BIN = 'application/octet-stream';
// The largest body any endpoint takes is then the largest snapshot: 8 bytes a number of 100 neurons, 1000 synapses and 4 connections, and 2 KiB a population or connection, and 64 KiB: 117,216 bytes.
const LIMITS = { BODY_LIMIT_BYTES: '1024', MAX_NEURONS_PER_SESSION: '100', MAX_SYNAPSES_PER_SESSION: '1000', MAX_POPULATIONS_PER_SESSION: '4', MAX_CONNECTIONS_PER_SESSION: '4' };
/** Larger than any endpoint takes. */
const OVER_ALL = Buffer.alloc(300_000);
/** Larger than PUT .../weights takes (8 bytes a synapse of MAX_SYNAPSES_PER_SESSION, and 64 KiB), not than a snapshot. */
const OVER_WEIGHTS = Buffer.alloc(100_000);

let cluster: TestCluster;
let id: string;
// Keep-alive: a server that has refused a body reads the rest of it, and the client reads the reply once all is sent.
const agent = new Agent({ keepAlive: true });

before(async () => {
  cluster = await startCluster(2, LIMITS);
  const created = await rawRequest(cluster.nodes[0].port, '/v1/sessions', { method: 'POST', body: { network: { populations: { a: { n: 10 }, b: { n: 10 } }, connections: { ab: { pre: 'a', post: 'b' } } } } });
  assert.equal(created.status, 201, created.body);
  id = created.json.id;
  // n2 finds the owner once (in Redis) and remembers it: its requests for the session are then passed on before fastify.
  const first = await rawRequest(cluster.nodes[1].port, `/v1/sessions/${id}`);
  assert.equal(first.status, 200, first.body);
  assert.equal(first.headers['spikeserve-node'], 'n1');
});
after(async () => {
  agent.destroy();
  await cluster?.stop();
});

interface Outcome {
  status: number;
  code: string | undefined;
  node: string | string[] | undefined;
}

/** Sends `body` with content-length, or chunked (in two writes, no content-length). */
function send(port: number, method: string, path: string, body: Buffer, chunked: boolean, headers: Record<string, string> = {}): Promise<Outcome> {
  const all = { 'content-type': BIN, ...headers, ...(chunked ? {} : { 'content-length': String(body.length) }) };
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: all, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        let code: string | undefined;
        try {
          code = JSON.parse(text).error?.code;
        } catch {
          code = undefined;
        }
        resolve({ status: res.statusCode ?? 0, code, node: res.headers['spikeserve-node'] });
      });
    });
    req.on('error', reject);
    if (chunked) {
      req.write(body.subarray(0, 40_000));
      req.end(body.subarray(40_000));
    } else {
      req.end(body);
    }
  });
}

const refused = (node: string): Outcome => ({ status: 413, code: 'BODY_TOO_LARGE', node });

test('a body too large for its endpoint is 413 BODY_TOO_LARGE through either node; refused by the node asked when no endpoint takes it', async () => {
  const [owner, other] = [cluster.nodes[0].port, cluster.nodes[1].port];
  const weights = `/v1/sessions/${id}/weights/ab`;
  const pin = { 'spikeserve-place-on': 'n1' };
  for (const chunked of [false, true]) {
    const how = chunked ? 'chunked' : 'with content-length';
    // Passed on before fastify: a session whose owner n2 remembers.
    assert.deepEqual(await send(owner, 'PUT', weights, OVER_ALL, chunked), refused('n1'), `PUT weights to the owner, ${how}`);
    assert.deepEqual(await send(other, 'PUT', weights, OVER_ALL, chunked), refused('n2'), `PUT weights through n2, ${how}`);
    // Passed on from fastify's hook: a new session (from a binary snapshot) pinned to n1.
    assert.deepEqual(await send(owner, 'POST', '/v1/sessions', OVER_ALL, chunked, pin), refused('n1'), `POST a snapshot to the owner, ${how}`);
    assert.deepEqual(await send(other, 'POST', '/v1/sessions', OVER_ALL, chunked, pin), refused('n2'), `POST a snapshot through n2, ${how}`);
    // Within what some endpoint takes: passed on, and refused by the owner's.
    assert.deepEqual(await send(other, 'PUT', weights, OVER_WEIGHTS, chunked), refused('n1'), `PUT weights over their bound through n2, ${how}`);
  }
  // The node asked still serves the session after the refusals.
  const state = await rawRequest(other, `/v1/sessions/${id}`);
  assert.equal(state.status, 200, state.body);
  assert.equal(state.headers['spikeserve-node'], 'n1');
});
