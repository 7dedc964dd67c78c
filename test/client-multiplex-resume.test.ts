/**
 * The TypeScript client's MultiplexSocket after a real drop. The server
 * shutting down closes it with 1001 once the replies to what it read are
 * out; the client opens it again (on the server started again on the same
 * port and data directory), and the commands the server never read are sent
 * again: every step runs exactly once, every caller gets its reply. A TCP
 * proxy cut (no close frame) after the server ran commands whose replies
 * the proxy dropped: the sessions read over HTTP tell that they ran
 * (COMMAND_LOST, applied true); commands the proxy dropped on the way up
 * are sent again; an unanswered reset is unknown (applied null). With
 * `reconnect: false`, a 1001 fails the waiting requests as before.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { BatchStepResult } from '../src/api/batch.js';
import type { RewardResult, StepResult } from '../src/api/step.js';
import { MultiplexSocket, RestClient, SpikeserveClientError } from '../src/client/index.js';
import { makeApp } from './helpers/http.js';
import { SEED_MSTDP_NETWORK } from './helpers/seed-mstdp-task.js';
import { liveServer, waitFor } from './helpers/ws.js';

async function listen(dataDir: string, port = 0): Promise<{ app: FastifyInstance; port: number }> {
  const app = await makeApp({ dataDir });
  await app.listen({ host: '127.0.0.1', port });
  return { app, port: (app.server.address() as { port: number }).port };
}

const ROUNDS = 100;
const lostWith = (applied: true | null) => (e: unknown) => e instanceof SpikeserveClientError && e.code === 'COMMAND_LOST' && e.details?.applied === applied;

type Round = [StepResult, RewardResult, BatchStepResult];

test('a 1001 (the server shutting down) with commands in flight: the socket opens again on the restarted server, what the server had not read is sent again, every step runs once', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'spikeserve-mux-resume-'));
  let server = await listen(dataDir);
  const port = server.port;
  const rest = new RestClient(`http://127.0.0.1:${port}`);
  let restarted: Promise<void> | null = null;
  try {
    const a = (await rest.createSession({ network: SEED_MSTDP_NETWORK, seed: 1 })).id;
    const b = (await rest.createSession({ network: SEED_MSTDP_NETWORK, seed: 2 })).id;
    const mux = await rest.multiplex();
    // Rounds of a step of a (2 steps, deferred), a's reward, and a batch stepping b and a; four rounds in flight.
    const round = () =>
      Promise.all([
        mux.step(a, { steps: 2, inputs: { pre: [100, 0] }, deferReward: true }),
        mux.reward(a, 1),
        mux.stepBatch([
          { id: b, steps: 3 },
          { id: a, steps: 1 },
        ]),
      ]) as Promise<Round>;
    const results: Round[] = [];
    const inFlight: Promise<Round>[] = [];
    let waitingAcross = 0;
    for (let i = 0; i < ROUNDS; i++) {
      inFlight.push(round());
      if (inFlight.length < 4) continue;
      results.push(await inFlight.shift()!);
      // After 20 rounds the server shuts down (the replies to what it read, then 1001) and starts again on the same port and data.
      if (results.length === 20) {
        restarted = server.app.close().then(async () => {
          waitingAcross = mux.inFlight;
          server = await listen(dataDir, port);
        });
      }
    }
    results.push(...(await Promise.all(inFlight)));
    await restarted;
    assert.ok(waitingAcross > 0, 'requests waited across the restart');
    assert.equal(mux.reconnects, 1);
    results.forEach(([step, reward, batch], i) => {
      // In order, each once: round i leaves a and b at 3(i+1).
      assert.deepEqual({ step: step.step, pending: step.pending }, { step: 3 * i + 2, pending: true }, `round ${i}`);
      assert.deepEqual(reward, { step: 3 * i + 2, pending: false }, `round ${i}`);
      assert.deepEqual(
        batch.results.map((o) => o.ok && o.result.step),
        [3 * (i + 1), 3 * (i + 1)],
        `round ${i}`,
      );
    });
    assert.equal((await rest.getSession(a)).step, 3 * ROUNDS);
    assert.equal((await rest.getSession(b)).step, 3 * ROUNDS);
    assert.equal((await mux.close()).code, 1000);
  } finally {
    await restarted;
    await server.app.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

/** A TCP proxy to the server whose connections the test can cut, or make drop what goes one way. */
class Proxy {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  dropUp = false;
  dropDown = false;
  /** Bytes dropped on the way up (client to server). */
  droppedUp = 0;

