/**
 * SIGTERM while agents step their sessions over WebSockets (one step at a
 * time, pipelined, and one long step in flight; one agent over the
 * multiplexed socket) and observers watch: every socket gets the replies to
 * what the server read, then a close with 1001 "SHUTTING_DOWN"; the server
 * exits 0; on restart each session is exactly at its last acknowledged
 * command: nothing acknowledged lost, nothing unacknowledged run. The
 * multiplexed client, told not to reconnect, fails its waiting requests with
 * SHUTTING_DOWN and close code 1001.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { RestClient, SpikeserveClientError, type SessionSocket } from '../src/client/index.js';
import { Network } from '../src/engine/index.js';
import { request, startServer } from './helpers/server.js';

const NET = {
  dt: 0.1,
  populations: { pre: { n: 3, refrac_length: 0 }, post: { n: 2, refrac_length: 0 } },
  connections: { m: { pre: 'pre', post: 'post', w_max: 10, rule: { type: 'MSTDP', lr: [0.003, 0.002] } } },
};

interface Agent {
  id: string;
  ref: Network;
  acked: number;
  ctl: SessionSocket;
  obs: SessionSocket;
}

const stepBody = (n: number) => ({ steps: 2, inputs: { pre: [100, n % 50, 30] }, reward: (n % 7) - 3 });

test('SIGTERM with sockets open: replies first, then 1001 on every socket, exit 0, and on restart every acknowledged step is there and no other', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'spikeserve-ws-term-'));
  const env = { DATA_DIR: dataDir, SHUTDOWN_TIMEOUT_S: '20', STEP_SLICE_MS: '2', MAX_STEPS_PER_CALL: '1000000', TFJS_BACKEND: 'cpu' };
  const server = await startServer({ env });
  const rest = new RestClient(server.base);
  const agents: Agent[] = [];
  for (let i = 0; i < 3; i++) {
    const { id } = await rest.createSession({ network: NET, seed: i });
    // Without reconnecting: what is tested here is the server's close.
    const obs = await rest.socket(id, { role: 'observer', reconnect: false });
    await obs.subscribe({ stream: 'spikes' });
    agents.push({ id, ref: Network.create(NET, { seed: i }), acked: 0, ctl: await rest.socket(id, { reconnect: false }), obs });
  }
  const closes = agents.flatMap((a) => [a.ctl.whenClosed(), a.obs.whenClosed()]);
  // Agent 3 steps its session over the multiplexed socket, four requests in flight (without reconnecting, as above).
  const mux = await rest.multiplex({ reconnect: false });
  const muxAgent = { id: (await rest.createSession({ network: NET, seed: 3 })).id, ref: Network.create(NET, { seed: 3 }), acked: 0 };
  closes.push(mux.whenClosed());
  let muxFailure: unknown = null;
  const runMux = async () => {
    const sent: { body: ReturnType<typeof stepBody>; reply: Promise<unknown> }[] = [];
    for (let n = 0; ; n++) {
      const body = stepBody(n);
      const reply = mux.step(muxAgent.id, { ...body, return: { spikes: 'none' } });
      reply.catch(() => {});
      sent.push({ body, reply });
      if (sent.length < 4) continue;
      const first = sent.shift()!;
      try {
        await first.reply;
      } catch (e) {
        muxFailure = e;
        break;
      }
      muxAgent.ref.run(first.body);
      muxAgent.acked++;
    }
    for (const s of sent) await assert.rejects(s.reply);
  };

  // Agent 0: one request at a time, with one long step (many slices) so that a run is in progress at the signal.
  // Agent 1: one request at a time. Agent 2: eight requests in flight at all times.
  const run = async (a: Agent, i: number) => {
    const inFlight = i === 2 ? 8 : 1;
    const sent: { body: ReturnType<typeof stepBody>; reply: Promise<unknown> }[] = [];
    let failed = false;
    for (let n = 0; !failed; n++) {
      const body = i === 0 && n === 5 ? { steps: 200_000, inputs: { pre: [100, 0, 50] }, reward: 0.5 } : stepBody(n);
      const reply = a.ctl.step({ ...body, return: { spikes: 'none' } });
      reply.catch(() => {});
      sent.push({ body, reply });
      if (sent.length < inFlight) continue;
      const first = sent.shift()!;
      try {
        await first.reply;
      } catch {
        failed = true;
        break;
      }
      a.ref.run(first.body);
      a.acked++;
    }
    // Replies come in order: once one failed, none after it can have succeeded; check that they all fail.
    for (const s of sent) await assert.rejects(s.reply);
  };
  const streams = [...agents.map(run), runMux()];
  while (agents[0].acked < 6 || agents[2].acked < 20 || muxAgent.acked < 10) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 30));
  server.child.kill('SIGTERM');
  const exit = await server.exited;
  await Promise.all(streams);
  assert.deepEqual(exit, { code: 0, signal: null }, server.output().slice(-2000));
  assert.match(server.output(), /"msg":"shut down cleanly"/);
  for (const c of await Promise.all(closes)) {
    assert.equal(c.code, 1001);
    assert.match(c.reason, /^SHUTTING_DOWN: /);
  }
  assert.ok(agents[0].ref.stepCount >= 200_000, 'the long step in flight completed and was acknowledged');
  assert.ok(muxFailure instanceof SpikeserveClientError, String(muxFailure));
  assert.equal(muxFailure.code, 'SHUTTING_DOWN', 'its waiting requests failed with the close');

  const again = await startServer({ env });
  try {
    for (const a of [...agents, muxAgent]) {
      const got = await request(again.base, 'GET', `/v1/sessions/${a.id}/snapshot`);
      assert.deepEqual(got.body, { ...a.ref.snapshot(), name: null }, `session ${a.id}: ${a.acked} acknowledged steps`);
    }
  } finally {
    again.child.kill('SIGTERM');
    assert.equal((await again.exited).code, 0);
  }
});
