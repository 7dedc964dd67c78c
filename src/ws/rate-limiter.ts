/**
 * A token bucket: `burst` tokens, refilled at `rate` a second; a message
 * takes one. Refilled lazily from the clock when asked, so an idle
 * connection costs nothing.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Takes a token: 0 if there was one, else the milliseconds until there will be. */
  take(): number {
    if (this.rate <= 0) return 0;
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.rate) / 1000);
    this.last = t;
    if (this.tokens < 1) return Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / this.rate));
    this.tokens -= 1;
    return 0;
  }
}
