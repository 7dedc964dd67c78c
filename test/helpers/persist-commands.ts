/**
 * The random command streams of the persistence fault tests (kill -9, a full
 * disk): a network that fires and learns, every kind of state-changing
 * command, the engine twin that runs the acknowledged ones, and the HTTP
 * request of each.
 */
import { Network } from '../../src/engine/index.js';

export const NET = {
  dt: 0.1,
  populations: { pre: { n: 3, refrac_length: 1 }, post: { n: 2, refrac_length: 0 } },
  connections: {
    m: { pre: 'pre', post: 'post', w_min: 0, w_max: 10, rule: { type: 'MSTDP', lr: [0.003, 0.002] } },
    s: { pre: 'pre', post: 'post', w_min: -2, w_max: 2, rule: { type: 'STDP', lr: [0.002, 0.001], weight_decay: 0.0005 } },
  },
};

/** A request that fails after this long instead of waiting forever on a stalled server. */
export const REQUEST_TIMEOUT_MS = 20_000;

export type Command =
  | { kind: 'step'; body: { steps?: number; inputs?: Record<string, unknown>; reward?: number | number[]; deferReward?: boolean } }
  | { kind: 'reward'; reward: number }
  | { kind: 'weights'; w: number[][] }
  | { kind: 'reset'; weights: boolean };

/** A random command; `sequential` allows deferred rewards (which need the reply before the reward is sent). */
export function nextCommand(r: () => number, pending: boolean, sequential: boolean): Command {
  const x = r();
  const current = () => Math.round(r() * 1200) / 10;
  if (sequential && pending && x < 0.6) return { kind: 'reward', reward: Math.round((r() * 4 - 2) * 1000) / 1000 };
  if (x < 0.05) return { kind: 'weights', w: [0, 1, 2].map(() => [r() * 4 - 2, r() * 3 - 1.5]) };
  if (x < 0.08) return { kind: 'reset', weights: r() < 0.5 };
  if (sequential && x < 0.2) return { kind: 'step', body: { inputs: { pre: [current(), current(), current()] }, deferReward: true } };
  const steps = 1 + Math.floor(r() * 4);
  if (x < 0.35) {
    return { kind: 'step', body: { steps, inputs: { pre: Array.from({ length: steps }, () => [current(), current(), current()]) }, reward: Array.from({ length: steps }, () => r() - 0.5) } };
  }
  return { kind: 'step', body: { steps, inputs: { pre: [current(), current(), current()], post: r() * 20 }, reward: Math.round((r() * 2 - 1) * 100) / 100 } };
}

/** Runs an acknowledged command on the engine twin. */
export function apply(net: Network, c: Command): void {
  if (c.kind === 'step') net.run(c.body as Parameters<Network['run']>[0]);
  else if (c.kind === 'reward') net.reward(c.reward);
  else if (c.kind === 'weights') net.setWeights('s', c.w);
  else net.reset({ weights: c.weights });
}

/** A JSON request that fails after REQUEST_TIMEOUT_MS instead of waiting forever on a stalled server. */
export async function call(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const r = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await r.text();
  return { status: r.status, body: text === '' ? text : JSON.parse(text) };
}

/** Sends a command to a session over HTTP. */
export function sendHttp(base: string, id: string, c: Command): Promise<{ status: number; body: any }> {
  const path = `/v1/sessions/${id}`;
  if (c.kind === 'step') return call(base, 'POST', `${path}/step`, { ...c.body, return: { spikes: 'none' } });
  if (c.kind === 'reward') return call(base, 'POST', `${path}/reward`, { reward: c.reward });
  if (c.kind === 'weights') return call(base, 'PUT', `${path}/weights/s`, { weights: c.w });
  return call(base, 'POST', `${path}/reset`, { weights: c.weights });
}
