/**
 * The sessions one app holds, behind one object: creation (from a spec or a
 * snapshot) under the configured limits, lookup, paging, deletion, moves
 * between nodes, what becomes of sessions left idle, and shutdown. One
 * manager per app, no module state, so tests can build many apps. Each job
 * is in a file of its own (see the imports); the sessions and the counts
 * over them are in held-sessions.ts.
 *
 * With a database, a session is either loaded (a Session in memory) or
 * dormant (on disk only: hibernated after SESSION_IDLE_TIMEOUT_S, or not
 * loadable at start). open() is the one place a dormant session is read back
 * from the store, on demand, exactly as it was saved. Without a database an
 * idle session is evicted: deleted.
 */
import { synapseCount } from '../engine/index.js';
import { sessionNotFound } from '../api/errors.js';
import type { CreateSessionBody, SessionSummary } from '../api/sessions.js';
import { Journal } from '../persist/journal.js';
import type { LoadResult } from '../persist/rows.js';
import type { Owner } from './capacity.js';
import { recoverFromFailedCommit } from './commit-recovery.js';
import { creating, precheckCreate } from './creation.js';
import { Dormant } from './dormant.js';
import { HeldSessions, type ManagerEvents } from './held-sessions.js';
import { wake } from './hibernation.js';
import { evictIdle, idleCheckMs } from './idle.js';
import { inSlices } from './in-slices.js';
import { listPage, type SessionPage } from './listing.js';
import { managerSettings, type SessionManagerOptions } from './manager-options.js';
import { exportSaved, importSaved, type SavedSession } from './moves.js';
import { restoreSessions, type Decoded, type RestoreReport, type SessionFields } from './restore.js';
import { Session, type CloseReason, type SessionEvents, type SessionLimits } from './session.js';

export class SessionManager {
  private readonly held: HeldSessions;
  private timer: NodeJS.Timeout | null = null;

  constructor(options: SessionManagerOptions) {
    const { store, ...rest } = options;
    const opts = managerSettings(rest);
    const journal = store
      ? new Journal(store, {
          compactSteps: opts.compactSteps,
          onFailure: (err, logs) => recoverFromFailedCommit(this.held, err, logs),
          onCompactionWanted: (log) => {
            const s = this.held.byKey.get(log.key);
            if (s) s.compact().catch((err) => opts.log.error({ err, sessionId: s.id }, 'compaction failed'));
          },
          onCommit: options.onCommit,
        })
      : null;
    this.held = new HeldSessions(opts, journal);
    const every = idleCheckMs(this.held);
    if (every !== null) {
      this.timer = setInterval(() => this.evictIdle(), every);
      this.timer.unref();
    }
  }

  /** Sessions in memory. */
  get size(): number {
    return this.held.loadedCount;
  }

  /** Sessions on disk only (hibernated, or not loadable at start). */
  get dormantCount(): number {
    return this.held.entries.size - this.held.loadedCount;
  }

  /** Synapses summed over the sessions in memory. */
  get totalSynapses(): number {
    return this.held.capacity.loadedSynapses;
  }

  get limits(): SessionLimits {
    return this.held.opts.limits;
  }

  /** True when sessions are saved to a database. */
  get persistent(): boolean {
    return this.held.journal !== null;
  }

  /** Commits, failures, records and snapshots written since start (zeros without persistence). */
  get persistTotals(): { commits: number; failures: number; records: number; snapshots: number } {
    return this.held.journal?.totals ?? { commits: 0, failures: 0, records: 0, snapshots: 0 };
  }

  /** Writes waiting for the next commit, and how long the oldest has waited: the persistence lag. */
  get persistLag(): { records: number; seconds: number } {
    const journal = this.held.journal;
    return { records: journal?.pendingRecords ?? 0, seconds: journal?.lagSeconds ?? 0 };
  }

