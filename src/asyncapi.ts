/**
 * asyncapi.yaml, the WebSocket protocol as an AsyncAPI 3.0 document, is
 * generated from the schemas that check the messages (src/api/ws.ts), the
 * binary frame constants (src/ws/binary-format.ts) and the close codes,
 * never edited by hand: `npm run asyncapi` writes it, and a test fails when
 * the committed file and the sources disagree. Operations are the server's:
 * it receives the client's commands and sends the rest.
 */
import { Type, type TSchema } from '@sinclair/typebox';
import { stringify } from 'yaml';
import {
  CLIENT_MESSAGE_SCHEMAS,
  CLIENT_MESSAGE_TYPES,
  DroppedNoticeSchema,
  ErrorMessageSchema,
  HelloMessageSchema,
  PotentialsEventSchema,
  ReplyMessageSchema,
  RewardEventSchema,
  SpikesEventSchema,
  SubscribedSchema,
  UnsubscribedSchema,
  WeightsEventSchema,
  WS_FORMATS,
  WS_PROTOCOL_VERSION,
  WS_ROLES,
  type ClientMessageType,
} from './api/ws.js';
import {
  BinaryStepBatchErrorsSchema,
  BinaryStepBatchHeaderSchema,
  MUX_MESSAGE_SCHEMAS,
  MUX_MESSAGE_TYPES,
  MuxErrorMessageSchema,
  MuxHelloMessageSchema,
  MuxReplyMessageSchema,
  type MuxMessageType,
} from './api/ws-multiplex.js';
import { UPGRADE_QUERY_PARAMS } from './security/upgrade.js';
import { BATCH_FRAME_KINDS, BATCH_REPLY_HEADER_BYTES, BATCH_REQUEST_HEADER_BYTES, BATCH_SECTION_HEADER_BYTES, BATCH_SECTION_TYPES, BATCH_STATUS_BITS } from './ws/batch-frame.js';
import { BINARY_FORMAT_VERSION, FRAME_KINDS, HEADER_BYTES, REWARD_SOURCE_CODES, SECTION_HEADER_BYTES, SECTION_TYPES } from './ws/binary-format.js';
import { CLOSE_CODE_TABLE } from './ws/close-codes.js';

export const ASYNCAPI_HEADER = '# Generated from the WebSocket message schemas by `npm run asyncapi`; do not edit by hand.\n';

const CHANNEL = 'session';
const channelRef = { $ref: `#/channels/${CHANNEL}` };
const messageRef = (name: string) => ({ $ref: `#/channels/${CHANNEL}/messages/${name}` });
const MUX_CHANNEL = 'multiplexed';
const muxChannelRef = { $ref: `#/channels/${MUX_CHANNEL}` };
const muxMessageRef = (name: string) => ({ $ref: `#/channels/${MUX_CHANNEL}/messages/${name}` });

/** A TypeBox schema as plain JSON Schema (TypeBox's symbol keys dropped). */
const plain = (schema: TSchema): Record<string, unknown> => JSON.parse(JSON.stringify(schema)) as Record<string, unknown>;

/** The query of the upgrade request: role and format, and the ticket the auth check reads. */
const [TICKET_PARAM] = UPGRADE_QUERY_PARAMS;
const UpgradeQuerySchema = Type.Object(
  {
    role: Type.Union(WS_ROLES.map((r) => Type.Literal(r)), {
      default: WS_ROLES[0],
      description: '`controller` steps the session (at most one per session); `observer` watches it (streams, and the reads `weights` and `snapshot`).',
    }),
    format: Type.Union(WS_FORMATS.map((f) => Type.Literal(f)), {
      default: WS_FORMATS[0],
      description: 'The format of the replies and events that carry spikes, potentials, weights or rewards; a request can override it with its own `format`. Requests are always JSON text.',
    }),
    [TICKET_PARAM]: Type.Optional(Type.String({ description: 'A one-use ticket from POST /v1/sessions/{id}/ws-ticket, for browsers, which cannot send an Authorization header.' })),
  },
  { additionalProperties: false, description: 'Any other parameter is refused (close code 4400).' },
);

const names = (table: Record<string, number>) =>
  Object.entries(table)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ');

