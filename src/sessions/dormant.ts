/**
 * A session on disk and not in memory (hibernated after
 * SESSION_IDLE_TIMEOUT_S, or not loadable at start): what is needed to list
 * it, count it, and load it back.
 */
import type { SessionSummary } from '../api/sessions.js';
import type { SessionLog } from '../persist/session-log.js';
import type { SessionFields } from './restore.js';
import type { Session } from './session.js';

export interface DormantOptions {
  fields: SessionFields;
  backend: string;
  synapses: number;
  /** Attached to the journal: keeps its records from being pruned, and deletes it. */
  log: SessionLog;
  lastUsedAt: number;
  /** Its summary when it left memory (or as replayed at start). */
  outline: SessionSummary;
}

export class Dormant implements Readonly<DormantOptions> {
  /** The load in progress, if one is. */
  waking: Promise<Session> | null = null;
  readonly fields: SessionFields;
  readonly backend: string;
  readonly synapses: number;
  readonly log: SessionLog;
  readonly lastUsedAt: number;
  readonly outline: SessionSummary;

  constructor(o: DormantOptions) {
    ({ fields: this.fields, backend: this.backend, synapses: this.synapses, log: this.log, lastUsedAt: this.lastUsedAt, outline: this.outline } = o);
  }

  get id(): string {
    return this.fields.id;
  }

  get seq(): number {
    return this.fields.seq;
  }

  get owner(): string | null {
    return this.fields.owner;
  }

  /** Its listing: the outline, with its last use and when it expires (`retentionMs` after it; 0: never). */
  summary(retentionMs: number): SessionSummary {
    return {
      ...this.outline,
      lastUsedAt: new Date(this.lastUsedAt).toISOString(),
      expiresAt: retentionMs > 0 ? new Date(this.lastUsedAt + retentionMs).toISOString() : null,
      loaded: false,
    };
  }
}
