/**
 * The seed's MSTDP task (model.md, last section), transport-agnostic so the
 * engine, REST and WebSocket tests play the very same game: 2 -> 1 neurons;
 * input [100, 0] should make the output fire (reward +100 if it does, -100 if
 * not), input [0, 100] should keep it silent. Patterns are held for trials of
 * 50 steps; every step is rewarded from that step's output spikes, so the
 * player needs deferred reward: step, look, reward.
 */
import type { SessionSocket } from '../../src/client/index.js';
import { Network } from '../../src/engine/index.js';
import { Rng } from '../../src/engine/random.js';

export const SEED_MSTDP_NETWORK = {
  dt: 0.1,
  populations: { pre: { n: 2, refrac_length: 0 }, post: { n: 1, refrac_length: 0 } },
  connections: {
    pre_post: { pre: 'pre', post: 'post', w_min: 0, w_max: 10, rule: { type: 'MSTDP', lr: [0.0003, 0.0002] } },
  },
};

export const FIRE = [100, 0];
export const SILENT = [0, 100];

export interface TaskPlayer {
  /** One step with the pre input, reward deferred; resolves to whether the output fired. */
  step(pre: number[]): Promise<boolean> | boolean;
  /** Completes the deferred update of the step just taken. */
  reward(r: number): Promise<void> | void;
}

export interface TaskResult {
  /** 1 where trial t was answered right: the output fired in a FIRE trial, stayed silent in a SILENT one. */
  correct: number[];
}

export async function playSeedTask(player: TaskPlayer, trials: number, opts: { seed?: number; stepsPerTrial?: number } = {}): Promise<TaskResult> {
  const rng = new Rng(opts.seed ?? 1);
  const stepsPerTrial = opts.stepsPerTrial ?? 50;
  const correct: number[] = [];
  for (let t = 0; t < trials; t++) {
    const wantFire = rng.nextFloat() < 0.5;
    const input = wantFire ? FIRE : SILENT;
    let firedAny = false;
    for (let k = 0; k < stepsPerTrial; k++) {
      const fired = await player.step(input);
      firedAny ||= fired;
      await player.reward(fired === wantFire ? 100 : -100);
    }
    correct.push(firedAny === wantFire ? 1 : 0);
  }
  return { correct };
}

/** The task played on a session's socket: whether the output fired at each step. */
export async function playOnSocket(ws: SessionSocket, trials: number, seed: number): Promise<boolean[]> {
  const fired: boolean[] = [];
  await playSeedTask(
    {
      step: async (pre) => {
        const r = await ws.step({ inputs: { pre }, deferReward: true, return: { populations: ['post'] } });
        fired.push(r.spikes!.post[0].length > 0);
        return fired[fired.length - 1];
      },
      reward: async (reward) => {
        await ws.reward(reward);
      },
    },
    trials,
    { seed },
  );
  return fired;
}

/** Fraction answered right among trials [from, to] (1-based, inclusive). */
export function accuracy(correct: number[], from: number, to: number): number {
  const slice = correct.slice(from - 1, to);
  return slice.reduce((a, b) => a + b, 0) / slice.length;
}

/** The task played in-process on the engine: whether the output fired at each step, and the final weights (the single-process trajectory). */
export async function referenceTrajectory(seed: number, trials: number): Promise<{ fired: boolean[]; weights: number[][] }> {
  const net = Network.create(SEED_MSTDP_NETWORK, { seed });
  const fired: boolean[] = [];
  await playSeedTask(
    {
      step: (pre) => {
        net.step({ pre }, undefined, { deferReward: true });
        fired.push(net.spikeCount(1) > 0);
        return fired[fired.length - 1];
      },
      reward: (r) => net.reward(r),
    },
    trials,
    { seed },
  );
  return { fired, weights: net.weights('pre_post').map((row) => Array.from(row)) };
}
