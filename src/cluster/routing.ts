/**
 * Any node answers any request. On each node, before a /v1 request touches
 * the body: a request about a session this node holds is served here; one
 * about a session another node owns goes to that node (forward.ts), and its
 * answer comes back as it is; one about a session whose node is down gets
 * 503 SESSION_UNAVAILABLE with Retry-After. A new session goes to the node
 * placement chooses (or the one the request pins with `spikeserve-place-on`).
 * What the router matched decides (the route and its decoded :id), never
 * the URL string. The owner's own answer "not run: shutting down" (a node
 * draining) is retried, against the session's new owner, for a while
 * (pass-on.ts).
 *
 * Most forwarded requests are passed on before fastify takes them up (see
 * earlyOwner): fastify's request, reply, hooks and reply path cost the
 * forwarding node more than the forward itself. Every other request goes
 * through fastify, whose hooks below decide as described.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SpikeserveError } from '../errors.js';
import { readBody } from '../http/body-reader.js';
import { refuseRawRequest, toCodedError } from '../http/errors.js';
import { genReqId, requestLine } from '../http/logging.js';
import { isPublicRoute } from '../http/route-access.js';
import { RouteTable } from '../http/route-table.js';
import type { HostPolicy } from '../security/hosts.js';
import type { KeyRing } from '../security/keys.js';
import { WS_PATH } from '../ws/service.js';
import { headerObject, hopsOf, NODE_HEADER, type ForwardedReply } from './forward.js';
import { unavailable, type ClusterNode } from './node.js';
import { passOn } from './pass-on.js';
import { proxyUpgrade } from './upgrade-proxy.js';

/** Pins a new session to a node, by id. */
export const PLACE_HEADER = 'spikeserve-place-on';
/** A request passed on this many times is served where it is (a session moving twice while in flight answers 404 rather than looping). */
export const MAX_HOPS = 3;

const SESSION_ROUTE = '/v1/sessions/:id';
const CREATE_ROUTE = '/v1/sessions';

export interface RoutingOptions {
  /** Largest request body passed on, the largest any endpoint takes: a larger one is refused here, as the owner would refuse it (the owner applies its own limits too). */
  maxBodyBytes: number;
  /** What fastify's hooks check on every request (app.ts), checked again before a request is passed on ahead of them. */
  hosts: HostPolicy;
  keys: KeyRing;
  isClosing(): boolean;
}

/** Names this node on every reply it gives, refusals by the checks that run before routing included; a reply passed on from the owner names the owner. */
export function registerNodeHeader(app: FastifyInstance, node: ClusterNode): void {
  app.addHook('onRequest', (_request, reply, done) => {
    reply.header(NODE_HEADER, node.id);
    done();
  });
}

