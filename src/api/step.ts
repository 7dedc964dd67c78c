/**
 * Schemas of the commands that move a session: step, reward, reset. The
 * WebSocket protocol reuses the same fields, so they live here rather than
 * with the HTTP routes.
 */
import { Type, type Static } from '@sinclair/typebox';
import { WeightMatrixSchema } from './common.js';

export const StepInputSchema = Type.Union(
  [
    Type.Number({ description: 'The same current for every neuron, every step.' }),
    Type.Array(Type.Number(), { description: 'One current per neuron, held for every step.' }),
    Type.Array(Type.Array(Type.Number()), {
      description: 'One vector per step (exactly `steps` of them), each with one current per neuron. In a batch (batch_size B > 1): one vector per copy (B of them), held for every step.',
    }),
    Type.Array(Type.Array(Type.Array(Type.Number())), { description: 'In a batch: one list of B vectors (one per copy) per step.' }),
  ],
  { description: 'a number, a vector of one number per neuron, or one such vector per step; in a batch, a vector is every copy\'s and a list of vectors is one per copy' },
);

export const SPIKE_FORMATS = ['steps', 'counts', 'none'] as const;
export type SpikeFormat = (typeof SPIKE_FORMATS)[number];

export const StepReturnSchema = Type.Object(
  {
    spikes: Type.Optional(
      Type.Union(
        SPIKE_FORMATS.map((f) => Type.Literal(f)),
        {
          description:
            '`steps` (default): for each step, the indices of the neurons that fired, in `spikes`. `counts`: spikes per neuron over the call, in `spikeCounts`. `none`: neither.',
        },
      ),
    ),
    populations: Type.Optional(Type.Array(Type.String(), { description: 'Return spikes and potentials of these populations only; default all.' })),
    copies: Type.Optional(
      Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1, uniqueItems: true, description: 'In a batch: return spikes and potentials of these copies only, in this order; default all.' }),
    ),
    potentials: Type.Optional(Type.Boolean({ description: 'Also return the membrane potentials after the last step. Default false.' })),
    weights: Type.Optional(Type.Boolean({ description: 'Also return every connection\'s weights after the last step (before a deferred update). Default false.' })),
  },
  { additionalProperties: false, description: 'What the reply carries.' },
);
export type StepReturn = Static<typeof StepReturnSchema>;

export const StepBodySchema = Type.Object(
  {
    inputs: Type.Optional(
      Type.Record(Type.String(), StepInputSchema, { description: 'External current per population; populations left out get 0.' }),
    ),
    steps: Type.Optional(Type.Integer({ minimum: 1, description: 'Network steps to run. Default 1; at most MAX_STEPS_PER_CALL.' })),
    reward: Type.Optional(
      Type.Union([Type.Number(), Type.Array(Type.Number()), Type.Array(Type.Array(Type.Number()))], {
        description:
          'a number for every step, or one number per step (with deferReward: one per step before the last). Default 0. In a batch: a number (every copy), B numbers (one per copy, every step), or one of those per step.',
      }),
    ),
    deferReward: Type.Optional(
      Type.Boolean({ description: 'Leave the last step\'s learning update pending until POST .../reward (or the next step, with reward 0). See docs/deferred-reward.md.' }),
    ),
    return: Type.Optional(StepReturnSchema),
  },
  { additionalProperties: false, description: 'An empty body (or none) runs one step with no input and reward 0.' },
);
export type StepBody = Static<typeof StepBodySchema>;

export const StepResultSchema = Type.Object(
  {
    step: Type.Integer({ description: 'The session\'s step count after this call.' }),
    steps: Type.Integer({ description: 'Steps run by this call.' }),
    pending: Type.Boolean({ description: 'The last step\'s update waits for POST .../reward.' }),
    copies: Type.Optional(Type.Array(Type.Integer(), { description: 'In a batch: the copies the spikes and potentials below are of, in their order.' })),
    spikes: Type.Optional(
      Type.Record(Type.String(), Type.Union([Type.Array(Type.Array(Type.Integer())), Type.Array(Type.Array(Type.Array(Type.Integer())))]), {
        description: 'Per population, one list of fired neuron indices per step (spikes: steps); in a batch, per step one such list per copy.',
      }),
    ),
    spikeCounts: Type.Optional(
      Type.Record(Type.String(), Type.Union([Type.Array(Type.Integer()), Type.Array(Type.Array(Type.Integer()))]), {
        description: 'Per population, spikes per neuron over the call (spikes: counts); in a batch, one such list per copy.',
      }),
    ),
    potentials: Type.Optional(
      Type.Record(Type.String(), Type.Union([Type.Array(Type.Number()), Type.Array(Type.Array(Type.Number()))]), { description: 'Per population, v after the last step; in a batch, one vector per copy.' }),
    ),
    weights: Type.Optional(Type.Record(Type.String(), WeightMatrixSchema, { description: 'Per connection, the weights after the last step.' })),
  },
  { $id: 'StepResult', additionalProperties: false },
);
export type StepResult = Static<typeof StepResultSchema>;

export const RewardBodySchema = Type.Object(
  {
    reward: Type.Union([Type.Number(), Type.Array(Type.Number())], {
      description: 'a number (the reward that completes the pending update), or in a batch one number per copy',
    }),
  },
  { additionalProperties: false },
);
export type RewardBody = Static<typeof RewardBodySchema>;

export const RewardResultSchema = Type.Object(
  { step: Type.Integer(), pending: Type.Boolean() },
  { additionalProperties: false },
);
export type RewardResult = Static<typeof RewardResultSchema>;

export const ResetBodySchema = Type.Object(
  {
    weights: Type.Optional(
      Type.Boolean({ description: 'Also put the weights back to their initial values (the spec\'s `w`, or the seeded draw). Default false: weights are kept.' }),
    ),
  },
  { additionalProperties: false, description: 'Potentials, traces, refractory counters, eligibility, the pending update and the step count go back to 0.' },
);
export type ResetBody = Static<typeof ResetBodySchema>;

export const ResetResultSchema = Type.Object(
  { step: Type.Integer(), pending: Type.Boolean(), weightsReset: Type.Boolean() },
  { additionalProperties: false },
);
export type ResetResult = Static<typeof ResetResultSchema>;
