/**
 * Steps per second per API key: a token bucket per key, shared by HTTP and
 * WebSocket (both step through Session.step, where this is checked). A call
 * may take the bucket below zero (a call of more steps than the bucket holds
 * runs once the bucket is full, then the key waits it off), so no size of
 * call is refused for ever, and the long-run rate is the configured one.
 */
import { SpikeserveError } from '../errors.js';

interface Bucket {
  tokens: number;
  at: number;
}

export class StepBudget {
  /** Steps a second; 0 is off. */
  readonly rate: number;
  private readonly capacity: number;
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;

  /** `ratePerS` 0 turns it off; `burst` 0 is one second's worth. */
  constructor(ratePerS: number, burst: number, now: () => number = () => performance.now()) {
    this.rate = ratePerS;
    this.capacity = burst > 0 ? burst : ratePerS;
    this.now = now;
  }

  get enabled(): boolean {
    return this.rate > 0;
  }

  /** The bucket's size: what a call of more steps than it holds needs it to hold. */
  get size(): number {
    return this.capacity;
  }

  /** Takes `steps` from `owner`'s bucket, or throws QUOTA_EXCEEDED saying when to retry. */
  take(owner: string, steps: number): void {
    if (this.rate <= 0) return;
    const now = this.now();
    let b = this.buckets.get(owner);
    if (!b) {
      b = { tokens: this.capacity, at: now };
      this.buckets.set(owner, b);
    } else {
      b.tokens = Math.min(this.capacity, b.tokens + ((now - b.at) / 1000) * this.rate);
      b.at = now;
    }
    const need = Math.min(steps, this.capacity);
    if (b.tokens >= need) {
      b.tokens -= steps;
      return;
    }
    throw stepQuotaExceeded(this.rate, need - b.tokens);
  }
}

/** QUOTA_EXCEEDED for a key whose bucket lacks `short` steps: retry once the rate has made them up. */
export function stepQuotaExceeded(rate: number, short: number): SpikeserveError {
  const retryAfterSeconds = Math.max(1, Math.ceil(short / rate));
  return new SpikeserveError(
    'QUOTA_EXCEEDED',
    `this API key has used its quota of ${rate} network steps per second (QUOTA_STEPS_PER_S); retry in ${retryAfterSeconds} s, or send fewer steps`,
    { quota: 'stepsPerSecond', max: rate, retryAfterSeconds },
  );
}
