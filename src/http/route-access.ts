/**
 * Who may call a route is a property of the route the router matched, never
 * of the request's URL string (which the router decodes: /%761/sessions is
 * /v1/sessions to it). Every route needs an API key (when API_KEYS is set)
 * unless it was registered inside a public scope; a request no route matched
 * needs one too. So a new route is guarded unless it says otherwise.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { named } from './plugin-name.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** 'public': served without an API key. Not set: the API key is required. */
    access?: 'public';
    /** A page that runs scripts (the docs, the dashboard): it gets no API content security policy. */
    page?: boolean;
  }
}

export interface PublicScopeOptions {
  /** The scope's routes are pages (see FastifyContextConfig.page). */
  pages?: boolean;
}

/**
 * A plugin whose routes, and those of every plugin it registers (third-party
 * ones included), are public: `body` registers them on the scope it is given.
 */
export function publicScope(body: (scope: FastifyInstance) => Promise<void>, options: PublicScopeOptions = {}): FastifyPluginAsync {
  return named(async (scope) => {
    scope.addHook('onRoute', (route) => {
      route.config = { ...route.config, access: 'public', ...(options.pages ? { page: true } : {}) };
    });
    await body(scope);
  }, options.pages ? 'public pages' : 'public routes');
}

/** True when the route the request matched is public (a request no route matched is not). */
export function isPublicRoute(request: FastifyRequest): boolean {
  return !request.is404 && request.routeOptions.config.access === 'public';
}

/** True when the route the request matched is a page. */
export function isPageRoute(request: FastifyRequest): boolean {
  return !request.is404 && request.routeOptions.config.page === true;
}
