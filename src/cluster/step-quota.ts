/**
 * QUOTA_STEPS_PER_S over a cluster: one token bucket per API key in Redis,
 * refilled by Redis's clock, so a key runs its rate over every node
 * together. A node does not ask Redis at every step: it leases tokens (a
 * tenth of a second's worth, or the call's steps if more) and spends them
 * itself, asking again when it runs short; what a node holds unspent is at
 * most one lease, kept for the key's next steps there. As on a single
 * server, a call of more steps than the bucket holds runs once the bucket
 * is full, and the bucket goes below zero. While Redis cannot be reached,
 * each node keeps a bucket of its own, as a single server does.
 */
import type { Redis } from 'ioredis';
import { StepBudget, stepQuotaExceeded } from '../security/quota.js';
import type { Owner } from '../sessions/capacity.js';
import { keyName } from './quotas.js';
import { REDIS_KEYS } from './redis-keys.js';

/** A lease is this many seconds of the rate, or the call's steps if more. */
const LEASE_S = 0.1;
/** How long a step waits for Redis before the node's own bucket decides for it. */
const REDIS_WAIT_MS = 250;

// KEYS[1]: the key's bucket, hash { tokens, at }. ARGV: rate per s, size,
// need (what the call needs the bucket to hold), cover (steps the node
// lacks), want (the lease). Grants at least `cover`, at most `want` unless
// `cover` is more, when the bucket holds `need`; else grants nothing.
// Returns { granted, tokens left }, as strings (Lua truncates numbers).
const LEASE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local rate = tonumber(ARGV[1])
local size = tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = size
if b[1] then tokens = math.min(size, tonumber(b[1]) + math.max(0, now - tonumber(b[2])) / 1000 * rate) end
local granted = 0
if tokens >= tonumber(ARGV[3]) then
  granted = math.max(tonumber(ARGV[4]), math.min(tonumber(ARGV[5]), tokens))
  tokens = tokens - granted
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((size - math.min(tokens, 0)) / rate * 1000) + 60000)
return { tostring(granted), tostring(tokens) }
`;

export class ClusterStepBudget {
  /** Per key, the tokens this node holds from its leases (below zero after a call larger than the lease). */
  private readonly held = new Map<string, number>();

  constructor(
    private readonly redis: Redis,
    /** The node's own bucket: the rate and size, and what decides while Redis is away. */
    private readonly local: StepBudget,
    private readonly log: { warn(obj: object, msg: string): void },
  ) {}

  /** Takes `steps` from `owner`'s bucket: at once from what this node holds, else once Redis grants a lease; throws QUOTA_EXCEEDED. */
  take(owner: Owner, steps: number): void | Promise<void> {
    if (!this.local.enabled) return;
    const key = keyName(owner);
    const held = this.held.get(key) ?? 0;
    const need = Math.min(steps, this.local.size);
    if (held >= need) {
      this.held.set(key, held - steps);
      return;
    }
    if (this.redis.status !== 'ready') return this.local.take(owner ?? '', steps);
    return this.lease(key, owner, steps, need, Math.max(0, held));
  }

  /** Asks Redis for what the node lacks of `need` (holding `held`), and the lease beside. */
  private async lease(key: string, owner: Owner, steps: number, need: number, held: number): Promise<void> {
    const cover = Math.max(0, steps - held);
    const reply = await this.ask(key, need - held, cover, Math.max(cover, this.local.rate * LEASE_S));
    if (reply === null) return this.local.take(owner ?? '', steps);
    const [granted, left] = reply;
    // What the node holds now: a late lease may have come in meanwhile.
    const holds = (this.held.get(key) ?? 0) + granted;
    if (granted === 0 && holds < need) {
      this.held.set(key, holds);
      throw stepQuotaExceeded(this.local.rate, need - holds - Math.max(0, left));
    }
    this.held.set(key, holds - steps);
  }

  /**
   * The lease Redis grants, or null when it does not answer in time. A lease
   * granted after the wait is this node's all the same: it goes to what the
   * node holds, so the bucket loses nothing to a slow answer.
   */
  private async ask(key: string, need: number, cover: number, want: number): Promise<[number, number] | null> {
    let timer: NodeJS.Timeout | undefined;
    let late = false;
    const asked = (this.redis.eval(LEASE, 1, REDIS_KEYS.stepBucket(key), this.local.rate, this.local.size, need, cover, want) as Promise<[string, string]>).then(
      (r): [number, number] => {
        const granted: [number, number] = [Number(r[0]), Number(r[1])];
        if (late) this.held.set(key, (this.held.get(key) ?? 0) + granted[0]);
        return granted;
      },
    );
    try {
      const reply = await Promise.race([
        asked,
        new Promise<null>((resolve) => {
          timer = setTimeout(() => {
            late = true;
            resolve(null);
          }, REDIS_WAIT_MS);
        }),
      ]);
      // Its failure is reported below if it came in time, and otherwise only means nothing was granted.
      if (reply === null) asked.catch(() => {});
      return reply;
    } catch (err) {
      this.log.warn({ err: { message: (err as Error).message } }, 'the steps quota\'s bucket in Redis could not be read: this node counts the key\'s steps alone meanwhile');
      return null;
    } finally {
      clearTimeout(timer);
    }
  }
}
