/**
 * Many sessions stepped together, the server alone with the TypeScript
 * client: N seed-network sessions stepped each round with one step_batch
 * message on the multiplexed WebSocket (JSON, and the binary frame of
 * arrays), with N step messages pipelined on it,
 * with one POST /v1/batch/step, and on N WebSockets in lock-step (each round
 * one step on every socket, then all N replies). Session-steps per second in
 * total; the methods take turns, ROUNDS times, so that a change in the
 * machine's load falls on all of them alike.
 *
 *   npm run build && node dist/bench/batch.js [sessions=64] [seconds=5] [rounds=1]
 */
import WebSocket from 'ws';
import { RestClient } from '../src/client/index.js';
import { decodeStepBatchReply, encodeStepBatchRequest } from '../src/ws/batch-frame.js';
import { SEED_NETWORK } from './networks.js';
import { startServer } from './server-process.js';

const N = Number(process.argv[2] ?? 64);
const SECONDS = Number(process.argv[3] ?? 5);
const ROUNDS = Number(process.argv[4] ?? 1);

const STEP = { inputs: { pre: [100, 0] }, reward: 1, return: { populations: ['post'], spikes: 'counts' as const } };

/** Session-steps per second of `round` (one step of every session) run for SECONDS. */
async function rate(round: () => Promise<unknown>): Promise<number> {
  let rounds = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < SECONDS * 1000) {
    await round();
    rounds++;
  }
  return (rounds * N) / ((performance.now() - t0) / 1000);
}

/** A multiplexed socket for binary frames: send one, resolve with the next binary reply. */
async function binarySocket(url: string): Promise<{ ws: WebSocket; send(frame: Buffer): Promise<Buffer> }> {
  const ws = new WebSocket(url);
  const waiting: ((b: Buffer) => void)[] = [];
  let hello = false;
  ws.on('message', (data, isBinary) => {
    if (isBinary) waiting.shift()?.(data as Buffer);
    else if (!hello) hello = true;
    else throw new Error(`unexpected message: ${String(data).slice(0, 200)}`);
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return {
    ws,
    send: (frame) =>
      new Promise<Buffer>((resolve) => {
        waiting.push(resolve);
        ws.send(frame);
      }),
  };
}

async function main(): Promise<void> {
  // No rate limit: N pipelined steps a round on one socket are more messages a second than its default allows.
  const srv = await startServer({ DATA_DIR: '', LOG_LEVEL: 'warn', OVERLOAD_EVENT_LOOP_DELAY_MS: '0', WS_RATE_LIMIT_PER_S: '0' });
  try {
    const rest = new RestClient(srv.base);
    const ids: string[] = [];
    for (let i = 0; i < N; i++) ids.push((await rest.createSession({ network: SEED_NETWORK, seed: i + 1 })).id);
    const items = ids.map((id) => ({ id, ...STEP }));
    const body = JSON.stringify({ items });
    const mux = await rest.multiplex();
    const raw = await binarySocket(`${srv.base.replace(/^http/, 'ws')}/v1/ws`);
    const frame = encodeStepBatchRequest({ type: 'step_batch', sessions: ids, inputs: [{ population: 'pre', n: 2 }], rewards: true, counts: ['post'] }, [
      ids.flatMap(() => STEP.inputs.pre),
      ids.map(() => STEP.reward),
    ]);
    const sockets = await Promise.all(ids.map((id) => rest.socket(id, { format: 'binary' })));
    const methods: [string, () => Promise<unknown>][] = [
      [
        'multiplexed socket, one step_batch a round',
        async () => {
          const r = await mux.stepBatch(items);
          if (!r.results.every((o) => o.ok)) throw new Error(`step_batch: ${JSON.stringify(r.results.find((o) => !o.ok))}`);
        },
      ],
      [
        'multiplexed socket, one binary step_batch a round',
        async () => {
          const r = decodeStepBatchReply(await raw.send(frame));
          if (r.errors.length > 0) throw new Error(`binary step_batch: ${JSON.stringify(r.errors[0])}`);
        },
      ],
      ['multiplexed socket, N steps pipelined', () => Promise.all(ids.map((id) => mux.step(id, STEP)))],
      [
        'one POST /v1/batch/step a round',
        async () => {
          const r = await fetch(`${srv.base}/v1/batch/step`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
          if (r.status !== 200) throw new Error(`batch: ${r.status} ${await r.text()}`);
          await r.json();
        },
      ],
      ['N sockets in lock-step', () => Promise.all(sockets.map((ws) => ws.step(STEP)))],
    ];
    const rates = new Map<string, number[]>(methods.map(([name]) => [name, []]));
    for (let k = 0; k < ROUNDS; k++) for (const [name, round] of methods) rates.get(name)!.push(await rate(round));
    await Promise.all(sockets.map((ws) => ws.close()));
    await mux.close();
    raw.ws.close();
    const lockstep = Math.max(...rates.get('N sockets in lock-step')!);
    console.log(`${N} sessions, ${SECONDS} s a run, ${ROUNDS} run(s) each, best run; session-steps/s (ratio to the sockets in lock-step)`);
    for (const [name, r] of rates) {
      const best = Math.max(...r);
      console.log(`${name.padEnd(46)} ${String(Math.round(best)).padStart(8)}  ${(best / lockstep).toFixed(2)}x   runs: ${r.map((x) => Math.round(x)).join(', ')}`);
    }
  } finally {
    await srv.stop();
  }
}

await main();
