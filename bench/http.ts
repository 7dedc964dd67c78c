/**
 * HTTP benchmark (`npm run bench`): the service as `npm start` runs it, in its
 * own process on 127.0.0.1, driven by concurrent keep-alive clients from this
 * process. Reports single-step requests per second with p50/p99 latency for
 * the seed network (at the default LOG_LEVEL=info, and at warn), and network
 * steps per second with `steps: 1000` per call.
 *
 * Environment: BENCH_SECONDS (default 5) per scenario, BENCH_CONNECTIONS
 * (default 32).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { cpus } from 'node:os';
import { jsonRequest, runLoad, type LoadResult } from './load-client.js';

const HOST = '127.0.0.1';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);

/** The seed's MSTDP network (model.md, last section). */
const SEED_NETWORK = {
  dt: 0.1,
  populations: { pre: { n: 2, refrac_length: 0 }, post: { n: 1, refrac_length: 0 } },
  connections: { pre_post: { pre: 'pre', post: 'post', w_min: 0, w_max: 10, rule: { type: 'MSTDP', lr: [0.0003, 0.0002] } } },
};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, HOST, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function startServer(env: Record<string, string>): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['dist/src/server.js'], {
    env: { ...process.env, HOST, PORT: String(port), MAX_SESSIONS: '10000', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(`http://${HOST}:${port}/readyz`);
      if (r.ok) return { child, port };
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error('server did not start');
}

async function stopServer(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.on('exit', r));
  child.kill('SIGTERM');
  await exited;
}

async function createSessions(port: number, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await fetch(`http://${HOST}:${port}/v1/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ network: SEED_NETWORK, seed: i }),
    });
    if (r.status !== 201) throw new Error(`create failed: ${r.status} ${await r.text()}`);
    ids.push(((await r.json()) as { id: string }).id);
  }
  return ids;
}

interface Scenario {
  name: string;
  env: Record<string, string>;
  body: unknown;
  stepsPerCall: number;
}

const SCENARIOS: Scenario[] = [
  { name: 'single step, LOG_LEVEL=info (default)', env: { LOG_LEVEL: 'info' }, body: { inputs: { pre: [100, 0] } }, stepsPerCall: 1 },
  { name: 'single step, LOG_LEVEL=warn', env: { LOG_LEVEL: 'warn' }, body: { inputs: { pre: [100, 0] } }, stepsPerCall: 1 },
  { name: 'steps: 1000 per call, spikes per step (default)', env: { LOG_LEVEL: 'info' }, body: { steps: 1000, inputs: { pre: [100, 0] } }, stepsPerCall: 1000 },
  { name: 'steps: 1000 per call, return.spikes counts', env: { LOG_LEVEL: 'info' }, body: { steps: 1000, inputs: { pre: [100, 0] }, return: { spikes: 'counts' } }, stepsPerCall: 1000 },
];

function row(s: Scenario, r: LoadResult): string {
  const steps = s.stepsPerCall > 1 ? `${Math.round(r.perSecond * s.stepsPerCall).toLocaleString('en-US')} steps/s` : '';
  return `| ${s.name} | ${Math.round(r.perSecond).toLocaleString('en-US')} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${steps} | ${r.errors} |`;
}

async function main(): Promise<void> {
  console.log(`HTTP benchmark: ${CONNECTIONS} keep-alive connections, one session each, ${SECONDS} s per scenario after 1 s warm-up`);
  console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}; server and clients share it\n`);
  console.log('| scenario | requests/s | p50 ms | p99 ms | network steps/s | errors |');
  console.log('|---|---|---|---|---|---|');
  for (const s of SCENARIOS) {
    const { child, port } = await startServer(s.env);
    try {
      const ids = await createSessions(port, CONNECTIONS);
      const requests = ids.map((id) => jsonRequest('POST', `/v1/sessions/${id}/step`, s.body));
      const r = await runLoad({ host: HOST, port, requests, durationMs: SECONDS * 1000, warmupMs: 1000 });
      console.log(row(s, r));
    } finally {
      await stopServer(child);
    }
  }
}

await main();
