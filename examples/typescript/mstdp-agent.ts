/**
 * The seed's MSTDP task, played over spikeserve's WebSocket with the typed
 * client (src/client): the same agent as examples/python/mstdp_agent.py.
 * Each trial holds one input pattern for 50 steps; [100, 0] should make the
 * output fire, [0, 100] keep it silent. Every step is sent with deferReward,
 * its reply shows whether the output fired, and that step is rewarded +100
 * or -100. Prints the accuracy of every 50 trials.
 *
 *   npm run build && node dist/examples/typescript/mstdp-agent.js --url http://127.0.0.1:3000 [--format binary] [--require 0.9]
 *
 * The reward of step t goes out with step t+1 without waiting for its reply
 * (replies come in request order), so a network step costs one round trip.
 */
import { parseArgs } from 'node:util';
import { RestClient, type SessionSocket } from '../../src/client/index.js';

const NETWORK = {
  dt: 0.1,
  populations: { pre: { n: 2, refrac_length: 0 }, post: { n: 1, refrac_length: 0 } },
  connections: { pre_post: { pre: 'pre', post: 'post', w_min: 0, w_max: 10, rule: { type: 'MSTDP', lr: [0.0003, 0.0002] } } },
};
const FIRE = [100, 0];
const SILENT = [0, 100];

/** mulberry32: a small seeded generator for the sequence of patterns. */
function patterns(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function play(ws: SessionSocket, trials: number, stepsPerTrial: number, taskSeed: number): Promise<number[]> {
  const rng = patterns(taskSeed);
  const correct: number[] = [];
  let rewardDone: Promise<unknown> = Promise.resolve();
  for (let trial = 0; trial < trials; trial++) {
    const wantFire = rng() < 0.5;
    const pre = wantFire ? FIRE : SILENT;
    let firedAny = false;
    for (let k = 0; k < stepsPerTrial; k++) {
      const step = ws.step({ inputs: { pre }, deferReward: true, return: { populations: ['post'] } });
      await rewardDone;
      const fired = (await step).spikes!.post[0].length > 0;
      firedAny ||= fired;
      rewardDone = ws.reward(fired === wantFire ? 100 : -100);
    }
    correct.push(firedAny === wantFire ? 1 : 0);
    if ((trial + 1) % 50 === 0) {
      const block = correct.slice(-50);
      console.log(`trials ${String(trial - 48).padStart(3)}-${String(trial + 1).padStart(3)}: accuracy ${(block.reduce((a, b) => a + b, 0) / 50).toFixed(2)}`);
    }
  }
  await rewardDone;
  return correct;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string', default: 'http://127.0.0.1:3000' },
      trials: { type: 'string', default: '300' },
      'steps-per-trial': { type: 'string', default: '50' },
      format: { type: 'string', default: 'json' },
      seed: { type: 'string', default: '1' },
      'task-seed': { type: 'string', default: '1' },
      'api-key': { type: 'string', default: process.env.SPIKESERVE_API_KEY },
      require: { type: 'string' },
    },
  });
  const format = values.format === 'binary' ? 'binary' : 'json';
  const rest = new RestClient(values.url!, { apiKey: values['api-key'] });
  const session = await rest.createSession({ name: 'mstdp-agent', seed: Number(values.seed), network: NETWORK });
  let correct: number[];
  try {
    const ws = await rest.socket(session.id, { format });
    console.log(`session ${session.id}: protocol ${ws.hello.protocol}, role ${ws.hello.role}, format ${ws.hello.format}`);
    const trials = Number(values.trials);
    const stepsPerTrial = Number(values['steps-per-trial']);
    const t0 = performance.now();
    correct = await play(ws, trials, stepsPerTrial, Number(values['task-seed']));
    const s = (performance.now() - t0) / 1000;
    const steps = trials * stepsPerTrial;
    console.log(`${steps} steps and ${steps} rewards in ${s.toFixed(2)} s (${Math.round(steps / s)} steps/s)`);
    await ws.close();
  } finally {
    await rest.deleteSession(session.id).catch(() => undefined);
  }
  if (correct.length >= 300) {
    const acc = correct.slice(200, 300).reduce((a, b) => a + b, 0) / 100;
    console.log(`result: accuracy ${acc.toFixed(2)} on trials 201-300`);
    if (values.require !== undefined && acc < Number(values.require)) {
      console.error(`below the required ${values.require}`);
      return 1;
    }
  }
  return 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err: Error) => {
    console.error(`mstdp-agent: ${err.message}`);
    process.exitCode = 2;
  },
);
