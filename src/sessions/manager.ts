/**
 * The sessions one app holds: creation (from a spec or a snapshot) under the
 * configured limits, lookup, paging, deletion, and eviction of sessions left
 * idle. One manager per app, no module state, so tests can build many apps.
 */
import { randomUUID } from 'node:crypto';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { checkSpecCounts, Network } from '../engine/index.js';
import { SpikeserveError } from '../errors.js';
import type { CreateSessionBody } from '../api/sessions.js';
import { encodeBlob } from '../persist/codec.js';
import { Journal, type SessionLog } from '../persist/journal.js';
import type { LoadedSession, LoadResult, Store } from '../persist/store.js';
import { decodeLoaded, logState, restoreSessions, type RestoreReport } from './restore.js';
import { Session, type CloseReason, type SessionEvents, type SessionHooks, type SessionLimits } from './session.js';

/** The subset of a pino logger the manager uses. */
export interface ManagerLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  warn?(obj: object, msg: string): void;
}

/** Who is asking: the API key id, or null when the server runs without keys. */
export type Owner = string | null;

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
  /** The database sessions are saved to; none keeps them in memory only. */
  store?: Store | null;
  /** Compact a session's log into a snapshot past this many logged steps. */
  compactSteps?: number;
  /** Per API key: sessions held and synapses over them; 0 is no limit beyond the server's. */
  quota?: { sessions: number; synapses: number };
  /** Checks and measurements around steps (rate quotas, overload, metrics), for every transport. */
  hooks?: SessionHooks;
  /** Throws to refuse a new session before anything is built (overload). */
  admitCreate?: () => void;
  /** Measurements of each commit to disk. */
  onCommit?: (m: { records: number; snapshots: number; seconds: number; lagSeconds: number }) => void;
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

type ManagerSettings = Required<Omit<SessionManagerOptions, 'store' | 'hooks' | 'admitCreate' | 'onCommit'>> &
  Pick<SessionManagerOptions, 'hooks' | 'admitCreate' | 'onCommit'>;

export class SessionManager {
  private readonly sessions = new Map<string, Session>();
  private readonly opts: ManagerSettings;
  private seq = 0;
  private synapses = 0;
  private timer: NodeJS.Timeout | null = null;
  private closing = false;
  private readonly listeners: { [E in keyof ManagerEvents]: Set<ManagerEvents[E]> } = { created: new Set(), closed: new Set() };
  /** Where sessions are saved; null: memory only. */
  private readonly journal: Journal | null;
  /** Sessions by their key in the database. */
  private readonly byKey = new Map<number, Session>();
  /** Sessions and synapses per owner, for the quotas. */
  private readonly perOwner = new Map<Owner, { sessions: number; synapses: number }>();

  constructor(options: SessionManagerOptions) {
    const { store, ...rest } = options;
    this.opts = { now: Date.now, log: silentLog, compactSteps: 10_000, quota: { sessions: 0, synapses: 0 }, ...rest };
    this.journal = store
      ? new Journal(store, {
          compactSteps: this.opts.compactSteps,
          onFailure: (err, logs) => this.commitFailed(err, logs),
          onCompactionWanted: (log) => {
            const s = this.byKey.get(log.key);
            if (s) s.compact().catch((err) => this.opts.log.error({ err, sessionId: s.id }, 'compaction failed'));
          },
          onCommit: options.onCommit,
        })
      : null;
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

  /** True when sessions are saved to a database. */
  get persistent(): boolean {
    return this.journal !== null;
  }

  /** Commits, failures, records and snapshots written since start (zeros without persistence). */
  get persistTotals(): { commits: number; failures: number; records: number; snapshots: number } {
    return this.journal?.totals ?? { commits: 0, failures: 0, records: 0, snapshots: 0 };
  }

  /** Writes waiting for the next commit, and how long the oldest has waited: the persistence lag. */
  get persistLag(): { records: number; seconds: number } {
    return { records: this.journal?.pendingRecords ?? 0, seconds: this.journal?.lagSeconds ?? 0 };
  }

  /**
   * Brings back every session saved in the database (at start, before any
   * request): each from its snapshot plus its logged commands. What cannot be
   * restored is reported, and the rest still load.
   */
  restore(preloaded?: LoadResult): RestoreReport {
    if (!this.journal) return { restored: 0, kept: [], damaged: [], fileDamage: [], preservedCopy: null };
    return restoreSessions(this.journal, {
      limits: this.opts.limits,
      maxSessions: this.opts.maxSessions,
      maxTotalSynapses: this.opts.maxTotalSynapses,
      totalSynapses: () => this.synapses,
      count: () => this.sessions.size,
      adopt: (net, fields, log, init) => {
        const s = this.add(net, fields, log, init);
        this.seq = Math.max(this.seq, fields.seq);
        return s;
      },
    }, preloaded);
  }

  on<E extends keyof ManagerEvents>(event: E, listener: ManagerEvents[E]): () => void {
    this.listeners[event].add(listener);
    return () => this.listeners[event].delete(listener);
  }

  /**
   * The cheap part of create's checks, for a body not yet validated: the
   * counts of populations and connections, which bound what validating the
   * rest costs. Throws LIMIT_EXCEEDED.
   */
  precheck(body: unknown): void {
    if (typeof body !== 'object' || body === null) return;
    const { network, snapshot } = body as { network?: unknown; snapshot?: unknown };
    if (network !== undefined) checkSpecCounts(network, this.opts.limits, 'network');
    if (typeof snapshot === 'object' && snapshot !== null) checkSpecCounts((snapshot as { network?: unknown }).network, this.opts.limits, 'snapshot.network');
  }

  create(body: CreateSessionBody, owner: Owner = null): Session {
    const steps = this.creating(body, owner);
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
    }
  }

