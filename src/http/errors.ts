/**
 * Turns every failure into the one error shape, `{ error: { code, message,
 * details? } }`, with the status of its code in the catalogue. Errors raised
 * by fastify itself (bad JSON, body too large, wrong content type) get codes
 * from the same catalogue; anything unexpected is a 500 INTERNAL_ERROR whose
 * body says nothing but the request id (the stack goes to the log only).
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isSpikeserveError, type ErrorCode, type SpikeserveError } from '../errors.js';
import { errorResponse, errorStatus } from '../api/errors.js';
import type { ErrorResponse } from '../api/common.js';
import { sessionIdOf } from './logging.js';

export interface CodedError {
  status: number;
  body: ErrorResponse;
}

function coded(code: ErrorCode, message: string, details?: Record<string, unknown>): CodedError {
  return { status: errorStatus(code), body: errorResponse({ code, message, details }) };
}

/** fastify's own client errors, by their code. */
function fromFastify(err: FastifyError, bodyLimit: number): CodedError | null {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return coded('BODY_TOO_LARGE', `body: larger than the limit of ${bodyLimit} bytes (BODY_LIMIT_BYTES)`, { limit: 'bodyLimitBytes', max: bodyLimit });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return coded('UNSUPPORTED_MEDIA_TYPE', 'body: send JSON with the header content-type: application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return coded('REQUEST_INVALID', 'body: empty, but content-type says JSON; send a JSON object, or no body and no content-type', { field: 'body' });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return coded('REQUEST_INVALID', 'body: not valid JSON', { field: 'body' });
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return coded('REQUEST_INVALID', 'the content-length header does not match the body');
    case 'FST_ERR_BAD_URL':
      return coded('REQUEST_INVALID', 'the URL is not valid (bad percent-encoding?)');
    default:
      break;
  }
  // The JSON parser throws a SyntaxError with status 400 (invalid JSON, or a
  // __proto__ key it refuses).
  if (err instanceof SyntaxError || err.statusCode === 400) {
    return coded('REQUEST_INVALID', `body: not valid JSON (${err.message})`, { field: 'body' });
  }
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    return coded('REQUEST_INVALID', err.message);
  }
  return null;
}

export function toCodedError(err: unknown, requestId: string, bodyLimit: number): CodedError {
  if (isSpikeserveError(err)) return { status: errorStatus(err.code), body: errorResponse(err) };
  const fromFw = err instanceof Error ? fromFastify(err as FastifyError, bodyLimit) : null;
  if (fromFw) return fromFw;
  return coded('INTERNAL_ERROR', `internal error: please report request id ${requestId}; the details are in the server log`, { requestId });
}

export function errorHandler(bodyLimit: number) {
  return function handle(err: unknown, request: FastifyRequest, reply: FastifyReply): void {
    const { status, body } = toCodedError(err, String(request.id), bodyLimit);
    if (status >= 500 && status !== 503) request.log.error({ err, sessionId: sessionIdOf(request) }, 'request failed');
    // Quotas and overload say when to come back.
    const retry = body.error.details?.retryAfterSeconds;
    if (typeof retry === 'number') reply.header('retry-after', String(Math.ceil(retry)));
    reply.errorCode = body.error.code;
    reply.code(status).send(body);
  };
}

/**
 * Answers a request read off a raw socket (an upgrade, before fastify sees
 * it) in plain HTTP with the usual error body and Retry-After where the
 * error has one, and hangs up.
 */
export function refuseRawRequest(socket: Duplex, e: SpikeserveError): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const status = errorStatus(e.code);
  const body = JSON.stringify(errorResponse(e));
  const retry = e.details?.retryAfterSeconds;
  const retryHeader = typeof retry === 'number' ? `retry-after: ${Math.ceil(retry)}\r\n` : '';
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nconnection: close\r\n${retryHeader}content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): void {
  const { status, body } = coded('ROUTE_NOT_FOUND', `no endpoint ${request.method} ${request.url.split('?')[0]}; the API is under /v1, described at /openapi.yaml and /docs`, {
    method: request.method,
  });
  reply.errorCode = body.error.code;
  reply.code(status).send(body);
}

declare module 'fastify' {
  interface FastifyReply {
    /** The error code sent, for the request log line. */
    errorCode?: string;
  }
}
