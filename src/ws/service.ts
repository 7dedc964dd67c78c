/**
 * The WebSocket endpoints: /v1/sessions/{id}/ws (one session's socket) and
 * /v1/ws (the multiplexed socket, many sessions). Takes the HTTP server's
 * upgrade requests (the `ws` package, noServer, per-message deflate off),
 * admits each session socket to its session's hub as controller or observer,
 * pings every socket on a heartbeat and cuts the dead ones, and on shutdown
 * closes every socket with 1001 once its replies are out.
 *
 * Refusals: a path that is neither gets an HTTP 404, as any unknown route.
 * Every refusal on a socket's path (the server shutting down, whatever
 * `authorizeUpgrade` throws, an unknown or deleted session, a bad query, a
 * second controller, too many observers) is answered on the socket, so that
 * every client, browsers included, can read it: an `error` message, then a
 * close with the matching code (close-codes.ts).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import { WS_FORMATS, WS_PROTOCOL_VERSION, WS_ROLES, type HelloMessage, type WsFormat, type WsRole } from '../api/ws.js';
import type { Config } from '../config.js';
import { refuseRawRequest } from '../http/errors.js';
import { isSpikeserveError, SpikeserveError, type ErrorCode } from '../errors.js';
import type { MuxHelloMessage } from '../api/ws-multiplex.js';
import type { Owner } from '../sessions/capacity.js';
import type { Session, SessionManager } from '../sessions/manager.js';
import { closeCodeFor, closeReason } from './close-codes.js';
import { errorText, WsConnection, type ConnectionLimits, type WsCounters, type WsLog } from './connection.js';
import { MuxConnection } from './multiplex-connection.js';
import type { OrderedSocket } from './ordered-socket.js';
import { SessionHub } from './session-hub.js';

export const WS_PATH = /^\/v1\/sessions\/([^/?#]+)\/ws$/;
/** The multiplexed socket: every message names its session. */
export const MUX_PATH = '/v1/ws';

/** What a hook learns about an upgrade request on a socket. */
export interface UpgradeTarget {
  /** The session of a session socket; null for the multiplexed socket. */
  sessionId: string | null;
  url: URL;
}

/** What an admitted upgrade brings: the key it authenticated (undefined: the server has no keys). */
export interface UpgradeGrant {
  owner?: Owner;
}

export interface WebSocketOptions {
  /**
   * Called for every upgrade request on a session socket path before the
   * socket is accepted (the place for API keys or a browser ticket). Throw a
   * SpikeserveError to refuse: the client gets the error's HTTP status and
   * the usual error body, and no socket. Not set: every upgrade is admitted.
   */
  authorizeUpgrade?: (req: IncomingMessage, target: UpgradeTarget) => UpgradeGrant | void | Promise<UpgradeGrant | void>;
  /** Query parameters a session socket's upgrade accepts besides role and format (say, a ticket read by authorizeUpgrade); any other is refused. */
  extraQueryParams?: readonly string[];
  /** Called with the code of every error the endpoint answers: an error reply, or a refused socket (metrics). */
  onError?: (code: ErrorCode) => void;
}

export type WsSettings = Pick<
  Config,
  'wsMaxPayloadBytes' | 'wsSendBufferBytes' | 'wsMaxBufferedBytes' | 'wsMaxInFlight' | 'wsRateLimitPerS' | 'wsRateBurst' | 'wsHeartbeatIntervalS' | 'wsMaxObservers' | 'maxJsonDepth' | 'maxBatchItems'
>;

/** One socket, as tests and metrics see it. */
export interface ConnectionInfo {
  id: string;
  sessionId: string;
  role: WsRole;
  format: WsFormat;
  bufferedAmount: number;
  maxBuffered: number;
  inFlight: number;
  /** Messages read while reading was paused, not yet handled. */
  deferred: number;
  paused: boolean;
  eventsSent: number;
  eventsDropped: number;
  subscriptions: string[];
}

export interface WsStats extends WsCounters {
  /** Session sockets. */
  connections: number;
  controllers: number;
  observers: number;
  /** Multiplexed sockets. */
  multiplexed: number;
}

/** A refused socket gets this long to answer the close before it is cut. */
const REFUSE_GRACE_MS = 2000;

/** An upgrade request on a socket's path, as upgrade() completes it. */
interface Upgrade {
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  url: URL;
  /** The session of a session socket; null for the multiplexed socket. */
  sessionId: string | null;
  /** Why the socket is refused; null: it is served. */
  refusal: SpikeserveError | null;
  /** The key the upgrade authenticated (undefined: the server has no keys). */
  owner?: Owner;
}

