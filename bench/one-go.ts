/**
 * The CPU time of work a server does in one go on a session at the
 * default limits (one 2000 x 2000 connection, MAX_SYNAPSES_PER_SESSION):
 * the logged steps run again when the server starts and restores its
 * sessions (per 1000 steps: the log holds at most PERSIST_COMPACT_STEPS,
 * 10,000 by default; after a failed commit they run a step at a time), and
 * the copy of a session's snapshot a move between nodes puts in Redis. Each is timed
 * with process.cpuUsage() (which the machine's load does not inflate), best
 * and worst of ROUNDS (default 3).
 *
 *   npm run build --silent && node dist/bench/one-go.js
 */
import { encodeStep } from '../src/api/command-codec.js';
import { Network } from '../src/engine/index.js';
import { encodeBlob } from '../src/persist/codec.js';
import { replayCommands } from '../src/sessions/session-log.js';
import { SpikeStats } from '../src/sessions/spike-stats.js';

const N = Number(process.env.N ?? 2000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const STEPS = 1000;
const LIMITS = { maxNeurons: 2 * N, maxSynapses: N * N };

function cpuMs<T>(work: () => T): { ms: number; result: T } {
  const c0 = process.cpuUsage();
  const result = work();
  const c = process.cpuUsage(c0);
  return { ms: (c.user + c.system) / 1000, result };
}

function report(what: string, times: number[]): void {
  console.log(`| ${what} | ${Math.min(...times).toFixed(0)} | ${Math.max(...times).toFixed(0)} |`);
}

function network(rule: string): Network {
  return Network.create({ populations: { a: { n: N }, b: { n: N } }, connections: { ab: { pre: 'a', post: 'b', rule: { type: rule, lr: [0.001, 0.001] } } } }, { seed: 1, limits: LIMITS });
}

console.log('| work, in one go | best CPU ms | worst CPU ms |');
console.log('| --- | ---: | ---: |');
for (const rule of ['STDP', 'MSTDP']) {
  // 1% of the inputs driven each step, a reward with each MSTDP step: a learning session's log.
  const input = Array.from({ length: N }, (_, i) => (i % 100 === 0 ? 60 : 0));
  const body = rule === 'MSTDP' ? { inputs: { a: input }, reward: 0.5 } : { inputs: { a: input } };
  const commands = Array.from({ length: STEPS }, () => ({ kind: 'step' as const, payload: encodeStep(body) }));
  const times: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const net = network(rule);
    const stats = new SpikeStats(net.populationNames.length);
    times.push(cpuMs(() => replayCommands({ net, stats, reset: () => {} }, commands)).ms);
    net.dispose();
  }
  report(`${STEPS} logged steps run again, ${N} x ${N} ${rule}`, times);
}
{
  const net = network('STDP');
  const blob = encodeBlob(net.snapshotTyped());
  const moveTimes: number[] = [];
  for (let r = 0; r < ROUNDS; r++) moveTimes.push(cpuMs(() => Buffer.concat([Buffer.alloc(4), Buffer.from('{}'), blob])).ms);
  report(`a move's copy of the ${(blob.length / 1e6).toFixed(0)} MB snapshot for Redis, ${N} x ${N}`, moveTimes);
  net.dispose();
}
