/**
 * HTTP benchmark (`npm run bench`): the service as `npm start` runs it, in its
 * own process on 127.0.0.1, driven by concurrent keep-alive clients from this
 * process. Reports single-step requests per second with p50/p99 latency for
 * the seed network (at the default LOG_LEVEL=info, and at warn), and network
 * steps per second with `steps: 1000` per call.
 *
 * Then the cost of durability: the same loads with persistence off
 * (DATA_DIR=) and on (a fresh DATA_DIR, PERSIST_SYNC normal, then full), with
 * 32 connections and with one (strict request-reply, where a commit per
 * request cannot be shared), and the ratio on/off. The variants of a load run
 * back to back, BENCH_ROUNDS times (in reverse order every other round, so
 * that a drift in the machine's speed does not always favour one), and a
 * summary gives the median of each and of the rounds' ratios.
 *
 * Environment: BENCH_SECONDS (default 5) per scenario, BENCH_CONNECTIONS
 * (default 32), BENCH_ROUNDS (default 3), BENCH_FILTER (run only scenarios
 * whose name contains it).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { jsonRequest, runLoad, type LoadResult } from './load-client.js';
import { SEED_NETWORK } from './networks.js';
import { HOST, startServer } from './server-process.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const FILTER = process.env.BENCH_FILTER ?? '';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);


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
  /** Persistence: off (DATA_DIR=, the default here), or on in a fresh directory with this PERSIST_SYNC. */
  persist?: 'off' | 'normal' | 'full';
  /** Connections (one session each); default BENCH_CONNECTIONS. */
  connections?: number;
}

const SCENARIOS: Scenario[] = [
  { name: 'single step, LOG_LEVEL=info (default)', env: { LOG_LEVEL: 'info' }, body: { inputs: { pre: [100, 0] } }, stepsPerCall: 1 },
  { name: 'single step, LOG_LEVEL=warn', env: { LOG_LEVEL: 'warn' }, body: { inputs: { pre: [100, 0] } }, stepsPerCall: 1 },
  { name: 'steps: 1000 per call, spikes per step (default)', env: { LOG_LEVEL: 'info' }, body: { steps: 1000, inputs: { pre: [100, 0] } }, stepsPerCall: 1000 },
  { name: 'steps: 1000 per call, return.spikes counts', env: { LOG_LEVEL: 'info' }, body: { steps: 1000, inputs: { pre: [100, 0] }, return: { spikes: 'counts' } }, stepsPerCall: 1000 },
];

const STEP = { inputs: { pre: [100, 0] }, reward: 0.5 };
const STEP_1000 = { steps: 1000, inputs: { pre: [100, 0] }, reward: 0.5, return: { spikes: 'counts' } };
const WARN = { LOG_LEVEL: 'warn' };
/** Pairs: the same load with persistence off and on. */
const PERSIST_SCENARIOS: Scenario[] = [
  { name: 'persistence off, single step', env: WARN, body: STEP, stepsPerCall: 1, persist: 'off' },
  { name: 'persistence on (normal), single step', env: WARN, body: STEP, stepsPerCall: 1, persist: 'normal' },
  { name: 'persistence on (full), single step', env: WARN, body: STEP, stepsPerCall: 1, persist: 'full' },
  { name: 'persistence off, single step, 1 connection', env: WARN, body: STEP, stepsPerCall: 1, persist: 'off', connections: 1 },
  { name: 'persistence on (normal), single step, 1 connection', env: WARN, body: STEP, stepsPerCall: 1, persist: 'normal', connections: 1 },
  { name: 'persistence on (full), single step, 1 connection', env: WARN, body: STEP, stepsPerCall: 1, persist: 'full', connections: 1 },
  { name: 'persistence off, steps: 1000 per call, counts', env: WARN, body: STEP_1000, stepsPerCall: 1000, persist: 'off' },
  { name: 'persistence on (normal), steps: 1000 per call, counts', env: WARN, body: STEP_1000, stepsPerCall: 1000, persist: 'normal' },
];

