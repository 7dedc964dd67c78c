/**
 * Nothing acknowledged is lost to a crash while large snapshots are written
 * in parts. One session of 160,000 synapses (a snapshot of five parts)
 * receives a stream of binary weight writes (each recorded as a snapshot in
 * parts) and steps (compacted into snapshots in parts every
 * PERSIST_COMPACT_STEPS), one at a time, and the server is killed with
 * SIGKILL at random moments, so that kills land while parts are written,
 * between them and the commit that refers to them, and after it. After each
 * restart the session must equal, bit for bit, an engine that ran exactly
 * the acknowledged commands, or those plus the one in flight at the kill.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { Network } from '../src/engine/index.js';
import { encodeFrame } from '../src/ws/binary-format.js';
import { lcg } from './helpers/bits.js';
import { request, startServer, type ServerProcess } from './helpers/server.js';

const KILL_POINTS = Number(process.env.KILL_POINTS ?? 6);
const N = 400;
const NET = {
  dt: 0.1,
  populations: { pre: { n: N, refrac_length: 1 }, post: { n: N, refrac_length: 0 } },
  connections: { pp: { pre: 'pre', post: 'post', w_min: 0, w_max: 4, rule: { type: 'MSTDP', lr: [0.003, 0.002] } } },
};

type Command = { kind: 'weights'; values: Float64Array } | { kind: 'step'; body: { steps: number; inputs: { pre: number[] }; reward: number } };

function nextCommand(r: () => number): Command {
  if (r() < 0.3) return { kind: 'weights', values: Float64Array.from({ length: N * N }, () => Math.round(r() * 4000) / 1000) };
  const steps = 1 + Math.floor(r() * 8);
  return { kind: 'step', body: { steps, inputs: { pre: Array.from({ length: N }, () => (r() < 0.2 ? 100 : 0)) }, reward: Math.round((r() * 2 - 1) * 100) / 100 } };
}

function apply(net: Network, c: Command): void {
  if (c.kind === 'weights') net.setWeightsFlat('pp', c.values);
  else net.run(c.body);
}

async function send(base: string, id: string, c: Command): Promise<number> {
  if (c.kind === 'step') return (await request(base, 'POST', `/v1/sessions/${id}/step`, { ...c.body, return: { spikes: 'none' } })).status;
  const body = encodeFrame({ kind: 'weights', step: 0, sections: [{ type: 'weights64', index: 0, rows: N, cols: N, values: c.values }] });
  const r = await fetch(`${base}/v1/sessions/${id}/weights/pp`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', accept: 'application/octet-stream' }, body: new Uint8Array(body) });
  await r.arrayBuffer();
  return r.status;
}

test(`kill -9 at ${KILL_POINTS} random points while snapshots are written in parts: the session comes back exactly at its last acknowledged command`, async (t) => {
  const seed = Number(process.env.KILL_SEED ?? Date.now() % 1_000_000);
  t.diagnostic(`seed ${seed} (KILL_SEED=${seed} replays this run)`);
  const r = lcg(seed);
  const dataDir = mkdtempSync(join(tmpdir(), 'spikeserve-crash-parts-'));
  const env = { DATA_DIR: dataDir, PERSIST_COMPACT_STEPS: '50', LOG_LEVEL: 'info', OVERLOAD_EVENT_LOOP_DELAY_MS: '0', OVERLOAD_MEMORY_MB: '0' };
  let server: ServerProcess = await startServer({ env });
  try {
    const created = await request(server.base, 'POST', '/v1/sessions', { network: NET, seed: 1 });
    assert.equal(created.status, 201);
    const id = created.body.id as string;
    const ref = Network.create(NET, { seed: 1 });
    let acked = 0;
    let withInflight = 0;
    for (let k = 0; k < KILL_POINTS; k++) {
      let inflight: Command | null = null;
      let running = true;
      const stream = (async () => {
        while (running) {
          const cmd = nextCommand(r);
          inflight = cmd;
          let status: number;
          try {
            status = await send(server.base, id, cmd);
          } catch {
            return; // killed: the command may or may not have been committed
          }
          assert.equal(status, 200, `${cmd.kind} refused`);
          apply(ref, cmd);
          acked++;
          inflight = null;
        }
      })();
      await new Promise((res) => setTimeout(res, 50 + r() * 450));
      server.child.kill('SIGKILL');
      running = false;
      await server.exited;
      await stream;

      server = await startServer({ env });
      assert.match(server.output(), /"restored":1,"damaged":0,"kept":0/);
      const got = await request(server.base, 'GET', `/v1/sessions/${id}/snapshot`);
      assert.equal(got.status, 200);
      const want = JSON.parse(JSON.stringify({ ...ref.snapshot(), name: null }));
      if (isDeepStrictEqual(got.body, want)) continue;
      // Otherwise it must be the acknowledged commands plus the one in flight, committed before the kill.
      assert.ok(inflight, `after kill ${k + 1}: differs from its acknowledged state and nothing was in flight`);
      apply(ref, inflight);
      acked++;
      withInflight++;
      assert.deepEqual(got.body, JSON.parse(JSON.stringify({ ...ref.snapshot(), name: null })), `after kill ${k + 1}: neither its acknowledged state nor that plus the command in flight`);
    }
    t.diagnostic(`${acked} commands acknowledged over ${KILL_POINTS} kills; ${withInflight} times the command in flight had been committed`);
    assert.ok(acked >= KILL_POINTS, `${acked} commands`);
  } finally {
    server.child.kill('SIGKILL');
    await server.exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
});
