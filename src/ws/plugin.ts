/**
 * Puts the WebSocket endpoints on an app: the HTTP server's upgrade requests
 * go to the WebSocketService; a plain GET on a socket path gets 426 with a
 * message saying what to do; closing the app closes every socket with 1001
 * first (fastify's server.close() waits for upgraded sockets too).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { SpikeserveError } from '../errors.js';
import type { SessionManager } from '../sessions/manager.js';
import { MUX_PATH, WebSocketService, type WebSocketOptions, type WsSettings } from './service.js';

/** Decides where an upgrade goes before it is served here (`local`): in a cluster, a session of another node is proxied to it. */
export type UpgradeRouter = (req: IncomingMessage, socket: Duplex, head: Buffer, local: () => void) => void;

export function attachWebSocket(app: FastifyInstance, sessions: SessionManager, settings: WsSettings, options: WebSocketOptions = {}, route?: UpgradeRouter): WebSocketService {
  const service = new WebSocketService(sessions, settings, app.log, options);
  app.server.on('upgrade', (req, socket, head) => (route ? route(req, socket, head, () => service.handleUpgrade(req, socket, head)) : service.handleUpgrade(req, socket, head)));
  app.get('/v1/sessions/:id/ws', { schema: { hide: true } }, async (_request, reply) => {
    reply.header('upgrade', 'websocket');
    throw new SpikeserveError('UPGRADE_REQUIRED', 'this is the session\'s WebSocket: connect with a WebSocket client (ws://host/v1/sessions/{id}/ws); see docs/websocket.md');
  });
  app.get(MUX_PATH, { schema: { hide: true } }, async (_request, reply) => {
    reply.header('upgrade', 'websocket');
    throw new SpikeserveError('UPGRADE_REQUIRED', `this is the multiplexed WebSocket, many sessions on one socket: connect with a WebSocket client (ws://host${MUX_PATH}); see docs/websocket.md`);
  });
  app.addHook('preClose', (done) => {
    service.beginShutdown();
    done();
  });
  app.addHook('onClose', (_app, done) => {
    service.close();
    done();
  });
  return service;
}
