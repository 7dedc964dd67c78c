/** Schemas of what a session lets a client read: weights, state, snapshots, health. */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { BACKEND_REPORT_SCHEMAS } from '../engine/index.js';
import { WeightMatrixSchema } from './common.js';

export const AllWeightsSchema = Type.Object(
  {
    step: Type.Integer(),
    weights: Type.Record(Type.String(), WeightMatrixSchema, { description: 'Per connection, in rule order.' }),
  },
  { additionalProperties: false },
);
export type AllWeights = Static<typeof AllWeightsSchema>;

export const ConnectionWeightsSchema = Type.Object(
  {
    connection: Type.String(),
    pre: Type.String(),
    post: Type.String(),
    w_min: Type.Number(),
    w_max: Type.Number(),
    step: Type.Integer(),
    weights: WeightMatrixSchema,
  },
  { additionalProperties: false },
);
export type ConnectionWeights = Static<typeof ConnectionWeightsSchema>;

export const PutWeightsBodySchema = Type.Object(
  { weights: WeightMatrixSchema },
  { additionalProperties: false, description: 'The new weights, [pre.n][post.n]; values are clamped into [w_min, w_max].' },
);
export type PutWeightsBody = Static<typeof PutWeightsBodySchema>;

/** A vector of a population, or in a batch one per copy (of the copies asked for, in their order). */
function perCopy<T extends TSchema>(item: T, description: string) {
  return Type.Union([Type.Array(item), Type.Array(Type.Array(item))], { description: `${description}; in a batch, one such list per copy.` });
}

const PopulationStateSchema = Type.Object(
  {
    v: perCopy(Type.Number(), 'Membrane potentials'),
    traces: perCopy(Type.Number(), 'Spike traces'),
    refractory: perCopy(Type.Number(), 'Refractory counters (time left, in units of dt; <= 0 means not refractory)'),
    spikes: perCopy(Type.Integer(), 'Neurons that fired in the most recent step'),
  },
  { additionalProperties: false },
);

const ConnectionStateSchema = Type.Object(
  {
    rule: Type.String(),
    eligibility: Type.Union([WeightMatrixSchema, Type.Array(WeightMatrixSchema), Type.Null()], {
      description: 'MSTDP\'s and MSTDPET\'s eligibility [pre.n][post.n] (what the most recent update left), in a batch one per copy; null for rules without one.',
    }),
    eligibility_trace: Type.Optional(
      Type.Union([Type.Array(Type.Array(Type.Number())), Type.Array(Type.Array(Type.Array(Type.Number())))], {
        description: 'MSTDPET only: the eligibility trace et [pre.n][post.n] the next reward scales, in a batch one per copy.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const SessionStateSchema = Type.Object(
  {
    step: Type.Integer(),
    pending: Type.Boolean(),
    copies: Type.Optional(Type.Array(Type.Integer(), { description: 'In a batch (batch_size > 1): the copies the per-copy values below are of, in their order.' })),
    populations: Type.Record(Type.String(), PopulationStateSchema),
    connections: Type.Record(Type.String(), ConnectionStateSchema),
  },
  { additionalProperties: false },
);
export type SessionState = Static<typeof SessionStateSchema>;

export const StateQuerySchema = Type.Object(
  {
    copies: Type.Optional(
      Type.Array(Type.Integer({ minimum: 0 }), {
        minItems: 1,
        uniqueItems: true,
        description: 'In a batch: these copies only, in this order (repeat the parameter: ?copies=2&copies=0); default every copy. A network of one copy takes only 0.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type StateQuery = Static<typeof StateQuerySchema>;

/** The status, and what each backend that reports its state says, under the backend's name. */
export const HealthSchema = Type.Object(
  { status: Type.Literal('ok'), ...BACKEND_REPORT_SCHEMAS },
  { additionalProperties: false },
);

export const ReadySchema = Type.Object(
  { status: Type.Literal('ready'), sessions: Type.Integer({ description: 'Sessions held now.' }) },
  { additionalProperties: false },
);

/** One connection's weights as a row-major copy, with what a reply says of it: for replies written in slices, JSON or binary. */
export interface WeightMatrix {
  name: string;
  /** Its position in rule order. */
  index: number;
  pre: string;
  post: string;
  w_min: number;
  w_max: number;
  rows: number;
  cols: number;
  values: Float64Array;
}

export interface WeightMatrices {
  step: number;
  matrices: WeightMatrix[];
}
