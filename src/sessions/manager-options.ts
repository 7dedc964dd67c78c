/** What a session manager is built with, and the settings it runs on once defaults are filled in. */
import type { Store } from '../persist/store.js';
import type { SessionHooks, SessionLimits } from './session.js';

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

export type ManagerSettings = Required<Omit<SessionManagerOptions, 'store' | 'hooks' | 'admitCreate' | 'onCommit'>> &
  Pick<SessionManagerOptions, 'hooks' | 'admitCreate' | 'onCommit'>;

const silentLog: ManagerLog = { info: () => {}, error: () => {} };

/** The options, less the store, with their defaults. */
export function managerSettings(options: Omit<SessionManagerOptions, 'store'>): ManagerSettings {
  return { now: Date.now, log: silentLog, compactSteps: 10_000, quota: { sessions: 0, synapses: 0 }, retentionMs: 0, ...options };
}
