/**
 * Passing a request on to the node that owns its session, for both ways a
 * node forwards (routing.ts: before fastify, and from fastify's hook): the
 * body read once, the request sent, and while the owner answers "not run"
 * (it is draining, or just exited) the session's owner found again and the
 * request sent there, for a while.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { SpikeserveError } from '../errors.js';
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

/** The request's body, read with the stream's events (an async iterator costs more than the few chunks a request has). */
export function readBody(raw: IncomingMessage, max: number): Promise<Buffer | null> {
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
