/**
 * Logging: pino, one line per request (method, path, status, error code,
 * time) carrying the request id (in the request logger's context, so anything
 * else logged for the request has it too) and the session id for session
 * routes. Headers and bodies are never logged: they may hold keys or user data.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyRequest, FastifyServerOptions } from 'fastify';
import type { DestinationStream } from 'pino';
import type { LogLevel } from '../config.js';

/** A caller's own request id is kept when it is short and plain, so logs can be joined across services. */
const CLIENT_ID = /^[A-Za-z0-9._:-]{1,64}$/;

export function genReqId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  if (typeof given === 'string' && CLIENT_ID.test(given)) return given;
  return randomUUID();
}

/** pino options; `stream` defaults to synchronous stdout (server.ts passes an asynchronous one). */
export function loggerOptions(level: LogLevel, stream?: DestinationStream): FastifyServerOptions['logger'] {
  return {
    level,
    ...(stream ? { stream } : {}),
    // Belt and braces: nothing logs requests whole, but if anything ever does, no credential goes with it.
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie'], censor: '[redacted]' },
  };
}

export function registerRequestLogging(app: FastifyInstance): void {
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    request.log.info(requestLine(request.method, request.url, reply.statusCode, reply.elapsedTime, sessionIdOf(request), reply.errorCode), 'request');
    done();
  });
}

/** A request's log line, whoever answered it (fastify, or the cluster's forwarding before it). */
export function requestLine(method: string, url: string, status: number, ms: number, sessionId: string | undefined, code: string | undefined): Record<string, unknown> {
  const line: Record<string, unknown> = { method, url: loggedUrl(url), status, ms: Math.round(ms * 100) / 100 };
  if (sessionId) line.sessionId = sessionId;
  if (code) line.code = code;
  return line;
}

/**
 * The session a request is about, for log lines. Read from the route
 * parameters when a line is written rather than bound into a child logger
 * per request: that costs a logger allocation on every request of the hot path.
 */
export function sessionIdOf(request: FastifyRequest): string | undefined {
  const id = (request.params as { id?: unknown } | undefined)?.id;
  return typeof id === 'string' ? id.slice(0, 64) : undefined;
}

/** The URL as logged: bounded, and with a WebSocket ticket (a credential) replaced. */
export function loggedUrl(url: string): string {
  const clean = url.includes('ticket=') ? url.replace(/([?&]ticket=)[^&#]*/g, '$1[redacted]') : url;
  return clean.length > 256 ? clean.slice(0, 256) + '...' : clean;
}