function row(s: Scenario, r: LoadResult): string {
  const steps = s.stepsPerCall > 1 ? `${Math.round(r.perSecond * s.stepsPerCall).toLocaleString('en-US')} steps/s` : '';
  return `| ${s.name} | ${Math.round(r.perSecond).toLocaleString('en-US')} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${steps} | ${r.errors} |`;
}

async function run(s: Scenario): Promise<LoadResult> {
  const dir = s.persist && s.persist !== 'off' ? mkdtempSync(join(tmpdir(), 'spikeserve-bench-')) : null;
  const env = { ...s.env, DATA_DIR: dir ?? '', ...(dir ? { PERSIST_SYNC: s.persist! } : {}) };
  const server = await startServer({ MAX_SESSIONS: '10000', ...env });
  const { port } = server;
  try {
    const ids = await createSessions(port, s.connections ?? CONNECTIONS);
    const requests = ids.map((id) => jsonRequest('POST', `/v1/sessions/${id}/step`, s.body));
    return await runLoad({ host: HOST, port, requests, durationMs: SECONDS * 1000, warmupMs: 1000 });
  } finally {
    await server.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  console.log(`HTTP benchmark: ${CONNECTIONS} keep-alive connections, one session each, ${SECONDS} s per scenario after 1 s warm-up`);
  console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}; server and clients share it\n`);
  console.log('| scenario | requests/s | p50 ms | p99 ms | network steps/s | errors |');
  console.log('|---|---|---|---|---|---|');
  for (const s of SCENARIOS) {
    if (!s.name.includes(FILTER)) continue;
    console.log(row(s, await run(s)));
  }

  const persist = PERSIST_SCENARIOS.filter((s) => s.name.includes(FILTER));
  if (persist.length === 0) return;
  console.log(`\nDurability: the same loads with persistence off and on (LOG_LEVEL=warn), ${ROUNDS} round(s), a load's variants back to back\n`);
  console.log('| scenario | requests/s | p50 ms | p99 ms | network steps/s | errors | on / off |');
  console.log('|---|---|---|---|---|---|---|');
  // The load a row is a variant of: its name without the persistence part.
  const loadOf = (s: Scenario) => s.name.replace(/^persistence (off|on \((normal|full)\)), /, '');
  const loads = [...new Set(persist.map(loadOf))];
  const summary = new Map<Scenario, { rates: number[]; ratios: number[] }>();
  for (const load of loads) {
    const variants = persist.filter((s) => loadOf(s) === load);
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? variants : [...variants].reverse();
      const results = new Map<Scenario, LoadResult>();
      for (const s of order) results.set(s, await run(s));
      const base = [...results].find(([s]) => s.persist === 'off')?.[1].perSecond;
      for (const s of variants) {
        const r = results.get(s)!;
        const entry = summary.get(s) ?? { rates: [], ratios: [] };
        summary.set(s, entry);
        entry.rates.push(r.perSecond);
        const ratio = s.persist !== 'off' && base ? r.perSecond / base : null;
        if (ratio !== null) entry.ratios.push(ratio);
        console.log(`${row(s, r)} ${ratio !== null ? `${(ratio * 100).toFixed(0)}%` : ''} |`);
      }
    }
  }
  const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
  console.log(`\nSummary over ${ROUNDS} round(s): median requests/s, and the median (range) of the rounds' on / off\n`);
  console.log('| scenario | requests/s | on / off |');
  console.log('|---|---|---|');
  for (const [s, e] of summary) {
    const ratio = e.ratios.length > 0 ? `${pct(median(e.ratios))} (${pct(Math.min(...e.ratios))} - ${pct(Math.max(...e.ratios))})` : '';
    console.log(`| ${s.name} | ${Math.round(median(e.rates)).toLocaleString('en-US')} | ${ratio} |`);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

await main();