/** The byte layout of a binary frame, from the encoder's constants. */
const BINARY_LAYOUT = `A binary frame (with format \`binary\`: the replies to \`step\`, \`weights\` and \`set_weights\`, and stream events; every other message stays JSON text, errors included). Every integer is little-endian and unsigned; weights and potentials are float32, spikes neuron indices; a frame's length is a multiple of 4.

Header, ${HEADER_BYTES} bytes:

| offset | type | field |
|---|---|---|
| 0 | u8 | format version: ${BINARY_FORMAT_VERSION} |
| 1 | u8 | kind: ${names(FRAME_KINDS)} |
| 2 | u16 | flags: bit 0 set = \`pending\`; other bits 0 |
| 4 | u32 | L, the id's length in bytes (0: no id) |
| 8 | f64 | \`step\`: the session's step count |
| 16 | u32 | \`steps\`: the steps a step reply ran; 0 in other kinds |
| 20 | u32 | S, the number of sections |
| ${HEADER_BYTES} | L bytes | the request's \`id\` as JSON text in UTF-8, then zero bytes up to a multiple of 4 |

Then S sections, each a ${SECTION_HEADER_BYTES}-byte header and its payload:

| offset | type | field |
|---|---|---|
| 0 | u8 | type: ${names(SECTION_TYPES)} |
| 1 | u8 | 0 |
| 2 | u16 | index of the population (spikes, counts, potentials) or connection (weights) in the hello's lists; 0 for a reward or a copy |
| 4 | u32 | a |
| 8 | u32 | b |
| ${SECTION_HEADER_BYTES} | payload | spikes: a = steps T, b = spikes K; u32 count[T], then u32 index[K] (step 0's indices first) |
| | | counts: a = n, b = 0; u32 count[n] |
| | | potentials: a = n, b = 0; f32 v[n] |
| | | weights: a = rows (pre.n), b = cols (post.n); f32 w[rows × cols], row-major (w[i][j] at i × cols + j) |
| | | weights64: as weights, with f64 w[rows × cols] (exact) |
| | | reward: a = source (${names(REWARD_SOURCE_CODES)}), b = 0; f64 reward |
| | | copy: a = a copy of a batch (0 to batch_size - 1), b = 0; no payload |

A step reply has the sections its \`return\` asks for: spikes (or counts) of each returned population, then potentials, then each connection's weights. A weights reply has one weights section per connection asked for. An event has one section per population or connection of its subscription (spikes events with T = 1); a reward event has one reward section, the header's \`step\` being the step whose update used it.

Batches (a session whose network has batch_size > 1; the hello's \`session.batchSize\`): a step reply, spikes event or potentials event holds, for each copy it is of (\`return.copies\` or the subscription's \`copies\`, in that order; default every copy), a copy section followed by that copy's spikes (or counts) and potentials sections; the weights, shared by the copies, come after the last copy's sections. A reward event holds a copy section and a reward section for each copy. Frames of a network of one copy have no copy sections: they are exactly as above.`;

/** The byte layout of the multiplexed socket's binary step_batch, from its encoder's constants. */
const BATCH_REQUEST_LAYOUT = `Many sessions stepped in one binary frame: each row is the step \`{inputs: {population: row}, reward, steps, deferReward, return}\` and runs as that item of a JSON step_batch would, one row's failure failing no other. Every integer is little-endian and unsigned; every part after the first starts at a multiple of 8 bytes (zero bytes pad the part before it).

| offset | type | field |
|---|---|---|
| 0 | u8 | format version: ${BINARY_FORMAT_VERSION} |
| 1 | u8 | kind: ${BATCH_FRAME_KINDS.stepBatch} |
| 2 | u16 | flags: 0 |
| 4 | u32 | J, the header's length in bytes |
| ${BATCH_REQUEST_HEADER_BYTES} | J bytes | the header, UTF-8 JSON text (components.schemas.binaryStepBatchHeader) |
| | f64 x[R][n] | for each entry of the header's \`inputs\`, in order: sessions[i]'s rows, session by session |
| | f64 reward[R] | with \`rewards: true\` |

R is N, one row per session (for every copy of a batch session), or with the header's \`copyRows\` their sum: copyRows[i] rows for sessions[i], 1 (for every copy) or its batch_size B (one per copy, copy 0 first).

The reply is a binary step_batch reply frame; a frame that does not follow the layout, whose header the schema refuses, whose values are not as many as the header says, or with more than maxBatchItems sessions, is refused whole with an \`error\` message, nothing run.`;

