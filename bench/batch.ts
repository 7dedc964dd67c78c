/**
 * Many sessions stepped together, the server alone with the TypeScript
 * client: N seed-network sessions stepped with one POST /v1/batch/step per
 * round, vs N WebSockets in lock-step (each round one step on every socket,
 * then all N replies). Session-steps per second in total.
 *
 *   npm run build && node dist/bench/batch.js [sessions=64] [seconds=5]
 */
import { RestClient } from '../src/client/index.js';
import { SEED_NETWORK } from './networks.js';
import { startServer } from './server-process.js';

const N = Number(process.argv[2] ?? 64);
const SECONDS = Number(process.argv[3] ?? 5);

async function main(): Promise<void> {
  const srv = await startServer({ DATA_DIR: '', LOG_LEVEL: 'warn', OVERLOAD_EVENT_LOOP_DELAY_MS: '0' });
  try {
    const rest = new RestClient(srv.base);
    const ids: string[] = [];
    for (let i = 0; i < N; i++) ids.push((await rest.createSession({ network: SEED_NETWORK, seed: i + 1 })).id);
    const body = JSON.stringify({ items: ids.map((id) => ({ id, inputs: { pre: [100, 0] }, reward: 1, return: { populations: ['post'], spikes: 'counts' } })) });
    let rounds = 0;
    let t0 = performance.now();
    while (performance.now() - t0 < SECONDS * 1000) {
      const r = await fetch(`${srv.base}/v1/batch/step`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      if (r.status !== 200) throw new Error(`batch: ${r.status} ${await r.text()}`);
      await r.json();
      rounds++;
    }
    const batch = (rounds * N) / ((performance.now() - t0) / 1000);

    const sockets = await Promise.all(ids.map((id) => rest.socket(id, { format: 'binary' })));
    rounds = 0;
    t0 = performance.now();
    while (performance.now() - t0 < SECONDS * 1000) {
      await Promise.all(sockets.map((ws) => ws.step({ inputs: { pre: [100, 0] }, reward: 1, return: { populations: ['post'], spikes: 'counts' } })));
      rounds++;
    }
    const lockstep = (rounds * N) / ((performance.now() - t0) / 1000);
    await Promise.all(sockets.map((ws) => ws.close()));
    console.log(`${N} sessions, one batch request a round: ${Math.round(batch)} session-steps/s`);
    console.log(`${N} sockets in lock-step:             ${Math.round(lockstep)} session-steps/s`);
    console.log(`ratio: ${(batch / lockstep).toFixed(2)}x`);
  } finally {
    await srv.stop();
  }
}

await main();
