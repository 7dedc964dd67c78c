/**
 * The sessions one app holds: creation (from a spec or a snapshot) under the
 * configured limits, lookup, paging, deletion, and what becomes of sessions
 * left idle. One manager per app, no module state, so tests can build many apps.
 *
 * With a database, a session is either loaded (a Session in memory) or
 * dormant (on disk only: hibernated after SESSION_IDLE_TIMEOUT_S, or not
 * loadable at start). open() is the one place a dormant session is read back
 * from the store, on demand, exactly as it was saved. Without a database an
 * idle session is evicted: deleted.
 */
import { randomUUID } from 'node:crypto';
import { checkSpecCounts, Network, synapseCount } from '../engine/index.js';
import { isSpikeserveError, SpikeserveError } from '../errors.js';
import { sessionNotFound } from '../api/errors.js';
import type { CreateSessionBody, SessionSummary } from '../api/sessions.js';
import { Journal } from '../persist/journal.js';
import type { SnapshotData } from '../persist/pending-batch.js';
import type { LoadedSession, LoadResult } from '../persist/rows.js';
import type { SessionLog } from '../persist/session-log.js';
import type { Store } from '../persist/store.js';
import { Capacity, type Owner } from './capacity.js';
import { Dormant } from './dormant.js';
import { inSlices } from './in-slices.js';
import { decodeLoaded, decodeLoadedPausing, decodeSnapshotPausing, logState, restoreSessions, type Decoded, type RestoreReport, type SessionFields } from './restore.js';
import { SpikeStats } from './spike-stats.js';
import { Session, type CloseReason, type SessionEvents, type SessionHooks, type SessionLimits } from './session.js';

/** The subset of a pino logger the manager uses. */
export interface ManagerLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  warn?(obj: object, msg: string): void;
}

export interface SessionManagerOptions {
  limits: SessionLimits;
  maxSessions: number;
  /** Synapses summed over all sessions. */
  maxTotalSynapses: number;
  /** Sessions without a request for this long leave memory (hibernate with a store, else are deleted); 0 never. */
  idleTimeoutMs: number;
  /** With a store: sessions without a request for this long are deleted; 0 never. */
  retentionMs?: number;
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

/** A session as it moves between nodes: who it is, and its saved snapshot (statistics and network state). */
export interface SavedSession {
  fields: { id: string; name: string | null; owner: string | null; createdAt: number };
  backend: string;
  meta: string;
  data: Buffer;
}

export interface SessionPage {
  sessions: SessionSummary[];
  next: string | null;
  total: number;
}

type Entry = Session | Dormant;

export type ManagerEvents = {
  created: (session: Session) => void;
  closed: (session: Session, reason: CloseReason) => void;
  /** A session, loaded or on disk, left for good (deleted, evicted, past its retention): not at shutdown. */
  removed: (id: string, owner: Owner) => void;
};

const silentLog: ManagerLog = { info: () => {}, error: () => {} };

type ManagerSettings = Required<Omit<SessionManagerOptions, 'store' | 'hooks' | 'admitCreate' | 'onCommit'>> &
  Pick<SessionManagerOptions, 'hooks' | 'admitCreate' | 'onCommit'>;

export class SessionManager {
  /** Every session, loaded or dormant, in creation order. */
  private readonly entries = new Map<string, Entry>();
  private loadedCount = 0;
  private readonly opts: ManagerSettings;
  private seq = 0;
  private timer: NodeJS.Timeout | null = null;
  private closing = false;
  private readonly listeners: { [E in keyof ManagerEvents]: Set<ManagerEvents[E]> } = { created: new Set(), closed: new Set(), removed: new Set() };
  /** Where sessions are saved; null: memory only. */
  private readonly journal: Journal | null;
  /** Loaded sessions by their key in the database. */
  private readonly byKey = new Map<number, Session>();
  /** Synapses in memory, and per owner the sessions and synapses it holds. */
  private readonly capacity: Capacity;

