/**
 * Passing a request on to the node that owns its session, for both ways a
 * node forwards (routing.ts: before fastify, and from fastify's hook; the
 * body is read once, by http/body-reader.ts): the request sent, and while
 * the owner answers "not run" (it is draining, or just exited) the
 * session's owner found again and the request sent there, for a while.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { ForwardError, type ForwardedReply } from './forward.js';
import { unavailable, type ClusterNode } from './node.js';

/** How long a forwarder keeps retrying a request the owner did not run (it was draining, or just exited). */
export const RETRY_FOR_MS = 15_000;
export const RETRY_EVERY_MS = 100;

/** What is passed on of a request: as the client sent it, with the id this node gave it. */
export interface OutgoingRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  requestId: string;
  body: Buffer | null;
  hops: number;
}

/**
 * Sends `req` to `origin`; a new session's request (`sessionId` null) goes,
 * if not run, to the node placement chooses next. Throws SESSION_UNAVAILABLE
 * when no node could be reached in time.
 */
export async function passOn(node: ClusterNode, req: OutgoingRequest, origin: string, sessionId: string | null): Promise<ForwardedReply> {
  const until = performance.now() + RETRY_FOR_MS;
  for (;;) {
    try {
      const res = await node.forwarder.forward(origin, req);
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
      return node.forwarder.forward(node.selfUrl(), req);
    }
    if (r.kind === 'unavailable') throw unavailable(sessionId, r.node, `its node ${r.node} is not running`);
    origin = r.node.url;
  }
}

/** A 503 the owner sent without running the request: it is shutting down (and moving its sessions away). */
export function notRun(res: ForwardedReply): boolean {
  try {
    return (JSON.parse(res.body.toString('utf8')) as { error?: { code?: string } }).error?.code === 'SHUTTING_DOWN';
  } catch {
    return false;
  }
}
