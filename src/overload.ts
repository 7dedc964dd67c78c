/**
 * Overload protection. Once a second it reads the event-loop delay and the
 * resident memory; past either bound the server is overloaded until the next
 * reading under them. While it is, new sessions and heavy steps are refused
 * with 503 OVERLOADED and a Retry-After, so that the sessions already running
 * keep their light steps going and health checks answer, instead of
 * everything slowing together.
 *
 * The delay is the 99th percentile over the loop's last WINDOW_TICKS probes,
 * not over the last second: one long request (a large PUT /weights, say)
 * blocks the loop once and is one late probe among hundreds, while sustained
 * pressure makes probe after probe late. Per second would let that one
 * request be most of a reading, and refuse the next heavy step on a server
 * that is idle again.
 */
import { totalmem } from 'node:os';
import { SpikeserveError } from './errors.js';

export interface LoadReading {
  /** Event-loop delay, 99th percentile over the last WINDOW_TICKS probes, in ms. */
  eventLoopDelayMs: number;
  rssBytes: number;
}

export interface OverloadOptions {
  /** 0: not checked. */
  eventLoopDelayMs: number;
  /** Bytes; 0: not checked. */
  memoryBytes: number;
  /** A step of at least this cost (steps x (neurons + synapses)) is heavy. */
  heavyStepCost: number;
  /** How often to read; default 1000 ms. */
  intervalMs?: number;
  /** Replaces the real readings (tests). */
  sample?: () => LoadReading;
}

/** OVERLOAD_MEMORY_MB's `auto`: 90% of the container's memory limit, or of the machine's memory. */
export function autoMemoryBytes(): number {
  const total = totalmem();
  const constrained = typeof process.constrainedMemory === 'function' ? (process.constrainedMemory() ?? 0) : 0;
  const limit = constrained > 0 && constrained < total ? constrained : total;
  return Math.floor(limit * 0.9);
}

/** How often the event loop is probed, in ms. */
const PROBE_MS = 10;
/** Probes the percentile is taken over: the last 5 s of a free loop. */
export const WINDOW_TICKS = 500;

export class OverloadMonitor {
  private readonly opts: Required<Omit<OverloadOptions, 'sample'>> & Pick<OverloadOptions, 'sample'>;
  /**
   * A timer every PROBE_MS: how late each tick is, is the event-loop delay.
   * (perf_hooks' monitorEventLoopDelay does not see one long block of the
   * loop, which is what matters here.)
   */
  private probe: NodeJS.Timeout | null = null;
  private lastTick = 0;
  /**
   * The last WINDOW_TICKS probe delays, a ring. It starts as a free loop's
   * (zeros): a server that has just started is idle, and its first long
   * request (or its start-up work) is one late probe like any other.
   */
  private readonly lags = new Float64Array(WINDOW_TICKS);
  private ticks = 0;
  private timer: NodeJS.Timeout | null = null;
  private reason: string | null = null;
  private last: LoadReading = { eventLoopDelayMs: 0, rssBytes: 0 };

  constructor(options: OverloadOptions) {
    this.opts = { intervalMs: 1000, ...options };
  }

  start(): void {
    if (this.timer) return;
    if (!this.opts.sample) {
      this.lastTick = performance.now();
      this.probe = setInterval(() => {
        const now = performance.now();
        this.lags[this.ticks++ % WINDOW_TICKS] = Math.max(0, now - this.lastTick - PROBE_MS);
        this.lastTick = now;
      }, PROBE_MS);
      this.probe.unref();
    }
    this.timer = setInterval(() => this.read(), this.opts.intervalMs);
    this.timer.unref();
    this.read();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.probe) clearInterval(this.probe);
    this.probe = null;
  }

  /** Takes a reading now and updates the state (the timer calls this; tests may too). */
  read(): LoadReading {
    let r: LoadReading;
    if (this.opts.sample) r = this.opts.sample();
    else {
      // The tick in progress counts too: a loop blocked until now has not ticked yet.
      const lags = new Float64Array(WINDOW_TICKS + 1);
      lags.set(this.lags);
      lags[WINDOW_TICKS] = Math.max(0, performance.now() - this.lastTick - PROBE_MS);
      lags.sort();
      const p99 = lags[Math.min(lags.length - 1, Math.ceil(lags.length * 0.99) - 1)];
      r = { eventLoopDelayMs: p99, rssBytes: process.memoryUsage.rss() };
    }
    this.last = r;
    const { eventLoopDelayMs: maxDelay, memoryBytes: maxMem } = this.opts;
    if (maxDelay > 0 && r.eventLoopDelayMs > maxDelay) {
      this.reason = `event-loop delay ${r.eventLoopDelayMs.toFixed(0)} ms is over OVERLOAD_EVENT_LOOP_DELAY_MS (${maxDelay} ms)`;
    } else if (maxMem > 0 && r.rssBytes > maxMem) {
      this.reason = `memory in use ${Math.round(r.rssBytes / 2 ** 20)} MB is over OVERLOAD_MEMORY_MB (${Math.round(maxMem / 2 ** 20)} MB)`;
    } else {
      this.reason = null;
    }
    return r;
  }

  get overloaded(): boolean {
    return this.reason !== null;
  }

  get lastReading(): LoadReading {
    return this.last;
  }

  /** Seconds to suggest in Retry-After: the next reading, at least one second away. */
  private get retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(this.opts.intervalMs / 1000));
  }

  /** Throws OVERLOADED for a new session while overloaded. */
  admitCreate(): void {
    if (this.reason === null) return;
    throw new SpikeserveError('OVERLOADED', `the server is overloaded (${this.reason}) and creates no new sessions now; retry in a few seconds`, {
      retryAfterSeconds: this.retryAfterSeconds,
    });
  }

  /** Throws OVERLOADED for a heavy step while overloaded; light ones pass. */
  admitStep(cost: number): void {
    if (this.reason === null || cost < this.opts.heavyStepCost) return;
    throw new SpikeserveError(
      'OVERLOADED',
      `the server is overloaded (${this.reason}) and runs only light steps now (steps x (neurons + synapses) under ${this.opts.heavyStepCost}, OVERLOAD_HEAVY_STEP_COST; this one is ${cost}); retry later or send fewer steps per call`,
      { retryAfterSeconds: this.retryAfterSeconds, cost, max: this.opts.heavyStepCost },
    );
  }
}
