/**
 * An error as it goes on the wire, for every transport alike: the body
 * `{ code, message, details? }` (in HTTP replies and batch items under
 * `error`, in WebSocket error messages beside `type`), with the HTTP status
 * its code has in the catalogue.
 */
import { ERROR_CATALOGUE, SpikeserveError, type ErrorCode } from '../errors.js';
import type { ErrorResponse } from './common.js';

export type ErrorBody = ErrorResponse['error'];

/** What a body is built from: a SpikeserveError, or the same fields where building an Error would cost more than the request (refusals under load). */
export interface CodedFields {
  readonly code: ErrorCode;
  readonly message: string;
  readonly details?: Record<string, unknown>;
}

export function errorBody(e: CodedFields): ErrorBody {
  const error: ErrorBody = { code: e.code, message: e.message };
  if (e.details !== undefined) error.details = e.details;
  return error;
}

/** The whole body of an HTTP error reply. */
export function errorResponse(e: CodedFields): ErrorResponse {
  return { error: errorBody(e) };
}

export function errorStatus(code: ErrorCode): number {
  return ERROR_CATALOGUE[code].status;
}

/** SESSION_NOT_FOUND, however the session is missing: `why` says what became of it, or what to do. */
export function sessionNotFound(id: string, why: string): SpikeserveError {
  return new SpikeserveError('SESSION_NOT_FOUND', `no session with id "${id}" (${why})`, { sessionId: id });
}
