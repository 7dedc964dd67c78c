/**
 * The JSON body parser: fastify's own (secure-json-parse, which refuses
 * __proto__ and constructor.prototype keys), behind a nesting-depth check.
 * Parsing deeply nested JSON costs far more than its size suggests (a body
 * of nothing but `[` stalled the server for seconds), and no request of this
 * API nests deeper than a handful of levels, so depth is checked first, in
 * one pass over the text that stops at the first level too deep.
 */
import type { FastifyInstance } from 'fastify';
import { diagnosingDone } from './json-diagnostics.js';
import { SpikeserveError } from '../errors.js';

const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * True if `json` (text, or its UTF-8 bytes: no byte of a multi-byte
 * character is ASCII) opens more than `max` arrays and objects inside each
 * other. Strings are skipped.
 */
export function nestsDeeperThan(json: string | Uint8Array, max: number): boolean {
  // Read in place, with no function per character: this runs on every body and message.
  const text = typeof json === 'string' ? json : null;
  const bytes = text === null ? (json as Uint8Array) : null;
  let depth = 0;
  const n = json.length;
  for (let i = 0; i < n; i++) {
    const c = text !== null ? text.charCodeAt(i) : bytes![i];
    if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > max) return true;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      depth--;
    } else if (c === QUOTE) {
      for (i++; i < n; i++) {
        const s = text !== null ? text.charCodeAt(i) : bytes![i];
        if (s === BACKSLASH) i++;
        else if (s === QUOTE) break;
      }
    }
  }
  return false;
}

export function depthError(max: number): SpikeserveError {
  return new SpikeserveError('REQUEST_INVALID', `body: JSON nested more than ${max} levels deep (MAX_JSON_DEPTH); no request of this API needs that many`, {
    field: 'body',
    limit: 'maxJsonDepth',
    max,
  });
}

/** Replaces the application/json parser with one that checks nesting depth first. */
export function registerJsonParser(app: FastifyInstance, maxDepth: number): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  // As bytes: gathering a large body into one string costs more than the scan.
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    if (nestsDeeperThan(body as Buffer, maxDepth)) {
      done(depthError(maxDepth), undefined);
      return;
    }
    const text = (body as Buffer).toString('utf8');
    parse(request, text, diagnosingDone(text, done));
  });
}