const BATCH_REPLY_LAYOUT = `The reply to a binary step_batch. Every integer is little-endian and unsigned; every part after the header starts at a multiple of 8 bytes.

| offset | type | field |
|---|---|---|
| 0 | u8 | format version: ${BINARY_FORMAT_VERSION} |
| 1 | u8 | kind: ${BATCH_FRAME_KINDS.stepBatchReply} |
| 2 | u16 | flags: 0 |
| 4 | u32 | L, the id's length in bytes (0: no id) |
| 8 | u32 | N, the rows |
| 12 | u32 | S, the sections |
| 16 | u32 | E, the errors' length in bytes (0: none failed) |
| 20 | u32 | 0 |
| ${BATCH_REPLY_HEADER_BYTES} | L bytes | the request's id as JSON text |
| | f64 step[N] | each session's step count after its row (0 for a failed row) |
| | u32 steps[N] | the steps each row ran |
| | u8 status[N] | bit ${Math.log2(BATCH_STATUS_BITS.ok)} set: succeeded; bit ${Math.log2(BATCH_STATUS_BITS.pending)} set: its update is pending |
| | S sections | the header's \`counts\`, then its \`potentials\`, one each, in order |
| | E bytes | the errors, UTF-8 JSON text (components.schemas.binaryStepBatchErrors) |

A section: a ${BATCH_SECTION_HEADER_BYTES}-byte header (u8 type: ${names(BATCH_SECTION_TYPES)}; u8 0; u16 the population's position in the header's \`counts\` or \`potentials\`; u32 N; u32 K, the values in all; u32 0), u32 size[N] (row i's values; 0 for a failed row), then u32 count[K] (counts) or f64 v[K] (potentials), row 0's first.`;