  constructor(targetPort: number) {
    this.server = createServer((client) => {
      const upstream = connect(targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => {
          this.sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.on('data', (d) => (this.dropUp ? (this.droppedUp += d.length) : upstream.write(d)));
      upstream.on('data', (d) => this.dropDown || client.write(d));
    });
  }

  async start(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return (this.server.address() as { port: number }).port;
  }

  /** Closes every connection now, both ways, without a close frame; the next ones pass everything. */
  cut(): void {
    for (const s of this.sockets) s.destroy();
    this.dropUp = this.dropDown = false;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise((r) => this.server.close(r));
  }
}

test('a cut connection: commands the server ran (their replies lost) fail with COMMAND_LOST applied true, those it never got are sent again, an unanswered reset is unknown', async () => {
  const srv = await liveServer();
  const proxy = new Proxy(Number(new URL(srv.base).port));
  const port = await proxy.start();
  try {
    const a = (await srv.rest.createSession({ network: SEED_MSTDP_NETWORK, seed: 1 })).id;
    const b = (await srv.rest.createSession({ network: SEED_MSTDP_NETWORK, seed: 2 })).id;
    const mux = await MultiplexSocket.connect(`ws://127.0.0.1:${port}/v1/ws`, { readSession: (id) => srv.rest.getSession(id) });
    assert.equal((await mux.step(a)).step, 1);
    assert.equal((await mux.step(b)).step, 1);

    // 1. Run by the server, replies lost.
    proxy.dropDown = true;
    const ran = [mux.step(a, { steps: 3 }), mux.stepBatch([{ id: b, steps: 2 }, { id: a }]), mux.step(a, { deferReward: true }), mux.reward(a, 1)];
    const read = mux.weights(b, 'pre_post');
    for (const r of [...ran, read]) r.catch(() => {});
    const at = async () => [(await srv.rest.getSession(a)).step, (await srv.rest.getSession(b)).step];
    for (let i = 0; ; i++) {
      const [sa, sb] = await at();
      if (sa === 6 && sb === 3 && !(await srv.rest.getSession(a)).pending) break;
      assert.ok(i < 500, `the server ran the commands (a at ${sa}, b at ${sb})`);
      await new Promise((r) => setTimeout(r, 10));
    }
    proxy.cut();
    for (const r of ran) await assert.rejects(r, lostWith(true));
    // A read sent after the last command that ran is sent again.
    assert.equal((await read).connection, 'pre_post');
    assert.equal(mux.reconnects, 1);

    // 2. Never reached the server: sent again on the new socket, answered as if nothing had happened.
    proxy.dropUp = true;
    const again = { step: mux.step(a, { steps: 2 }), batch: mux.stepBatch([{ id: b }]), snapshot: mux.snapshot(a) };
    // Each message is a frame of its JSON text plus at least 6 bytes (header and mask): wait until all three were dropped.
    const sizes = [
      { type: 'step', session: a, steps: 2 },
      { type: 'step_batch', items: [{ id: b }] },
      { type: 'snapshot', session: a },
    ].reduce((n, m) => n + Buffer.byteLength(JSON.stringify(m)) + 6, 0);
    await waitFor(() => proxy.droppedUp >= sizes, 'the three requests dropped', 3000);
    proxy.cut();
    const step = await again.step;
    assert.deepEqual({ step: step.step, pending: step.pending }, { step: 8, pending: false });
    const batch = await again.batch;
    assert.ok(batch.results[0].ok && batch.results[0].result.step === 4);
    assert.equal((await again.snapshot).step, 8);
    assert.equal(mux.reconnects, 2);
    assert.deepEqual(await at(), [8, 4], 'every step ran exactly once');

    // 3. An unanswered reset: whether it ran cannot be told.
    proxy.dropUp = true;
    const reset = mux.reset(a);
    await waitFor(() => proxy.droppedUp >= sizes + Buffer.byteLength(JSON.stringify({ type: 'reset', session: a })) + 6, 'the reset dropped', 3000);
    proxy.cut();
    await assert.rejects(reset, lostWith(null));
    assert.equal((await mux.step(a)).step, 9);
    await mux.close();
  } finally {
    await proxy.stop();
    await srv.close();
  }
});

test('with reconnect: false, a 1001 fails every waiting request with SHUTTING_DOWN and the close code, and later ones too', async () => {
  const srv = await liveServer();
  let closing: Promise<void> | null = null;
  try {
    const a = (await srv.rest.createSession({ network: SEED_MSTDP_NETWORK, seed: 1 })).id;
    const mux = await srv.rest.multiplex({ reconnect: false });
    await mux.step(a);
    const waiting = Array.from({ length: 200 }, () => mux.step(a));
    for (const w of waiting) w.catch(() => {});
    closing = srv.close();
    const closed = await mux.whenClosed();
    assert.equal(closed.code, 1001);
    // Replies to what the server read came; the rest failed at the close.
    const failures = (await Promise.allSettled(waiting)).flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
    assert.ok(failures.length > 0);
    for (const e of failures) assert.ok(e instanceof SpikeserveClientError && e.code === 'SHUTTING_DOWN' && e.closeCode === 1001, String(e));
    await assert.rejects(mux.step(a), (e: unknown) => e instanceof SpikeserveClientError && e.code === 'SHUTTING_DOWN');
    assert.equal(mux.reconnects, 0);
  } finally {
    await (closing ?? srv.close());
  }
});
