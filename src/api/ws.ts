/**
 * Schemas of the WebSocket protocol (/v1/sessions/{id}/ws). The commands take
 * the very fields of their HTTP counterparts (step, reward, reset, weights),
 * spread from the same schemas, so a field means the same on both transports
 * and is checked by the same rules. docs/websocket.md is the prose.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { ErrorResponseSchema, WeightMatrixSchema } from './common.js';
import { ResetBodySchema, RewardBodySchema, StepBodySchema } from './step.js';

/** Bumped when a change would break a client written against the previous version. */
export const WS_PROTOCOL_VERSION = 1;

export const WS_ROLES = ['controller', 'observer'] as const;
export type WsRole = (typeof WS_ROLES)[number];

export const WS_FORMATS = ['json', 'binary'] as const;
export type WsFormat = (typeof WS_FORMATS)[number];

export const WS_STREAMS = ['spikes', 'potentials', 'weights', 'rewards'] as const;
export type WsStream = (typeof WS_STREAMS)[number];
const STREAMS_TEXT = 'spikes, potentials, weights or rewards';

/** Where the reward of a learning update came from (RewardEvent.source). */
export const REWARD_SOURCES = ['step', 'deferred', 'implicit'] as const;
export type RewardSource = (typeof REWARD_SOURCES)[number];

/** The longest string id a client may give a message. */
export const MAX_ID_LENGTH = 128;

export const IdSchema = Type.Union([Type.String({ maxLength: MAX_ID_LENGTH }), Type.Number()], {
  description: 'Chosen by the client, echoed in the reply: a string of at most 128 characters or a finite number.',
});
export type MessageId = string | number;

const FormatSchema = Type.Union(
  WS_FORMATS.map((f) => Type.Literal(f)),
  { description: '`json` or `binary`: the format of this message\'s reply; default the connection\'s (?format=).' },
);

function message<K extends string, P extends Record<string, TSchema>>(type: K, properties: P, description: string) {
  return Type.Object({ type: Type.Literal(type), id: Type.Optional(IdSchema), ...properties }, { additionalProperties: false, description });
}

export const StepMessageSchema = message('step', { format: Type.Optional(FormatSchema), ...StepBodySchema.properties }, 'Run the network; the fields of POST /v1/sessions/{id}/step.');
export const RewardMessageSchema = message('reward', { ...RewardBodySchema.properties }, 'Complete the pending update (POST .../reward).');
export const ResetMessageSchema = message('reset', { ...ResetBodySchema.properties }, 'Reset the session (POST .../reset).');
export const WeightsMessageSchema = message(
  'weights',
  {
    format: Type.Optional(FormatSchema),
    connection: Type.Optional(Type.String({ description: 'One connection (the reply is GET .../weights/{connection}); default every connection (GET .../weights).' })),
  },
  'Read weights.',
);
export const SetWeightsMessageSchema = message(
  'set_weights',
  { format: Type.Optional(FormatSchema), connection: Type.String(), weights: WeightMatrixSchema },
  'Replace one connection\'s weights (PUT .../weights/{connection}); values are clamped into [w_min, w_max].',
);
export const SnapshotMessageSchema = message('snapshot', {}, 'Export the session (GET .../snapshot).');
export const SubscribeMessageSchema = message(
  'subscribe',
  {
    stream: Type.Union(
      WS_STREAMS.map((s) => Type.Literal(s)),
      { description: STREAMS_TEXT },
    ),
    populations: Type.Optional(Type.Array(Type.String(), { description: 'spikes and potentials: these populations only; default all.' })),
    copies: Type.Optional(
      Type.Array(Type.Integer({ minimum: 0 }), {
        minItems: 1,
        uniqueItems: true,
        description: 'spikes and potentials of a batch (batch_size > 1): these copies only, in this order; default every copy. A network of one copy takes only [0].',
      }),
    ),
    connections: Type.Optional(Type.Array(Type.String(), { description: 'weights: these connections only; default all. (rewards takes neither.)' })),
    every: Type.Optional(Type.Integer({ minimum: 1, description: 'An event at every step whose count is a multiple of this; default 1.' })),
    format: Type.Optional(FormatSchema),
  },
  'Stream one kind of event; subscribing again to a stream replaces its subscription.',
);
export const UnsubscribeMessageSchema = message(
  'unsubscribe',
  { stream: Type.Optional(Type.Union(WS_STREAMS.map((s) => Type.Literal(s)), { description: STREAMS_TEXT })) },
  'Stop one stream, or every stream when `stream` is left out.',
);