export class WebSocketService {
  private readonly wss: WebSocketServer;
  private readonly sessions: SessionManager;
  private readonly settings: WsSettings;
  private readonly log: WsLog;
  private readonly options: WebSocketOptions;
  private readonly limits: ConnectionLimits;
  private readonly allowedParams: Set<string>;
  private readonly hubs = new Map<string, SessionHub>();
  private readonly connections = new Set<WsConnection>();
  private readonly multiplexed = new Set<MuxConnection>();
  private readonly counters: WsCounters = { eventsSent: 0, eventsDropped: 0, messagesReceived: 0, closedSlow: 0, closedDead: 0 };
  private heartbeat: NodeJS.Timeout | null = null;
  private closing = false;

  constructor(sessions: SessionManager, settings: WsSettings, log: WsLog, options: WebSocketOptions = {}) {
    this.sessions = sessions;
    this.settings = settings;
    this.log = log;
    this.options = options;
    this.limits = {
      maxPayloadBytes: settings.wsMaxPayloadBytes,
      sendBufferBytes: settings.wsSendBufferBytes,
      maxBufferedBytes: settings.wsMaxBufferedBytes,
      maxInFlight: settings.wsMaxInFlight,
      rateLimitPerS: settings.wsRateLimitPerS,
      rateBurst: settings.wsRateBurst,
      maxJsonDepth: settings.maxJsonDepth,
    };
    this.allowedParams = new Set(['role', 'format', ...(options.extraQueryParams ?? [])]);
    this.wss = new WebSocketServer({ noServer: true, maxPayload: settings.wsMaxPayloadBytes, perMessageDeflate: false, clientTracking: false });
    if (settings.wsHeartbeatIntervalS > 0) {
      this.heartbeat = setInterval(() => this.beat(), settings.wsHeartbeatIntervalS * 1000);
      this.heartbeat.unref();
    }
  }

  /** The HTTP server's 'upgrade' listener. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      refuseRawRequest(socket, new SpikeserveError('REQUEST_INVALID', 'the URL is not valid'));
      return;
    }
    let decoded: string | null = null;
    if (url.pathname !== MUX_PATH) {
      const m = WS_PATH.exec(url.pathname);
      if (!m) {
        refuseRawRequest(socket, new SpikeserveError('ROUTE_NOT_FOUND', `no WebSocket endpoint at ${url.pathname}; session sockets are at /v1/sessions/{id}/ws, the multiplexed socket at ${MUX_PATH}`));
        return;
      }
      try {
        decoded = decodeURIComponent(m[1]);
      } catch {
        this.upgrade({ req, socket, head, url, sessionId: '', refusal: new SpikeserveError('REQUEST_INVALID', 'the session id in the URL is not valid percent-encoding') });
        return;
      }
    }
    const sessionId = decoded;
    const request = { req, socket, head, url, sessionId };
    const authorize = this.options.authorizeUpgrade;
    if (this.closing) {
      this.upgrade({ ...request, refusal: null });
      return;
    }
    Promise.resolve()
      .then(() => authorize?.(req, { sessionId, url }))
      .then(
        (grant) => {
          const owner = (grant as UpgradeGrant | undefined)?.owner;
          if (sessionId === null) this.upgrade({ ...request, refusal: null, owner });
          else this.load({ ...request, sessionId, refusal: null, owner });
        },
        (e: unknown) => this.upgrade({ ...request, refusal: this.coded(e, sessionId, 'authorizeUpgrade failed') }),
      );
  }

  /**
   * Opening a socket is a request to the session: one on disk only is loaded
   * before the handshake, so no message can come before it is there. An
   * unknown id is left for accept() to refuse, after the query is checked.
   */
  private load(u: Upgrade & { sessionId: string }): void {
    this.sessions.open(u.sessionId).then(
      () => this.upgrade(u),
      (e: unknown) => this.upgrade({ ...u, refusal: isSpikeserveError(e) && e.code === 'SESSION_NOT_FOUND' ? null : this.coded(e, u.sessionId, 'loading the session failed') }),
    );
  }

  /** Completes the handshake, then serves the socket, or refuses it on the socket with `refusal`. */
  private upgrade(u: Upgrade): void {
    if (u.socket.destroyed) return;
    this.wss.handleUpgrade(u.req, u.socket, u.head, (ws) => {
      let refusal = u.refusal;
      if (refusal === null && this.closing) refusal = new SpikeserveError('SHUTTING_DOWN', 'the server is shutting down and takes no new connections');
      if (refusal) {
        this.refuse(ws, refusal);
        return;
      }
      try {
        if (u.sessionId === null) this.acceptMultiplexed(ws, u.socket, u.url, u.owner);
        else this.accept(ws, u.socket, u.sessionId, u.url);
      } catch (e) {
        this.refuse(ws, this.coded(e, u.sessionId, 'websocket accept failed'));
      }
    });
  }

