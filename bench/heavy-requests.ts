/**
 * How long the heaviest single requests take, and how long they keep
 * /healthz waiting meanwhile (the event loop's worst stall): a 2000 x 2000
 * connection's weights read and written (JSON and binary), its creation with
 * persistence on, its snapshot, a network of very many populations, and a
 * body of deeply nested JSON. The server runs in a process of its own, and
 * /healthz is asked from a third (probeDuring): the process that receives the
 * heavy replies would delay its answers too.
 *
 *   npm run build --silent && node dist/bench/heavy-requests.js
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeDuring, rawRequest, type RawReply } from '../test/helpers/loop-probe.js';
import { startServer } from './server-process.js';

const N = 2000;
const SPEC = { populations: { a: { n: N }, b: { n: N } }, connections: { ab: { pre: 'a', post: 'b' } } };
const JSON_HEADERS = { 'content-type': 'application/json' };
const BIN = 'application/octet-stream';

interface Row {
  what: string;
  status: number;
  workMs: number;
  worstMs: number;
  bytes: number;
}

async function measure(rows: Row[], base: string, what: string, work: () => Promise<RawReply | RawReply[]>): Promise<RawReply> {
  const { result, workMs, worstMs } = await probeDuring(base, work);
  const all = Array.isArray(result) ? result : [result];
  rows.push({ what, status: all[0].status, workMs, worstMs, bytes: all.reduce((a, r) => a + r.body.length, 0) });
  return all[0];
}

async function createId(base: string, body: unknown): Promise<string> {
  const r = await rawRequest(base, 'POST', '/v1/sessions', { body: JSON.stringify(body), headers: JSON_HEADERS });
  if (r.status !== 201) throw new Error(`create: ${r.status} ${r.body.toString().slice(0, 300)}`);
  return JSON.parse(r.body.toString()).id as string;
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'spikeserve-heavy-'));
  const server = await startServer({ DATA_DIR: dir, LOG_LEVEL: 'warn', OVERLOAD_EVENT_LOOP_DELAY_MS: '0', OVERLOAD_MEMORY_MB: '0' });
  const base = server.base;
  try {
    const created = await measure(rows, base, `create ${N}x${N}, persistence on`, () =>
      rawRequest(base, 'POST', '/v1/sessions', { body: JSON.stringify({ network: SPEC }), headers: JSON_HEADERS }),
    );
    const id = JSON.parse(created.body.toString()).id as string;
    await measure(rows, base, 'GET /weights (JSON)', () => rawRequest(base, 'GET', `/v1/sessions/${id}/weights`));
    await measure(rows, base, '8 x GET /weights (JSON) at once', () =>
      Promise.all(Array.from({ length: 8 }, () => rawRequest(base, 'GET', `/v1/sessions/${id}/weights`))),
    );
    const bin = await measure(rows, base, 'GET /weights (binary)', () => rawRequest(base, 'GET', `/v1/sessions/${id}/weights`, { headers: { accept: BIN } }));
    const one = await rawRequest(base, 'GET', `/v1/sessions/${id}/weights/ab`, { headers: { accept: BIN } });
    if (one.status === 200 && one.headers['content-type'] === BIN) {
      await measure(rows, base, 'PUT /weights/ab (binary)', () =>
        rawRequest(base, 'PUT', `/v1/sessions/${id}/weights/ab`, { body: one.body, headers: { 'content-type': BIN } }),
      );
    }
    void bin;
    await measure(rows, base, 'GET /snapshot (JSON)', () => rawRequest(base, 'GET', `/v1/sessions/${id}/snapshot`));
    const snap = await measure(rows, base, 'GET /snapshot (binary)', () => rawRequest(base, 'GET', `/v1/sessions/${id}/snapshot`, { headers: { accept: BIN } }));
    if (snap.status === 200 && snap.headers['content-type'] === BIN) {
      await measure(rows, base, 'POST /sessions from the binary snapshot', () =>
        rawRequest(base, 'POST', '/v1/sessions', { body: snap.body, headers: { 'content-type': BIN } }),
      );
    }
    const many: Record<string, { n: number }> = {};
    for (let i = 0; i < 100_000; i++) many[`p${i}`] = { n: 1 };
    await measure(rows, base, 'create 100,000 populations', () =>
      rawRequest(base, 'POST', '/v1/sessions', { body: JSON.stringify({ network: { populations: many } }), headers: JSON_HEADERS }),
    );
    const deep = '['.repeat(16 * 1024 * 1024 - 1024);
    await measure(rows, base, '16 MB of nested [', () => rawRequest(base, 'POST', '/v1/sessions', { body: deep, headers: JSON_HEADERS }));
    void createId;
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log('| request | status | time (ms) | worst /healthz (ms) | reply bytes |');
  console.log('| --- | --- | ---: | ---: | ---: |');
  for (const r of rows) console.log(`| ${r.what} | ${r.status} | ${r.workMs.toFixed(0)} | ${r.worstMs.toFixed(0)} | ${r.bytes} |`);
}

await main();
