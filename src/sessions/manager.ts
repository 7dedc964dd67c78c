/**
 * The sessions one app holds: creation (from a spec or a snapshot) under the
 * configured limits, lookup, paging, deletion, and eviction of sessions left
 * idle. One manager per app, no module state, so tests can build many apps.
 */
import { randomUUID } from 'node:crypto';
import { Network } from '../engine/index.js';
import { SpikeserveError } from '../errors.js';
import type { CreateSessionBody } from '../api/sessions.js';
import { Session, type CloseReason, type SessionEvents, type SessionLimits } from './session.js';

/** The subset of a pino logger the manager uses. */
export interface ManagerLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface SessionManagerOptions {
  limits: SessionLimits;
  maxSessions: number;
  /** Synapses summed over all sessions. */
  maxTotalSynapses: number;
  /** Evict sessions without a request for this long; 0 never evicts. */
  idleTimeoutMs: number;
  /** Slice length of long step runs. */
  sliceMs: number;
  /** Clock, replaceable in tests. */
  now?: () => number;
  log?: ManagerLog;
}

export interface SessionPage {
  sessions: Session[];
  next: string | null;
  total: number;
}

export type ManagerEvents = {
  created: (session: Session) => void;
  closed: (session: Session, reason: CloseReason) => void;
};

const silentLog: ManagerLog = { info: () => {}, error: () => {} };

export class SessionManager {
  private readonly sessions = new Map<string, Session>();
  private readonly opts: Required<SessionManagerOptions>;
  private seq = 0;
  private synapses = 0;
  private timer: NodeJS.Timeout | null = null;
  private closing = false;
  private readonly listeners: { [E in keyof ManagerEvents]: Set<ManagerEvents[E]> } = { created: new Set(), closed: new Set() };

