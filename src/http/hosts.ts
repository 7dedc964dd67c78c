/**
 * The Host check on HTTP (see security/hosts.ts): the first thing every
 * request meets, public routes and requests no route matched included, so a
 * page on a rebound name learns nothing from this server.
 */
import type { FastifyInstance } from 'fastify';
import type { HostPolicy } from '../security/hosts.js';

export function registerHostCheck(app: FastifyInstance, hosts: HostPolicy): void {
  app.addHook('onRequest', (request, _reply, done) => {
    try {
      hosts.check(request.headers.host);
    } catch (e) {
      return done(e as Error);
    }
    done();
  });
}
