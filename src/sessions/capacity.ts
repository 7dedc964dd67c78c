/**
 * What the server and each API key hold against their bounds: the synapses
 * of the sessions in memory (MAX_TOTAL_SYNAPSES), and per owner the sessions
 * it has, loaded or on disk, and the synapses over them (QUOTA_SESSIONS,
 * QUOTA_SYNAPSES). The manager reports every change; this checks a new
 * session against them.
 */
import { SpikeserveError } from '../errors.js';

/** Who holds a session: the API key id, or null when the server runs without keys. */
export type Owner = string | null;

export interface CapacityBounds {
  maxSessions: number;
  /** Synapses over the sessions in memory. */
  maxTotalSynapses: number;
  /** Per API key: sessions held and synapses over them; 0 is no limit beyond the server's. */
  quota: { sessions: number; synapses: number };
}

export class Capacity {
  private inMemory = 0;
  private readonly perOwner = new Map<Owner, { sessions: number; synapses: number }>();

  constructor(private readonly bounds: CapacityBounds) {}

  /** Synapses summed over the sessions in memory. */
  get loadedSynapses(): number {
    return this.inMemory;
  }

  /** Whether `synapses` more fit in memory under MAX_TOTAL_SYNAPSES. */
  fits(synapses: number): boolean {
    return this.inMemory + synapses <= this.bounds.maxTotalSynapses;
  }

  /** A session of `synapses` synapses came into memory (1) or left it (-1). */
  loaded(synapses: number, sign: 1 | -1): void {
    this.inMemory += sign * synapses;
  }

  /** An owner gained (1) or lost (-1) a session of `synapses` synapses, loaded or on disk. */
  owned(owner: Owner, synapses: number, sign: 1 | -1): void {
    const mine = this.perOwner.get(owner) ?? { sessions: 0, synapses: 0 };
    const next = { sessions: mine.sessions + sign, synapses: mine.synapses + sign * synapses };
    if (next.sessions <= 0) this.perOwner.delete(owner);
    else this.perOwner.set(owner, next);
  }

  /** Sessions an owner holds, loaded or on disk. */
  sessionsOf(owner: Owner): number {
    return this.perOwner.get(owner)?.sessions ?? 0;
  }

  /**
   * Room for one more session of `synapses` synapses beside the `sessions`
   * the server holds, under the limits and `owner`'s quotas; throws
   * LIMIT_EXCEEDED or QUOTA_EXCEEDED.
   */
  check(owner: Owner, sessions: number, synapses: number): void {
    const { maxSessions, maxTotalSynapses, quota } = this.bounds;
    if (sessions >= maxSessions) {
      throw new SpikeserveError(
        'LIMIT_EXCEEDED',
        `the server holds its limit of ${maxSessions} sessions (MAX_SESSIONS); delete one you no longer need`,
        { limit: 'maxSessions', max: maxSessions },
      );
    }
    const mine = this.perOwner.get(owner) ?? { sessions: 0, synapses: 0 };
    if (quota.sessions > 0 && mine.sessions >= quota.sessions) throw sessionQuotaExceeded(quota.sessions);
    if (!this.fits(synapses)) {
      throw new SpikeserveError(
        'LIMIT_EXCEEDED',
        `this network's ${synapses} synapses would take the server past its limit of ${maxTotalSynapses} synapses over all sessions (MAX_TOTAL_SYNAPSES; ${this.inMemory} in use); delete sessions you no longer need`,
        { limit: 'maxTotalSynapses', value: this.inMemory + synapses, max: maxTotalSynapses },
      );
    }
    if (quota.synapses > 0 && mine.synapses + synapses > quota.synapses) throw synapseQuotaExceeded(synapses, mine.synapses, quota.synapses);
  }
}

/** QUOTA_SESSIONS reached (on this server, or over a cluster's nodes). */
export function sessionQuotaExceeded(max: number): SpikeserveError {
  return new SpikeserveError('QUOTA_EXCEEDED', `this API key holds its quota of ${max} sessions (QUOTA_SESSIONS); delete one you no longer need`, { quota: 'sessions', max });
}

/** A network of `synapses` synapses would take its key past QUOTA_SYNAPSES, with `inUse` held already. */
export function synapseQuotaExceeded(synapses: number, inUse: number, max: number): SpikeserveError {
  return new SpikeserveError(
    'QUOTA_EXCEEDED',
    `this network's ${synapses} synapses would take this API key past its quota of ${max} synapses over its sessions (QUOTA_SYNAPSES; ${inUse} in use); delete sessions you no longer need`,
    { quota: 'synapses', value: inUse + synapses, max },
  );
}
