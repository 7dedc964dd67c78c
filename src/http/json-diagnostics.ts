/**
 * Saying what is wrong with a JSON text, for HTTP bodies and WebSocket
 * messages alike. Two mistakes get a message of their own because clients
 * make them without knowing: Python's json.dumps writes NaN and Infinity
 * (not JSON: the parse fails), and a literal such as 1e400 parses as
 * Infinity (valid JSON, but no finite number); both are found with where
 * they are.
 */
import { SpikeserveError } from '../errors.js';

const NON_JSON_TOKENS = ['-Infinity', 'Infinity', 'NaN'];

/** The first bare NaN / Infinity / -Infinity outside strings, with its position (0-based) in the text. */
export function findNonJsonNumber(text: string): { token: string; position: number } | null {
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c) i++; // a backslash escapes the next character
      else if (ch === 0x22) inString = false;
      continue;
    }
    if (ch === 0x22) inString = true;
    else if (ch === 0x4e || ch === 0x49 || ch === 0x2d) {
      for (const token of NON_JSON_TOKENS) if (text.startsWith(token, i)) return { token, position: i };
    }
  }
  return null;
}

function lineAndColumn(text: string, position: number): string {
  let line = 1;
  let start = 0;
  for (let i = 0; i < position; i++) {
    if (text.charCodeAt(i) === 0x0a) {
      line++;
      start = i + 1;
    }
  }
  return `line ${line}, column ${position - start + 1}`;
}

/**
 * What to say about a text JSON.parse refused: the NaN or Infinity in it and
 * where, or else the parser's own words.
 */
export function describeJsonSyntax(text: string, parserMessage: string): string {
  const bad = findNonJsonNumber(text);
  if (bad === null) return `not valid JSON (${parserMessage})`;
  return `not valid JSON: ${bad.token} at position ${bad.position} (${lineAndColumn(text, bad.position)}): NaN and Infinity are not JSON; send finite numbers (Python: json.dumps(..., allow_nan=False) finds them before sending)`;
}

/** The path ('inputs.a[3]') of the first non-finite number in a parsed value, or null. */
export function findNonFinite(value: unknown, path = ''): string | null {
  if (typeof value === 'number') return Number.isFinite(value) ? null : path;
  if (typeof value !== 'object' || value === null) return null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = findNonFinite(value[i], `${path}[${i}]`);
      if (p !== null) return p;
    }
    return null;
  }
  for (const key of Object.keys(value)) {
    const p = findNonFinite((value as Record<string, unknown>)[key], path === '' ? key : `${path}.${key}`);
    if (p !== null) return p;
  }
  return null;
}

/** The message for a number JSON could only read as infinite (1e400): where it is and the limit. */
export function nonFiniteMessage(field: string): string {
  return `${field}: a number too large for a double (it reads as Infinity); numbers must be finite, and inputs, rewards and spec numbers at most 1e30 in magnitude`;
}

/**
 * Wraps the callback of fastify's JSON body parser so that its failure on
 * `text` says where a NaN or Infinity is (the rest passes through).
 */
export function diagnosingDone(text: string, done: (err: Error | null, value?: unknown) => void): (err: Error | null, value?: unknown) => void {
  return (err, value) => {
    if (err !== null && (err as { code?: string }).code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
      // JSON.parse takes it: then what was refused is a prototype key.
      let parserMessage = 'a "__proto__" key, or "constructor" holding "prototype", is not accepted';
      try {
        JSON.parse(text);
      } catch (e) {
        parserMessage = (e as Error).message;
      }
      done(new SpikeserveError('REQUEST_INVALID', `body: ${describeJsonSyntax(text, parserMessage)}`, { field: 'body' }), undefined);
      return;
    }
    done(err, value);
  };
}
