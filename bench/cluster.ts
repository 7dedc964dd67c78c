/**
 * Cluster benchmark (`npm run bench:cluster`): Debian's redis-server and
 * spikeserve nodes in processes of their own on 127.0.0.1, as
 * docs/cluster.md runs them (sessions in memory: DATA_DIR=; LOG_LEVEL=warn;
 * no overload bounds, so that a loaded machine refuses no heavy step).
 *
 * 1. Scaling: 16 sessions of 1000 -> 1000 MSTDP (1% input), created one
 *    after the other through the first node (placement spreads them), and 16
 *    keep-alive clients, each stepping its session with `steps: 1000` per
 *    call (spike counts back) straight at its owner, for BENCH_SECONDS after
 *    a 2 s warm-up; network steps per second with one node, then two.
 * 2. The hop: one session of the seed network on node 1, one client sending
 *    single-step requests back to back, to node 1 (direct) and through node 2
 *    (forwarded), alternately BENCH_ROUNDS times; p50 and p99 of each.
 *
 * Environment: BENCH_SECONDS (default 10), BENCH_ROUNDS (default 3),
 * REDIS_SERVER (default /usr/bin/redis-server).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { jsonRequest, runLoad, type LoadResult } from './load-client.js';
import { SEED_NETWORK, STANDARD_CASES } from './networks.js';
import { freePort, HOST, startServer, type ServerProcess } from './server-process.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';
const SESSIONS = 16;

async function startRedis(): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'spikeserve-bench-redis-'));
  const child: ChildProcess = spawn(REDIS_SERVER, ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('Ready to accept connections')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code})`)));
  });
  return {
    url: `redis://${HOST}:${port}`,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startNodes(n: number, redisUrl: string): Promise<ServerProcess[]> {
  const nodes: ServerProcess[] = [];
  for (let i = 1; i <= n; i++) nodes.push(await startServer({ REDIS_URL: redisUrl, NODE_ID: `n${i}`, DATA_DIR: '', LOG_LEVEL: 'warn', CLUSTER_HEARTBEAT_S: '0.5', OVERLOAD_EVENT_LOOP_DELAY_MS: '0', OVERLOAD_MEMORY_MB: '0' }));
  // Every node registered (its heartbeat follows its listening).
  for (let t = 0; t < 200; t++) {
    const view = (await (await fetch(`${nodes[0].base}/v1/cluster`)).json()) as { nodes: { alive: boolean }[] };
    if (view.nodes.filter((x) => x.alive).length === n) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return nodes;
}

async function create(base: string, body: unknown, pin?: string): Promise<{ id: string; node: string }> {
  const r = await fetch(`${base}/v1/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(pin ? { 'spikeserve-place-on': pin } : {}) },
    body: JSON.stringify(body),
  });
  if (r.status !== 201) throw new Error(`create failed: ${r.status} ${await r.text()}`);
  return { id: ((await r.json()) as { id: string }).id, node: r.headers.get('spikeserve-node')! };
}

async function scaling(n: number): Promise<{ stepsPerSecond: number; perNode: number[]; p50Ms: number }> {
  const redis = await startRedis();
  const nodes = await startNodes(n, redis.url);
  try {
    const mstdp = STANDARD_CASES.find((c) => c.name === '1000 -> 1000 MSTDP, 1% input')!;
    const body = { inputs: { pre: Array.from(mstdp.inputs[0].pre as Float64Array) }, steps: 1000, return: { spikes: 'counts' } };
    const byNode = new Map<string, Buffer[]>();
    for (let i = 0; i < SESSIONS; i++) {
      const s = await create(nodes[0].base, { network: mstdp.spec, seed: i });
      byNode.set(s.node, [...(byNode.get(s.node) ?? []), jsonRequest('POST', `/v1/sessions/${s.id}/step`, body)]);
    }
    const results = await Promise.all(
      nodes.map((node, i) => {
        const requests = byNode.get(`n${i + 1}`) ?? [];
        return requests.length === 0 ? null : runLoad({ host: HOST, port: node.port, requests, durationMs: SECONDS * 1000, warmupMs: 2000 });
      }),
    );
    const done = results.filter((r): r is LoadResult => r !== null);
    if (done.some((r) => r.errors > 0)) throw new Error('errors during the load');
    return {
      stepsPerSecond: done.reduce((a, r) => a + r.perSecond * 1000, 0),
      perNode: nodes.map((_, i) => byNode.get(`n${i + 1}`)?.length ?? 0),
      p50Ms: Math.max(...done.map((r) => r.p50Ms)),
    };
  } finally {
    for (const node of nodes) await node.stop();
    await redis.stop();
  }
}

async function hop(): Promise<{ direct: LoadResult[]; forwarded: LoadResult[] }> {
  const redis = await startRedis();
  const nodes = await startNodes(2, redis.url);
  try {
    const s = await create(nodes[0].base, { network: SEED_NETWORK, seed: 1 }, 'n1');
    const request = jsonRequest('POST', `/v1/sessions/${s.id}/step`, { inputs: { pre: [100, 0] } });
    const direct: LoadResult[] = [];
    const forwarded: LoadResult[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      direct.push(await runLoad({ host: HOST, port: nodes[0].port, requests: [request], durationMs: SECONDS * 500, warmupMs: 1000 }));
      forwarded.push(await runLoad({ host: HOST, port: nodes[1].port, requests: [request], durationMs: SECONDS * 500, warmupMs: 1000 }));
    }
    return { direct, forwarded };
  } finally {
    for (const node of nodes) await node.stop();
    await redis.stop();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = () => loadavg().map((x) => x.toFixed(1)).join(' ');

console.log(`cluster benchmark: ${SECONDS} s per load; load average ${load()}`);
const one = await scaling(1);
console.log(`1 node : ${Math.round(one.stepsPerSecond).toLocaleString('en')} network steps/s (16 sessions of 1000 -> 1000 MSTDP, steps: 1000 per call; p50 ${one.p50Ms.toFixed(1)} ms; load average ${load()})`);
const two = await scaling(2);
console.log(`2 nodes: ${Math.round(two.stepsPerSecond).toLocaleString('en')} network steps/s (sessions per node ${two.perNode.join(' + ')}; p50 ${two.p50Ms.toFixed(1)} ms; load average ${load()})`);
console.log(`speed-up: ${(two.stepsPerSecond / one.stepsPerSecond).toFixed(2)}x`);
const h = await hop();
const d50 = median(h.direct.map((r) => r.p50Ms));
const f50 = median(h.forwarded.map((r) => r.p50Ms));
console.log(`single step, one client: direct p50 ${(d50 * 1000).toFixed(0)} us (p99 ${(median(h.direct.map((r) => r.p99Ms)) * 1000).toFixed(0)}), forwarded p50 ${(f50 * 1000).toFixed(0)} us (p99 ${(median(h.forwarded.map((r) => r.p99Ms)) * 1000).toFixed(0)}): the hop costs ${((f50 - d50) * 1000).toFixed(0)} us at p50 (medians of ${ROUNDS} rounds; load average ${load()})`);
