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
 * DATA_DIR, PERSIST_SYNC=normal): two servers run side by side (the idle one
 * costs nothing), and each scenario is measured on one then the other,
 * BENCH_ROUNDS times, alternating which goes first, so that an on/off ratio
 * compares runs taken back to back on a machine whose speed drifts. A
 * summary gives, per scenario, the median steps/s of each and the median
 * (and range) of the rounds' ratios. Environment: BENCH_SECONDS (default 5)
 * per run after a 1 s warm-up, BENCH_ROUNDS (default 3), BENCH_WINDOW
 * (default 256), BENCH_FILTER (run only scenarios whose name contains it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { SEED_NETWORK } from './networks.js';
import { freePort, HOST, startServer, type ServerProcess } from './server-process.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WINDOW = Number(process.env.BENCH_WINDOW ?? 256);
const FILTER = process.env.BENCH_FILTER ?? '';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);


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

type Persist = 'off' | 'normal';

interface Target {
  persist: Persist;
  server: ServerProcess;
  sessionId: string;
  dir: string | null;
}

/** A server with persistence off or on (a fresh DATA_DIR), holding one session of the seed network. */
async function startTarget(persist: Persist): Promise<Target> {
  const dir = persist === 'off' ? null : mkdtempSync(join(tmpdir(), 'spikeserve-bench-ws-'));
  const server = await startServer({ DATA_DIR: dir ?? '', ...(dir ? { PERSIST_SYNC: persist } : {}), WS_RATE_LIMIT_PER_S: '0' });
  const created = await fetch(`${server.base}/v1/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ network: SEED_NETWORK, seed: 1 }),
  });
  if (created.status !== 201) throw new Error(`create failed: ${created.status} ${await created.text()}`);
  const { id } = (await created.json()) as { id: string };
  return { persist, server, sessionId: id, dir };
}

async function stopTarget(t: Target): Promise<void> {
  await t.server.stop();
  if (t.dir) rmSync(t.dir, { recursive: true, force: true });
}

/** One measured run of a scenario on a fresh socket. */
async function measure(t: Target, format: 'json' | 'binary', window: number): Promise<Result> {
  const ws = new WebSocket(`ws://${HOST}:${t.server.port}/v1/sessions/${t.sessionId}/ws?format=${format}`, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once('message', () => resolve());
    ws.once('error', reject);
  });
  try {
    return await drive(ws, JSON.stringify({ type: 'step', inputs: { pre: [100, 0] } }), format === 'binary', window, SECONDS);
  } finally {
    ws.close();
    await new Promise((r) => ws.once('close', r));
  }
}

function label(key: string, persist: Persist): string {
  return `${key}, persistence ${persist === 'off' ? 'off' : `on (${persist})`}`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Each scenario that passes BENCH_FILTER, off and on back to back, ROUNDS times; then the summary. */
async function runScenarios(): Promise<void> {
  const scenarios = (['json', 'binary'] as const).flatMap((format) =>
    (
      [
        ['request-reply', 1],
        [`pipelined (${WINDOW} in flight)`, WINDOW],
      ] as const
    )
      .map(([name, window]) => ({ key: `${format} ${name}`, format, window }))
      .filter((s) => s.key.includes(FILTER)),
  );
  if (scenarios.length === 0) return;
  const off = await startTarget('off');
  let on: Target | null = null;
  const summary: { key: string; off: number[]; on: number[]; ratios: number[] }[] = [];
  try {
    on = await startTarget('normal');
    for (const s of scenarios) {
      const rec = { key: s.key, off: [] as number[], on: [] as number[], ratios: [] as number[] };
      summary.push(rec);
      for (let round = 0; round < ROUNDS; round++) {
        const order = round % 2 === 0 ? [off, on] : [on, off];
        const rate: Partial<Record<Persist, number>> = {};
        for (const t of order) {
          const r = await measure(t, s.format, s.window);
          rate[t.persist] = r.steps / r.seconds;
          rec[t.persist === 'off' ? 'off' : 'on'].push(rate[t.persist]!);
          const share = rate.off !== undefined && rate.normal !== undefined ? `${((rate.normal / rate.off) * 100).toFixed(0)}%` : '';
          console.log(row(label(s.key, t.persist), r, share));
        }
        rec.ratios.push(rate.normal! / rate.off!);
      }
    }
  } finally {
    await Promise.all([stopTarget(off), on ? stopTarget(on) : null]);
  }
  console.log(`\nPersistence on (normal) / off, ${ROUNDS} round(s), each the two runs taken back to back:`);
  console.log(`${'scenario'.padEnd(36)} | off: steps/s | on: steps/s | on / off (median, range)`);
  for (const r of summary) {
    const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
    console.log(
      `${r.key.padEnd(36)} | ${String(Math.round(median(r.off))).padStart(12)} | ${String(Math.round(median(r.on))).padStart(11)} | ${pct(median(r.ratios))} (${pct(Math.min(...r.ratios))} - ${pct(Math.max(...r.ratios))})`,
    );
  }
}

async function main(): Promise<void> {
  console.log(`\nWebSocket benchmark: the seed's MSTDP network (2 -> 1) over one socket, one step per message, ${SECONDS} s per run, persistence off and on ${ROUNDS} time(s) each`);
  console.log(`${'scenario'.padEnd(58)} | steps/s | p50 us | p99 us | of off`);
  console.log(`${'-'.repeat(59)}|---------|--------|--------|-------`);
  await runScenarios();
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