/** Every client message schema by its type. */
export const CLIENT_MESSAGE_SCHEMAS = {
  step: StepMessageSchema,
  reward: RewardMessageSchema,
  reset: ResetMessageSchema,
  weights: WeightsMessageSchema,
  set_weights: SetWeightsMessageSchema,
  snapshot: SnapshotMessageSchema,
  subscribe: SubscribeMessageSchema,
  unsubscribe: UnsubscribeMessageSchema,
} as const;
export type ClientMessageType = keyof typeof CLIENT_MESSAGE_SCHEMAS;
export const CLIENT_MESSAGE_TYPES = Object.keys(CLIENT_MESSAGE_SCHEMAS) as ClientMessageType[];
/** The commands that change the session: a controller's alone. */
export const COMMAND_TYPES: ReadonlySet<ClientMessageType> = new Set<ClientMessageType>(['step', 'reward', 'reset', 'set_weights']);

export type StepMessage = Static<typeof StepMessageSchema>;
export type RewardMessage = Static<typeof RewardMessageSchema>;
export type ResetMessage = Static<typeof ResetMessageSchema>;
export type WeightsMessage = Static<typeof WeightsMessageSchema>;
export type SetWeightsMessage = Static<typeof SetWeightsMessageSchema>;
export type SnapshotMessage = Static<typeof SnapshotMessageSchema>;
export type SubscribeMessage = Static<typeof SubscribeMessageSchema>;
export type UnsubscribeMessage = Static<typeof UnsubscribeMessageSchema>;
export type ClientMessage = { [K in ClientMessageType]: Static<(typeof CLIENT_MESSAGE_SCHEMAS)[K]> }[ClientMessageType];

// ---- server messages ----

/** The connection's limits, as the hello reports them (docs/websocket.md, Limits). */
export const HelloLimitsSchema = Type.Object(
  {
    maxPayloadBytes: Type.Integer(),
    maxInFlight: Type.Integer(),
    rateLimitPerS: Type.Number({ description: '0: no limit.' }),
    rateBurst: Type.Integer(),
    heartbeatIntervalS: Type.Number({ description: '0: no heartbeat.' }),
    sendBufferBytes: Type.Integer(),
    maxBufferedBytes: Type.Integer(),
  },
  { additionalProperties: false },
);
export type HelloLimits = Static<typeof HelloLimitsSchema>;

export const HelloMessageSchema = Type.Object(
  {
    type: Type.Literal('hello'),
    protocol: Type.Integer({ description: 'The protocol version; this document describes 1.' }),
    role: Type.Union(WS_ROLES.map((r) => Type.Literal(r))),
    format: Type.Union(WS_FORMATS.map((f) => Type.Literal(f)), { description: 'The connection\'s default reply and event format.' }),
    session: Type.Object(
      {
        id: Type.String(),
        name: Type.Union([Type.String(), Type.Null()]),
        step: Type.Integer(),
        pending: Type.Boolean(),
        batchSize: Type.Optional(
          Type.Integer({ minimum: 2, description: 'A batch\'s batch_size, its number of copies (present only for a batch): its step replies and spikes and potentials events are per copy.' }),
        ),
      },
      { additionalProperties: false },
    ),
    populations: Type.Array(Type.Object({ name: Type.String(), n: Type.Integer() }, { additionalProperties: false }), {
      description: 'In update order; a population\'s position here is its index in binary frames.',
    }),
    connections: Type.Array(
      Type.Object({ name: Type.String(), pre: Type.String(), post: Type.String(), rule: Type.String(), rows: Type.Integer(), cols: Type.Integer() }, { additionalProperties: false }),
      { description: 'In rule order; a connection\'s position here is its index in binary frames. rows = pre.n, cols = post.n.' },
    ),
    limits: HelloLimitsSchema,
  },
  { additionalProperties: false, description: 'The first message on every accepted connection.' },
);
export type HelloMessage = Static<typeof HelloMessageSchema>;

/** A reply to one of the `types` of message, with the socket's own `fields` (the multiplexed one's session) before the result. */
export function replyMessage<T extends string, F extends Record<string, TSchema>>(types: readonly T[], fields: F, resultDescription: string) {
  return Type.Object(
    { type: Type.Literal('reply'), id: Type.Optional(IdSchema), request: Type.Union(types.map((t) => Type.Literal(t))), ...fields, result: Type.Unknown({ description: resultDescription }) },
    { additionalProperties: false },
  );
}

/** A refused message, with the socket's own `fields` before the error. */
export function errorMessage<F extends Record<string, TSchema>>(fields: F) {
  return Type.Object(
    {
      type: Type.Literal('error'),
      id: Type.Optional(IdSchema),
      request: Type.Optional(Type.String({ description: 'The type of the message this answers, when it had a known one.' })),
      ...fields,
      error: ErrorResponseSchema.properties.error,
    },
    { additionalProperties: false },
  );
}

export const ReplyMessageSchema = replyMessage(CLIENT_MESSAGE_TYPES, {}, 'Exactly the body the HTTP endpoint of the same command returns (subscribe and unsubscribe: their own).');
export type ReplyMessage = Static<typeof ReplyMessageSchema>;