  /**
   * Brings back every session saved in the database (at start, before any
   * request): each from its snapshot plus its logged commands. What cannot be
   * restored is reported, and the rest still load.
   */
  restore(preloaded?: LoadResult): RestoreReport {
    const held = this.held;
    if (!held.journal) return { restored: 0, kept: [], damaged: [], fileDamage: [], preservedCopy: null };
    return restoreSessions(held.journal, {
      limits: held.opts.limits,
      maxTotalSynapses: held.opts.maxTotalSynapses,
      totalSynapses: () => held.capacity.loadedSynapses,
      adopt: (net, fields, log, init) => {
        const s = held.add(net, fields, log, init);
        held.capacity.owned(fields.owner, synapseCount(net.spec), 1);
        held.seq = Math.max(held.seq, fields.seq);
        return s;
      },
      keep: (fields, backend, log, decoded) => {
        held.keep(new Dormant({ fields, backend, synapses: synapseCount(decoded.net.spec), log, lastUsedAt: held.opts.now(), outline: this.outline(fields, decoded) }));
        held.seq = Math.max(held.seq, fields.seq);
      },
    }, preloaded);
  }

  /** The listing of a session rebuilt from disk, replayed once without being saved, then released. */
  private outline(fields: SessionFields, decoded: Decoded): SessionSummary {
    const s = new Session(decoded.net, { ...fields, ...this.held.sessionSettings(), onListenerError: () => {}, log: null });
    try {
      s.loadState(decoded.net, decoded.meta, decoded.commands);
      return s.summary();
    } finally {
      void s.close('shutdown');
    }
  }

  on<E extends keyof ManagerEvents>(event: E, listener: ManagerEvents[E]): () => void {
    return this.held.on(event, listener);
  }

  /**
   * The cheap part of create's checks, for a body not yet validated: the
   * counts of populations and connections, which bound what validating the
   * rest costs. Throws LIMIT_EXCEEDED.
   */
  precheck(body: unknown): void {
    precheckCreate(body, this.held.opts.limits);
  }