  constructor(options: SessionManagerOptions) {
    this.opts = { now: Date.now, log: silentLog, ...options };
    if (this.opts.idleTimeoutMs > 0) {
      // A quarter of the timeout keeps the overshoot small; bounded so short
      // timeouts stay cheap and long ones are still checked every minute.
      const every = Math.min(60_000, Math.max(50, this.opts.idleTimeoutMs / 4));
      this.timer = setInterval(() => this.evictIdle(), every);
      this.timer.unref();
    }
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Synapses summed over every session held. */
  get totalSynapses(): number {
    return this.synapses;
  }

  get limits(): SessionLimits {
    return this.opts.limits;
  }

  on<E extends keyof ManagerEvents>(event: E, listener: ManagerEvents[E]): () => void {
    this.listeners[event].add(listener);
    return () => this.listeners[event].delete(listener);
  }

  create(body: CreateSessionBody): Session {
    if (this.closing) throw new SpikeserveError('SHUTTING_DOWN', 'the server is shutting down and creates no new sessions');
    const hasNetwork = body.network !== undefined;
    const hasSnapshot = body.snapshot !== undefined;
    if (hasNetwork === hasSnapshot) {
      throw new SpikeserveError('REQUEST_INVALID', 'body: give either "network" (a new session) or "snapshot" (restore an exported one), exactly one of them', {
        field: hasNetwork ? 'snapshot' : 'network',
      });
    }
    if (hasSnapshot && body.seed !== undefined) {
      throw new SpikeserveError('REQUEST_INVALID', 'seed: a snapshot carries its own seed and generator state; leave seed out', { field: 'seed' });
    }
    if (this.sessions.size >= this.opts.maxSessions) {
      throw new SpikeserveError(
        'LIMIT_EXCEEDED',
        `the server holds its limit of ${this.opts.maxSessions} sessions (MAX_SESSIONS); delete one you no longer need`,
        { limit: 'maxSessions', max: this.opts.maxSessions },
      );
    }
    const limits = { maxNeurons: this.opts.limits.maxNeurons, maxSynapses: this.opts.limits.maxSynapses };
    const backend = body.backend ?? 'native';
    const net = hasSnapshot
      ? Network.fromSnapshot(body.snapshot, { limits, backend })
      : Network.create(body.network, { seed: body.seed ?? 0, limits, backend });
    const synapses = countSynapses(net);
    if (this.synapses + synapses > this.opts.maxTotalSynapses) {
      net.dispose();
      throw new SpikeserveError(
        'LIMIT_EXCEEDED',
        `this network's ${synapses} synapses would take the server past its limit of ${this.opts.maxTotalSynapses} synapses over all sessions (MAX_TOTAL_SYNAPSES; ${this.synapses} in use); delete sessions you no longer need`,
        { limit: 'maxTotalSynapses', value: this.synapses + synapses, max: this.opts.maxTotalSynapses },
      );
    }
    const session = new Session(net, {
      id: randomUUID(),
      name: body.name ?? null,
      seq: ++this.seq,
      limits: this.opts.limits,
      idleTimeoutMs: this.opts.idleTimeoutMs,
      sliceMs: this.opts.sliceMs,
      now: this.opts.now,
      onListenerError: (err, s, event) => this.opts.log.error({ err, sessionId: s.id, event }, 'session listener failed'),
    });
    this.sessions.set(session.id, session);
    this.synapses += synapses;
    this.emit('created', session);
    return session;
  }

  /** Throws SESSION_NOT_FOUND. */
  get(id: string): Session {
    const s = this.sessions.get(id);
    if (!s) throw new SpikeserveError('SESSION_NOT_FOUND', `no session with id "${id}" (it may have been deleted or evicted after being idle)`, { sessionId: id });
    return s;
  }

  /** Oldest first; `cursor` is the `next` of the previous page. */
  list(options: { limit?: number; cursor?: string } = {}): SessionPage {
    const limit = options.limit ?? 100;
    const after = options.cursor === undefined ? 0 : Number(options.cursor);
    const page: Session[] = [];
    let more = false;
    for (const s of this.sessions.values()) {
      if (s.seq <= after) continue;
      if (page.length === limit) {
        more = true;
        break;
      }
      page.push(s);
    }
    return { sessions: page, next: more ? String(page[page.length - 1].seq) : null, total: this.sessions.size };
  }

  /** Removes the session now; a run in progress on it stops at its next slice. */
  delete(id: string): Promise<void> {
    return this.remove(this.get(id), 'deleted');
  }

  /** Evicts every session idle past the timeout (never one with a command in flight); returns their ids. */
  evictIdle(): string[] {
    const timeout = this.opts.idleTimeoutMs;
    if (timeout <= 0) return [];
    const now = this.opts.now();
    const evicted: string[] = [];
    for (const s of this.sessions.values()) {
      if (!s.busy && now - s.lastUsedAt >= timeout) {
        evicted.push(s.id);
        this.opts.log.info({ sessionId: s.id, idleMs: now - s.lastUsedAt }, 'session evicted after being idle');
        void this.remove(s, 'evicted');
      }
    }
    return evicted;
  }

  /** Stops eviction, refuses new sessions, lets every queued command finish, then closes every session. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const all = [...this.sessions.values()];
    await Promise.all(all.map((s) => s.drained()));
    await Promise.all(all.map((s) => this.remove(s, 'shutdown')));
  }

  private remove(session: Session, reason: CloseReason): Promise<void> {
    if (this.sessions.get(session.id) === session) {
      this.sessions.delete(session.id);
      this.synapses -= countSynapses(session);
      this.emit('closed', session, reason);
    }
    return session.close(reason);
  }

  private emit<E extends keyof ManagerEvents>(event: E, ...args: Parameters<ManagerEvents[E]>): void {
    for (const l of this.listeners[event]) {
      try {
        (l as (...a: Parameters<ManagerEvents[E]>) => void)(...args);
      } catch (err) {
        this.opts.log.error({ err, event }, 'session manager listener failed');
      }
    }
  }
}

function countSynapses(net: { spec: Network['spec'] }): number {
  let n = 0;
  for (const c of Object.values(net.spec.connections)) n += net.spec.populations[c.pre].n * net.spec.populations[c.post].n;
  return n;
}

export type { Session, SessionEvents, CloseReason, SessionLimits };