  /** As create, but a large network is built in slices of about STEP_SLICE_MS, with other requests served between them. */
  async createInSlices(body: CreateSessionBody, owner: Owner = null): Promise<Session> {
    const steps = this.creating(body, owner);
    let sliceEnd = performance.now() + this.opts.sliceMs;
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
      if (performance.now() >= sliceEnd) {
        await yieldToLoop();
        sliceEnd = performance.now() + this.opts.sliceMs;
      }
    }
  }

  /** Creation, pausing (yield) while the network is built. */
  private *creating(body: CreateSessionBody, owner: Owner): Generator<void, Session> {
    this.checkOpen();
    this.opts.admitCreate?.();
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
    this.checkRoom(owner, 0);
    const { maxNeurons, maxSynapses, maxPopulations, maxConnections } = this.opts.limits;
    const limits = { maxNeurons, maxSynapses, maxPopulations, maxConnections };
    const backend = body.backend ?? 'native';
    const net = hasSnapshot
      ? Network.fromSnapshot(body.snapshot, { limits, backend })
      : yield* Network.build(body.network, { seed: body.seed ?? 0, limits, backend });
    try {
      // Again, with the network's synapses: other sessions may have come and gone while it was built.
      this.checkOpen();
      this.checkRoom(owner, countSynapses(net));
    } catch (e) {
      net.dispose();
      throw e;
    }
    // A restored session keeps the name its snapshot carries unless given a new one.
    const name = body.name ?? (hasSnapshot ? (body.snapshot as { name?: string | null }).name : null) ?? null;
    const fields = { id: randomUUID(), name, seq: this.seq + 1, owner, createdAt: this.opts.now() };
    let log: SessionLog | null = null;
    if (this.journal) {
      log = this.journal.create(
        { id: fields.id, owner, name: fields.name, seq: fields.seq, createdAt: fields.createdAt, backend: net.backend },
        { meta: JSON.stringify({ stats: { spikes: net.populationNames.map(() => 0), steps: 0 } }), data: encodeBlob(net.snapshotTyped()) },
      );
    }
    this.seq = fields.seq;
    return this.add(net, fields, log);
  }

  private checkOpen(): void {
    if (this.closing) throw new SpikeserveError('SHUTTING_DOWN', 'the server is shutting down and creates no new sessions');
  }

  /** Room for one more session of `synapses` synapses under the limits and `owner`'s quotas; throws LIMIT_EXCEEDED or QUOTA_EXCEEDED. */
  private checkRoom(owner: Owner, synapses: number): void {
    if (this.sessions.size >= this.opts.maxSessions) {
      throw new SpikeserveError(
        'LIMIT_EXCEEDED',
        `the server holds its limit of ${this.opts.maxSessions} sessions (MAX_SESSIONS); delete one you no longer need`,
        { limit: 'maxSessions', max: this.opts.maxSessions },
      );
    }
    const mine = this.perOwner.get(owner) ?? { sessions: 0, synapses: 0 };
    const quota = this.opts.quota;
    if (quota.sessions > 0 && mine.sessions >= quota.sessions) {
      throw new SpikeserveError('QUOTA_EXCEEDED', `this API key holds its quota of ${quota.sessions} sessions (QUOTA_SESSIONS); delete one you no longer need`, {
        quota: 'sessions',
        max: quota.sessions,
      });
    }
    if (this.synapses + synapses > this.opts.maxTotalSynapses) {
      throw new SpikeserveError(
        'LIMIT_EXCEEDED',
        `this network's ${synapses} synapses would take the server past its limit of ${this.opts.maxTotalSynapses} synapses over all sessions (MAX_TOTAL_SYNAPSES; ${this.synapses} in use); delete sessions you no longer need`,
        { limit: 'maxTotalSynapses', value: this.synapses + synapses, max: this.opts.maxTotalSynapses },
      );
    }
    if (quota.synapses > 0 && mine.synapses + synapses > quota.synapses) {
      throw new SpikeserveError(
        'QUOTA_EXCEEDED',
        `this network's ${synapses} synapses would take this API key past its quota of ${quota.synapses} synapses over its sessions (QUOTA_SYNAPSES; ${mine.synapses} in use); delete sessions you no longer need`,
        { quota: 'synapses', value: mine.synapses + synapses, max: quota.synapses },
      );
    }
  }

  /** Puts a session (new or restored) under management. */
  private add(
    net: Network,
    fields: { id: string; name: string | null; seq: number; owner: Owner; createdAt: number },
    log: SessionLog | null,
    init?: (session: Session) => void,
  ): Session {
    const session = new Session(net, {
      ...fields,
      limits: this.opts.limits,
      idleTimeoutMs: this.opts.idleTimeoutMs,
      sliceMs: this.opts.sliceMs,
      now: this.opts.now,
      onListenerError: (err, s, event) => this.opts.log.error({ err, sessionId: s.id, event }, 'session listener failed'),
      log,
      hooks: this.opts.hooks,
    });
    if (init) {
      try {
        init(session);
      } catch (e) {
        void session.close('deleted');
        throw e;
      }
    }
    const synapses = countSynapses(net);
    this.sessions.set(session.id, session);
    if (log) this.byKey.set(log.key, session);
    this.synapses += synapses;
    const mine = this.perOwner.get(fields.owner) ?? { sessions: 0, synapses: 0 };
    this.perOwner.set(fields.owner, { sessions: mine.sessions + 1, synapses: mine.synapses + synapses });
    this.emit('created', session);
    return session;
  }

  /**
   * Throws SESSION_NOT_FOUND. With `owner` given, a session of another owner
   * is not found either: the reply is the same as for an id that never existed.
   */
  get(id: string, owner?: Owner): Session {
    const s = this.sessions.get(id);
    if (!s || (owner !== undefined && s.owner !== owner)) {
      throw new SpikeserveError('SESSION_NOT_FOUND', `no session with id "${id}" (it may have been deleted or evicted after being idle)`, { sessionId: id });
    }
    return s;
  }

  /** Oldest first; `cursor` is the `next` of the previous page. With `owner` given, only that owner's sessions. */
  list(options: { limit?: number; cursor?: string; owner?: Owner } = {}): SessionPage {
    const limit = options.limit ?? 100;
    const after = options.cursor === undefined ? 0 : Number(options.cursor);
    const owner = options.owner;
    const page: Session[] = [];
    let more = false;
    for (const s of this.sessions.values()) {
      if (s.seq <= after || (owner !== undefined && s.owner !== owner)) continue;
      if (page.length === limit) {
        more = true;
        break;
      }
      page.push(s);
    }
    const total = owner === undefined ? this.sessions.size : (this.perOwner.get(owner)?.sessions ?? 0);
    return { sessions: page, next: more ? String(page[page.length - 1].seq) : null, total };
  }

  /**
   * Removes the session now; a run in progress on it stops at its next slice.
   * Resolves once the deletion is durable (at once without persistence); the
   * session's memory is released when its queue empties.
   */
  delete(id: string, owner?: Owner): Promise<void> {
    const s = this.get(id, owner);
    void this.remove(s, 'deleted');
    return s.persistence?.durable ?? Promise.resolve();
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

  /**
   * Stops eviction, refuses new sessions, lets every queued command finish,
   * then closes every session. With persistence: writes a final snapshot of
   * each session whose latest changes are only in the log (so the next start
   * replays nothing), until `snapshotDeadline` (a performance.now() time)
   * passes, then commits and closes the database.
   */
  async close(options: { snapshotDeadline?: number } = {}): Promise<void> {
    this.closing = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const all = [...this.sessions.values()];
    await Promise.all(all.map((s) => s.drained()));
    if (this.journal && !this.journal.isClosed) {
      const deadline = options.snapshotDeadline ?? Infinity;
      for (const s of all) {
        if (performance.now() > deadline) break;
        try {
          s.snapshotIfLogged();
        } catch (err) {
          // The log still has every change: the next start replays it.
          this.opts.log.error({ err, sessionId: s.id }, 'final snapshot failed');
        }
      }
      for (const s of all) s.persistence?.detach();
      try {
        this.journal.close();
      } catch (err) {
        this.opts.log.error({ err }, 'final commit failed: the final snapshots were not written (every acknowledged change is in the log, and the next start replays it)');
      }
    }
    await Promise.all(all.map((s) => this.remove(s, 'shutdown')));
  }

  private remove(session: Session, reason: CloseReason): Promise<void> {
    if (this.sessions.get(session.id) === session) {
      this.sessions.delete(session.id);
      const synapses = countSynapses(session);
      this.synapses -= synapses;
      const mine = this.perOwner.get(session.owner);
      if (mine) {
        if (mine.sessions <= 1) this.perOwner.delete(session.owner);
        else this.perOwner.set(session.owner, { sessions: mine.sessions - 1, synapses: mine.synapses - synapses });
      }
      const log = session.persistence;
      if (log) {
        this.byKey.delete(log.key);
        // Deleted and evicted sessions leave the database too; at shutdown they stay for the next start.
        if (reason !== 'shutdown') log.remove();
      }
      this.emit('closed', session, reason);
    }
    return session.close(reason);
  }

  /**
   * A commit failed: the sessions in it are ahead of the database. Each is put
   * back to its saved state (a session whose creation was not saved is
   * dropped), so that what a client is told failed did not happen.
   */
  private commitFailed(err: unknown, logs: SessionLog[]): void {
    this.opts.log.error({ err, sessions: logs.length }, 'commit to the database failed: the sessions in it go back to their saved state');
    const journal = this.journal!;
    for (const log of logs) {
      const s = this.byKey.get(log.key);
      if (!s) continue;
      if (savedOnDisk(journal.store, log.key) === false) {
        // Never saved (its creation was in the failed commit).
        void this.remove(s, 'deleted');
        continue;
      }
      let loaded: LoadedSession | null = null;
      s.resync(
        () => {
          loaded = journal.store.loadOne(log.key);
          if (!loaded || loaded.damage) throw new Error(`cannot read session ${s.id} back: ${loaded?.damage ?? 'not in the database'}`);
          return decodeLoaded(loaded, this.opts.limits);
        },
        (replayed) => {
          log.reset(logState(loaded!, replayed));
          this.opts.log.info({ sessionId: s.id, step: s.stepCount }, 'session back at its saved state');
        },
      ).catch((e) => {
        this.opts.log.error({ err: e, sessionId: s.id }, 'session could not be read back after a failed commit: closed here, kept on disk for the next start');
        log.detach();
        this.byKey.delete(log.key);
        void this.remove(s, 'shutdown');
      });
    }
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

/** Whether the session is in the database; null if the database cannot be read now (the reload then reports it). */
function savedOnDisk(store: Store, key: number): boolean | null {
  try {
    return store.loadOne(key) !== null;
  } catch {
    return null;
  }
}

function countSynapses(net: { spec: Network['spec'] }): number {
  let n = 0;
  for (const c of Object.values(net.spec.connections)) n += net.spec.populations[c.pre].n * net.spec.populations[c.post].n;
  return n;
}

export type { Session, SessionEvents, CloseReason, SessionLimits, RestoreReport };