export function registerClusterRouting(app: FastifyInstance, node: ClusterNode, options: RoutingOptions): void {
  const forwarded = new WeakSet<FastifyRequest>();
  // Requests passed on ahead of fastify whose forward failed: fastify answers them, with that error.
  const failed = new WeakMap<IncomingMessage, unknown>();
  const table = new RouteTable(app);

  app.addHook('onRequest', async (request, reply) => {
    const failure = failed.get(request.raw);
    if (failure !== undefined) throw failure;
    if (request.is404 || isPublicRoute(request)) return;
    const route = request.routeOptions.url ?? '';
    const hops = hopsOf(request.headers);
    if (route === CREATE_ROUTE && request.method === 'POST') {
      if (hops > 0) return;
      const pin = request.headers[PLACE_HEADER];
      const target = await node.place(typeof pin === 'string' ? pin : undefined);
      if (target.id === node.id) return;
      forwarded.add(request);
      return send(reply, await forward(request, target.url, hops, null));
    }
    const id = (request.params as { id?: unknown } | undefined)?.id;
    if (typeof id !== 'string' || !route.startsWith(SESSION_ROUTE)) return;
    // Served here only if held here and not moving, checked and counted in one turn: a move waits for what it counted.
    if (await node.gates.whenOpen(id, () => (node.holds(id) || hops >= MAX_HOPS) && serveHere(reply, id))) return;
    // Passed here by a node that thought this one held it: ask Redis, not memory.
    const r = await node.route(id, hops > 0);
    if (r.kind === 'local') {
      await node.gates.whenOpen(id, () => serveHere(reply, id));
      return;
    }
    if (r.kind === 'unavailable') throw unavailable(id, r.node, `its node ${r.node} is not running`);
    forwarded.add(request);
    return send(reply, await forward(request, r.node.url, hops, id));
  });

  async function forward(request: FastifyRequest, origin: string, hops: number, sessionId: string | null): Promise<ForwardedReply> {
    const body = await readBody(request.raw, { limit: options.maxBodyBytes });
    return passOn(node, { method: request.method, url: request.url, headers: request.headers, requestId: String(request.id), body, hops }, origin, sessionId);
  }

  /**
   * The owner to pass a request on to ahead of fastify, or null: then
   * fastify takes it up. Passed on ahead: a request from a client (not from
   * another node), not a browser's (with an Origin header, which fastify's
   * hooks check and answer with CORS), to a guarded session route as the
   * router matches it (HEAD and OPTIONS aside), about a session that is not
   * moving and that another node owns as this node remembers (the owner
   * route() remembered, alive at the last heartbeat); and only if it
   * passes every check fastify's hooks make before this module's: the
   * server is not shutting down, the Host is allowed, the API key (when
   * API_KEYS is set) is valid. A request that fails one goes to fastify,
   * which answers it as for any node. The owner checks the rest (the key
   * owns the session, quotas, the body).
   */
  function earlyOwner(req: IncomingMessage): { url: string; id: string } | null {
    const method = req.method ?? '';
    if (method === 'HEAD' || method === 'OPTIONS' || req.headers.origin !== undefined || hopsOf(req.headers) > 0 || options.isClosing()) return null;
    const route = table.match(method, req.url ?? '/');
    if (route === null || route.public || route.ownHooks || !route.url.startsWith(SESSION_ROUTE)) return null;
    const id = route.params.id;
    if (id === undefined || node.gates.waiting(id) !== null) return null;
    const owner = node.rememberedOwner(id);
    if (owner === null || !options.hosts.allows(req.headers.host)) return null;
    if (options.keys.enabled && !('id' in options.keys.authenticate(req.headers.authorization))) return null;
    return { url: owner.url, id };
  }

  /** Passes the request on and writes the owner's reply as it came; a failure is answered by fastify. */
  async function forwardEarly(req: IncomingMessage, res: ServerResponse, to: { url: string; id: string }): Promise<void> {
    const start = performance.now();
    const requestId = genReqId(req);
    let reply: ForwardedReply;
    try {
      const body = await readBody(req, { limit: options.maxBodyBytes });
      reply = await passOn(node, { method: req.method!, url: req.url!, headers: req.headers, requestId, body, hops: 0 }, to.url, to.id);
    } catch (err) {
      failed.set(req, err);
      return app.routing(req, res);
    }
    // The owner's headers as they came, in node:http's raw form: no object of them built here.
    reply.rawHeaders.push('content-length', String(reply.body.length));
    res.writeHead(reply.status, reply.rawHeaders);
    res.end(reply.body);
    if (logRequests) app.log.info({ reqId: requestId, ...requestLine(req.method!, req.url!, reply.status, performance.now() - start, to.id.slice(0, 64), undefined) }, 'request');
  }

  // The logger's level is set when the app is built; the line is not assembled at all when it is not written (pino's
  // isLevelEnabled; a logger without it, as with logging off, is given every line).
  const logRequests = (app.log as { isLevelEnabled?(level: string): boolean }).isLevelEnabled?.('info') ?? true;

  // In place of fastify's handler of the server's requests, which takes every request not passed on early.
  const server = app.server;
  if (server.listeners('request').includes(app.routing)) {
    server.removeListener('request', app.routing);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const to = earlyOwner(req);
      if (to === null) app.routing(req, res);
      else void forwardEarly(req, res, to);
    });
  } else {
    app.log.warn('fastify\'s request handler was not found on the server: every forwarded request takes fastify\'s path');
  }

  /** Counts the request as served here until its reply is out (true: it is). */
  function serveHere(reply: FastifyReply, id: string): true {
    reply.raw.once('close', node.gates.enter(id));
    return true;
  }

  // A key at its quota of sessions over the cluster is refused before its network is built here.
  app.addHook('preHandler', async (request) => {
    if (forwarded.has(request) || request.routeOptions.url !== CREATE_ROUTE || request.method !== 'POST') return;
    await node.precheckCreate(request.owner ?? null);
  });

  // A session created or deleted here: the directory knows before the client does.
  app.addHook('onSend', async (request, reply, payload) => {
    if (forwarded.has(request)) return payload;
    const route = request.routeOptions.url;
    if (route === CREATE_ROUTE && request.method === 'POST' && reply.statusCode === 201) {
      const id = String(reply.getHeader('location') ?? '').split('/').pop() ?? '';
      try {
        await node.created(id);
      } catch (e) {
        const refused = e instanceof SpikeserveError;
        if (!refused) request.log.error({ err: e, sessionId: id }, 'new session could not be entered in the session directory: deleted again');
        await node.sessions.delete(id).catch(() => {});
        const err = refused ? e : unavailable(id, node.id, 'the cluster\'s session directory (Redis) cannot be reached');
        const { status, body } = toCodedError(err, String(request.id), 0);
        const retry = body.error.details?.retryAfterSeconds;
        if (typeof retry === 'number') reply.header('retry-after', String(Math.ceil(retry)));
        reply.code(status).removeHeader('location').type('application/json; charset=utf-8');
        reply.errorCode = body.error.code;
        return JSON.stringify(body);
      }
    } else if (route === SESSION_ROUTE && request.method === 'DELETE' && reply.statusCode === 200) {
      const id = (request.params as { id: string }).id;
      await node.deleted(id).catch((err: unknown) => request.log.error({ err, sessionId: id }, 'deleted session still in the session directory: its requests get 404 from this node'));
    }
    return payload;
  });
}

