/**
 * Turns one incoming WebSocket message into a checked message, or into the
 * error its reply carries. Fields are checked by the same schemas and mapped
 * to the same codes as the HTTP bodies they mirror (a bad `inputs` is
 * INPUT_INVALID on both); what only a socket can get wrong (not JSON, no
 * known `type`, a bad `id`, a binary frame) is MESSAGE_INVALID. One parser
 * per protocol: the session socket's messages and the multiplexed socket's.
 */
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { TSchema } from '@sinclair/typebox';
import { CLIENT_MESSAGE_SCHEMAS, MAX_ID_LENGTH, type ClientMessage, type ClientMessageType, type MessageId } from '../api/ws.js';
import { MUX_MESSAGE_SCHEMAS, type MuxMessage, type MuxMessageType } from '../api/ws-multiplex.js';
import { SpikeserveError, type ErrorCode } from '../errors.js';
import { describeJsonSyntax, findNonFinite, findNonJsonNumber, nonFiniteMessage } from '../http/json-diagnostics.js';
import { BODY_FIELD_CODES, describeValueError, fieldName } from '../http/validation.js';
import { nestsDeeperThan } from '../http/json-body.js';

export type Parsed<M = ClientMessage, T extends string = ClientMessageType> =
  | { ok: true; message: M }
  | { ok: false; id?: MessageId; request?: T; error: SpikeserveError };

export type MessageParser<M, T extends string> = (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean, maxDepth?: number) => Parsed<M, T>;

function invalid(message: string, details?: Record<string, unknown>): SpikeserveError {
  return new SpikeserveError('MESSAGE_INVALID', message, details);
}

function codeForField(type: string, pointer: string): ErrorCode {
  const top = pointer.split('/')[1] ?? '';
  if (top === 'weights' && type === 'set_weights') return 'WEIGHTS_INVALID';
  if (type === 'step' || type === 'reward') return BODY_FIELD_CODES[top] ?? 'REQUEST_INVALID';
  return 'REQUEST_INVALID';
}

function validId(id: unknown): id is MessageId {
  return (typeof id === 'string' && id.length <= MAX_ID_LENGTH) || (typeof id === 'number' && Number.isFinite(id));
}

/** A parser of the messages `schemas` describes, one schema per `type`. */
export function messageParser<M, T extends string>(schemas: Record<T, TSchema>): MessageParser<M, T> {
  const checks = new Map<string, TypeCheck<TSchema>>(Object.entries<TSchema>(schemas).map(([t, s]) => [t, TypeCompiler.Compile(s)]));
  const typeList = [...checks.keys()].join(', ');
  return (data, isBinary, maxDepth = Infinity) => parse<M, T>(checks, typeList, data, isBinary, maxDepth);
}

function parse<M, T extends string>(checks: Map<string, TypeCheck<TSchema>>, typeList: string, data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean, maxDepth: number): Parsed<M, T> {
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
  if (typeof type !== 'string' || !checks.has(type)) {
    const what = type === undefined ? 'required' : `unknown type ${JSON.stringify(type)}`;
    return { ok: false, id, error: invalid(`type: ${what}; one of ${typeList}`, { field: 'type' }) };
  }
  const t = type as T;
  const check = checks.get(t)!;
  if (check.Check(obj)) return { ok: true, message: obj as M };
  const infinite = findNonFinite(obj);
  if (infinite !== null) {
    return { ok: false, id, request: t, error: new SpikeserveError(codeForField(t, `/${infinite.split(/[.[]/)[0]}`), nonFiniteMessage(infinite), { field: infinite }) };
  }
  const first = check.Errors(obj).First();
  const field = first ? fieldName('', first.path) : 'message';
  const text = first ? describeValueError(first, field) : 'invalid';
  return { ok: false, id, request: t, error: new SpikeserveError(first ? codeForField(t, first.path) : 'REQUEST_INVALID', `${field}: ${text}`, { field }) };
}

/** The session socket's messages (/v1/sessions/{id}/ws). */
export const parseMessage = messageParser<ClientMessage, ClientMessageType>(CLIENT_MESSAGE_SCHEMAS);

/** The multiplexed socket's messages (/v1/ws). */
export const parseMuxMessage = messageParser<MuxMessage, MuxMessageType>(MUX_MESSAGE_SCHEMAS);