  constructor(options: SessionManagerOptions) {
    const { store, ...rest } = options;
    this.opts = { now: Date.now, log: silentLog, compactSteps: 10_000, quota: { sessions: 0, synapses: 0 }, retentionMs: 0, ...rest };
    this.capacity = new Capacity(this.opts);
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
    const timeouts = [this.opts.idleTimeoutMs, this.journal ? this.opts.retentionMs : 0].filter((t) => t > 0);
    if (timeouts.length > 0) {
      // A quarter of the timeout keeps the overshoot small; bounded so short
      // timeouts stay cheap and long ones are still checked every minute.
      const every = Math.min(60_000, Math.max(50, Math.min(...timeouts) / 4));
      this.timer = setInterval(() => this.evictIdle(), every);
      this.timer.unref();
    }
  }

  /** Sessions in memory. */
  get size(): number {
    return this.loadedCount;
  }

  /** Sessions on disk only (hibernated, or not loadable at start). */
  get dormantCount(): number {
    return this.entries.size - this.loadedCount;
  }

  /** Synapses summed over the sessions in memory. */
  get totalSynapses(): number {
    return this.capacity.loadedSynapses;
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
      maxTotalSynapses: this.opts.maxTotalSynapses,
      totalSynapses: () => this.capacity.loadedSynapses,
      adopt: (net, fields, log, init) => {
        const s = this.add(net, fields, log, init);
        this.capacity.owned(fields.owner, synapseCount(net.spec), 1);
        this.seq = Math.max(this.seq, fields.seq);
        return s;
      },
      keep: (fields, backend, log, decoded) => {
        const d = new Dormant({ fields, backend, synapses: synapseCount(decoded.net.spec), log, lastUsedAt: this.opts.now(), outline: this.outline(fields, decoded) });
        this.entries.set(fields.id, d);
        this.capacity.owned(fields.owner, d.synapses, 1);
        this.seq = Math.max(this.seq, fields.seq);
      },
    }, preloaded);
  }

  /** The listing of a session rebuilt from disk, replayed once without being saved, then released. */
  private outline(fields: SessionFields, decoded: Decoded): SessionSummary {
    const s = new Session(decoded.net, { ...fields, ...this.sessionSettings(), onListenerError: () => {}, log: null });
    try {
      s.loadState(decoded.net, decoded.meta, decoded.commands);
      return s.summary();
    } finally {
      void s.close('shutdown');
    }
  }

  private sessionSettings() {
    return {
      limits: this.opts.limits,
      idleTimeoutMs: this.opts.idleTimeoutMs,
      expiryMs: this.journal ? this.opts.retentionMs : this.opts.idleTimeoutMs,
      sliceMs: this.opts.sliceMs,
      now: this.opts.now,
    };
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
  createInSlices(body: CreateSessionBody, owner: Owner = null): Promise<Session> {
    return inSlices(this.creating(body, owner), this.opts.sliceMs);
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
    this.capacity.check(owner, this.entries.size, 0);
    const { maxNeurons, maxSynapses, maxPopulations, maxConnections } = this.opts.limits;
    const limits = { maxNeurons, maxSynapses, maxPopulations, maxConnections };
    const backend = body.backend ?? 'native';
    const net = hasSnapshot
      ? yield* Network.restore(body.snapshot, { limits, backend })
      : yield* Network.build(body.network, { seed: body.seed ?? 0, limits, backend });
    const synapses = synapseCount(net.spec);
    const admit = () => {
      this.checkOpen();
      if (!this.capacity.fits(synapses) && this.makeRoom(synapses) && !this.capacity.fits(synapses)) throw this.savingForRoom('the new session does not fit in memory now');
      this.capacity.check(owner, this.entries.size, synapses);
    };
    const stats = new SpikeStats(net.populationNames.length);
    let first: SnapshotData | null = null;
    try {
      // Again, with the network's synapses: other sessions may have come and gone while it was built.
      admit();
      if (this.journal) {
        // Not a copy: nothing else reaches this network yet.
        first = yield* this.journal.encodePausing(net.snapshotView());
        // And again if its first snapshot was written in parts, over several turns.
        if (!Buffer.isBuffer(first)) admit();
      }
    } catch (e) {
      net.dispose();
      if (first !== null) this.journal!.discard(first);
      throw e;
    }
    // A restored session keeps the name its snapshot carries unless given a new one.
    const name = body.name ?? (hasSnapshot ? (body.snapshot as { name?: string | null }).name : null) ?? null;
    const fields = { id: randomUUID(), name, seq: this.seq + 1, owner, createdAt: this.opts.now() };
    let log: SessionLog | null = null;
    if (this.journal) {
      log = this.journal.create(
        { id: fields.id, owner, name: fields.name, seq: fields.seq, createdAt: fields.createdAt, backend: net.backend },
        { meta: JSON.stringify(stats.meta()), data: first! },
      );
    }
    this.seq = fields.seq;
    const session = this.add(net, fields, log);
    this.capacity.owned(owner, synapseCount(net.spec), 1);
    return session;
  }

  private checkOpen(): void {
    if (this.closing) throw new SpikeserveError('SHUTTING_DOWN', 'the server is shutting down and creates no new sessions');
  }

  /** Puts a session (new, restored or woken) in memory; the owner's count is the caller's. */
  private add(net: Network, fields: SessionFields, log: SessionLog | null, init?: (session: Session) => void): Session {
    const session = new Session(net, {
      ...fields,
      ...this.sessionSettings(),
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
    this.entries.set(session.id, session);
    this.loadedCount++;
    if (log) this.byKey.set(log.key, session);
    this.capacity.loaded(synapseCount(net.spec), 1);
    this.emit('created', session);
    return session;
  }

  /**
   * The entry of `id`, loaded or dormant. Throws SESSION_NOT_FOUND; with
   * `owner` given, a session of another owner is not found either: the reply
   * is the same as for an id that never existed.
   */
  private entry(id: string, owner?: Owner): Entry {
    const e = this.entries.get(id);
    if (!e || (owner !== undefined && e.owner !== owner)) throw this.notFound(id);
    return e;
  }

  private notFound(id: string): SpikeserveError {
    const why = this.journal ? 'it may have been deleted' : 'it may have been deleted or evicted after being idle';
    return sessionNotFound(id, why);
  }

  /** Throws SESSION_NOT_FOUND unless the session exists (loaded or not) and, with `owner` given, is that owner's. Loads nothing. */
  check(id: string, owner?: Owner): void {
    this.entry(id, owner);
  }

  /** A session in memory (a dormant one is not found here: see open()). */
  get(id: string, owner?: Owner): Session {
    const e = this.entry(id, owner);
    if (!(e instanceof Session)) throw sessionNotFound(id, 'it is on disk, not loaded; any request to it loads it');
    // Closed sessions leave the list before they close; checked all the same, as every caller relies on it.
    if (e.closed) throw e.notFound();
    return e;
  }

  /**
   * The session, loaded from the database first if it is dormant; counts as
   * a request (its idle time starts again). What every request goes through.
   */
  open(id: string, owner?: Owner): Promise<Session> {
    let e: Entry;
    try {
      e = this.entry(id, owner);
    } catch (err) {
      return Promise.reject(err);
    }
    if (e instanceof Session) {
      e.touch();
      return Promise.resolve(e);
    }
    return this.wake(e);
  }

  /**
   * Reads a dormant session back from the database, exactly as it was saved
   * (its snapshot, then any logged command after it), and puts it in memory.
   * If it cannot load now (its backend does not run here, no room under
   * MAX_TOTAL_SYNAPSES) it stays on disk, untouched, and the error says why.
   */
  private wake(d: Dormant): Promise<Session> {
    if (d.waking) return d.waking;
    const journal = this.journal!;
    d.waking = (async () => {
      // The snapshot it went to sleep with (or a failed write) settles first.
      await d.log.durable?.catch(() => {});
      if (this.entries.get(d.id) !== d) throw this.notFound(d.id);
      if (this.closing) throw new SpikeserveError('SHUTTING_DOWN', 'the server is shutting down and loads no sessions');
      // Read a part at a time and rebuilt in slices: a large session read in one go held the event loop for a second.
      const loaded = await inSlices(journal.store.loadOnePausing(d.log.key, d.log.firstLiveId ?? journal.store.nextRecordId), this.opts.sliceMs);
      // Deleted, or the server stopping, meanwhile.
      if (this.entries.get(d.id) !== d) throw this.notFound(d.id);
      if (this.closing) throw new SpikeserveError('SHUTTING_DOWN', 'the server is shutting down and loads no sessions');
      if (!loaded) {
        // Its creation was never saved (that commit failed): it does not exist.
        void this.remove(d, 'deleted');
        throw this.notFound(d.id);
      }
      if (loaded.damage) {
        this.opts.log.error({ sessionId: d.id, reason: loaded.damage }, 'session cannot be read from the database: left there');
        throw new SpikeserveError('PERSISTENCE_FAILED', `session ${d.id} cannot be read back from the database (${loaded.damage}); it is left there for the operator; the server log has the details`);
      }
      let decoded: Decoded;
      try {
        decoded = await inSlices(decodeLoadedPausing(loaded, this.opts.limits), this.opts.sliceMs);
      } catch (e) {
        if (isSpikeserveError(e) && e.code === 'BACKEND_UNAVAILABLE') {
          throw new SpikeserveError(
            'BACKEND_UNAVAILABLE',
            `session ${d.id} runs on the "${d.backend}" backend, which does not run on this server now (${e.message}); it is kept on disk, unchanged, and loads once the server runs with that backend`,
            { sessionId: d.id, backend: d.backend },
          );
        }
        throw e;
      }
      if (this.entries.get(d.id) !== d || this.closing) {
        decoded.net.dispose();
        if (this.entries.get(d.id) !== d) throw this.notFound(d.id);
        throw new SpikeserveError('SHUTTING_DOWN', 'the server is shutting down and loads no sessions');
      }
      if (!this.capacity.fits(d.synapses)) this.makeRoom(d.synapses);
      if (!this.capacity.fits(d.synapses)) {
        decoded.net.dispose();
        throw new SpikeserveError(
          'OVERLOADED',
          `session ${d.id} is on disk and its ${d.synapses} synapses do not fit in memory now (MAX_TOTAL_SYNAPSES ${this.opts.maxTotalSynapses}, ${this.capacity.loadedSynapses} in use by sessions busy or held open); retry later`,
          { retryAfterSeconds: 5 },
        );
      }
      const session = this.add(decoded.net, d.fields, d.log, (s) => {
        d.log.reset(logState(loaded, s.loadState(decoded.net, decoded.meta, decoded.commands)));
      });
      this.opts.log.info({ sessionId: d.id, step: session.stepCount }, 'session loaded from disk');
      return session;
    })().finally(() => {
      d.waking = null;
    });
    return d.waking;
  }

  /** Who holds session `id` (loaded or on disk) and its synapses, as its key's quotas count them; null if it is not here. */
  holding(id: string): { owner: Owner; synapses: number } | null {
    const e = this.entries.get(id);
    if (!e) return null;
    return { owner: e.owner, synapses: e instanceof Session ? synapseCount(e.spec) : e.synapses };
  }

  /** Every session held here, loaded or on disk, with its owner and synapses. */
  holdings(): { id: string; owner: Owner; synapses: number }[] {
    return [...this.entries.keys()].map((id) => ({ id, ...this.holding(id)! }));
  }

  /** Oldest first; `cursor` is the `next` of the previous page. With `owner` given, only that owner's sessions. Dormant ones are listed, not loaded. */
  list(options: { limit?: number; cursor?: string; owner?: Owner } = {}): SessionPage {
    const limit = options.limit ?? 100;
    const after = options.cursor === undefined ? 0 : Number(options.cursor);
    const owner = options.owner;
    const page: Entry[] = [];
    let more = false;
    for (const e of this.entries.values()) {
      if (e.seq <= after || (owner !== undefined && e.owner !== owner)) continue;
      if (page.length === limit) {
        more = true;
        break;
      }
      page.push(e);
    }
    const total = owner === undefined ? this.entries.size : this.capacity.sessionsOf(owner);
    return { sessions: page.map((e) => this.summaryOf(e)), next: more ? String(page[page.length - 1].seq) : null, total };
  }

  private summaryOf(e: Entry): SessionSummary {
    return e instanceof Session ? e.summary() : e.summary(this.opts.retentionMs);
  }

  /**
   * Hibernates loaded sessions, least recently used first, until `synapses`
   * more fit under MAX_TOTAL_SYNAPSES (with a database; never one busy or
   * held open by a socket). Returns true if a session that would make room
   * is still having its snapshot written in parts (see Session.readyToLeave).
   */
  private makeRoom(synapses: number): boolean {
    if (!this.journal) return false;
    const idle: Session[] = [];
    for (const e of this.entries.values()) if (e instanceof Session && !e.held) idle.push(e);
    idle.sort((a, b) => a.lastUsedAt - b.lastUsedAt);
    let leaving = false;
    for (const s of idle) {
      if (this.capacity.fits(synapses)) return leaving;
      // Busy with the compaction it leaves after, or with a request.
      if (s.busy) leaving ||= s.leaving !== null;
      else if (!this.hibernate(s, 'to make room in memory') && s.leaving !== null) leaving = true;
    }
    return leaving;
  }

  /** OVERLOADED while sessions are being saved to leave memory and make the room a request needs. */
  private savingForRoom(what: string): SpikeserveError {
    return new SpikeserveError('OVERLOADED', `${what}: sessions not in use are being saved to disk to make room in memory (MAX_TOTAL_SYNAPSES ${this.opts.maxTotalSynapses}); retry in a moment`, {
      retryAfterSeconds: 1,
    });
  }

  /**
   * Moves a session out of memory: a snapshot of it is written (so that
   * loading it back replays nothing), and it is listed as dormant. Its
   * writes in flight need not be durable yet: loading waits for them.
   */
  private hibernate(s: Session, why: string): boolean {
    const log = s.persistence;
    if (!log || log.failed || s.busy || s.held) return false;
    // A snapshot written in parts first, as a command: the session leaves once it is written (the next pass).
    if (!s.readyToLeave()) return false;
    try {
      s.snapshotIfLogged();
    } catch (err) {
      this.opts.log.error({ err, sessionId: s.id }, 'session could not be hibernated: its snapshot failed; it stays in memory');
      return false;
    }
    const fields: SessionFields = { id: s.id, name: s.name, seq: s.seq, owner: s.owner, createdAt: s.createdAt };
    const d = new Dormant({ fields, backend: s.backend, synapses: synapseCount(s.spec), log, lastUsedAt: s.lastUsedAt, outline: s.summary() });
    this.entries.set(s.id, d);
    this.loadedCount--;
    this.byKey.delete(log.key);
    this.capacity.loaded(d.synapses, -1);
    this.opts.log.info({ sessionId: s.id, step: s.stepCount, idleMs: this.opts.now() - s.lastUsedAt }, `session hibernated ${why}: on disk only until its next request`);
    void s.close('hibernated');
    return true;
  }

  /**
   * For moving a session to another node: takes it out of memory (a
   * snapshot written, as hibernation does) and returns its saved form, once
   * that is durable. The session stays here, dormant, until delete(): if
   * the move fails, its next request loads it back. Throws unless it is
   * idle (no command queued, no socket holding it) and saved to a database.
   */
  async exportSaved(id: string): Promise<SavedSession> {
    const journal = this.journal;
    if (!journal) throw new Error('sessions kept in memory only (DATA_DIR=) cannot move');
    for (let tries = 0; ; tries++) {
      const e = this.entry(id);
      if (e instanceof Session) {
        await e.drained();
        if (this.entries.get(id) !== e) continue;
        if (!e.held && !e.readyToLeave()) {
          // Its snapshot is written in parts, as its next command, first.
          if (tries > 4) throw new Error(`session ${id} keeps changing while it is saved to move`);
          await e.leaving;
          continue;
        }
        if (!this.hibernate(e, 'to move to another node')) throw new Error(`session ${id} is in use (a socket holds it, or a command is queued) or its log failed`);
        continue;
      }
      if (e.waking) {
        await e.waking.catch(() => {});
        continue;
      }
      await e.log.durable?.catch(() => {});
      if (this.entries.get(id) !== e || e.waking) continue;
      const loaded = await inSlices(journal.store.loadOnePausing(e.log.key, e.log.firstLiveId ?? journal.store.nextRecordId), this.opts.sliceMs);
      if (this.entries.get(id) !== e || e.waking) continue;
      if (!loaded || loaded.damage || !loaded.snapshot) throw new Error(`session ${id} cannot be read from the database: ${loaded?.damage ?? 'not there'}`);
      if (loaded.commands > 0) {
        // Dormant since the start with commands after its snapshot: load it and hibernate it again, which folds them in.
        if (tries > 2) throw new Error(`session ${id} keeps logged commands after its snapshot`);
        await this.open(id);
        continue;
      }
      return { fields: { id, name: e.fields.name, owner: e.fields.owner, createdAt: e.fields.createdAt }, backend: loaded.row.backend, meta: loaded.snapshot.meta, data: loaded.snapshot.data };
    }
  }

  /**
   * A session moved here from another node, under its id, owner, name and
   * creation time: saved to the database, then put in memory exactly as it
   * was. Resolves once it is durable.
   */
  async importSaved(saved: SavedSession): Promise<void> {
    this.checkOpen();
    const journal = this.journal;
    if (!journal) throw new Error('a server keeping sessions in memory only (DATA_DIR=) takes no sessions from other nodes');
    if (this.entries.has(saved.fields.id)) throw new Error(`session ${saved.fields.id} is already here`);
    // Rebuilt in slices, and saved in parts: a large session in one go held the event loop for seconds.
    const decoded = await inSlices(decodeSnapshotPausing(saved.meta, saved.data, saved.backend, this.opts.limits), this.opts.sliceMs);
    const synapses = synapseCount(decoded.net.spec);
    const admit = () => {
      this.checkOpen();
      if (this.entries.has(saved.fields.id)) throw new Error(`session ${saved.fields.id} is already here`);
      if (!this.capacity.fits(synapses) && this.makeRoom(synapses) && !this.capacity.fits(synapses)) throw this.savingForRoom(`session ${saved.fields.id} does not fit in memory now`);
      this.capacity.check(saved.fields.owner, this.entries.size, synapses);
    };
    let data: SnapshotData | null = null;
    try {
      admit();
      data = await inSlices(journal.storePausing(saved.data), this.opts.sliceMs);
      // Again: other sessions may have come and gone while it was written.
      if (!Buffer.isBuffer(data)) admit();
    } catch (e) {
      decoded.net.dispose();
      if (data !== null) journal.discard(data);
      throw e;
    }
    const row = { ...saved.fields, seq: this.seq + 1 };
    this.seq = row.seq;
    const log = journal.create({ ...row, backend: saved.backend }, { meta: saved.meta, data });
    this.add(decoded.net, row, log, (s) => {
      s.loadState(decoded.net, decoded.meta, []);
    });
    this.capacity.owned(saved.fields.owner, synapses, 1);
    await log.durable;
  }

  /**
   * Removes the session now; a run in progress on it stops at its next slice.
   * Resolves once the deletion is durable (at once without persistence); the
   * session's memory is released when its queue empties.
   */
  delete(id: string, owner?: Owner): Promise<void> {
    const e = this.entry(id, owner);
    const log = e instanceof Session ? e.persistence : e.log;
    void this.remove(e, 'deleted');
    return log?.durable ?? Promise.resolve();
  }

  /**
   * Sessions idle past SESSION_IDLE_TIMEOUT_S leave memory (never one with a
   * command in flight): with a database they hibernate (and one held open by
   * a WebSocket stays), without one they are deleted. With a database,
   * sessions idle past SESSION_RETENTION_S are deleted. Returns the ids.
   */
  evictIdle(): string[] {
    const timeout = this.opts.idleTimeoutMs;
    const retention = this.journal ? this.opts.retentionMs : 0;
    const now = this.opts.now();
    const out: string[] = [];
    for (const e of [...this.entries.values()]) {
      const idleMs = now - e.lastUsedAt;
      if (e instanceof Session && e.busy) continue;
      if (retention > 0 && idleMs >= retention && !(e instanceof Session && e.held) && !(e instanceof Dormant && e.waking)) {
        out.push(e.id);
        this.opts.log.info({ sessionId: e.id, idleMs }, 'session deleted: unused for SESSION_RETENTION_S');
        void this.remove(e, 'deleted');
      } else if (timeout > 0 && e instanceof Session && idleMs >= timeout) {
        if (!this.journal) {
          out.push(e.id);
          this.opts.log.info({ sessionId: e.id, idleMs }, 'session evicted after being idle');
          void this.remove(e, 'evicted');
        } else if (this.hibernate(e, 'after being idle')) {
          out.push(e.id);
        }
      }
    }
    return out;
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
    // A load in progress finishes first, so that its session is closed with the rest.
    await Promise.all([...this.entries.values()].map((e) => (e instanceof Dormant ? e.waking?.catch(() => {}) : undefined)));
    const all = [...this.entries.values()].filter((e): e is Session => e instanceof Session);
    await Promise.all(all.map((s) => s.drained()));
    if (this.journal && !this.journal.isClosed) {
      const deadline = options.snapshotDeadline ?? Infinity;
      for (const s of all) {
        if (performance.now() > deadline) break;
        try {
          // A large one in parts, in slices.
          await s.saveSnapshot();
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

  private remove(entry: Entry, reason: CloseReason): Promise<void> {
    if (entry instanceof Dormant) {
      if (this.entries.get(entry.id) === entry) {
        this.entries.delete(entry.id);
        this.capacity.owned(entry.owner, entry.synapses, -1);
        if (reason !== 'shutdown') {
          entry.log.remove();
          this.emit('removed', entry.id, entry.owner);
        }
      }
      return Promise.resolve();
    }
    const session = entry;
    if (this.entries.get(session.id) === session) {
      this.entries.delete(session.id);
      this.loadedCount--;
      const synapses = synapseCount(session.spec);
      this.capacity.loaded(synapses, -1);
      this.capacity.owned(session.owner, synapses, -1);
      const log = session.persistence;
      if (log) {
        this.byKey.delete(log.key);
        // Deleted sessions leave the database too; at shutdown they stay for the next start.
        if (reason !== 'shutdown') log.remove();
      }
      this.emit('closed', session, reason);
      if (reason !== 'shutdown') this.emit('removed', session.id, session.owner);
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

export type { Session, SessionEvents, CloseReason, SessionLimits, RestoreReport, Owner };
