/**
 * The cluster's deployment: nginx (Debian's) with deploy/nginx-cluster.conf
 * in front of three real nodes, as docker-compose.cluster.yml runs them (the
 * upstream names replaced by the test's ports): the seed's MSTDP task over
 * HTTP and over a WebSocket, both through nginx's round-robin, follows the
 * single-process trajectory exactly. Also what cannot be run here: the
 * compose file's Redis persistence, the nodes' volumes, ids, advertised
 * URLs and restart policy, and nginx mounting that configuration.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse } from 'yaml';
import { RestClient } from '../src/client/index.js';
import { freePort, startCluster, type TestCluster } from './helpers/cluster.js';
import { SEED_MSTDP_NETWORK, playOnSocket, playSeedTask, referenceTrajectory } from './helpers/seed-mstdp-task.js';
import { request } from './helpers/server.js';

const NGINX = process.env.NGINX ?? '/usr/sbin/nginx';
const TRIALS = 20;

let cluster: TestCluster;
let nginx: ChildProcess;
let dir: string;
let base: string;

before(async () => {
  cluster = await startCluster(3);
  dir = mkdtempSync(join(tmpdir(), 'spikeserve-nginx-'));
  const port = await freePort();
  let site = readFileSync('deploy/nginx-cluster.conf', 'utf8').replace('listen 80;', `listen 127.0.0.1:${port};`);
  cluster.nodes.forEach((n, i) => {
    site = site.replace(`server node${i + 1}:3000;`, `server 127.0.0.1:${n.port};`);
  });
  writeFileSync(join(dir, 'site.conf'), site);
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off; pid ${dir}/nginx.pid; error_log stderr warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  include ${dir}/site.conf;
}
`,
  );
  nginx = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', 'stderr'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  nginx.stderr!.on('data', (d) => (err += d));
  for (let i = 0; ; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) break;
    if (i > 200 || nginx.exitCode !== null) throw new Error(`nginx did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  base = `http://127.0.0.1:${port}`;
});

after(async () => {
  if (nginx && nginx.exitCode === null) {
    const exited = new Promise((r) => nginx.once('exit', r));
    nginx.kill('SIGTERM');
    await exited;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
  await cluster?.stop();
});

test('through nginx\'s round-robin, the seed\'s MSTDP task over HTTP and over a WebSocket gives the single-process trajectory', async () => {
  const created = await request(base, 'POST', '/v1/sessions', { network: SEED_MSTDP_NETWORK, seed: 5 });
  assert.equal(created.status, 201);
  const id = created.body.id;
  const served = new Set<string>();
  const fired: boolean[] = [];
  await playSeedTask(
    {
      step: async (pre) => {
        const r = await request(base, 'POST', `/v1/sessions/${id}/step`, { inputs: { pre }, deferReward: true, return: { populations: ['post'] } });
        assert.equal(r.status, 200);
        served.add(r.headers.get('spikeserve-node')!);
        fired.push(r.body.spikes.post[0].length > 0);
        return fired[fired.length - 1];
      },
      reward: async (reward) => {
        assert.equal((await request(base, 'POST', `/v1/sessions/${id}/reward`, { reward })).status, 200);
      },
    },
    TRIALS,
    { seed: 5 },
  );
  const ref = await referenceTrajectory(5, TRIALS);
  assert.deepEqual(fired, ref.fired);
  assert.deepEqual([...served], [created.headers.get('spikeserve-node')], 'every step was served by the session\'s node, whichever node nginx chose');

  const wsId = (await request(base, 'POST', '/v1/sessions', { network: SEED_MSTDP_NETWORK, seed: 5 })).body.id;
  const ws = await new RestClient(base).socket(wsId, { format: 'binary' });
  const wsFired = await playOnSocket(ws, TRIALS, 5);
  await ws.close();
  assert.deepEqual(wsFired, ref.fired);
  const w = await request(base, 'GET', `/v1/sessions/${wsId}/weights/pre_post`);
  assert.deepEqual(w.body.weights, ref.weights);
});

test('docker-compose.cluster.yml: Redis with an append-only file on a volume, three nodes each with its volume, id, advertised URL and restart policy, nginx with this configuration', () => {
  type Service = { image?: string; command?: string[]; volumes?: string[]; restart?: string; environment?: Record<string, string>; ports?: string[]; stop_grace_period?: string };
  const compose = parse(readFileSync('docker-compose.cluster.yml', 'utf8'), { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown> };
  const { redis, nginx: proxy } = compose.services;
  assert.ok(redis.command!.includes('--appendonly') && redis.command!.includes('yes'));
  assert.deepEqual(redis.volumes, ['redis-data:/data']);
  assert.equal(redis.restart, 'unless-stopped');
  for (const n of ['node1', 'node2', 'node3']) {
    const s = compose.services[n];
    assert.equal(s.environment!.NODE_ID, n);
    assert.equal(s.environment!.ADVERTISE_URL, `http://${n}:3000`);
    assert.equal(s.environment!.REDIS_URL, 'redis://redis:6379');
    assert.deepEqual(s.volumes, [`${n}-data:/data`]);
    assert.equal(s.restart, 'unless-stopped');
    assert.ok(Number.parseInt(s.stop_grace_period!) > 2 * Number(s.environment!.SHUTDOWN_TIMEOUT_S), 'the grace period covers the drain and the shutdown');
    assert.ok(n + '-data' in compose.volumes);
  }
  assert.deepEqual(proxy.volumes, ['./deploy/nginx-cluster.conf:/etc/nginx/conf.d/default.conf:ro']);
  assert.deepEqual(proxy.ports, ['3000:80']);
});