  /** A SpikeserveError as it is; anything else logged and replaced by INTERNAL_ERROR. */
  private coded(e: unknown, sessionId: string | null, what: string): SpikeserveError {
    if (isSpikeserveError(e)) return e;
    this.log.error({ err: e, sessionId: sessionId ?? undefined }, what);
    return new SpikeserveError('INTERNAL_ERROR', 'internal error while opening the socket; the details are in the server log');
  }

  private accept(ws: WebSocket, socket: Duplex, sessionId: string, url: URL): void {
    for (const key of url.searchParams.keys()) {
      if (!this.allowedParams.has(key)) {
        throw new SpikeserveError('REQUEST_INVALID', `query.${key}: unknown parameter; the socket takes ${[...this.allowedParams].join(', ')}`, { field: `query.${key}` });
      }
    }
    const role = oneOf(url.searchParams.get('role'), WS_ROLES, 'role', 'controller');
    const format = oneOf(url.searchParams.get('format'), WS_FORMATS, 'format', 'json');
    const session = this.sessions.get(sessionId);
    let hub = this.hubs.get(sessionId);
    if (hub && hub.session !== session) hub = undefined;
    if (!hub) {
      hub = new SessionHub(session, this.settings.wsMaxObservers, (h) => {
        if (this.hubs.get(h.session.id) === h) this.hubs.delete(h.session.id);
      });
      this.hubs.set(sessionId, hub);
    }
    try {
      hub.checkRole(role);
    } catch (e) {
      if (hub.size === 0) this.hubs.delete(sessionId);
      throw e;
    }
    const conn = new WsConnection({ id: randomUUID(), ws, socket, hub, role, format, limits: this.limits, log: this.log, counters: this.counters, onError: this.options.onError });
    hub.attach(conn);
    this.connections.add(conn);
    const opened = performance.now();
    ws.on('error', (err) => this.log.info({ sessionId, connectionId: conn.id, err: err.message }, 'websocket protocol error'));
    ws.on('close', (code, reason) => {
      this.connections.delete(conn);
      conn.closed();
      this.log.info(
        { sessionId, connectionId: conn.id, role, code, reason: reason.toString().slice(0, 123), eventsSent: conn.eventsSent, eventsDropped: conn.droppedTotal, ms: Math.round(performance.now() - opened) },
        'websocket closed',
      );
    });
    this.log.info({ sessionId, connectionId: conn.id, role, format }, 'websocket opened');
    // The hello's step count must include every command already queued on
    // the session (a former controller's among them): a client resuming
    // after a drop tells from it which of its unanswered commands ran.
    const sendHello = () => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(this.hello(session, role, format)));
    };
    if (session.busy) void session.drained().then(sendHello);
    else sendHello();
  }

  /** A multiplexed socket: no query, and the owner the upgrade authenticated drives the sessions it names. */
  private acceptMultiplexed(ws: WebSocket, socket: Duplex, url: URL, owner: Owner | undefined): void {
    const key = url.searchParams.keys().next();
    if (!key.done) {
      throw new SpikeserveError('REQUEST_INVALID', `query.${key.value}: unknown parameter; the multiplexed socket takes no query parameters (its messages are JSON, and each names its session)`, { field: `query.${key.value}` });
    }
    const conn = new MuxConnection({ id: randomUUID(), ws, socket, sessions: this.sessions, owner, maxBatchItems: this.settings.maxBatchItems, limits: this.limits, log: this.log, counters: this.counters, onError: this.options.onError });
    this.multiplexed.add(conn);
    const opened = performance.now();
    ws.on('error', (err) => this.log.info({ multiplexed: true, connectionId: conn.id, err: err.message }, 'websocket protocol error'));
    ws.on('close', (code, reason) => {
      this.multiplexed.delete(conn);
      conn.closed();
      this.log.info({ multiplexed: true, connectionId: conn.id, code, reason: reason.toString().slice(0, 123), ms: Math.round(performance.now() - opened) }, 'websocket closed');
    });
    this.log.info({ multiplexed: true, connectionId: conn.id, owner }, 'websocket opened');
    const hello: MuxHelloMessage = { type: 'hello', protocol: WS_PROTOCOL_VERSION, multiplex: true, limits: { ...this.helloLimits(), maxBatchItems: this.settings.maxBatchItems } };
    ws.send(JSON.stringify(hello));
  }

  private helloLimits(): HelloMessage['limits'] {
    return {
      maxPayloadBytes: this.limits.maxPayloadBytes,
      maxInFlight: this.limits.maxInFlight,
      rateLimitPerS: this.limits.rateLimitPerS,
      rateBurst: this.limits.rateBurst,
      heartbeatIntervalS: this.settings.wsHeartbeatIntervalS,
      sendBufferBytes: this.limits.sendBufferBytes,
      maxBufferedBytes: this.limits.maxBufferedBytes,
    };
  }

  private hello(session: Session, role: WsRole, format: WsFormat): HelloMessage {
    return {
      type: 'hello',
      protocol: WS_PROTOCOL_VERSION,
      role,
      format,
      // batchSize only for a batch: the hello of a network of one copy stays as it was.
      session: { id: session.id, name: session.name, step: session.stepCount, pending: session.summary().pending, ...(session.copies > 1 ? { batchSize: session.copies } : {}) },
      populations: session.populationNames.map((name) => ({ name, n: session.spec.populations[name].n })),
      connections: session.connectionNames.map((name) => {
        const c = session.spec.connections[name];
        const [rows, cols] = session.shapeOf(name);
        return { name, pre: c.pre, post: c.post, rule: c.rule.type, rows, cols };
      }),
      limits: this.helloLimits(),
    };
  }

  /** An accepted socket that cannot be served: say why, then close with the matching code. */
  private refuse(ws: WebSocket, e: SpikeserveError): void {
    this.options.onError?.(e.code);
    ws.on('error', () => {});
    ws.send(errorText(e, undefined, undefined));
    ws.close(closeCodeFor(e.code), closeReason(e.code, e.message));
    setTimeout(() => ws.terminate(), REFUSE_GRACE_MS).unref();
  }

  private beat(): void {
    for (const conn of this.sockets()) {
      if (!conn.alive) {
        this.log.info({ ...conn.logFields(), connectionId: conn.id }, 'websocket closed: no answer to the last ping');
        conn.terminate();
      } else {
        conn.alive = false;
        conn.ping();
      }
    }
  }

  /** Every open socket, of either kind. */
  private sockets(): OrderedSocket[] {
    return [...this.connections, ...this.multiplexed];
  }

  stats(): WsStats {
    let controllers = 0;
    for (const c of this.connections) if (c.role === 'controller') controllers++;
    return { ...this.counters, connections: this.connections.size, controllers, observers: this.connections.size - controllers, multiplexed: this.multiplexed.size };
  }

  /** The open sockets of one session (every session when left out). */
  connectionsOf(sessionId?: string): ConnectionInfo[] {
    const out: ConnectionInfo[] = [];
    for (const c of this.connections) {
      if (sessionId !== undefined && c.session.id !== sessionId) continue;
      out.push({
        id: c.id,
        sessionId: c.session.id,
        role: c.role,
        format: c.format,
        bufferedAmount: c.bufferedAmount,
        maxBuffered: c.maxBuffered,
        inFlight: c.inFlight,
        deferred: c.deferredCount,
        paused: c.isPaused,
        eventsSent: c.eventsSent,
        eventsDropped: c.droppedTotal,
        subscriptions: [...c.subscriptions.keys()],
      });
    }
    return out;
  }

  /**
   * Closes every socket of one session with 1001 (SHUTTING_DOWN) once the
   * replies to what it sent are out: the session is leaving this node (it
   * moves to another node of the cluster), and clients connect again.
   */
  disconnectSession(sessionId: string, message: string): void {
    for (const c of this.connections) if (c.session.id === sessionId) c.closeAfterReplies('SHUTTING_DOWN', message);
  }

  /** Refuses new sockets and closes each open one with 1001 once the replies to what it sent are out. */
  beginShutdown(): void {
    this.closing = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    for (const c of this.sockets()) c.closeAfterReplies('SHUTTING_DOWN', 'the server is shutting down');
  }

  /** Cuts whatever is still open. */
  close(): void {
    this.beginShutdown();
    for (const c of this.sockets()) c.terminate();
    this.wss.close();
  }
}

function oneOf<T extends string>(raw: string | null, values: readonly T[], name: string, def: T): T {
  if (raw === null) return def;
  if (!(values as readonly string[]).includes(raw)) {
    throw new SpikeserveError('REQUEST_INVALID', `query.${name}: must be one of ${values.join(', ')}, got ${JSON.stringify(raw)}`, { field: `query.${name}` });
  }
  return raw as T;
}
