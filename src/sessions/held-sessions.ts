/**
 * The sessions one manager holds, loaded (a Session in memory) or dormant
 * (on disk only), and what is kept over them: the count in memory, the
 * loaded ones by their key in the database, what each owner holds, and the
 * created and closed events. Sessions come in through add() (or, dormant,
 * keep()), change state through hibernated(), and leave through remove(),
 * so that every count moves with them. The manager's other jobs (creation,
 * hibernation and waking, moves between nodes, recovery after a failed
 * commit) work through here.
 */
import { synapseCount, type Network } from '../engine/index.js';
import { SpikeserveError } from '../errors.js';
import { sessionNotFound } from '../api/errors.js';
import type { Journal } from '../persist/journal.js';
import type { SessionLog } from '../persist/session-log.js';
import { Capacity, type Owner } from './capacity.js';
import { Dormant } from './dormant.js';
import { Listeners } from './listeners.js';
import type { ManagerSettings } from './manager-options.js';
import type { SessionFields } from './restore.js';
import { Session, type CloseReason } from './session.js';

export type Entry = Session | Dormant;

export type ManagerEvents = {
  created: (session: Session) => void;
  closed: (session: Session, reason: CloseReason) => void;
  /** A session, loaded or on disk, left for good (deleted, evicted, past its retention): not at shutdown. */
  removed: (id: string, owner: Owner) => void;
};

export class HeldSessions {
  /** Every session, loaded or dormant, in creation order. */
  readonly entries = new Map<string, Entry>();
  /** Loaded sessions by their key in the database. */
  readonly byKey = new Map<number, Session>();
  /** Synapses in memory, and per owner the sessions and synapses it holds. */
  readonly capacity: Capacity;
  /** The creation number last given to a session. */
  seq = 0;
  /** Set once the manager closes: no session is created or loaded after it. */
  closing = false;
  private loaded = 0;
  private readonly listeners = new Listeners<ManagerEvents>((err, event) => this.opts.log.error({ err, event }, 'session manager listener failed'));

  constructor(
    readonly opts: ManagerSettings,
    /** Where sessions are saved; null: memory only. */
    readonly journal: Journal | null,
  ) {
    this.capacity = new Capacity(opts);
  }

  /** Sessions in memory. */
  get loadedCount(): number {
    return this.loaded;
  }

  /** What every session is built with, beside its own fields. */
  sessionSettings() {
    return {
      limits: this.opts.limits,
      idleTimeoutMs: this.opts.idleTimeoutMs,
      expiryMs: this.journal ? this.opts.retentionMs : this.opts.idleTimeoutMs,
      sliceMs: this.opts.sliceMs,
      now: this.opts.now,
    };
  }

  checkOpen(): void {
    if (this.closing) throw new SpikeserveError('SHUTTING_DOWN', 'the server is shutting down and creates no new sessions');
  }

  /** Puts a session (new, restored or woken) in memory; the owner's count is the caller's. */
  add(net: Network, fields: SessionFields, log: SessionLog | null, init?: (session: Session) => void): Session {
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
    this.loaded++;
    if (log) this.byKey.set(log.key, session);
    this.capacity.loaded(synapseCount(net.spec), 1);
    this.listeners.emit('created', session);
    return session;
  }

  /** Lists a session that stays on disk (at start), counted for its owner. */
  keep(d: Dormant): void {
    this.entries.set(d.id, d);
    this.capacity.owned(d.owner, d.synapses, 1);
  }

  /** A loaded session, `s`, is now on disk only, as `d`; closing `s` is the caller's. */
  hibernated(s: Session, d: Dormant): void {
    this.entries.set(s.id, d);
    this.loaded--;
    this.byKey.delete(d.log.key);
    this.capacity.loaded(d.synapses, -1);
  }

  remove(entry: Entry, reason: CloseReason): Promise<void> {
    if (entry instanceof Dormant) {
      if (this.entries.get(entry.id) === entry) {
        this.entries.delete(entry.id);
        this.capacity.owned(entry.owner, entry.synapses, -1);
        if (reason !== 'shutdown') {
          entry.log.remove();
          this.listeners.emit('removed', entry.id, entry.owner);
        }
      }
      return Promise.resolve();
    }
    const session = entry;
    if (this.entries.get(session.id) === session) {
      this.entries.delete(session.id);
      this.loaded--;
      const synapses = synapseCount(session.spec);
      this.capacity.loaded(synapses, -1);
      this.capacity.owned(session.owner, synapses, -1);
      const log = session.persistence;
      if (log) {
        this.byKey.delete(log.key);
        // Deleted sessions leave the database too; at shutdown they stay for the next start.
        if (reason !== 'shutdown') log.remove();
      }
      this.listeners.emit('closed', session, reason);
      if (reason !== 'shutdown') this.listeners.emit('removed', session.id, session.owner);
    }
    return session.close(reason);
  }

  /**
   * The entry of `id`, loaded or dormant. Throws SESSION_NOT_FOUND; with
   * `owner` given, a session of another owner is not found either: the reply
   * is the same as for an id that never existed.
   */
  entry(id: string, owner?: Owner): Entry {
    const e = this.entries.get(id);
    if (!e || (owner !== undefined && e.owner !== owner)) throw this.notFound(id);
    return e;
  }

  notFound(id: string): SpikeserveError {
    const why = this.journal ? 'it may have been deleted' : 'it may have been deleted or evicted after being idle';
    return sessionNotFound(id, why);
  }

  on<E extends keyof ManagerEvents>(event: E, listener: ManagerEvents[E]): () => void {
    return this.listeners.on(event, listener);
  }
}
