/**
 * How long one heavy request holds the server's event loop at a time, in
 * one process (so the machine's load, which delays a server in a process of
 * its own, shows less): the app listens on 127.0.0.1, a client in the same
 * process sends the request and discards the reply's body, and a 1 ms timer
 * loop records the largest gap between two of its turns, in wall time and
 * in the CPU time the process used over that gap (process.cpuUsage(), which
 * the machine's load does not inflate). Every session is at the default
 * limits (2000 x 2000 = MAX_SYNAPSES_PER_SESSION) unless N says otherwise.
 *
 *   npm run build --silent && node dist/bench/loop-turns.js [dist directory of the build to measure] [case ...]
 *
 * The first argument (default: this build's dist) lets two builds be
 * measured by the same script, alternately. Cases: snapshot-bin,
 * snapshot-json, mstdpet-snapshot-bin, tfjs-create, tfjs-snapshot-bin,
 * json-body, many-parts, create, weights-bin, weights-json, weights-json8,
 * put-bin, import-bin (default: all). ROUNDS (default 2) runs of each.
 * PERSIST=1 runs the app with persistence on (a data directory in /tmp,
 * deleted at the end), as heavy-requests.ts does. Besides the longest gap,
 * the most CPU time used within any one gap is shown: on a loaded machine
 * the longest gap in wall time may be a wait for a core, not work. Where
 * Linux tells (/proc/self/task/<pid>/schedstat), also the time the main
 * thread itself ran within the gap and waited for a core: the rest of a gap
 * is time it was blocked (on the disk, or on the garbage collector's other
 * threads), and other threads' CPU counts in the process's. GAPS=1
 * also prints the longest gap's start and end on the monotonic clock (us,
 * as a --cpu-prof profile's timestamps), to find what ran in it.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const distArg = args[0] !== undefined && !/^[a-z-]+$/.test(args[0]) ? args.shift()! : join(here, '..');
const dist = resolve(distArg);
const N = Number(process.env.N ?? 2000);
const ROUNDS = Number(process.env.ROUNDS ?? 2);
const BIN = 'application/octet-stream';
const persist = process.env.PERSIST === '1';

interface Gap {
  wallMs: number;
  cpuMs: number;
  /** The most CPU time used within any one gap. */
  maxCpuMs: number;
  /** In the longest gap, the time the main thread ran, and waited for a core (NaN where not known). */
  mainMs: number;
  queuedMs: number;
  /** The most time the main thread ran within any one gap. */
  maxMainMs: number;
  /** The longest gap's start and end, monotonic clock, us. */
  fromUs: bigint;
  toUs: bigint;
}

const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;

/** Nanoseconds the main thread has run, and waited for a core, so far; NaN where not known. */
function mainThread(): [number, number] {
  try {
    const [run, wait] = readFileSync(SCHEDSTAT, 'latin1').split(' ');
    return [Number(run), Number(wait)];
  } catch {
    return [NaN, NaN];
  }
}

/** The longest gap between two turns of a 1 ms timer loop while `work` runs. */
async function longestGap<T>(work: () => Promise<T>): Promise<{ result: T; gap: Gap; totalMs: number }> {
  let done = false;
  const gap: Gap = { wallMs: 0, cpuMs: 0, maxCpuMs: 0, mainMs: NaN, queuedMs: NaN, maxMainMs: 0, fromUs: 0n, toUs: 0n };
  let last = process.hrtime.bigint();
  let lastCpu = process.cpuUsage();
  let lastMain = mainThread();
  const loop = (async () => {
    while (!done) {
      await new Promise((r) => setTimeout(r, 1));
      const now = process.hrtime.bigint();
      const cpu = process.cpuUsage();
      const wallMs = Number(now - last) / 1e6;
      const cpuMs = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000;
      const main = mainThread();
      const mainMs = (main[0] - lastMain[0]) / 1e6;
      const queuedMs = (main[1] - lastMain[1]) / 1e6;
      if (wallMs > gap.wallMs) Object.assign(gap, { wallMs, cpuMs, mainMs, queuedMs, fromUs: last / 1000n, toUs: now / 1000n });
      gap.maxCpuMs = Math.max(gap.maxCpuMs, cpuMs);
      if (mainMs > gap.maxMainMs) gap.maxMainMs = mainMs;
      last = now;
      lastCpu = cpu;
      lastMain = main;
    }
  })();
  const t0 = performance.now();
  const result = await work();
  const totalMs = performance.now() - t0;
  done = true;
  await loop;
  return { result, gap, totalMs };
}