  create(body: CreateSessionBody, owner: Owner = null): Session {
    const steps = creating(this.held, body, owner);
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
    }
  }

  /** As create, but a large network is built in slices of about STEP_SLICE_MS, with other requests served between them. */
  createInSlices(body: CreateSessionBody, owner: Owner = null): Promise<Session> {
    return inSlices(creating(this.held, body, owner), this.held.opts.sliceMs);
  }

  /** Throws SESSION_NOT_FOUND unless the session exists (loaded or not) and, with `owner` given, is that owner's. Loads nothing. */
  check(id: string, owner?: Owner): void {
    this.held.entry(id, owner);
  }

  /** Whether the session is held here (loaded or not), as check() finds it, without building an error when it is not. */
  has(id: string): boolean {
    return this.held.entries.has(id);
  }

  /** A session in memory (a dormant one is not found here: see open()). */
  get(id: string, owner?: Owner): Session {
    const e = this.held.entry(id, owner);
    if (!(e instanceof Session)) throw sessionNotFound(id, 'it is on disk, not loaded; any request to it loads it');
    // Closed sessions leave the list before they close; checked all the same, as every caller relies on it.
    if (e.closed) throw e.notFound();
    return e;
  }

  /**
   * The session, loaded from the database first if it is dormant (see
   * wake()); counts as a request (its idle time starts again). What every
   * request goes through.
   */
  open(id: string, owner?: Owner): Promise<Session> {
    return this.use(id, (s) => Promise.resolve(s), owner);
  }

  /**
   * open(id, owner).then(run), except that a session in memory is given to
   * `run` at once, not a turn of promise jobs later: what every step
   * request and message goes through.
   */
  use<T>(id: string, run: (session: Session) => Promise<T>, owner?: Owner): Promise<T> {
    let e: Session | Dormant;
    try {
      e = this.held.entry(id, owner);
    } catch (err) {
      return Promise.reject(err);
    }
    if (e instanceof Session) {
      e.touch();
      try {
        return run(e);
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return wake(this.held, e).then(run);
  }

  /** Who holds session `id` (loaded or on disk) and its synapses, as its key's quotas count them; null if it is not here. */
  holding(id: string): { owner: Owner; synapses: number } | null {
    const e = this.held.entries.get(id);
    if (!e) return null;
    return { owner: e.owner, synapses: e instanceof Session ? synapseCount(e.spec) : e.synapses };
  }

  /** Every session held here, loaded or on disk, with its owner and synapses. */
  holdings(): { id: string; owner: Owner; synapses: number }[] {
    return [...this.held.entries.keys()].map((id) => ({ id, ...this.holding(id)! }));
  }

  /** Oldest first; `cursor` is the `next` of the previous page. With `owner` given, only that owner's sessions. Dormant ones are listed, not loaded. */
  list(options: { limit?: number; cursor?: string; owner?: Owner } = {}): SessionPage {
    return listPage(this.held, options);
  }

  /**
   * For moving a session to another node: takes it out of memory and
   * returns its saved form, once that is durable; it stays here, dormant,
   * until delete() (see moves.ts).
   */
  exportSaved(id: string): Promise<SavedSession> {
    return exportSaved(this.held, id);
  }

  /**
   * A session moved here from another node, under its id, owner, name and
   * creation time: saved to the database, then put in memory exactly as it
   * was. Resolves once it is durable.
   */
  importSaved(saved: SavedSession): Promise<void> {
    return importSaved(this.held, saved);
  }

  /**
   * Removes the session now; a run in progress on it stops at its next slice.
   * Resolves once the deletion is durable (at once without persistence); the
   * session's memory is released when its queue empties.
   */
  delete(id: string, owner?: Owner): Promise<void> {
    const e = this.held.entry(id, owner);
    const log = e instanceof Session ? e.persistence : e.log;
    void this.held.remove(e, 'deleted');
    return log?.durable ?? Promise.resolve();
  }

  /** Sessions idle past their timeouts leave memory or are deleted (see idle.ts). Returns the ids. */
  evictIdle(): string[] {
    return evictIdle(this.held);
  }

  /**
   * Stops eviction, refuses new sessions, lets every queued command finish,
   * then closes every session. With persistence: writes a final snapshot of
   * each session whose latest changes are only in the log (so the next start
   * replays nothing), until `snapshotDeadline` (a performance.now() time)
   * passes, then commits and closes the database.
   */
  async close(options: { snapshotDeadline?: number } = {}): Promise<void> {
    const held = this.held;
    held.closing = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    // A load in progress finishes first, so that its session is closed with the rest.
    await Promise.all([...held.entries.values()].map((e) => (e instanceof Dormant ? e.waking?.catch(() => {}) : undefined)));
    const all = [...held.entries.values()].filter((e): e is Session => e instanceof Session);
    await Promise.all(all.map((s) => s.drained()));
    const journal = held.journal;
    if (journal && !journal.isClosed) {
      const deadline = options.snapshotDeadline ?? Infinity;
      for (const s of all) {
        if (performance.now() > deadline) break;
        try {
          // A large one in parts, in slices.
          await s.saveSnapshot();
        } catch (err) {
          // The log still has every change: the next start replays it.
          held.opts.log.error({ err, sessionId: s.id }, 'final snapshot failed');
        }
      }
      for (const s of all) s.persistence?.detach();
      try {
        journal.close();
      } catch (err) {
        held.opts.log.error({ err }, 'final commit failed: the final snapshots were not written (every acknowledged change is in the log, and the next start replays it)');
      }
    }
    await Promise.all(all.map((s) => held.remove(s, 'shutdown')));
  }
}

export type { Session, SessionEvents, CloseReason, SessionLimits, RestoreReport, Owner, ManagerEvents, SessionPage, SavedSession };
export type { ManagerLog, SessionManagerOptions } from './manager-options.js';
