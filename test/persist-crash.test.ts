/**
 * Nothing acknowledged is lost to a crash. Clients stream commands (steps
 * with inputs and rewards, deferred-reward steps and their rewards, weight
 * writes, resets) to several sessions of the real server, one command at a
 * time each, while the server is killed with SIGKILL at a random moment; it
 * is restarted on the same DATA_DIR and every session must equal, bit for
 * bit (weights, potentials, traces, eligibility, the generator, the step
 * count), an engine that ran exactly the commands the client saw
 * acknowledged, or those plus the one command in flight at the kill (its
 * commit may have landed just before the kill took its reply). Then the
 * stream goes on, and the server is killed again: KILL_POINTS times (20 by
 * default), with a small PERSIST_COMPACT_STEPS so that kills also land
 * around log compactions.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { Network } from '../src/engine/index.js';
import { lcg } from './helpers/bits.js';
import { apply, NET, nextCommand, sendHttp, type Command } from './helpers/persist-commands.js';
import { request, startServer, type ServerProcess } from './helpers/server.js';

const KILL_POINTS = Number(process.env.KILL_POINTS ?? 20);
const SESSIONS = 3;

interface Client {
  id: string;
  /** The engine after every acknowledged command. */
  ref: Network;
  r: () => number;
  acked: number;
  inflight: Command | null;
}

/** Streams commands to one session until the server goes away. */
async function stream(base: string, c: Client): Promise<void> {
  for (;;) {
    const cmd = nextCommand(c.r, c.ref.pending, true);
    c.inflight = cmd;
    let res;
    try {
      res = await sendHttp(base, c.id, cmd);
    } catch {
      return; // the server was killed: cmd may or may not have been committed
    }
    assert.equal(res.status, 200, `command ${JSON.stringify(cmd)} refused: ${JSON.stringify(res.body)}`);
    apply(c.ref, cmd);
    c.acked++;
    c.inflight = null;
  }
}

test(`kill -9 at ${KILL_POINTS} random points during streams of commands: every session comes back exactly at its last acknowledged command`, async (t) => {
  const seed = Number(process.env.KILL_SEED ?? Date.now() % 1_000_000);
  t.diagnostic(`seed ${seed} (KILL_SEED=${seed} replays this run)`);
  const r = lcg(seed);
  const dataDir = mkdtempSync(join(tmpdir(), 'spikeserve-crash-'));
  const env = { DATA_DIR: dataDir, PERSIST_COMPACT_STEPS: '40', LOG_LEVEL: 'info', TFJS_BACKEND: 'cpu' };
  let server: ServerProcess = await startServer({ env });
  const clients: Client[] = [];
  try {
    for (let i = 0; i < SESSIONS; i++) {
      const created = await request(server.base, 'POST', '/v1/sessions', { network: NET, seed: i + 1 });
      assert.equal(created.status, 201);
      clients.push({ id: created.body.id, ref: Network.create(NET, { seed: i + 1 }), r: lcg(seed * 31 + i), acked: 0, inflight: null });
    }
    let withInflight = 0;
    for (let k = 0; k < KILL_POINTS; k++) {
      const streams = clients.map((c) => stream(server.base, c));
      // Kill somewhere in the first 20 to 250 ms of streaming, but not before every session has had a command
      // acknowledged since the restart: on a loaded machine the first ones can take longer than that, and a kill
      // before any would test nothing new.
      const killAt = performance.now() + 20 + r() * 230;
      const ackedBefore = clients.map((c) => c.acked);
      let ended = false;
      void Promise.race(streams).then(
        () => (ended = true),
        () => (ended = true),
      );
      while (!ended && (performance.now() < killAt || clients.some((c, i) => c.acked === ackedBefore[i]))) await new Promise((res) => setTimeout(res, 5));
      server.child.kill('SIGKILL');
      await server.exited;
      await Promise.all(streams);

      server = await startServer({ env });
      assert.match(server.output(), /"restored":3,"damaged":0,"kept":0/);
      for (const c of clients) {
        const got = await request(server.base, 'GET', `/v1/sessions/${c.id}/snapshot`);
        assert.equal(got.status, 200);
        // The session's snapshot also carries its name (null here).
        const acked = { ...c.ref.snapshot(), name: null };
        if (isDeepStrictEqual(JSON.parse(JSON.stringify(got.body)), JSON.parse(JSON.stringify(acked)))) continue;
        // Otherwise it must be the acknowledged commands plus the one in flight, committed before the kill.
        assert.ok(c.inflight, `session ${c.id} after kill ${k + 1}: differs from its acknowledged state and nothing was in flight`);
        const plus = Network.fromSnapshot(acked);
        apply(plus, c.inflight);
        assert.deepEqual(got.body, { ...plus.snapshot(), name: null }, `session ${c.id} after kill ${k + 1}: neither its acknowledged state nor that plus the command in flight`);
        apply(c.ref, c.inflight);
        c.acked++;
        withInflight++;
      }
      for (const c of clients) c.inflight = null;
    }
    const total = clients.reduce((a, c) => a + c.acked, 0);
    t.diagnostic(`${total} commands acknowledged over ${KILL_POINTS} kills; ${withInflight} times the command in flight had been committed`);
    // The streams did real work between kills, including steps, not just a handful of commands.
    assert.ok(total >= KILL_POINTS * SESSIONS, `${total} commands`);
    for (const c of clients) assert.ok(c.ref.stepCount > 0 || c.acked > 0);
  } finally {
    server.child.kill('SIGKILL');
    await server.exited;
  }
});
