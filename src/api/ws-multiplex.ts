/**
 * Schemas of the multiplexed WebSocket (/v1/ws): one socket drives many
 * sessions. Each command is the session socket's, with the session it is for
 * in `session`; `step_batch` is POST /v1/batch/step as one message (its
 * fields and its result are that endpoint's). Replies say the session they
 * are about. docs/websocket.md (One socket, many sessions) is the prose.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { BatchStepBodySchema } from './batch.js';
import { ErrorResponseSchema, WeightMatrixSchema } from './common.js';
import { ResetBodySchema, RewardBodySchema, StepBodySchema } from './step.js';
import { errorMessage, HelloLimitsSchema, IdSchema, replyMessage } from './ws.js';

const SessionSchema = Type.String({ description: 'The id of the session this command is for (POST /v1/sessions returned it).' });

function command<K extends string, P extends Record<string, TSchema>>(type: K, properties: P, description: string) {
  return Type.Object({ type: Type.Literal(type), id: Type.Optional(IdSchema), session: SessionSchema, ...properties }, { additionalProperties: false, description });
}

/**
 * The JSON header of a binary step_batch (src/ws/batch-frame.ts lays out the
 * frame): the sessions, one per row of the arrays that follow it, and what
 * every row's step shares. Each row runs as the step request
 * `{inputs: {population: row}, reward, steps, deferReward, return}` would.
 */
export const BinaryStepBatchHeaderSchema = Type.Object(
  {
    type: Type.Literal('step_batch'),
    id: Type.Optional(IdSchema),
    sessions: Type.Array(Type.String(), {
      description: 'The sessions to step, N of them (at most MAX_BATCH_ITEMS): entry i of every array (one row, or copyRows[i] rows) is sessions[i]\'s. A session may come more than once; its entries run in order.',
    }),
    inputs: Type.Optional(
      Type.Array(
        Type.Object(
          {
            population: Type.String({ description: 'The population the rows are input to.' }),
            n: Type.Integer({ minimum: 0, description: 'Values per row: the population\'s size (a session of batch_size > 1 with one row in copyRows takes it as every copy\'s input).' }),
          },
          { additionalProperties: false },
        ),
        { description: 'Per population, an [N][n] float64 array follows the header ([R][n] with copyRows), in this order: one current per neuron for each session (or each copy), held for every step. Populations left out get 0.' },
      ),
    ),
    copyRows: Type.Optional(
      Type.Array(Type.Integer({ minimum: 1 }), {
        description:
          'Per session, the rows its entry holds in every array (N entries; default all 1): 1, one row given to every copy of the session, or the session\'s batch_size B, one row per copy, copy 0 first. With R the sum, an input array is [R][n] and the rewards [R], each session\'s rows in session order.',
      }),
    ),
    rewards: Type.Optional(Type.Boolean({ description: 'A float64 reward per row, following the inputs: per session one (for every copy) or, with copyRows, one per copy (a session\'s reward for every step of the call). Default false: reward 0.' })),
    steps: StepBodySchema.properties.steps,
    deferReward: StepBodySchema.properties.deferReward,
    counts: Type.Optional(Type.Array(Type.String(), { description: 'The populations whose spike counts over the call (per neuron) the reply carries, one section each, in this order. Default none.' })),
    potentials: Type.Optional(Type.Array(Type.String(), { description: 'The populations whose membrane potentials after the call (float64) the reply carries, one section each, after the counts. Default none.' })),
  },
  {
    additionalProperties: false,
    description:
      'The JSON header of a binary step_batch frame (kind 7): many sessions stepped in one message, arrays as float64 rather than JSON numbers. The reply is a binary step_batch reply frame (kind 8), or a JSON error refusing the whole message.',
  },
);
export type BinaryStepBatchHeader = Static<typeof BinaryStepBatchHeaderSchema>;

/** The errors of a binary step_batch reply: the items that failed, each with the error it alone got. */
export const BinaryStepBatchErrorsSchema = Type.Array(
  Type.Object({ index: Type.Integer({ description: 'The item (row) that failed.' }), error: ErrorResponseSchema.properties.error }, { additionalProperties: false }),
  { description: 'The JSON text at the end of a binary step_batch reply (absent when every item succeeded).' },
);
export type BinaryStepBatchErrors = Static<typeof BinaryStepBatchErrorsSchema>;

/** Every message the multiplexed socket takes, by its type. */
export const MUX_MESSAGE_SCHEMAS = {
  step: command('step', { ...StepBodySchema.properties }, 'Run one session\'s network; the fields of POST /v1/sessions/{id}/step.'),
  reward: command('reward', { ...RewardBodySchema.properties }, 'Complete one session\'s pending update (POST .../reward).'),
  reset: command('reset', { ...ResetBodySchema.properties }, 'Reset one session (POST .../reset).'),
  weights: command(
    'weights',
    { connection: Type.Optional(Type.String({ description: 'One connection (the reply is GET .../weights/{connection}); default every connection (GET .../weights).' })) },
    'Read one session\'s weights.',
  ),
  set_weights: command(
    'set_weights',
    { connection: Type.String(), weights: WeightMatrixSchema },
    'Replace one connection\'s weights (PUT .../weights/{connection}); values are clamped into [w_min, w_max].',
  ),
  snapshot: command('snapshot', {}, 'Export one session (GET .../snapshot).'),
  step_batch: Type.Object(
    { type: Type.Literal('step_batch'), id: Type.Optional(IdSchema), ...BatchStepBodySchema.properties },
    {
      additionalProperties: false,
      description:
        'Step many sessions in one message: the body of POST /v1/batch/step (items of {id, ...step fields}, at most MAX_BATCH_ITEMS); the reply\'s result is that endpoint\'s, an outcome per item, one item\'s failure not failing the others.',
    },
  ),
} as const;
export type MuxMessageType = keyof typeof MUX_MESSAGE_SCHEMAS;
export const MUX_MESSAGE_TYPES = Object.keys(MUX_MESSAGE_SCHEMAS) as MuxMessageType[];
export type MuxMessage = { [K in MuxMessageType]: Static<(typeof MUX_MESSAGE_SCHEMAS)[K]> }[MuxMessageType];
export type MuxSessionMessage = Exclude<MuxMessage, { type: 'step_batch' }>;

// ---- server messages ----

export const MuxHelloMessageSchema = Type.Object(
  {
    type: Type.Literal('hello'),
    protocol: Type.Integer({ description: 'The protocol version; this document describes 1.' }),
    multiplex: Type.Literal(true, { description: 'This socket drives many sessions: every command names its own.' }),
    limits: Type.Object(
      {
        ...HelloLimitsSchema.properties,
        maxBatchItems: Type.Integer({ description: 'The most items a step_batch message may carry (MAX_BATCH_ITEMS).' }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false, description: 'The first message on every accepted multiplexed connection.' },
);
export type MuxHelloMessage = Static<typeof MuxHelloMessageSchema>;

const ReplySessionSchema = Type.Optional(Type.String({ description: 'The session the command was for (absent for step_batch, whose outcomes follow its items).' }));

export const MuxReplyMessageSchema = replyMessage(
  MUX_MESSAGE_TYPES,
  { session: ReplySessionSchema },
  'Exactly the body the HTTP endpoint of the same command returns (step_batch: POST /v1/batch/step\'s, {results}).',
);
export type MuxReplyMessage = Static<typeof MuxReplyMessageSchema>;

export const MuxErrorMessageSchema = errorMessage({ session: ReplySessionSchema });
export type MuxErrorMessage = Static<typeof MuxErrorMessageSchema>;