export const ErrorMessageSchema = errorMessage({});
export type ErrorMessage = Static<typeof ErrorMessageSchema>;

export const SubscribedSchema = Type.Object(
  {
    stream: Type.Union(WS_STREAMS.map((s) => Type.Literal(s))),
    populations: Type.Optional(Type.Array(Type.String())),
    copies: Type.Optional(Type.Array(Type.Integer(), { description: 'A batch\'s spikes and potentials streams: the copies its events are of, in their order.' })),
    connections: Type.Optional(Type.Array(Type.String())),
    every: Type.Integer(),
    format: Type.Union(WS_FORMATS.map((f) => Type.Literal(f))),
  },
  { additionalProperties: false, description: 'The subscription as it now stands, every default filled in.' },
);
export type Subscribed = Static<typeof SubscribedSchema>;

export const UnsubscribedSchema = Type.Object(
  {
    streams: Type.Array(Type.String(), { description: 'The streams stopped.' }),
    dropped: Type.Integer({ description: 'Events dropped on this connection since it opened (see the dropped notice).' }),
  },
  { additionalProperties: false },
);
export type Unsubscribed = Static<typeof UnsubscribedSchema>;

/** An event of the spikes, potentials or weights stream: the step it reports, and what it carries (`fields`). */
function stepEvent<K extends string, F extends Record<string, TSchema>>(type: K, fields: F, pendingDescription?: string) {
  return Type.Object(
    {
      type: Type.Literal(type),
      step: Type.Integer({ description: 'The session\'s step count after the step this event reports.' }),
      pending: Type.Boolean(pendingDescription === undefined ? {} : { description: pendingDescription }),
      ...fields,
    },
    { additionalProperties: false },
  );
}

export const SpikesEventSchema = stepEvent('spikes', {
  copies: Type.Optional(Type.Array(Type.Integer(), { description: 'In a batch: the copies the spikes are of, in their order.' })),
  spikes: Type.Record(Type.String(), Type.Union([Type.Array(Type.Integer()), Type.Array(Type.Array(Type.Integer()))]), {
    description: 'Per population, the indices of the neurons that fired; in a batch, one such list per copy.',
  }),
});
export type SpikesEvent = Static<typeof SpikesEventSchema>;

export const PotentialsEventSchema = stepEvent('potentials', {
  copies: Type.Optional(Type.Array(Type.Integer(), { description: 'In a batch: the copies the potentials are of, in their order.' })),
  potentials: Type.Record(Type.String(), Type.Union([Type.Array(Type.Number()), Type.Array(Type.Array(Type.Number()))]), {
    description: 'Per population, v after the step; in a batch, one vector per copy.',
  }),
});
export type PotentialsEvent = Static<typeof PotentialsEventSchema>;

export const WeightsEventSchema = stepEvent(
  'weights',
  { weights: Type.Record(Type.String(), WeightMatrixSchema) },
  'True: this step\'s learning update has not been applied yet (deferReward); the weights are those before it.',
);
export type WeightsEvent = Static<typeof WeightsEventSchema>;

export const RewardEventSchema = Type.Object(
  {
    type: Type.Literal('reward'),
    step: Type.Integer({ description: 'The step whose learning update used this reward (the session\'s step count after that step).' }),
    reward: Type.Union([Type.Number(), Type.Array(Type.Number())], { description: 'The reward; in a batch, one per copy (copy 0 first; a number given for every copy is repeated).' }),
    source: Type.Union(
      REWARD_SOURCES.map((s) => Type.Literal(s)),
      {
        description:
          '`step`: given with the step (0 when the step had none); `deferred`: sent later with `reward` for a step taken with deferReward; `implicit`: the 0 a pending update got because the next step came first.',
      },
    ),
  },
  { additionalProperties: false, description: 'The rewards stream: one event per network step, once its learning update is applied, in the order they were applied.' },
);
export type RewardEvent = Static<typeof RewardEventSchema>;

export const DroppedNoticeSchema = Type.Object(
  {
    type: Type.Literal('dropped'),
    count: Type.Integer({ description: 'Events dropped since the previous notice.' }),
    total: Type.Integer({ description: 'Events dropped since the connection opened.' }),
    step: Type.Integer({ description: "The session's step count when the notice was sent: where the session is, even when the events dropped were its latest." }),
  },
  { additionalProperties: false, description: 'Sent once the socket has drained after events were dropped, or before the next event that gets through, whichever comes first.' },
);
export type DroppedNotice = Static<typeof DroppedNoticeSchema>;

export type StreamEvent = SpikesEvent | PotentialsEvent | WeightsEvent | RewardEvent;
export type ServerTextMessage = HelloMessage | ReplyMessage | ErrorMessage | StreamEvent | DroppedNotice;
