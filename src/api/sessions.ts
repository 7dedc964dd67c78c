/** Schemas of the session resource: create, list, describe. */
import { Type, type Static } from '@sinclair/typebox';
import { BACKEND_NAMES, BACKEND_PROVIDERS, BACKEND_REPORT_SCHEMAS, MAX_SEED, NetworkSpecSchema, ResolvedNetworkSchema } from '../engine/index.js';
import { ref } from './common.js';

/** A snapshot in a request is checked in full by the engine, which tells an
 * unreadable version (422) from a malformed body (400); the schema here only
 * recognises the envelope so that a future version is not refused as malformed. */
export const SnapshotInputSchema = Type.Object(
  {
    format: Type.String({ description: 'spikeserve-snapshot' }),
    version: Type.Integer({ description: 'Snapshot format version; this server reads version 1.' }),
  },
  {
    additionalProperties: true,
    description:
      'A snapshot exactly as GET /v1/sessions/{id}/snapshot returned it (schema Snapshot). Checked in full: SNAPSHOT_INVALID names a bad field, SNAPSHOT_VERSION_UNSUPPORTED (422) a version this server does not read.',
  },
);

const backendList = BACKEND_PROVIDERS.map((p) => `"${p.name}" (${p.summary})`);
const reporting = Object.keys(BACKEND_REPORT_SCHEMAS).map((b) => `"${b}"`);

export const BackendSchema = Type.Union(
  BACKEND_NAMES.map((b) => Type.Literal(b)),
  {
    description:
      `What runs the network: ${backendList.slice(0, -1).join(', ')}${backendList.length > 1 ? ' or ' : ''}${backendList[backendList.length - 1]}.` +
      `${reporting.length > 0 ? ` GET /healthz says what runs behind ${reporting.join(', ')}.` : ''} A snapshot restores on any backend.`,
  },
);

export const CreateSessionBodySchema = Type.Object(
  {
    network: Type.Optional(ref(NetworkSpecSchema, { description: 'The network to simulate (give this or snapshot).' })),
    snapshot: Type.Optional(SnapshotInputSchema),
    seed: Type.Optional(
      Type.Integer({ minimum: 0, maximum: MAX_SEED, description: 'Seeds the draw of initial weights not given in the spec. Default 0. Not with a snapshot, which carries its own.' }),
    ),
    name: Type.Optional(Type.String({ maxLength: 128, description: 'A label of your choice, shown in listings.' })),
    backend: Type.Optional(BackendSchema),
  },
  {
    additionalProperties: false,
    minProperties: 1,
    description: 'exactly one of network (a new session) or snapshot (restore or fork an exported session)',
  },
);
export type CreateSessionBody = Static<typeof CreateSessionBodySchema>;

export const CreateSessionQuerySchema = Type.Object(
  {
    name: Type.Optional(Type.String({ maxLength: 128, description: 'With a binary snapshot only: as the JSON body\'s `name`.' })),
    backend: Type.Optional(BackendSchema),
  },
  { additionalProperties: false },
);
export type CreateSessionQuery = Static<typeof CreateSessionQuerySchema>;

export const SessionLimitsSchema = Type.Object(
  {
    maxNeurons: Type.Integer({ description: 'MAX_NEURONS_PER_SESSION' }),
    maxSynapses: Type.Integer({ description: 'MAX_SYNAPSES_PER_SESSION' }),
    maxBatchSize: Type.Integer({ description: 'MAX_BATCH_SIZE: copies a batch network (batch_size) may have; each counts in maxNeurons and maxSynapses.' }),
    maxStepsPerCall: Type.Integer({ description: 'MAX_STEPS_PER_CALL' }),
    maxSpikeRecordsPerCall: Type.Integer({ description: 'MAX_SPIKE_RECORDS_PER_CALL: steps x returned neurons of per-step spike lists in one step call.' }),
    idleTimeoutSeconds: Type.Number({
      description: 'SESSION_IDLE_TIMEOUT_S: after this long without a request the session leaves memory (kept on disk, or deleted when the server keeps sessions in memory only); 0 never.',
    }),
  },
  { additionalProperties: false, description: 'The limits this session is held to.' },
);
export type SessionLimitsView = Static<typeof SessionLimitsSchema>;

