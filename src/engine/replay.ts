/**
 * Replays a recorded case in the format of test/golden (network,
 * initial_weights, steps) and reports what the run produced in the shape of
 * that format's `expect` field.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { SpikeserveError } from '../errors.js';
import type { BackendName } from './backends/index.js';
import type { EngineLimits } from './limits.js';
import { Network } from './network.js';
import { jsonPointerToField } from './validate.js';

export const ReplayCaseSchema = Type.Object({
  name: Type.Optional(Type.String()),
  about: Type.Optional(Type.String()),
  network: Type.Unknown(),
  initial_weights: Type.Optional(Type.Record(Type.String(), Type.Array(Type.Array(Type.Number())))),
  seed: Type.Optional(Type.Integer({ minimum: 0 })),
  steps: Type.Array(
    Type.Object({
      // A batch's: one vector per copy, and a reward per copy or for all.
      inputs: Type.Optional(Type.Record(Type.String(), Type.Union([Type.Array(Type.Number()), Type.Array(Type.Array(Type.Number()))]))),
      reward: Type.Optional(Type.Union([Type.Number(), Type.Array(Type.Number())])),
    }),
  ),
  expect: Type.Optional(Type.Unknown()),
});
export type ReplayCase = Static<typeof ReplayCaseSchema>;

/**
 * What a run produced, in the shape of the case format's `expect`. With a
 * batch, every per-population value has the copy outermost: a step's
 * spikes are [batch_size][indices], v is [batch_size][n].
 */
export interface ReplayResult {
  spikes: Record<string, number[][] | number[][][]>;
  weights: Record<string, number[][]>;
  v: Record<string, number[] | number[][]>;
}

export function checkReplayCase(input: unknown): asserts input is ReplayCase {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new SpikeserveError('REPLAY_CASE_INVALID', 'case: must be a JSON object with "network" and "steps"');
  }
  if (Value.Check(ReplayCaseSchema, input)) return;
  for (const err of Value.Errors(ReplayCaseSchema, input)) {
    const field = jsonPointerToField('case', err.path);
    throw new SpikeserveError('REPLAY_CASE_INVALID', `${field}: ${err.message.charAt(0).toLowerCase()}${err.message.slice(1)}`, { field });
  }
}

/** Builds the case's network with its initial weights as the spec's `w`. */
export function buildReplayNetwork(c: ReplayCase, options: { limits?: EngineLimits; backend?: BackendName } = {}): Network {
  const spec = structuredClone(c.network) as { connections?: Record<string, Record<string, unknown>> };
  for (const [name, w] of Object.entries(c.initial_weights ?? {})) {
    const conns = spec?.connections;
    const conn = conns && Object.hasOwn(conns, name) ? conns[name] : undefined;
    if (!conn) {
      throw new SpikeserveError('REPLAY_CASE_INVALID', `case.initial_weights.${name}: no such connection in the network`, { field: `case.initial_weights.${name}` });
    }
    conn.w = w;
  }
  return Network.create(spec, { seed: c.seed ?? 0, ...options });
}

export function replay(input: unknown, options: { limits?: EngineLimits; backend?: BackendName } = {}): ReplayResult {
  checkReplayCase(input);
  const net = buildReplayNetwork(input, options);
  const copies = Array.from({ length: net.copies }, (_, b) => b);
  const batch = net.copies > 1;
  const spikes: Record<string, (number[] | number[][])[]> = {};
  for (const p of net.populationNames) spikes[p] = [];
  input.steps.forEach((s, t) => {
    try {
      net.step(s.inputs, s.reward);
    } catch (e) {
      if (e instanceof SpikeserveError) throw new SpikeserveError('REPLAY_CASE_INVALID', `case.steps[${t}].${e.message}`, e.details);
      throw e;
    }
    for (const p of net.populationNames) spikes[p].push(batch ? copies.map((b) => net.spikes(p, b)) : net.spikes(p));
  });
  const weights: Record<string, number[][]> = {};
  for (const c of net.connectionNames) weights[c] = net.weights(c);
  const v: Record<string, number[] | number[][]> = {};
  for (const p of net.populationNames) v[p] = batch ? copies.map((b) => Array.from(net.potentials(p, b))) : Array.from(net.potentials(p));
  net.dispose();
  return { spikes: spikes as ReplayResult['spikes'], weights, v };
}
