/**
 * SIGTERM during load: the server stops taking requests, answers those in
 * flight (a long step included), writes a final snapshot of every session,
 * and exits 0 well within SHUTDOWN_TIMEOUT_S; on restart every session is
 * exactly at its last acknowledged command and nothing needs replaying.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { Network } from '../src/engine/index.js';
import { request, startServer } from './helpers/server.js';

const NET = {
  dt: 0.1,
  populations: { pre: { n: 3, refrac_length: 0 }, post: { n: 2, refrac_length: 0 } },
  connections: { m: { pre: 'pre', post: 'post', w_max: 10, rule: { type: 'MSTDP', lr: [0.003, 0.002] } } },
};

test('SIGTERM under load: every acknowledged command saved, final snapshots written, exit 0, nothing lost on restart', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'spikeserve-term-'));
  const env = { DATA_DIR: dataDir, SHUTDOWN_TIMEOUT_S: '20', STEP_SLICE_MS: '2', MAX_STEPS_PER_CALL: '1000000', TFJS_BACKEND: 'cpu' };
  const server = await startServer({ env });
  const clients: { id: string; ref: Network; acked: number; refused: number }[] = [];
  for (let i = 0; i < 4; i++) {
    const created = await request(server.base, 'POST', '/v1/sessions', { network: NET, seed: i });
    clients.push({ id: created.body.id, ref: Network.create(NET, { seed: i }), acked: 0, refused: 0 });
  }
  let stop = false;
  const streams = clients.map(async (c, i) => {
    for (let n = 0; !stop; n++) {
      // Client 0 sends one long step (many slices) so that a run is in progress when the signal comes.
      const body = i === 0 && n === 5 ? { steps: 300_000, inputs: { pre: [100, 0, 50] }, reward: 0.5 } : { steps: 2, inputs: { pre: [100, n % 50, 30] }, reward: (n % 7) - 3 };
      let res;
      try {
        res = await request(server.base, 'POST', `/v1/sessions/${c.id}/step`, { ...body, return: { spikes: 'none' } });
      } catch {
        return; // the server has closed the connection
      }
      if (res.status === 200) {
        c.ref.run(body);
        c.acked++;
      } else {
        assert.equal(res.status, 503);
        assert.equal(res.body.error.code, 'SHUTTING_DOWN');
        c.refused++;
        return;
      }
    }
  });
  // Let the load build up, and the long step start.
  while (clients[0].acked < 5) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 30));
  const t0 = Date.now();
  server.child.kill('SIGTERM');
  const exit = await server.exited;
  const took = Date.now() - t0;
  stop = true;
  await Promise.all(streams);
  assert.deepEqual(exit, { code: 0, signal: null }, server.output().slice(-2000));
  assert.ok(took < 15_000, `exited in ${took} ms`);
  assert.match(server.output(), /"msg":"shut down cleanly"/);
  assert.ok(clients[0].ref.stepCount >= 300_000, 'the long step in flight completed and was acknowledged');

  // Final snapshots: no record after any session's snapshot, so the next start replays nothing.
  const db = new Database(join(dataDir, 'spikeserve.db'), { readonly: true });
  const live = db.prepare('SELECT count(*) FROM log JOIN snapshots ON log.session = snapshots.session WHERE log.seq > snapshots.upto').pluck().get();
  db.close();
  assert.equal(live, 0);

  const again = await startServer({ env });
  try {
    for (const c of clients) {
      const got = await request(again.base, 'GET', `/v1/sessions/${c.id}/snapshot`);
      assert.deepEqual(got.body, { ...c.ref.snapshot(), name: null }, `session ${c.id}: ${c.acked} acknowledged steps calls`);
    }
  } finally {
    again.child.kill('SIGTERM');
    assert.equal((await again.exited).code, 0);
  }
});
