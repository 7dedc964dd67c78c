/**
 * The app's routes in a second find-my-way router (the router fastify
 * routes with), built with the options fastify's own has (ROUTER_OPTIONS,
 * given to both) and filled by an onRoute hook as fastify adds each route:
 * for code that answers a request before fastify takes it up (the cluster's
 * early forwarding) and must still decide on what the router matches (the
 * route and its decoded params), never on the URL string.
 */
import FindMyWay from 'find-my-way';
import type { FastifyInstance, RouteOptions } from 'fastify';

/** fastify's router options, stated once: fastify is built with them, and so is RouteTable. */
export const ROUTER_OPTIONS = {
  caseSensitive: true,
  ignoreTrailingSlash: false,
  ignoreDuplicateSlashes: false,
  maxParamLength: 100,
  allowUnsafeRegex: false,
  useSemicolonDelimiter: false,
} as const;

export interface MatchedRoute {
  /** The route's pattern, as request.routeOptions.url has it (`/v1/sessions/:id/step`). */
  url: string;
  params: Record<string, string | undefined>;
  /** Declared public (route-access.ts): served without an API key. */
  public: boolean;
  /** The route has request hooks of its own (they would not run before fastify). */
  ownHooks: boolean;
}

export class RouteTable {
  private readonly router = FindMyWay(ROUTER_OPTIONS);
  /**
   * Set when this table may not match as fastify does: a route with
   * constraints (by host, by version) matches on what only fastify derives,
   * and a route this router refused is missing here. Then nothing matches,
   * and every request goes to fastify.
   */
  private disabled = false;

  /** Registers the hook that fills the table: before any route is added. */
  constructor(app: FastifyInstance) {
    app.addHook('onRoute', (route) => {
      if (route.constraints !== undefined && Object.keys(route.constraints).length > 0) this.disabled = true;
      try {
        // fastify has upper-cased the method by now. The options object itself is kept: hooks registered later (a public scope's) still complete its config.
        this.router.on(route.method as FindMyWay.HTTPMethod | FindMyWay.HTTPMethod[], route.url, () => {}, route);
      } catch (err) {
        this.disabled = true;
        app.log.warn({ err, url: route.url }, 'route table: a route could not be entered; requests are all left to fastify');
      }
    });
  }

  /** The route fastify's router matches for `method` and `url` (path and query as sent), or null. */
  match(method: string, url: string): MatchedRoute | null {
    if (this.disabled) return null;
    const found = this.router.find(method as FindMyWay.HTTPMethod, url);
    if (found === null) return null;
    const route = found.store as RouteOptions;
    return {
      url: route.url,
      params: found.params,
      public: route.config?.access === 'public',
      ownHooks: route.onRequest !== undefined || route.preParsing !== undefined || route.preValidation !== undefined || route.preHandler !== undefined,
    };
  }
}
