/**
 * CPU per single-step call of Session.step, in process: the sessions layer
 * and the engine as every HTTP step request and WebSocket step message runs
 * them (checks, the step, the reply object, metrics), without a socket. The
 * seed's MSTDP network (2 -> 1), one step with a reward per call; CPU time
 * (user + system) per call, best and median of BENCH_ROUNDS rounds (default
 * 10) of BENCH_CALLS calls (default 20,000). On a shared machine CPU time
 * moves less than throughput does; pin it (`taskset -c 1`) and alternate
 * the builds compared.
 */
import { buildApp } from '../src/app.js';
import { defaultConfig } from '../src/config.js';
import { SEED_NETWORK } from './networks.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const CALLS = Number(process.env.BENCH_CALLS ?? 20_000);

const app = await buildApp(defaultConfig({ dataDir: '', overloadEventLoopDelayMs: 0, overloadMemoryMb: 0 }), { logger: false });
try {
  const created = await app.inject({ method: 'POST', url: '/v1/sessions', payload: { network: SEED_NETWORK, seed: 1 } });
  const session = app.sessions.get((created.json() as { id: string }).id);
  const perCall: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < CALLS; i++) await session.step({ inputs: { pre: [100, 0] }, reward: 0.5 });
    const c = process.cpuUsage(c0);
    perCall.push((c.user + c.system) / CALLS);
  }
  perCall.sort((a, b) => a - b);
  console.log(`Session.step, seed network, one step with a reward: ${perCall[0].toFixed(2)} us CPU per call best, ${perCall[ROUNDS >> 1].toFixed(2)} median (${ROUNDS} rounds of ${CALLS})`);
} finally {
  await app.close();
}
