/**
 * `npm run start:cluster` (scripts/start-cluster.mjs) on a workstation: it
 * starts the Redis it needs and the nodes asked for, which form one cluster
 * (any node answers for a session created through another), and Ctrl-C stops
 * every process it started, nodes first, keeping their sessions on disk.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort } from './helpers/cluster.js';
import { request } from './helpers/server.js';

/** A port p such that p and p + 1 are both free now (the script puts its nodes on BASE_PORT, BASE_PORT + 1). */
async function freePortPair(): Promise<number> {
  for (;;) {
    const p = await freePort();
    if (p < 65535 && (await bindable(p + 1))) return p;
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

// A time limit of its own: a script that never exits fails this test instead of holding up the suite.
test('start:cluster starts Redis and the nodes as one cluster, and Ctrl-C stops them all', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spikeserve-start-cluster-'));
  const basePort = await freePortPair();
  let redisPort = await freePort();
  while (redisPort === basePort + 1) redisPort = await freePort();
  const script = spawn(process.execPath, ['scripts/start-cluster.mjs'], {
    // The default heartbeat (1 s; a registration lasts three): with a short one, a node stalled for
    // a moment on a loaded machine drops out of the cluster, and a request for its session is answered 503.
    env: { ...process.env, CLUSTER_NODES: '2', BASE_PORT: String(basePort), REDIS_PORT: String(redisPort), CLUSTER_DIR: dir, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
    // Its own process group: if the test fails midway, the script and every process it started are killed together.
    detached: true,
  });
  let err = '';
  script.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => script.once('exit', (code) => r(code)));
  try {
    const nodes = [`http://127.0.0.1:${basePort}`, `http://127.0.0.1:${basePort + 1}`];
    let alive: string[] = [];
    for (let i = 0; i < 600 && alive.length < 2; i++) {
      const r = await request(nodes[0], 'GET', '/v1/cluster').catch(() => null);
      alive = (r?.body?.nodes ?? []).filter((n: { alive: boolean }) => n.alive).map((n: { id: string }) => n.id);
      if (alive.length < 2) await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(alive, ['node-1', 'node-2'], err);
    const created = await request(nodes[0], 'POST', '/v1/sessions', { network: { populations: { a: { n: 1 } }, connections: {} } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const got = await request(nodes[1], 'GET', `/v1/sessions/${created.body.id}`);
    assert.equal(got.status, 200, JSON.stringify(got.body));
    script.kill('SIGINT');
    assert.equal(await exited, 0, err);
    for (const port of [basePort, basePort + 1, redisPort]) {
      await assert.rejects(fetch(`http://127.0.0.1:${port}/`), `port ${port} is closed`);
    }
  } finally {
    if (script.exitCode === null) {
      process.kill(-script.pid!, 'SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