const ConnectionOutlineSchema = Type.Object(
  {
    pre: Type.String(),
    post: Type.String(),
    rule: Type.String({ description: 'NoOp, STDP or MSTDP.' }),
  },
  { additionalProperties: false },
);

export const SessionSummarySchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    name: Type.Union([Type.String(), Type.Null()]),
    createdAt: Type.String({ format: 'date-time' }),
    lastUsedAt: Type.String({ format: 'date-time' }),
    expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
      description:
        'When the session is deleted if no request comes first; null if never. With sessions kept on disk that is SESSION_RETENTION_S after the last request (off by default); in memory only (DATA_DIR=), SESSION_IDLE_TIMEOUT_S after it.',
    }),
    loaded: Type.Boolean({
      description:
        'True while the session is in memory. False once it has been idle for SESSION_IDLE_TIMEOUT_S and hibernated (kept on disk only), or when it could not be loaded at start; its next request of any kind loads it back exactly as it was.',
    }),
    step: Type.Integer({ description: 'Steps taken since creation or the last reset.' }),
    pending: Type.Boolean({ description: 'A step taken with deferReward is waiting for its reward.' }),
    populations: Type.Record(Type.String(), Type.Integer(), { description: 'Population sizes by name, in update order.' }),
    connections: Type.Record(Type.String(), ConnectionOutlineSchema, { description: 'Connections by name, in rule order.' }),
  },
  { $id: 'SessionSummary', additionalProperties: false },
);
export type SessionSummary = Static<typeof SessionSummarySchema>;

const SpikeStatsSchema = Type.Object(
  {
    total: Type.Integer({ description: 'Spikes of all neurons since creation or the last reset.' }),
    lastStep: Type.Integer({ description: 'Neurons that spiked in the most recent step.' }),
    rate: Type.Number({ description: 'Spikes per neuron per step since creation or the last reset (0 before the first step).' }),
  },
  { additionalProperties: false },
);

const WeightStatsSchema = Type.Object(
  { min: Type.Number(), max: Type.Number(), mean: Type.Number(), std: Type.Number() },
  { additionalProperties: false, description: 'Over every synapse of the connection (all 0 for an empty one).' },
);

export const SessionDetailSchema = Type.Object(
  {
    ...SessionSummarySchema.properties,
    seed: Type.Integer(),
    backend: BackendSchema,
    network: ref(ResolvedNetworkSchema, { description: 'The network with every default filled in (initial `w` left out: see /weights).' }),
    limits: SessionLimitsSchema,
    stats: Type.Object(
      {
        spikes: Type.Record(Type.String(), SpikeStatsSchema),
        weights: Type.Record(Type.String(), WeightStatsSchema),
      },
      { additionalProperties: false },
    ),
  },
  { $id: 'SessionDetail', additionalProperties: false },
);
export type SessionDetail = Static<typeof SessionDetailSchema>;

export const ListSessionsQuerySchema = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Sessions per page; default 100.' })),
    cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}(_[0-9a-f-]{36})?$', description: 'The `next` of the previous page, as it came.' })),
  },
  { additionalProperties: false },
);
export type ListSessionsQuery = Static<typeof ListSessionsQuerySchema>;

export const SessionListSchema = Type.Object(
  {
    sessions: Type.Array(ref(SessionSummarySchema), { description: 'Oldest first.' }),
    next: Type.Union([Type.String(), Type.Null()], { description: 'Pass as `cursor` for the next page; null on the last page.' }),
    total: Type.Integer({ description: 'Sessions held now (in a cluster: on every node, those of nodes that are down included).' }),
    unavailableNodes: Type.Optional(
      Type.Array(Type.String(), {
        description:
          'Cluster mode only: the nodes whose sessions are missing from this page because they did not answer (stopped, restarting, cut off, or slower than 5 s); empty when the listing is complete. Their sessions count in total.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type SessionList = Static<typeof SessionListSchema>;

export const DeletedSchema = Type.Object({ id: Type.String(), deleted: Type.Literal(true) }, { additionalProperties: false });