function send(reply: FastifyReply, res: ForwardedReply): FastifyReply {
  return reply.code(res.status).headers(headerObject(res.rawHeaders)).send(res.body);
}

/**
 * The WebSocket side: an upgrade for a session another node owns is joined
 * to that node (upgrade-proxy.ts); one this node holds, or nobody does, is
 * served here (`local`). A session whose node is down gets 503 SESSION_UNAVAILABLE.
 */
export function upgradeRouter(node: ClusterNode) {
  return (req: IncomingMessage, socket: Duplex, head: Buffer, local: () => void): void => {
    let id: string;
    try {
      const m = WS_PATH.exec(new URL(req.url ?? '/', 'http://localhost').pathname);
      if (!m) return local();
      id = decodeURIComponent(m[1]);
    } catch {
      return local();
    }
    const hops = hopsOf(req.headers);
    // A socket served here counts as a request until it closes: a move closes it, then waits for that.
    const here = (): void => {
      socket.once('close', node.gates.enter(id));
      local();
    };
    const dispatch = (): void => {
      const wait = node.gates.waiting(id);
      if (wait !== null) return void wait.then(dispatch);
      if (node.holds(id) || hops >= MAX_HOPS) return here();
      node.route(id, hops > 0).then(
        (r) => {
          if (r.kind === 'local') return node.gates.waiting(id) === null ? here() : dispatch();
          if (r.kind === 'unavailable') return refuseRawRequest(socket, unavailable(id, r.node, `its node ${r.node} is not running`));
          proxyUpgrade(req, socket, head, r.node.url, hops, (e) => refuseRawRequest(socket, unavailable(id, r.node.id, e.message)));
        },
        (e: unknown) => refuseRawRequest(socket, e instanceof SpikeserveError ? e : unavailable(id, null, String(e))),
      );
    };
    dispatch();
  };
}
