/**
 * Any node answers any request. On each node, before a /v1 request touches
 * the body: a request about a session this node holds is served here; one
 * about a session another node owns goes to that node (forward.ts), and its
 * answer comes back as it is; one about a session whose node is down gets
 * 503 SESSION_UNAVAILABLE with Retry-After. A new session goes to the node
 * placement chooses (or the one the request pins with `spikeserve-place-on`).
 * What the router matched decides (the route and its decoded :id), never
 * the URL string. The owner's own answer "not run: shutting down" (a node
 * draining) is retried, against the session's new owner, for a while.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SpikeserveError } from '../errors.js';
import { refuseRawRequest, toCodedError } from '../http/errors.js';
import { isPublicRoute } from '../http/route-access.js';
import { WS_PATH } from '../ws/service.js';
import { ForwardError, hopsOf, NODE_HEADER, type ForwardedReply } from './forward.js';
import { unavailable, type ClusterNode } from './node.js';
import { proxyUpgrade } from './upgrade-proxy.js';

/** Pins a new session to a node, by id. */
export const PLACE_HEADER = 'spikeserve-place-on';
/** A request passed on this many times is served where it is (a session moving twice while in flight answers 404 rather than looping). */
export const MAX_HOPS = 3;
/** How long a forwarder keeps retrying a request the owner did not run (it was draining, or just exited). */
export const RETRY_FOR_MS = 15_000;
export const RETRY_EVERY_MS = 100;

const SESSION_ROUTE = '/v1/sessions/:id';
const CREATE_ROUTE = '/v1/sessions';

export interface RoutingOptions {
  /** Largest request body passed on (the owner applies its own limits too). */
  maxBodyBytes: number;
}

export function registerClusterRouting(app: FastifyInstance, node: ClusterNode, options: RoutingOptions): void {
  const forwarded = new WeakSet<FastifyRequest>();

  app.addHook('onRequest', async (request, reply) => {
    reply.header(NODE_HEADER, node.id);
    if (request.is404 || isPublicRoute(request)) return;
    const route = request.routeOptions.url ?? '';
    const hops = hopsOf(request.headers);
    if (route === CREATE_ROUTE && request.method === 'POST') {
      if (hops > 0) return;
      const pin = request.headers[PLACE_HEADER];
      const target = await node.place(typeof pin === 'string' ? pin : undefined);
      if (target.id === node.id) return;
      forwarded.add(request);
      return send(reply, await passOn(request, target.url, hops, null));
    }
    const id = (request.params as { id?: unknown } | undefined)?.id;
    if (typeof id !== 'string' || !route.startsWith(SESSION_ROUTE)) return;
    // Served here only if held here and not moving, checked and counted in one turn: a move waits for what it counted.
    for (let wait = node.gates.waiting(id); wait !== null; wait = node.gates.waiting(id)) await wait;
    if (node.holds(id) || hops >= MAX_HOPS) return serveHere(reply, id);
    // Passed here by a node that thought this one held it: ask Redis, not memory.
    const r = await node.route(id, hops > 0);
    if (r.kind === 'local') {
      for (let wait = node.gates.waiting(id); wait !== null; wait = node.gates.waiting(id)) await wait;
      return serveHere(reply, id);
    }
    if (r.kind === 'unavailable') throw unavailable(id, r.node, `its node ${r.node} is not running`);
    forwarded.add(request);
    return send(reply, await passOn(request, r.node.url, hops, id));
  });

  function serveHere(reply: FastifyReply, id: string): void {
    reply.raw.once('close', node.gates.enter(id));
  }

  /** Forwards, and while the owner answers "not run" (draining, gone), finds the session's owner again and retries. */
  async function passOn(request: FastifyRequest, origin: string, hops: number, sessionId: string | null): Promise<ForwardedReply> {
    const body = await readBody(request.raw, options.maxBodyBytes);
    const until = performance.now() + RETRY_FOR_MS;
    for (;;) {
      try {
        const res = await node.forwarder.forward(origin, { method: request.method, url: request.url, headers: request.headers, body, hops });
        if (!(res.status === 503 && notRun(res)) || performance.now() > until) return res;
      } catch (e) {
        if (!(e instanceof ForwardError) || !e.notSent || performance.now() > until) {
          throw unavailable(sessionId ?? 'new', null, e instanceof ForwardError ? e.message : String(e));
        }
      }
      await new Promise((r) => setTimeout(r, RETRY_EVERY_MS));
      if (sessionId === null) {
        origin = (await node.place(undefined)).url;
        continue;
      }
      const r = await node.route(sessionId, true);
      if (r.kind === 'local') {
        // It moved here meanwhile: this node serves it, as a request passed on to it.
        return node.forwarder.forward(await node.selfUrl(), { method: request.method, url: request.url, headers: request.headers, body, hops });
      }
      if (r.kind === 'unavailable') throw unavailable(sessionId, r.node, `its node ${r.node} is not running`);
      origin = r.node.url;
    }
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
  return reply.code(res.status).headers(res.headers).send(res.body);
}

/** A 503 the owner sent without running the request: it is shutting down (and moving its sessions away). */
export function notRun(res: ForwardedReply): boolean {
  try {
    return (JSON.parse(res.body.toString('utf8')) as { error?: { code?: string } }).error?.code === 'SHUTTING_DOWN';
  } catch {
    return false;
  }
}

/** The request's body, read with the stream's events (an async iterator costs more than the few chunks a request has). */
function readBody(raw: IncomingMessage, max: number): Promise<Buffer | null> {
  if (raw.readableEnded) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > max) {
        done();
        raw.destroy();
        reject(new SpikeserveError('BODY_TOO_LARGE', `body: larger than the limit of ${max} bytes`, { max }));
        return;
      }
      chunks.push(c);
    };
    const onEnd = () => {
      done();
      resolve(size === 0 ? null : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    };
    const onError = (e: Error) => {
      done();
      reject(e);
    };
    const onClose = () => onError(new Error('the connection closed before the whole body came'));
    const done = () => {
      raw.off('data', onData);
      raw.off('end', onEnd);
      raw.off('error', onError);
      raw.off('close', onClose);
    };
    raw.on('data', onData);
    raw.on('end', onEnd);
    raw.on('error', onError);
    raw.on('close', onClose);
  });
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
