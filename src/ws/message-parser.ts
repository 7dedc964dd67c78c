/**
 * Turns one incoming WebSocket message into a checked ClientMessage, or into
 * the error its reply carries. Fields are checked by the same schemas and
 * mapped to the same codes as the HTTP bodies they mirror (a bad `inputs` is
 * INPUT_INVALID on both); what only a socket can get wrong (not JSON, no
 * known `type`, a bad `id`, a binary frame) is MESSAGE_INVALID.
 */
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { TSchema } from '@sinclair/typebox';
import { CLIENT_MESSAGE_SCHEMAS, CLIENT_MESSAGE_TYPES, MAX_ID_LENGTH, type ClientMessage, type ClientMessageType, type MessageId } from '../api/ws.js';
import { SpikeserveError, type ErrorCode } from '../errors.js';
import { describeJsonSyntax, findNonFinite, findNonJsonNumber, nonFiniteMessage } from '../http/json-diagnostics.js';
import { BODY_FIELD_CODES, describeValueError, fieldName } from '../http/validation.js';
import { nestsDeeperThan } from '../http/json-body.js';

export type Parsed =
  | { ok: true; message: ClientMessage }
  | { ok: false; id?: MessageId; request?: ClientMessageType; error: SpikeserveError };

const CHECKS = new Map<string, TypeCheck<TSchema>>(CLIENT_MESSAGE_TYPES.map((t) => [t, TypeCompiler.Compile(CLIENT_MESSAGE_SCHEMAS[t] as TSchema)]));

const TYPE_LIST = CLIENT_MESSAGE_TYPES.join(', ');

function invalid(message: string, details?: Record<string, unknown>): SpikeserveError {
  return new SpikeserveError('MESSAGE_INVALID', message, details);
}

function codeForField(type: ClientMessageType, pointer: string): ErrorCode {
  const top = pointer.split('/')[1] ?? '';
  if (top === 'weights' && type === 'set_weights') return 'WEIGHTS_INVALID';
  if (type === 'step' || type === 'reward') return BODY_FIELD_CODES[top] ?? 'REQUEST_INVALID';
  return 'REQUEST_INVALID';
}

function validId(id: unknown): id is MessageId {
  return (typeof id === 'string' && id.length <= MAX_ID_LENGTH) || (typeof id === 'number' && Number.isFinite(id));
}

export function parseMessage(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean, maxDepth = Infinity): Parsed {
  if (isBinary) {
    return { ok: false, error: invalid('binary frames are not accepted from clients: send each request as a JSON text message (binary is for the server\'s replies and events)') };
  }
  const raw = data.toString();
  if (nestsDeeperThan(raw, maxDepth)) {
    return { ok: false, error: invalid(`JSON nested more than ${maxDepth} levels deep (MAX_JSON_DEPTH); no message needs that many`, { limit: 'maxJsonDepth', max: maxDepth }) };
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (e) {
    const bad = findNonJsonNumber(raw);
    const why = describeJsonSyntax(raw, (e as Error).message);
    return { ok: false, error: invalid(bad === null ? `${why}; send one JSON object per message` : why, bad === null ? undefined : { position: bad.position }) };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, error: invalid('a message must be a JSON object with a "type"') };
  }
  const obj = value as Record<string, unknown>;
  let id: MessageId | undefined;
  if (obj.id !== undefined) {
    if (!validId(obj.id)) return { ok: false, error: invalid(`id: must be a string of at most ${MAX_ID_LENGTH} characters or a number`, { field: 'id' }) };
    id = obj.id;
  }
  const type = obj.type;
  if (typeof type !== 'string' || !CHECKS.has(type)) {
    const what = type === undefined ? 'required' : `unknown type ${JSON.stringify(type)}`;
    return { ok: false, id, error: invalid(`type: ${what}; one of ${TYPE_LIST}`, { field: 'type' }) };
  }
  const t = type as ClientMessageType;
  const check = CHECKS.get(t)!;
  if (check.Check(obj)) return { ok: true, message: obj as ClientMessage };
  const infinite = findNonFinite(obj);
  if (infinite !== null) {
    return { ok: false, id, request: t, error: new SpikeserveError(codeForField(t, `/${infinite.split(/[.[]/)[0]}`), nonFiniteMessage(infinite), { field: infinite }) };
  }
  const first = check.Errors(obj).First();
  const field = first ? fieldName('', first.path) : 'message';
  const text = first ? describeValueError(first, field) : 'invalid';
  return { ok: false, id, request: t, error: new SpikeserveError(first ? codeForField(t, first.path) : 'REQUEST_INVALID', `${field}: ${text}`, { field }) };
}
