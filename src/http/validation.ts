/**
 * Request validation with the TypeBox schemas the routes declare, compiled by
 * TypeBox rather than Ajv so that the service's messages match the engine's
 * (both come from TypeBox) and nothing is coerced: "5" is not a number here.
 * A failure becomes a SpikeserveError whose code says which part of the
 * request was wrong (SPEC_INVALID for the network, INPUT_INVALID for step
 * inputs, ...) and whose message names the field.
 */
import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';
import type { FastifySchemaCompiler } from 'fastify';
import { NAME_PATTERN } from '../engine/index.js';
import { SpikeserveError, type ErrorCode } from '../errors.js';
import { findNonFinite, nonFiniteMessage } from './json-diagnostics.js';

/** Which code a bad body field gets; everything else is REQUEST_INVALID. The WebSocket protocol uses the same table. */
export const BODY_FIELD_CODES: Record<string, ErrorCode> = {
  network: 'SPEC_INVALID',
  seed: 'SPEC_INVALID',
  snapshot: 'SNAPSHOT_INVALID',
  inputs: 'INPUT_INVALID',
  steps: 'INPUT_INVALID',
  reward: 'INPUT_INVALID',
  deferReward: 'INPUT_INVALID',
  return: 'INPUT_INVALID',
};

const NAME_RE = new RegExp(NAME_PATTERN);

/** '/inputs/pre/0' -> 'inputs.pre[0]' under `root` ('' for the body). */
export function fieldName(root: string, pointer: string): string {
  let out = root;
  if (pointer === '') return root || 'body';
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}

/** What is wrong with a field, as the end of an error message ("must be ...", "unknown field", "required"). */
export function describeValueError(err: ValueError, field: string): string {
  if (err.type === ValueErrorType.Union && typeof err.schema.description === 'string') {
    return `must be ${err.schema.description}`;
  }
  if (err.type === ValueErrorType.ObjectAdditionalProperties || err.message === 'Unexpected property') {
    // A record keyed by names reports a bad key as an unexpected property; say why.
    if (/^\/(network\/)?(populations|connections)\/[^/]+$/.test(err.path) && !NAME_RE.test(field.split('.').pop() ?? '')) {
      return 'invalid name: a name starts with a letter and holds letters, digits, _ and -, at most 64 characters';
    }
    return 'unknown field';
  }
  if (err.type === ValueErrorType.ObjectRequiredProperty) return 'required';
  if (err.type === ValueErrorType.ObjectMinProperties && typeof err.schema.description === 'string') return `must hold ${err.schema.description}`;
  return err.message.charAt(0).toLowerCase() + err.message.slice(1);
}

function codeFor(httpPart: string | undefined, url: string, pointer: string): ErrorCode {
  if (httpPart !== 'body') return 'REQUEST_INVALID';
  const top = pointer.split('/')[1] ?? '';
  if (top === 'weights' && url.includes('/weights/')) return 'WEIGHTS_INVALID';
  return BODY_FIELD_CODES[top] ?? 'REQUEST_INVALID';
}

/** A body the route can do without: every field optional and none demanded. */
export function bodyIsOptional(schema: { required?: unknown; minProperties?: unknown }): boolean {
  return !(Array.isArray(schema.required) && schema.required.length > 0) && !(typeof schema.minProperties === 'number' && schema.minProperties > 0);
}

/**
 * Builds fastify's validator compiler. `references` are the shared schemas
 * (the ones with an $id that routes point at with ref()).
 */
export function typeboxValidatorCompiler(references: TSchema[]): FastifySchemaCompiler<TSchema> {
  return ({ schema, httpPart, url, contentType }: { schema: TSchema; httpPart?: string; url: string; contentType?: string }) => {
    // A binary body arrives as one Buffer, checked by whoever decodes it.
    if (httpPart === 'body' && contentType === 'application/octet-stream') {
      return (data: unknown) => (Buffer.isBuffer(data) ? { value: data } : { error: new SpikeserveError('REQUEST_INVALID', 'body: required', { field: 'body' }) });
    }
    // Compiled when the route first validates, not when it is registered: an app
    // registers every route, a test or a short-lived process uses a few.
    let compiled: ReturnType<typeof TypeCompiler.Compile> | null = null;
    const root = httpPart === 'querystring' ? 'query' : httpPart === 'params' ? 'params' : httpPart === 'headers' ? 'headers' : '';
    // Query strings and path parameters arrive as text; convert them the way the schema asks (and only them).
    const convert = httpPart === 'querystring' || httpPart === 'params';
    // A body whose fields are all optional may be left out entirely.
    const emptyBodyOk = httpPart === 'body' && bodyIsOptional(schema as { required?: unknown; minProperties?: unknown });
    return (data: unknown) => {
      let value = data;
      if (value === null || value === undefined) {
        if (emptyBodyOk) return { value: {} };
        if (httpPart === 'body') {
          return { error: new SpikeserveError('REQUEST_INVALID', 'body: a JSON object is required (send it with content-type: application/json)', { field: 'body' }) };
        }
        value = {};
      }
      if (convert) value = Value.Convert(schema, references, value);
      const check = (compiled ??= TypeCompiler.Compile(schema, references));
      if (check.Check(value)) return { value };
      // A literal JSON could only read as Infinity (1e400): say where, before the schema's more general words.
      const infinite = typeof value === 'object' && value !== null && !Array.isArray(value) ? findNonFinite(value) : null;
      if (infinite !== null) {
        const field = root === '' ? infinite : `${root}.${infinite}`;
        return { error: new SpikeserveError(codeFor(httpPart, url, `/${infinite.split(/[.[]/)[0]}`), nonFiniteMessage(field), { field }) };
      }
      const first = check.Errors(value).First();
      if (!first) return { error: new SpikeserveError('REQUEST_INVALID', `${root || 'body'}: invalid`) };
      const field = fieldName(root, first.path);
      return {
        error: new SpikeserveError(codeFor(httpPart, url, first.path), `${field}: ${describeValueError(first, field)}`, { field }),
      };
    };
  };
}
