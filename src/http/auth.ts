/**
 * API keys on HTTP: with API_KEYS set, every route not declared public
 * (route-access.ts: the API under /v1, /metrics, and any request no route
 * matched) needs `Authorization: Bearer <secret>`; the key's id becomes
 * `request.owner`, and a session of another key answers exactly as a session
 * that does not exist (404), so ids cannot be probed. Both checks read what
 * the router matched (the route and its decoded params), never the URL
 * string. Without keys, `request.owner` stays undefined and nothing is
 * checked (the server then listens on loopback only, see config.ts).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { SpikeserveError } from '../errors.js';
import type { KeyRing } from '../security/keys.js';
import type { SessionManager } from '../sessions/manager.js';
import { isPublicRoute } from './route-access.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The API key id of the caller; undefined when the server runs without keys. */
    owner?: string;
  }
}

const CHALLENGE = 'Bearer realm="spikeserve"';

export function registerAuth(app: FastifyInstance, keys: KeyRing, sessions: SessionManager): void {
  if (!keys.enabled) return;
  app.decorateRequest('owner', undefined);
  app.addHook('onRequest', (request, reply, done) => {
    if (isPublicRoute(request)) return done();
    const r = keys.authenticate(request.headers.authorization);
    if ('id' in r) {
      request.owner = r.id;
      return done();
    }
    if (r.error === 'missing') {
      reply.header('www-authenticate', CHALLENGE);
      return done(new SpikeserveError('UNAUTHORIZED', 'this server needs an API key: send the header Authorization: Bearer <key>'));
    }
    reply.header('www-authenticate', `${CHALLENGE}, error="invalid_token"`);
    done(new SpikeserveError('UNAUTHORIZED', 'the API key is not valid'));
  });
  // Every guarded route with an :id param is about that session (the API
  // names no other thing :id): before its handler runs, the caller's key
  // must own it; the routes themselves then need not check.
  app.addHook('preHandler', (request: FastifyRequest, _reply, done) => {
    if (isPublicRoute(request)) return done();
    const id = (request.params as { id?: unknown } | undefined)?.id;
    if (typeof id === 'string') {
      try {
        sessions.check(id, request.owner ?? null);
      } catch (e) {
        return done(e as Error);
      }
    }
    done();
  });
}
