/**
 * WebSocket benchmark (`npm run bench`): the seed's MSTDP network (2 -> 1)
 * stepped over one WebSocket to the service as `npm start` runs it (its own
 * process on 127.0.0.1; this process is the client), one network step per
 * message, in JSON and in binary:
 *
 * - request-reply: the next step is sent when the reply to the last one has
 *   come (what an agent that looks at each step's spikes does);
 * - pipelined: WINDOW requests kept in flight.
 *
 * Reports steps per second and round-trip latency (p50, p99) for each, and
 * the same request-reply loop against a bare ws echo server: the floor of a
 * round trip over one WebSocket on the machine. The
 * client sends prepared messages (those sent in one turn of its loop in one
 * write) and only checks that each reply is a step reply, so the figures are
 * the server's and the socket's, not a client library's.
 *
 * Every scenario runs with persistence off (DATA_DIR=) and on (a fresh
 * DATA_DIR, PERSIST_SYNC=normal), the on row giving its share of the off
 * row's throughput. Environment: BENCH_SECONDS (default 5) per scenario after
 * a 1 s warm-up, BENCH_WINDOW (default 256), BENCH_FILTER (run only
 * scenarios whose name contains it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { freePort, HOST, startServer } from './server-process.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WINDOW = Number(process.env.BENCH_WINDOW ?? 256);
const FILTER = process.env.BENCH_FILTER ?? '';

const SEED_NETWORK = {
  dt: 0.1,
  populations: { pre: { n: 2, refrac_length: 0 }, post: { n: 1, refrac_length: 0 } },
  connections: { pre_post: { pre: 'pre', post: 'post', w_min: 0, w_max: 10, rule: { type: 'MSTDP', lr: [0.0003, 0.0002] } } },
};

interface Result {
  steps: number;
  seconds: number;
  latenciesUs: Float64Array;
  count: number;
}

function quantile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Runs `window` requests in flight (1: request-reply) for warm-up + measured time. */
function drive(ws: WebSocket, message: string, binary: boolean, window: number, seconds: number): Promise<Result> {
  return new Promise((resolve, reject) => {
    const sentAt: number[] = [];
    let head = 0;
    const latencies = new Float64Array(4_000_000);
    let count = 0;
    let measuring = false;
    let steps = 0;
    let start = 0;
    let stopping = false;
    const warmEnd = performance.now() + 1000;
    let end = Infinity;
    // Requests sent in one turn of the loop leave in one write, as the server's replies do.
    const socket = (ws as unknown as { _socket: Socket })._socket;
    let corked = false;
    const uncork = () => {
      corked = false;
      socket.uncork();
    };
    const send = () => {
      if (!corked) {
        corked = true;
        socket.cork();
        process.nextTick(uncork);
      }
      sentAt.push(performance.now());
      ws.send(message);
    };
    const onMessage = (data: Buffer, isBinary: boolean) => {
      if (isBinary !== binary || (binary ? data[1] !== 1 : !data.toString('latin1', 0, 40).startsWith('{"type":"reply"'))) {
        ws.off('message', onMessage);
        reject(new Error(`unexpected reply: ${isBinary ? `binary kind ${data[1]}` : data.toString().slice(0, 200)}`));
        return;
      }
      const now = performance.now();
      const t0 = sentAt[head++];
      if (head > 100_000) {
        sentAt.splice(0, head);
        head = 0;
      }
      if (measuring) {
        steps++;
        if (count < latencies.length) latencies[count++] = (now - t0) * 1000;
      } else if (now >= warmEnd) {
        measuring = true;
        start = now;
        end = now + seconds * 1000;
      }
      if (now >= end) stopping = true;
      if (!stopping) send();
      else if (head === sentAt.length) {
        ws.off('message', onMessage);
        resolve({ steps, seconds: (now - start) / 1000, latenciesUs: latencies.subarray(0, count).sort(), count });
      }
    };
    ws.on('message', onMessage);
    for (let i = 0; i < window; i++) send();
  });
}

function row(label: string, r: Result, extra = ''): string {
  return `${label.padEnd(58)} | ${String(Math.round(r.steps / r.seconds)).padStart(7)} | ${quantile(r.latenciesUs, 0.5).toFixed(0).padStart(6)} | ${quantile(r.latenciesUs, 0.99).toFixed(0).padStart(6)} | ${extra}`;
}

