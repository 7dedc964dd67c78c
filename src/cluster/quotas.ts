/**
 * An API key's quotas over a cluster (QUOTA_SESSIONS, QUOTA_SYNAPSES): each
 * key's sessions and the synapses over them are counted in Redis, in the
 * directory's own scripts (directory.ts), so a key holds its quota over all
 * nodes together. A session counts from its creation to its deletion,
 * whichever node holds it: a move does not count it again, and the sessions
 * of a node that is down still count (they come back with it). When Redis
 * has lost its data, the nodes count their sessions again as they claim
 * them; until every node has had time to do so, a creation that quotas bound
 * is refused (503, retry) rather than admitted on short counts.
 */
import { SpikeserveError } from '../errors.js';
import { sessionQuotaExceeded, synapseQuotaExceeded, type Owner } from '../sessions/capacity.js';
import type { ClaimResult, Counted, SessionDirectory } from './directory.js';

export interface Quota {
  sessions: number;
  synapses: number;
}

/** The name a key's counts go under: its id, or `@none` on a server without keys ('@' is in no key id). */
export function keyName(owner: Owner | undefined): string {
  return owner === null || owner === undefined ? '@none' : owner;
}

export class ClusterQuotas {
  constructor(
    private readonly directory: SessionDirectory,
    private readonly quota: Quota,
    /** The latest time (ms since the epoch) the directory may have begun to be filled for the counts to be complete. */
    private readonly completeSince: () => number,
  ) {}

  get enabled(): boolean {
    return this.quota.sessions > 0 || this.quota.synapses > 0;
  }

  /** How a session of `owner` with `synapses` synapses is counted; `admit` when it is new (then it may be refused). */
  counted(owner: Owner, synapses: number, admit: boolean): Counted {
    const c: Counted = { key: keyName(owner), synapses };
    if (admit && this.enabled) c.quota = { ...this.quota, completeSince: this.completeSince() };
    return c;
  }

  /**
   * Before a network is built: refuses a key that holds its quota of
   * sessions already (the claim after the build is what counts; this spares
   * building a network that would be refused).
   */
  async precheck(owner: Owner): Promise<void> {
    if (this.quota.sessions === 0) return;
    const used = await this.directory.usage(keyName(owner));
    if (used.sessions >= this.quota.sessions) throw sessionQuotaExceeded(this.quota.sessions);
  }

  /** The error a claim refused for a quota gets; null for a claim that was not refused on counts. */
  refusal(r: ClaimResult, synapses: number): SpikeserveError | null {
    if (r.ok || !('refused' in r)) return null;
    if (r.refused === 'sessions') return sessionQuotaExceeded(this.quota.sessions);
    if (r.refused === 'synapses') return synapseQuotaExceeded(synapses, r.used.synapses, this.quota.synapses);
    return new SpikeserveError(
      'SESSION_UNAVAILABLE',
      'the cluster is counting its sessions again (its Redis restarted without its data), and this API key\'s quotas cannot be checked until every node has: retry',
      { retryAfterSeconds: 2 },
    );
  }
}
