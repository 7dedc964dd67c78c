/**
 * Response headers every client gets: browsers are told not to sniff, frame
 * or cache the API's answers, and cross-origin browser access follows the
 * CORS_ORIGINS allow-list (preflights answered here, before authentication,
 * as browsers send them without credentials); a request that changes
 * something from a page of any other origin is refused before its route runs.
 */
import type { FastifyInstance } from 'fastify';
import { SpikeserveError } from '../errors.js';
import type { OriginPolicy } from '../security/origins.js';
import { isPageRoute } from './route-access.js';

const COMMON = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

const API_ONLY = { ...COMMON, 'content-security-policy': "default-src 'none'; frame-ancestors 'none'", 'cache-control': 'no-store' };

/** Methods that change nothing: a cross-origin page may send them, and cannot read the answer without CORS. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const ALLOW_METHODS = 'GET, POST, PUT, DELETE';
const ALLOW_HEADERS = 'authorization, content-type, x-request-id';
const EXPOSE_HEADERS = 'x-request-id, retry-after, location, www-authenticate';

export function registerHeaders(app: FastifyInstance, origins: OriginPolicy): void {
  app.addHook('onRequest', (request, reply, done) => {
    // Pages that run scripts (the interactive docs, the dashboard) set their own policy.
    reply.headers(isPageRoute(request) ? COMMON : API_ONLY);
    const origin = request.headers.origin;
    if (origin === undefined) return done();
    const allowed = origins.allows(origin);
    if (allowed) {
      reply.header('access-control-allow-origin', origin);
      reply.header('vary', 'Origin');
      reply.header('access-control-expose-headers', EXPOSE_HEADERS);
    }
    if (request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined) {
      if (!allowed) return done(new SpikeserveError('ORIGIN_NOT_ALLOWED', `origin ${origin} is not allowed to call this API (CORS_ORIGINS)`));
      reply
        .code(204)
        .header('access-control-allow-methods', ALLOW_METHODS)
        .header('access-control-allow-headers', ALLOW_HEADERS)
        .header('access-control-max-age', '600')
        .send();
      return;
    }
    // A form or a bodyless fetch from any page reaches a POST without a
    // preflight: what changes something must come from an allowed origin.
    if (!SAFE_METHODS.has(request.method) && !origins.allowsRequest(origin, request.headers.host, request.protocol)) {
      return done(new SpikeserveError('ORIGIN_NOT_ALLOWED', `origin ${origin} may not change anything here: only this server's own pages and CORS_ORIGINS may`));
    }
    done();
  });
}
