/**
 * A node that drains leaves the cluster's registry for good, on a real
 * redis-server: once its sessions have moved (here it has none) it is no
 * longer listed, and nothing that would renew its registration (a heartbeat
 * tick, a session's removal, Redis coming back) puts it back before it
 * exits. Otherwise the other nodes would list it alive, and ask it for its
 * sessions, for up to three heartbeats after it has gone.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ClusterNode } from '../src/cluster/node.js';
import { startRedis, type RedisProcess } from './helpers/cluster.js';
import { persistManager } from './helpers/manager.js';

const quiet = { info: () => {}, warn: () => {}, error: () => {} };
const HEARTBEAT_S = 0.1;

let redis: RedisProcess;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis.stop();
});

/** Runs `body` with a node of this Redis, started (registered, its heartbeat going) and closed after. */
async function withNode(nodeId: string, body: (node: ClusterNode) => Promise<void>): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'spikeserve-leave-'));
  const node = await ClusterNode.start({
    redisUrl: redis.url,
    nodeId,
    // Never asked for anything here: only its registration is looked at.
    advertiseUrl: 'http://127.0.0.1:9',
    heartbeatS: HEARTBEAT_S,
    dataDir,
    capacitySynapses: 1_000_000,
    quota: { sessions: 0, synapses: 0 },
    sessions: persistManager(),
    log: quiet,
  });
  try {
    await node.listening({ host: '127.0.0.1', port: 9 });
    await body(node);
  } finally {
    await node.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const heartbeats = (n: number) => new Promise((r) => setTimeout(r, HEARTBEAT_S * 1000 * n + 100));

test('a drained node is no longer listed, and neither an announce nor its heartbeat lists it again', () =>
  withNode('n7', async (node) => {
    const listed = async () => (await node.registry.all()).map((n) => ({ id: n.id, alive: n.info !== null }));
    assert.deepEqual(await listed(), [{ id: 'n7', alive: true }]);
    assert.deepEqual(await node.drain(performance.now() + 5000), { moved: 0, stayed: 0 });
    assert.deepEqual(await listed(), []);
    // What a session's removal or Redis coming back would do, then three heartbeats' worth of ticks.
    await node.announce();
    assert.deepEqual(await listed(), []);
    await heartbeats(3);
    assert.deepEqual(await listed(), []);
    assert.equal(await node.registry.get('n7'), null);
  }));

test('a node that has not drained renews its registration with every heartbeat', () =>
  // The other side of the test above: the ticks it waits through do register a node that has not left.
  withNode('n8', async (node) => {
    await node.registry.leave('n8');
    assert.equal(await node.registry.get('n8'), null);
    await heartbeats(3);
    assert.notEqual(await node.registry.get('n8'), null);
  }));