function send(base: string, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; bytes: number; text: string }> {
  return new Promise((resolveReply, reject) => {
    const req = request(base + path, { method, headers, agent: false }, (res) => {
      let bytes = 0;
      let text = '';
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (text.length < 100_000) text += c.toString("utf8", 0, Math.min(c.length, 100_000));
      });
      res.on('end', () => resolveReply({ status: res.statusCode ?? 0, bytes, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const JSON_HEADERS = { 'content-type': 'application/json' };

/** A reply's whole body, for a request made before the measurement. */
function fetchBody(base: string, path: string, headers: Record<string, string>): Promise<Buffer> {
  return new Promise((resolveBody, reject) => {
    const req = request(base + path, { headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolveBody(Buffer.concat(chunks)) : reject(new Error(`${path}: ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function create(base: string, network: unknown, extra: Record<string, unknown> = {}): Promise<string> {
  const r = await send(base, 'POST', '/v1/sessions', JSON.stringify({ network, seed: 1, ...extra }), JSON_HEADERS);
  if (r.status !== 201) throw new Error(`create: ${r.status} ${r.text.slice(0, 300)}`);
  return JSON.parse(r.text).id as string;
}

function square(rule: Record<string, unknown>): unknown {
  return { populations: { a: { n: N }, b: { n: N } }, connections: { ab: { pre: 'a', post: 'b', rule } } };
}

async function stepSome(base: string, id: string): Promise<void> {
  const body = JSON.stringify({ steps: 2, inputs: { a: Array.from({ length: N }, (_, i) => (i % 7 === 0 ? 50 : 0)) }, return: {} });
  const r = await send(base, 'POST', `/v1/sessions/${id}/step`, body, JSON_HEADERS);
  if (r.status !== 200) throw new Error(`step: ${r.status} ${r.text.slice(0, 300)}`);
}

async function deleteAll(base: string): Promise<void> {
  const list = await send(base, 'GET', '/v1/sessions?limit=1000');
  for (const s of (JSON.parse(list.text) as { sessions: { id: string }[] }).sessions) await send(base, 'DELETE', `/v1/sessions/${s.id}`);
}

type Case = (base: string) => Promise<{ what: string; run: () => Promise<{ status: number; bytes: number }> }>;

const CASES: Record<string, Case> = {
  'snapshot-bin': async (base) => {
    const id = await create(base, square({ type: 'NoOp' }));
    return { what: `GET /snapshot binary, ${N} x ${N} NoOp`, run: () => send(base, 'GET', `/v1/sessions/${id}/snapshot`, undefined, { accept: BIN }) };
  },
  'snapshot-json': async (base) => {
    const id = await create(base, square({ type: 'NoOp' }));
    return { what: `GET /snapshot JSON, ${N} x ${N} NoOp`, run: () => send(base, 'GET', `/v1/sessions/${id}/snapshot`) };
  },
  'mstdpet-snapshot-bin': async (base) => {
    const id = await create(base, square({ type: 'MSTDPET', lr: [0.01, 0.01] }));
    await stepSome(base, id);
    return { what: `GET /snapshot binary, ${N} x ${N} MSTDPET`, run: () => send(base, 'GET', `/v1/sessions/${id}/snapshot`, undefined, { accept: BIN }) };
  },
  'tfjs-create': async (base) => ({
    what: `create ${N} x ${N} on tfjs`,
    run: () => send(base, 'POST', '/v1/sessions', JSON.stringify({ network: square({ type: 'NoOp' }), backend: 'tfjs' }), JSON_HEADERS),
  }),
  'tfjs-snapshot-bin': async (base) => {
    const id = await create(base, square({ type: 'NoOp' }), { backend: 'tfjs' });
    return { what: `GET /snapshot binary, ${N} x ${N} on tfjs`, run: () => send(base, 'GET', `/v1/sessions/${id}/snapshot`, undefined, { accept: BIN }) };
  },
  'json-body': async (base) => {
    // PUT weights of as many numbers as fit in BODY_LIMIT_BYTES (16 MiB) as JSON text: about 19 bytes a number.
    const rows = 1000;
    const cols = 820;
    const id = await create(base, { populations: { a: { n: rows }, b: { n: cols } }, connections: { ab: { pre: 'a', post: 'b' } } });
    const weights = Array.from({ length: rows }, () => Array.from({ length: cols }, () => Math.random()));
    const body = JSON.stringify({ weights });
    return { what: `PUT /weights/ab JSON, ${(body.length / 2 ** 20).toFixed(1)} MiB body`, run: () => send(base, 'PUT', `/v1/sessions/${id}/weights/ab`, body, JSON_HEADERS) };
  },
  create: async (base) => ({
    what: `create ${N} x ${N}${persist ? ', persistence on' : ''}`,
    run: () => send(base, 'POST', '/v1/sessions', JSON.stringify({ network: square({ type: 'NoOp' }), seed: 1 }), JSON_HEADERS),
  }),
  'weights-bin': async (base) => {
    const id = await create(base, square({ type: 'NoOp' }));
    return { what: `GET /weights binary, ${N} x ${N}`, run: () => send(base, 'GET', `/v1/sessions/${id}/weights`, undefined, { accept: BIN }) };
  },
  'weights-json': async (base) => {
    const id = await create(base, square({ type: 'NoOp' }));
    return { what: `GET /weights JSON, ${N} x ${N}`, run: () => send(base, 'GET', `/v1/sessions/${id}/weights`) };
  },
  'weights-json8': async (base) => {
    const id = await create(base, square({ type: 'NoOp' }));
    return {
      what: `8 x GET /weights JSON at once, ${N} x ${N}`,
      run: async () => {
        const all = await Promise.all(Array.from({ length: 8 }, () => send(base, 'GET', `/v1/sessions/${id}/weights`)));
        return { status: all[0].status, bytes: all.reduce((a, r) => a + r.bytes, 0) };
      },
    };
  },
  'put-bin': async (base) => {
    const id = await create(base, square({ type: 'NoOp' }));
    const body = await fetchBody(base, `/v1/sessions/${id}/weights/ab`, { accept: BIN });
    return { what: `PUT /weights/ab binary, ${N} x ${N}${persist ? ', persistence on' : ''}`, run: () => send(base, 'PUT', `/v1/sessions/${id}/weights/ab`, body, { 'content-type': BIN }) };
  },
  'import-bin': async (base) => {
    const id = await create(base, square({ type: 'NoOp' }));
    const body = await fetchBody(base, `/v1/sessions/${id}/snapshot`, { accept: BIN });
    return { what: `POST /sessions from a binary snapshot, ${N} x ${N}${persist ? ', persistence on' : ''}`, run: () => send(base, 'POST', '/v1/sessions', body, { 'content-type': BIN }) };
  },
  'many-parts': async (base) => {
    const populations: Record<string, { n: number }> = {};
    const connections: Record<string, { pre: string; post: string }> = {};
    for (let i = 0; i < 1000; i++) {
      populations[`p${i}`] = { n: 1 };
      connections[`c${i}`] = { pre: `p${i}`, post: `p${(i + 1) % 1000}` };
    }
    const body = JSON.stringify({ network: { populations, connections } });
    return { what: 'create 1000 populations, 1000 connections', run: () => send(base, 'POST', '/v1/sessions', body, JSON_HEADERS) };
  },
};

async function main(): Promise<void> {
  const { buildApp } = (await import(pathToFileURL(join(dist, 'src/app.js')).href)) as typeof import('../src/app.js');
  const { defaultConfig } = (await import(pathToFileURL(join(dist, 'src/config.js')).href)) as typeof import('../src/config.js');
  const { startBackends } = (await import(pathToFileURL(join(dist, 'src/engine/index.js')).href)) as typeof import('../src/engine/index.js');
  const dataDir = persist ? mkdtempSync(join(tmpdir(), 'spikeserve-loop-turns-')) : '';
  const config = defaultConfig({ dataDir, overloadEventLoopDelayMs: 0, overloadMemoryMb: 0, maxSynapses: Math.max(4_000_000, N * N), maxNeurons: Math.max(100_000, 2 * N) });
  await startBackends(config.backendSettings);
  const app = await buildApp(config, { logger: false });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  const names = args.length > 0 ? args : Object.keys(CASES);
  try {
    for (const name of names) {
      const c = CASES[name];
      if (!c) throw new Error(`unknown case ${name}; one of ${Object.keys(CASES).join(', ')}`);
      for (let round = 0; round < ROUNDS; round++) {
        const { what, run } = await c(address);
        const { result, gap, totalMs } = await longestGap(run);
        const window = process.env.GAPS === '1' ? ` [${gap.fromUs}-${gap.toUs}]` : '';
        console.log(
          `${dist} | ${what} | ${result.status} | ${result.bytes} bytes | total ${totalMs.toFixed(0)} ms | longest gap ${gap.wallMs.toFixed(0)} ms wall, ${gap.cpuMs.toFixed(0)} ms CPU (main thread ran ${gap.mainMs.toFixed(0)}, waited for a core ${gap.queuedMs.toFixed(0)}) | most in a gap: CPU ${gap.maxCpuMs.toFixed(0)} ms, main thread ran ${gap.maxMainMs.toFixed(0)} ms${window}`,
        );
        await deleteAll(address);
      }
    }
  } finally {
    await app.close();
    if (dataDir !== '') rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