const closeTable = [
  '| code | when | reason starts with |',
  '|---|---|---|',
  ...CLOSE_CODE_TABLE.map((c) => `| ${c.code} | ${c.when} | ${c.reason ? `\`${c.reason}\`` : ''} |`),
].join('\n');

const CHANNEL_DESCRIPTION = `One session's socket. Every accepted connection first gets \`hello\`. A refused upgrade (a bad query, a failed key or ticket, an unknown session, a second controller, too many observers) is accepted and then answered on the socket, so that browsers can read it too: an \`error\` message, then a close with the code below. A plain HTTP GET on this path gets 426 UPGRADE_REQUIRED.

Close codes (the server's own are 4000 plus the HTTP status of the error code that starts the reason):

${closeTable}`;

const CLIENT_SUMMARIES: Record<ClientMessageType, string> = {
  step: 'Run the network',
  reward: 'Complete the pending learning update',
  reset: 'Reset the session',
  weights: 'Read weights',
  set_weights: 'Replace a connection\'s weights',
  snapshot: 'Export the session',
  subscribe: 'Start a stream',
  unsubscribe: 'Stop a stream',
};
const MUX_SUMMARIES: Record<MuxMessageType, string> = {
  step: 'Run one session\'s network',
  reward: 'Complete one session\'s pending learning update',
  reset: 'Reset one session',
  weights: 'Read one session\'s weights',
  set_weights: 'Replace a connection\'s weights in one session',
  snapshot: 'Export one session',
  step_batch: 'Step many sessions',
};

const MUX_CHANNEL_DESCRIPTION = `One socket driving many sessions: every command is the session socket's with the session it is for in \`session\` (its reply names it too), and \`step_batch\` is POST /v1/batch/step in one message, as JSON or as a binary frame of arrays (its reply then a binary frame too). Other replies are JSON; replies come in the order the messages were sent; one session's commands run in the order they were sent. With API_KEYS, the upgrade needs a key (no ticket), and a session of another key is SESSION_NOT_FOUND, as over HTTP. The socket takes no query parameters and has no streams (observe a session on its own socket). Every accepted connection first gets \`hello\`; a refused one gets an \`error\` message, then a close with the session socket's codes. A plain HTTP GET on this path gets 426 UPGRADE_REQUIRED.`;

/** The commands whose reply is a binary frame when their format is binary. */
const BINARY_REPLIES: ReadonlySet<ClientMessageType> = new Set(['step', 'weights', 'set_weights']);

function jsonMessage(name: string, title: string, schema: TSchema) {
  return { name, title, contentType: 'application/json', payload: plain(schema) };
}

/** A binary frame's message, laid out as `layout` says. */
function binaryMessage(name: string, title: string, layout: string) {
  return {
    name,
    title,
    contentType: 'application/octet-stream',
    payload: { type: 'string', format: 'binary', description: 'The frame\'s bytes, laid out as this message\'s description says.' },
    description: layout,
  };
}

/** The operation of receiving message `name` on `channel` (its messages named by `ref`), answered by one of `replies`. */
function receiveOperation(channel: { $ref: string }, ref: (name: string) => { $ref: string }, summary: string, name: string, replies: string[]) {
  return { action: 'receive', channel, summary, messages: [ref(name)], reply: { channel, messages: replies.map(ref) } };
}

/** The document as an object. */
export function asyncApiDocument(): Record<string, unknown> {
  const messages: Record<string, unknown> = {};
  for (const t of CLIENT_MESSAGE_TYPES) messages[t] = jsonMessage(t, CLIENT_SUMMARIES[t], CLIENT_MESSAGE_SCHEMAS[t]);
  messages.hello = jsonMessage('hello', 'The first message on every accepted connection', HelloMessageSchema);
  messages.reply = {
    ...jsonMessage('reply', 'A command\'s result', ReplyMessageSchema),
    description: `\`result\` is the body the HTTP endpoint of the same command returns; for subscribe:\n\n\`\`\`json\n${JSON.stringify(plain(SubscribedSchema), null, 2)}\n\`\`\`\n\nfor unsubscribe:\n\n\`\`\`json\n${JSON.stringify(plain(UnsubscribedSchema), null, 2)}\n\`\`\``,
  };
  messages.error = jsonMessage('error', 'A refused command, or a refused connection before its close', ErrorMessageSchema);
  messages.spikesEvent = jsonMessage('spikes', 'Spikes stream event', SpikesEventSchema);
  messages.potentialsEvent = jsonMessage('potentials', 'Potentials stream event', PotentialsEventSchema);
  messages.weightsEvent = jsonMessage('weights', 'Weights stream event', WeightsEventSchema);
  messages.rewardEvent = jsonMessage('reward', 'Rewards stream event', RewardEventSchema);
  messages.dropped = jsonMessage('dropped', 'Events were dropped for a slow reader', DroppedNoticeSchema);
  messages.binaryFrame = binaryMessage('binary', 'Binary frame', BINARY_LAYOUT);

  const operations: Record<string, unknown> = {};
  for (const t of CLIENT_MESSAGE_TYPES) {
    operations[`receive_${t}`] = receiveOperation(channelRef, messageRef, CLIENT_SUMMARIES[t], t, ['reply', 'error', ...(BINARY_REPLIES.has(t) ? ['binaryFrame'] : [])]);
  }
  operations.send_hello = { action: 'send', channel: channelRef, summary: 'Greet an accepted connection', messages: [messageRef('hello')] };
  operations.send_refusal = { action: 'send', channel: channelRef, summary: 'Refuse a connection, before closing it', messages: [messageRef('error')] };
  operations.send_events = {
    action: 'send',
    channel: channelRef,
    summary: 'Stream events, as subscribed',
    messages: ['spikesEvent', 'potentialsEvent', 'weightsEvent', 'rewardEvent', 'dropped', 'binaryFrame'].map(messageRef),
  };

  const muxMessages: Record<string, unknown> = {};
  for (const t of MUX_MESSAGE_TYPES) muxMessages[t] = jsonMessage(t, MUX_SUMMARIES[t], MUX_MESSAGE_SCHEMAS[t]);
  muxMessages.hello = jsonMessage('hello', 'The first message on every accepted multiplexed connection', MuxHelloMessageSchema);
  muxMessages.reply = {
    ...jsonMessage('reply', 'A command\'s result', MuxReplyMessageSchema),
    description: 'For a session\'s command, `result` is the body the HTTP endpoint of the same command returns, and `session` the session. For step_batch, `result` is the body of POST /v1/batch/step: `{results}`, an outcome per item in item order, `{ok: true, result}` or `{ok: false, error}` (the error that item alone got).',
  };
  muxMessages.error = jsonMessage('error', 'A refused command (its session named when it was read), or a refused connection before its close', MuxErrorMessageSchema);
  for (const t of MUX_MESSAGE_TYPES) {
    operations[`receive_multiplexed_${t}`] = receiveOperation(muxChannelRef, muxMessageRef, MUX_SUMMARIES[t], t, ['reply', 'error']);
  }
  muxMessages.binaryStepBatch = binaryMessage('binary step_batch', 'Step many sessions, arrays in a binary frame', BATCH_REQUEST_LAYOUT);
  muxMessages.binaryStepBatchReply = binaryMessage('binary step_batch reply', 'The outcomes of a binary step_batch, as arrays', BATCH_REPLY_LAYOUT);
  operations.receive_multiplexed_binary_step_batch = receiveOperation(muxChannelRef, muxMessageRef, 'Step many sessions, arrays in a binary frame', 'binaryStepBatch', [
    'binaryStepBatchReply',
    'error',
  ]);
  operations.send_multiplexed_hello = { action: 'send', channel: muxChannelRef, summary: 'Greet an accepted multiplexed connection', messages: [muxMessageRef('hello')] };
  operations.send_multiplexed_refusal = { action: 'send', channel: muxChannelRef, summary: 'Refuse a multiplexed connection, before closing it', messages: [muxMessageRef('error')] };

  return {
    asyncapi: '3.0.0',
    info: {
      title: 'spikeserve WebSocket API',
      version: String(WS_PROTOCOL_VERSION),
      description:
        'A session\'s WebSocket: step, reward and read a spiking-neural-network session one message at a time, and stream its spikes, potentials, weights and rewards. Commands take the fields of their HTTP counterparts (openapi.yaml, served at /openapi.yaml) and are checked by the same rules. Requests are JSON text; replies and events are JSON, or binary frames with format `binary`. The multiplexed socket drives many sessions, each command naming its session, or many at once with step_batch.',
    },
    servers: {
      local: {
        host: '127.0.0.1:3000',
        protocol: 'ws',
        description: '`npm start` on its defaults. With API_KEYS set, an upgrade needs a key or a ticket; without, neither.',
        security: [{ $ref: '#/components/securitySchemes/apiKey' }, { $ref: '#/components/securitySchemes/ticket' }],
      },
    },
    channels: {
      [CHANNEL]: {
        address: '/v1/sessions/{id}/ws',
        title: 'A session\'s socket',
        description: CHANNEL_DESCRIPTION,
        parameters: { id: { description: 'The session id returned by POST /v1/sessions.' } },
        messages,
        bindings: { ws: { method: 'GET', query: plain(UpgradeQuerySchema), bindingVersion: '0.1.0' } },
      },
      [MUX_CHANNEL]: {
        address: '/v1/ws',
        title: 'The multiplexed socket: many sessions',
        description: MUX_CHANNEL_DESCRIPTION,
        messages: muxMessages,
        bindings: { ws: { method: 'GET', query: { type: 'object', properties: {}, additionalProperties: false, description: 'No parameters: any is refused (close code 4400).' }, bindingVersion: '0.1.0' } },
      },
    },
    operations,
    components: {
      schemas: {
        binaryStepBatchHeader: plain(BinaryStepBatchHeaderSchema),
        binaryStepBatchErrors: plain(BinaryStepBatchErrorsSchema),
      },
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: '`Authorization: Bearer <key>` on the upgrade request, a key from API_KEYS.' },
        ticket: {
          type: 'httpApiKey',
          name: TICKET_PARAM,
          in: 'query',
          description: 'For browsers: a one-use ticket from POST /v1/sessions/{id}/ws-ticket, good for one connection to its session within WS_TICKET_TTL_S.',
        },
      },
    },
  };
}

/** The document as YAML, with its header. */
export function renderAsyncApi(): string {
  return ASYNCAPI_HEADER + stringify(asyncApiDocument(), { lineWidth: 0 });
}
