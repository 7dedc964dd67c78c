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
 *    a 2 s warm-up; network steps per second with one node, then two; with
 *    the CPU time each node got in that time (from /proc), and so network
 *    steps per CPU second: throughput that a node lacks for want of a core
 *    shows there, not as a slower node. One node and two alternately,
 *    BENCH_ROUNDS pairs (every other pair two nodes first); the speed-up of
 *    each pair and their median.
 * 2. The hop: one session of the seed network on node 1, one client sending
 *    single-step requests back to back, to node 1 (direct), through node 2
 *    (forwarded) and through a byte relay (relay.ts: the floor of any hop on
 *    the machine), alternately BENCH_ROUNDS times; p50 and p99 of each, and
 *    the CPU time per request of each process (the forwarder's is what the
 *    hop costs in work, whatever the machine's load).
 *
 * Environment: BENCH_SECONDS (default 10), BENCH_ROUNDS (default 3),
 * REDIS_SERVER (default /usr/bin/redis-server), BENCH_PARTS (default
 * "scaling,hop"), BENCH_PIN=1 (node i runs on core i - 1 only, taskset, so
 * one node has one core and two nodes two), BENCH_PROFILE_DIR (node 2 of the
 * hop writes a CPU profile there, node --cpu-prof), BENCH_HOP_CLIENTS (default
 * 1: clients of the hop at once; with several, the forwarder is never idle
 * between requests, so its CPU per request is its work per request, not its
 * timers and collector spread over what a loaded machine let through). The
 * servers are those of the directory it runs in (dist/src/server.js there):
 * run from another build's directory, it measures that build.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { jsonRequest, runLoad, type LoadResult } from './load-client.js';
import { SEED_NETWORK, STANDARD_CASES } from './networks.js';
import { freePort, HOST, startServer, type ServerProcess } from './server-process.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';
const PARTS = (process.env.BENCH_PARTS ?? 'scaling,hop').split(',');
const PIN = process.env.BENCH_PIN === '1';
const PROFILE_DIR = process.env.BENCH_PROFILE_DIR ?? '';
const HOP_CLIENTS = Number(process.env.BENCH_HOP_CLIENTS ?? 1);
const SESSIONS = 16;

/** CPU seconds (user + system) process `pid` has had, from /proc (clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds of `pids` over a load's measured time. */
function cpuMeter(pids: number[]) {
  let start: number[] = [];
  const used: number[] = pids.map(() => 0);
  return {
    used,
    onMeasure: (phase: 'start' | 'end') => {
      if (phase === 'start') start = pids.map(cpuSeconds);
      else pids.forEach((pid, i) => (used[i] = cpuSeconds(pid) - start[i]));
    },
  };
}

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

async function startNodes(n: number, redisUrl: string, profile = false): Promise<ServerProcess[]> {
  const nodes: ServerProcess[] = [];
  for (let i = 1; i <= n; i++) {
    const env = { REDIS_URL: redisUrl, NODE_ID: `n${i}`, DATA_DIR: '', LOG_LEVEL: 'warn', CLUSTER_HEARTBEAT_S: '0.5', OVERLOAD_EVENT_LOOP_DELAY_MS: '0', OVERLOAD_MEMORY_MB: '0' };
    const nodeArgs = profile && i === 2 ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : [];
    nodes.push(await startServer(env, { nodeArgs, ...(PIN ? { cpu: (i - 1) % availableParallelism() } : {}) }));
  }
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

interface Scaling {
  stepsPerSecond: number;
  perNode: number[];
  p50Ms: number;
  /** CPU seconds per second of each node over the measured time. */
  cpuShare: number[];
  /** Network steps per CPU second of the nodes. */
  stepsPerCpuSecond: number;
  /** The benchmark's own CPU seconds per second (its clients). */
  clientShare: number;
}

async function scaling(n: number): Promise<Scaling> {
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
    const meter = cpuMeter(nodes.map((node) => node.child.pid!));
    let client = process.cpuUsage();
    const onMeasure = (phase: 'start' | 'end') => {
      meter.onMeasure(phase);
      client = process.cpuUsage(phase === 'start' ? undefined : client);
    };
    // One load over every node's clients, so that the CPU times cover the same interval.
    const results = await Promise.all(
      nodes.map((node, i) => {
        const requests = byNode.get(`n${i + 1}`) ?? [];
        return requests.length === 0 ? null : runLoad({ host: HOST, port: node.port, requests, durationMs: SECONDS * 1000, warmupMs: 2000, ...(i === 0 ? { onMeasure } : {}) });
      }),
    );
    const done = results.filter((r): r is LoadResult => r !== null);
    if (done.some((r) => r.errors > 0)) throw new Error('errors during the load');
    const stepsPerSecond = done.reduce((a, r) => a + r.perSecond * 1000, 0);
    const cpuShare = meter.used.map((c) => c / SECONDS);
    return {
      stepsPerSecond,
      perNode: nodes.map((_, i) => byNode.get(`n${i + 1}`)?.length ?? 0),
      p50Ms: Math.max(...done.map((r) => r.p50Ms)),
      cpuShare,
      stepsPerCpuSecond: stepsPerSecond / cpuShare.reduce((a, b) => a + b, 0),
      clientShare: (client.user + client.system) / 1e6 / SECONDS,
    };
  } finally {
    for (const node of nodes) await node.stop();
    await redis.stop();
  }
}

/** A round of the hop: its latencies, and each node's CPU microseconds per request. */
interface HopRound {
  load: LoadResult;
  cpuUsPerRequest: number[];
}

/** The byte relay (relay.ts) in a process of its own, to `targetPort`. */
async function startRelay(targetPort: number): Promise<{ port: number; pid: number; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(import.meta.dirname, 'relay.js'), String(port), String(targetPort)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    child.stdout!.once('data', resolve);
    child.once('exit', (code) => reject(new Error(`relay exited (${code})`)));
  });
  return {
    port,
    pid: child.pid!,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

async function hop(): Promise<{ direct: HopRound[]; forwarded: HopRound[]; relayed: HopRound[] }> {
  const redis = await startRedis();
  const nodes = await startNodes(2, redis.url, PROFILE_DIR !== '');
  const relay = await startRelay(nodes[0].port);
  try {
    const s = await create(nodes[0].base, { network: SEED_NETWORK, seed: 1 }, 'n1');
    const request = jsonRequest('POST', `/v1/sessions/${s.id}/step`, { inputs: { pre: [100, 0] } });
    const round = async (port: number): Promise<HopRound> => {
      const meter = cpuMeter([...nodes.map((n) => n.child.pid!), relay.pid]);
      const load = await runLoad({ host: HOST, port, requests: new Array<Buffer>(HOP_CLIENTS).fill(request), durationMs: SECONDS * 500, warmupMs: 1000, onMeasure: meter.onMeasure });
      return { load, cpuUsPerRequest: meter.used.map((c) => (c / load.requests) * 1e6) };
    };
    const direct: HopRound[] = [];
    const forwarded: HopRound[] = [];
    const relayed: HopRound[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      direct.push(await round(nodes[0].port));
      forwarded.push(await round(nodes[1].port));
      relayed.push(await round(relay.port));
    }
    return { direct, forwarded, relayed };
  } finally {
    await relay.stop();
    for (const node of nodes) await node.stop();
    await redis.stop();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = () => loadavg().map((x) => x.toFixed(1)).join(' ');
const cpu = (r: Scaling) => `CPU per node ${r.cpuShare.map((c) => c.toFixed(2)).join(' + ')} s/s, ${Math.round(r.stepsPerCpuSecond).toLocaleString('en')} steps per CPU second, clients ${r.clientShare.toFixed(2)} s/s`;

console.log(`cluster benchmark: ${SECONDS} s per load; nodes ${PIN ? 'pinned, node i on core i - 1' : 'not pinned'}; load average ${load()}`);
if (PARTS.includes('scaling')) {
  // One node and two alternately, BENCH_ROUNDS pairs, every other pair two first: a pair runs under the
  // machine's conditions of its minute, and the median of the pairs' speed-ups is what one slow run cannot move.
  const speedUps: number[] = [];
  const ones: number[] = [];
  const twos: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const runs = new Map<number, Scaling>();
    for (const n of r % 2 === 0 ? [1, 2] : [2, 1]) runs.set(n, await scaling(n));
    const one = runs.get(1)!;
    const two = runs.get(2)!;
    console.log(`round ${r + 1}: 1 node : ${Math.round(one.stepsPerSecond).toLocaleString('en')} network steps/s (16 sessions of 1000 -> 1000 MSTDP, steps: 1000 per call; p50 ${one.p50Ms.toFixed(1)} ms; ${cpu(one)})`);
    console.log(`round ${r + 1}: 2 nodes: ${Math.round(two.stepsPerSecond).toLocaleString('en')} network steps/s (sessions per node ${two.perNode.join(' + ')}; p50 ${two.p50Ms.toFixed(1)} ms; ${cpu(two)})`);
    const speedUp = two.stepsPerSecond / one.stepsPerSecond;
    console.log(`round ${r + 1}: speed-up ${speedUp.toFixed(2)}x (CPU the nodes got: ${(two.cpuShare.reduce((a, b) => a + b, 0) / one.cpuShare.reduce((a, b) => a + b, 0)).toFixed(2)}x; load average ${load()})`);
    speedUps.push(speedUp);
    ones.push(one.stepsPerSecond);
    twos.push(two.stepsPerSecond);
  }
  console.log(`speed-up: median ${median(speedUps).toFixed(2)}x of ${ROUNDS} rounds (each: ${speedUps.map((x) => x.toFixed(2)).join(', ')}); medians 1 node ${Math.round(median(ones)).toLocaleString('en')}, 2 nodes ${Math.round(median(twos)).toLocaleString('en')} network steps/s`);
}
if (PARTS.includes('hop')) {
  const h = await hop();
  const p = (rounds: HopRound[], q: 'p50Ms' | 'p99Ms') => median(rounds.map((r) => r.load[q])) * 1000;
  const c = (rounds: HopRound[], i: number) => median(rounds.map((r) => r.cpuUsPerRequest[i])).toFixed(0);
  const d50 = p(h.direct, 'p50Ms');
  const f50 = p(h.forwarded, 'p50Ms');
  console.log(`single step, ${HOP_CLIENTS === 1 ? 'one client' : `${HOP_CLIENTS} clients`}: direct p50 ${d50.toFixed(0)} us (p99 ${p(h.direct, 'p99Ms').toFixed(0)}), forwarded p50 ${f50.toFixed(0)} us (p99 ${p(h.forwarded, 'p99Ms').toFixed(0)}): the hop costs ${(f50 - d50).toFixed(0)} us at p50 (medians of ${ROUNDS} rounds; load average ${load()})`);
  const r50 = p(h.relayed, 'p50Ms');
  console.log(`through a byte relay (the floor of a hop here): p50 ${r50.toFixed(0)} us (p99 ${p(h.relayed, 'p99Ms').toFixed(0)}): ${(r50 - d50).toFixed(0)} us more than direct`);
  console.log(`CPU per request: direct: owner ${c(h.direct, 0)} us; forwarded: forwarder ${c(h.forwarded, 1)} us + owner ${c(h.forwarded, 0)} us; relayed: relay ${c(h.relayed, 2)} us + owner ${c(h.relayed, 0)} us`);
}
