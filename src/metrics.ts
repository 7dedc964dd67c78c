/**
 * GET /metrics in Prometheus' text format (prom-client), one registry per app
 * (no global state: tests build many apps). What an operator watches:
 * sessions held, network steps run and how long step calls take, requests
 * refused by error code, how far persistence lags, overload, what the last
 * start restored, and the process's own figures (CPU, memory, event loop, GC).
 * The WebSocket endpoint adds its sockets and dropped stream events
 * (webSockets()) and counts its errors with rejectedRequest(code, 'ws').
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { OverloadMonitor } from './overload.js';
import type { RestoreReport, SessionManager } from './sessions/manager.js';

/** Commits measured before their figures go into the histograms. */
const COMMIT_BUFFER = 1024;

export class Metrics {
  readonly registry = new Registry();
  private readonly steps: Counter;
  private readonly stepSeconds: Histogram;
  private readonly rejected: Counter<'code' | 'transport'>;
  private readonly commitLag: Histogram;
  private readonly commitSeconds: Histogram;
  /**
   * Commit measurements (duration, lag) not yet in their histograms. A lone
   * request-reply client commits once a request, and two histogram
   * observations cost it several µs of its round trip; stored here they are
   * observed in bulk at the next scrape, or when this is full.
   */
  private readonly unobserved = new Float64Array(2 * COMMIT_BUFFER);
  private unobservedCount = 0;
  private restore: RestoreReport | null = null;

  constructor(sessions: SessionManager, overload: OverloadMonitor | null) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'spikeserve_sessions',
      help: 'Sessions held in memory.',
      registers,
      collect() {
        this.set(sessions.size);
      },
    });
    new Gauge({
      name: 'spikeserve_sessions_hibernated',
      help: 'Sessions kept on disk only (hibernated after being idle, or not loadable at start); their next request loads them.',
      registers,
      collect() {
        this.set(sessions.dormantCount);
      },
    });
    new Gauge({
      name: 'spikeserve_synapses',
      help: 'Synapses summed over the sessions held.',
      registers,
      collect() {
        this.set(sessions.totalSynapses);
      },
    });
    this.steps = new Counter({ name: 'spikeserve_steps_total', help: 'Network steps run by step calls (HTTP and WebSocket).', registers });
    this.stepSeconds = new Histogram({
      name: 'spikeserve_step_duration_seconds',
      help: 'Time of a step call from its arrival at the session to its reply being ready (queueing, the steps, and the wait for durability).',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.rejected = new Counter({
      name: 'spikeserve_rejected_requests_total',
      help: 'Requests and messages answered with an error, by error code and transport.',
      labelNames: ['code', 'transport'],
      registers,
    });
    const totals = () => sessions.persistTotals;
    for (const [name, help, key] of [
      ['spikeserve_persist_commits_total', 'Commits to the database (each holds the changes of every session since the last).', 'commits'],
      ['spikeserve_persist_failures_total', 'Commits that failed (disk full or failing); their changes were refused.', 'failures'],
      ['spikeserve_persist_records_total', 'Logged commands written.', 'records'],
      ['spikeserve_persist_snapshots_total', 'Snapshots written (creation, compaction, shutdown).', 'snapshots'],
    ] as const) {
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(totals()[key]);
        },
      });
    }
    new Gauge({
      name: 'spikeserve_persist_pending_records',
      help: 'Logged commands waiting for the next commit.',
      registers,
      collect() {
        this.set(sessions.persistLag.records);
      },
    });
    this.commitLag = new Histogram({
      name: 'spikeserve_persist_lag_seconds',
      help: 'Persistence lag: from the first change of a commit to the end of that commit (how long replies waited to be durable).',
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
      collect: () => this.observeCommits(),
    });
    this.commitSeconds = new Histogram({
      name: 'spikeserve_persist_commit_duration_seconds',
      help: 'Time of one commit (one transaction, and a flush to disk with PERSIST_SYNC=full).',
      buckets: [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1],
      registers,
      collect: () => this.observeCommits(),
    });
    const report = () => this.restore;
    new Gauge({
      name: 'spikeserve_restore_sessions',
      help: 'What the last start found in the database: sessions restored, kept on disk unloaded (over limits), and dropped as damaged (a copy kept).',
      labelNames: ['outcome'],
      registers,
      collect() {
        const r = report();
        this.set({ outcome: 'restored' }, r?.restored ?? 0);
        this.set({ outcome: 'kept' }, r?.kept.length ?? 0);
        this.set({ outcome: 'damaged' }, (r?.damaged.length ?? 0));
      },
    });
    new Gauge({
      name: 'spikeserve_overloaded',
      help: '1 while the server refuses new sessions and heavy steps (OVERLOAD_*), else 0.',
      registers,
      collect() {
        this.set(overload?.overloaded ? 1 : 0);
      },
    });
  }

  /** The WebSocket endpoint's figures, read at each scrape. */
  webSockets(stats: () => { controllers: number; observers: number; multiplexed: number; eventsSent: number; eventsDropped: number }): void {
    const registers = [this.registry];
    new Gauge({
      name: 'spikeserve_ws_connections',
      help: 'Open WebSockets, by role: a session socket\'s controller or observer, or a multiplexed socket (/v1/ws).',
      labelNames: ['role'],
      registers,
      collect() {
        const s = stats();
        this.set({ role: 'controller' }, s.controllers);
        this.set({ role: 'observer' }, s.observers);
        this.set({ role: 'multiplexed' }, s.multiplexed);
      },
    });
    new Counter({
      name: 'spikeserve_ws_events_sent_total',
      help: 'Stream events (spikes, potentials, weights, rewards) sent on WebSockets.',
      registers,
      collect() {
        this.reset();
        this.inc(stats().eventsSent);
      },
    });
    new Counter({
      name: 'spikeserve_ws_events_dropped_total',
      help: 'Stream events dropped because a socket (an observer, mostly) was not reading fast enough.',
      registers,
      collect() {
        this.reset();
        this.inc(stats().eventsDropped);
      },
    });
  }

  /** The start-up restore, for spikeserve_restore_sessions. */
  restored(report: RestoreReport): void {
    this.restore = report;
  }

  stepDone(steps: number, seconds: number): void {
    this.steps.inc(steps);
    this.stepSeconds.observe(seconds);
  }

  rejectedRequest(code: string, transport: 'http' | 'ws'): void {
    this.rejected.inc({ code, transport });
  }

  committed(m: { seconds: number; lagSeconds: number }): void {
    const i = 2 * this.unobservedCount++;
    this.unobserved[i] = m.seconds;
    this.unobserved[i + 1] = m.lagSeconds;
    if (this.unobservedCount === COMMIT_BUFFER) this.observeCommits();
  }

  private observeCommits(): void {
    const n = this.unobservedCount;
    this.unobservedCount = 0;
    for (let i = 0; i < n; i++) {
      this.commitSeconds.observe(this.unobserved[2 * i]);
      this.commitLag.observe(this.unobserved[2 * i + 1]);
    }
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