/** Runs the scenarios that pass BENCH_FILTER on a server with persistence off (recording steps/s in `off`) or on (comparing with it); prints a row each. */
async function runScenarios(persist: 'off' | 'normal', off: Map<string, number>): Promise<void> {
  const dir = persist === 'off' ? null : mkdtempSync(join(tmpdir(), 'spikeserve-bench-ws-'));
  const server = await startServer({ DATA_DIR: dir ?? '', ...(dir ? { PERSIST_SYNC: persist } : {}), WS_RATE_LIMIT_PER_S: '0' });
  try {
    const created = await fetch(`${server.base}/v1/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ network: SEED_NETWORK, seed: 1 }),
    });
    if (created.status !== 201) throw new Error(`create failed: ${created.status} ${await created.text()}`);
    const { id } = (await created.json()) as { id: string };
    for (const format of ['json', 'binary'] as const) {
      const scenarios = (
        [
          ['request-reply', 1],
          [`pipelined (${WINDOW} in flight)`, WINDOW],
        ] as const
      ).filter(([name]) => `${format} ${name}`.includes(FILTER));
      if (scenarios.length === 0) continue;
      const ws = new WebSocket(`ws://${HOST}:${server.port}/v1/sessions/${id}/ws?format=${format}`, { perMessageDeflate: false });
      await new Promise<void>((resolve, reject) => {
        ws.once('message', () => resolve());
        ws.once('error', reject);
      });
      const message = JSON.stringify({ type: 'step', inputs: { pre: [100, 0] } });
      for (const [name, window] of scenarios) {
        const r = await drive(ws, message, format === 'binary', window, SECONDS);
        const key = `${format} ${name}`;
        const perSecond = r.steps / r.seconds;
        if (persist === 'off') off.set(key, perSecond);
        const base = off.get(key);
        const share = persist !== 'off' && base ? `${((perSecond / base) * 100).toFixed(0)}%` : '';
        console.log(row(`${key}, persistence ${persist === 'off' ? 'off' : `on (${persist})`}`, r, share));
      }
      ws.close();
      await new Promise((r) => ws.once('close', r));
    }
  } finally {
    await server.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  console.log(`\nWebSocket benchmark: the seed's MSTDP network (2 -> 1) over one socket, one step per message, ${SECONDS} s per scenario`);
  console.log(`${'scenario'.padEnd(58)} | steps/s | p50 us | p99 us | of off`);
  console.log(`${'-'.repeat(59)}|---------|--------|--------|-------`);
  const off = new Map<string, number>();
  await runScenarios('off', off);
  await runScenarios('normal', off);
  if ('bare ws echo, request-reply'.includes(FILTER)) {
    // The floor: a bare ws echo server in its own process, same client, same message.
    const echo = await startEcho();
    try {
      const ws = new WebSocket(`ws://${HOST}:${echo.port}`, { perMessageDeflate: false });
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      const r = await drive(ws, JSON.stringify({ type: 'step', inputs: { pre: [100, 0] } }), false, 1, SECONDS);
      console.log(row('bare ws echo, request-reply', r));
      ws.close();
    } finally {
      echo.child.kill('SIGTERM');
    }
  }
  console.log('(targets on the 2-core machine: 20,000 request-reply and 100,000 pipelined steps/s, and with persistence on at least 70% of off;');
  console.log(' server: WS_RATE_LIMIT_PER_S=0; the bare echo is the floor of a round trip over one WebSocket on this machine: no session, no parsing)');
}

/** A ws server that answers every message with a fixed reply, in a process of its own. */
async function startEcho(): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const code = `import { WebSocketServer } from 'ws';
const wss = new WebSocketServer({ host: '${HOST}', port: ${port}, perMessageDeflate: false });
wss.on('connection', (ws) => ws.on('message', () => ws.send('{"type":"reply","request":"step","result":{"step":1}}')));
wss.on('listening', () => process.stdout.write('ready\\n'));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (c) => reject(new Error(`echo server exited with ${c}`)));
  });
  return { child, port };
}

await main();
