/**
 * One session: a Network owned by nobody else, the commands that act on it
 * (run one at a time through a CommandQueue), its bookkeeping (times, spike
 * statistics) and the events a transport can watch. It knows nothing of HTTP
 * or WebSockets: both call it the same way.
 */
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { ResolvedNetwork } from '../engine/index.js';
import { Network, type RunPlan } from '../engine/index.js';
import { SpikeserveError } from '../errors.js';
import type { SessionDetail, SessionLimitsView, SessionSummary } from '../api/sessions.js';
import type { ResetResult, RewardResult, StepBody, StepResult } from '../api/step.js';
import type { AllWeights, ConnectionWeights, SessionState } from '../api/state.js';
import { CommandQueue } from './command-queue.js';

export interface SessionLimits {
  maxNeurons: number;
  maxSynapses: number;
  maxStepsPerCall: number;
  maxSpikeRecordsPerCall: number;
}

export type CloseReason = 'deleted' | 'evicted' | 'shutdown';

/**
 * The network right after one step, for 'step' listeners. Valid only during
 * the listener call: the next step overwrites what it reads.
 */
export interface StepView {
  readonly sessionId: string;
  /** The session's step count after this step. */
  readonly step: number;
  /** True if this step's rule update waits for a reward (deferReward on the call's last step). */
  readonly pending: boolean;
  spikes(population: string): number[];
  potentials(population: string): number[];
  weights(connection: string): number[][];
}

export interface SessionEvents {
  step: (view: StepView) => void;
  closed: (reason: CloseReason) => void;
}

export interface SessionOptions {
  id: string;
  name: string | null;
  seq: number;
  limits: SessionLimits;
  idleTimeoutMs: number;
  sliceMs: number;
  now: () => number;
  /** Where a throwing listener is reported; it never breaks the command. */
  onListenerError: (error: unknown, session: Session, event: keyof SessionEvents) => void;
}

/** One step call in progress. */
interface Run {
  plan: RunPlan;
  next: number;
  pops: number[];
  format: 'steps' | 'counts' | 'none';
  perStep: number[][][] | null;
  counts: Uint32Array[] | null;
  potentials: boolean;
  weights: boolean;
  /** Steps per runSlice call, adapted so that a chunk takes about a millisecond. */
  chunk: number;
}

function inputError(field: string, message: string): SpikeserveError {
  return new SpikeserveError('INPUT_INVALID', `${field}: ${message}`, { field });
}

export class Session {
  readonly id: string;
  readonly name: string | null;
  /** Creation order, for paging. */
  readonly seq: number;
  readonly createdAt: number;
  private lastUsed: number;
  private closedReason: CloseReason | null = null;
  private disposed = false;
  private readonly net: Network;
  private readonly queue = new CommandQueue();
  private readonly opts: SessionOptions;
  private readonly listeners: { [E in keyof SessionEvents]: Set<SessionEvents[E]> } = { step: new Set(), closed: new Set() };
  /** Spikes per population since creation or reset, and the steps they were counted over. */
  private readonly spikeTotals: Float64Array;
  private statSteps = 0;
  private readonly spikeBuf: Int32Array;
  /** Neurons plus synapses: the cost of one step, for sizing the first chunk of a run. */
  private readonly stepCost: number;

  constructor(net: Network, opts: SessionOptions) {
    this.net = net;
    this.opts = opts;
    this.id = opts.id;
    this.name = opts.name;
    this.seq = opts.seq;
    this.createdAt = opts.now();
    this.lastUsed = this.createdAt;
    this.spikeTotals = new Float64Array(net.populationNames.length);
    this.spikeBuf = new Int32Array(Math.max(1, ...net.sizes));
    let synapses = 0;
    for (const c of Object.values(net.spec.connections)) synapses += net.spec.populations[c.pre].n * net.spec.populations[c.post].n;
    this.stepCost = net.sizes.reduce((a, b) => a + b, 0) + synapses;
  }

  get closed(): boolean {
    return this.closedReason !== null;
  }

  get lastUsedAt(): number {
    return this.lastUsed;
  }

  /** Commands queued or running: a busy session is never idle. */
  get busy(): boolean {
    return this.queue.size > 0;
  }

  get stepCount(): number {
    return this.net.stepCount;
  }

  get populationNames(): readonly string[] {
    return this.net.populationNames;
  }

  get connectionNames(): readonly string[] {
    return this.net.connectionNames;
  }

  /** The resolved spec (with initial `w` where the spec gave one). */
  get spec(): ResolvedNetwork {
    return this.net.spec;
  }

  on<E extends keyof SessionEvents>(event: E, listener: SessionEvents[E]): () => void {
    this.listeners[event].add(listener);
    return () => this.listeners[event].delete(listener);
  }

  private emit<E extends keyof SessionEvents>(event: E, ...args: Parameters<SessionEvents[E]>): void {
    for (const l of this.listeners[event]) {
      try {
        (l as (...a: Parameters<SessionEvents[E]>) => void)(...args);
      } catch (e) {
        this.opts.onListenerError(e, this, event);
      }
    }
  }

  private notFound(): SpikeserveError {
    const why = this.closedReason === 'evicted' ? 'it was evicted after being idle' : this.closedReason === 'shutdown' ? 'the server is shutting down' : 'it was deleted';
    return new SpikeserveError('SESSION_NOT_FOUND', `session ${this.id} no longer exists: ${why}`, { sessionId: this.id });
  }

  /** Queues a command; it fails with SESSION_NOT_FOUND if the session closes first. */
  private command<T>(task: () => T | Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(this.notFound());
    this.lastUsed = this.opts.now();
    return this.queue.run(() => {
      if (this.closed) throw this.notFound();
      return task();
    });
  }

  step(body: StepBody): Promise<StepResult> {
    return this.command(() => {
      const run = this.prepareRun(body);
      if (this.advance(run)) return this.finishRun(run);
      return this.continueRun(run);
    });
  }

  /** Everything is checked here, before the first step: a refused call changes nothing. */
  private prepareRun(body: StepBody): Run {
    const net = this.net;
    const plan = net.prepareRun(body, this.opts.limits.maxStepsPerCall);
    const ret = body.return ?? {};
    const format = ret.spikes ?? 'steps';
    let pops: number[];
    if (ret.populations) {
      pops = ret.populations.map((name, i) => {
        const p = net.populationNames.indexOf(name);
        if (p < 0) throw inputError(`return.populations[${i}]`, `unknown population "${name}"; this network has ${net.populationNames.join(', ')}`);
        return p;
      });
    } else {
      pops = net.populationNames.map((_, i) => i);
    }
    if (format === 'steps') {
      const neurons = pops.reduce((a, p) => a + net.sizes[p], 0);
      const records = plan.steps * neurons;
      const max = this.opts.limits.maxSpikeRecordsPerCall;
      if (records > max) {
        throw new SpikeserveError(
          'LIMIT_EXCEEDED',
          `return.spikes: ${plan.steps} steps x ${neurons} neurons could return ${records} spike records, over the limit of ${max} (MAX_SPIKE_RECORDS_PER_CALL); ask for return.spikes "counts" or "none", fewer return.populations, or fewer steps per call`,
          { field: 'return.spikes', limit: 'maxSpikeRecordsPerCall', value: records, max },
        );
      }
    }
    return {
      plan,
      next: 0,
      pops,
      format,
      perStep: format === 'steps' ? pops.map(() => []) : null,
      counts: format === 'counts' ? pops.map((p) => new Uint32Array(net.sizes[p])) : null,
      potentials: ret.potentials === true,
      weights: ret.weights === true,
      // A first guess (a step costs roughly 50 neurons' or synapses' worth of
      // fixed overhead plus its size); advance() corrects it after one chunk.
      chunk: Math.max(1, Math.floor(100_000 / (this.stepCost + 50))),
    };
  }

  /** Runs the plan until it is done (true) or this slice's time is up (false). */
  private advance(run: Run): boolean {
    const { plan } = run;
    const sliceEnd = performance.now() + this.opts.sliceMs;
    const onStep = (t: number) => this.afterStep(run, t);
    for (;;) {
      const from = run.next;
      const to = Math.min(plan.steps, from + run.chunk);
      const t0 = performance.now();
      this.net.runSlice(plan, from, to, onStep);
      const t1 = performance.now();
      run.next = to;
      if (to >= plan.steps) return true;
      // Aim for about a millisecond a chunk, so the clock is read rarely but the slice ends on time.
      const stepsPerMs = (to - from) / Math.max(t1 - t0, 0.001);
      run.chunk = Math.max(1, Math.min(run.chunk * 4, Math.floor(stepsPerMs)));
      if (t1 >= sliceEnd) return false;
    }
  }

  private async continueRun(run: Run): Promise<StepResult> {
    for (;;) {
      await yieldToLoop();
      // Deleted or evicted mid-run: nobody can read the result, stop spending on it.
      if (this.closed) throw this.notFound();
      if (this.advance(run)) return this.finishRun(run);
    }
  }

  private afterStep(run: Run, t: number): void {
    const net = this.net;
    const n = net.populationNames.length;
    for (let p = 0; p < n; p++) this.spikeTotals[p] += net.spikeCount(p);
    this.statSteps++;
    if (run.perStep) {
      for (let k = 0; k < run.pops.length; k++) {
        const c = net.readSpikes(run.pops[k], this.spikeBuf);
        const list = new Array<number>(c);
        for (let i = 0; i < c; i++) list[i] = this.spikeBuf[i];
        run.perStep[k].push(list);
      }
    } else if (run.counts) {
      for (let k = 0; k < run.pops.length; k++) {
        const c = net.readSpikes(run.pops[k], this.spikeBuf);
        const counts = run.counts[k];
        for (let i = 0; i < c; i++) counts[this.spikeBuf[i]]++;
      }
    }
    if (this.listeners.step.size > 0) {
      const pending = t === run.plan.steps - 1 && run.plan.deferReward;
      this.emit('step', this.stepView(pending));
    }
  }

  private stepView(pending: boolean): StepView {
    const net = this.net;
    return {
      sessionId: this.id,
      step: net.stepCount,
      pending,
      spikes: (pop) => net.spikes(pop),
      potentials: (pop) => Array.from(net.potentials(pop)),
      weights: (conn) => net.weights(conn),
    };
  }

  private finishRun(run: Run): StepResult {
    const net = this.net;
    const out: StepResult = { step: net.stepCount, steps: run.plan.steps, pending: net.pending };
    if (run.perStep) {
      out.spikes = {};
      run.pops.forEach((p, k) => (out.spikes![net.populationNames[p]] = run.perStep![k]));
    } else if (run.counts) {
      out.spikeCounts = {};
      run.pops.forEach((p, k) => (out.spikeCounts![net.populationNames[p]] = Array.from(run.counts![k])));
    }
    if (run.potentials) {
      out.potentials = {};
      for (const p of run.pops) out.potentials[net.populationNames[p]] = Array.from(net.potentials(net.populationNames[p]));
    }
    if (run.weights) {
      out.weights = {};
      for (const c of net.connectionNames) out.weights[c] = net.weights(c);
    }
    this.lastUsed = this.opts.now();
    return out;
  }

  reward(reward: number): Promise<RewardResult> {
    return this.command(() => {
      this.net.reward(reward);
      return { step: this.net.stepCount, pending: this.net.pending };
    });
  }

  reset(options: { weights?: boolean } = {}): Promise<ResetResult> {
    return this.command(() => {
      this.net.reset({ weights: options.weights === true });
      this.spikeTotals.fill(0);
      this.statSteps = 0;
      return { step: this.net.stepCount, pending: this.net.pending, weightsReset: options.weights === true };
    });
  }

  allWeights(): Promise<AllWeights> {
    return this.command(() => {
      const weights: Record<string, number[][]> = {};
      for (const c of this.net.connectionNames) weights[c] = this.net.weights(c);
      return { step: this.net.stepCount, weights };
    });
  }

  weights(connection: string): Promise<ConnectionWeights> {
    return this.command(() => this.connectionWeights(connection));
  }

  /** Shape checked, values clamped into [w_min, w_max]; returns the weights as stored. */
  setWeights(connection: string, w: unknown): Promise<ConnectionWeights> {
    return this.command(() => {
      this.net.setWeights(connection, w);
      return this.connectionWeights(connection);
    });
  }

  private connectionWeights(connection: string): ConnectionWeights {
    const weights = this.net.weights(connection);
    const c = this.net.spec.connections[connection];
    return { connection, pre: c.pre, post: c.post, w_min: c.w_min, w_max: c.w_max, step: this.net.stepCount, weights };
  }

  state(): Promise<SessionState> {
    return this.command(() => {
      const net = this.net;
      const populations: SessionState['populations'] = {};
      for (const p of net.populationNames) {
        populations[p] = {
          v: Array.from(net.potentials(p)),
          traces: Array.from(net.traces(p)),
          refractory: Array.from(net.refractory(p)),
          spikes: net.spikes(p),
        };
      }
      const connections: SessionState['connections'] = {};
      for (const c of net.connectionNames) {
        connections[c] = { rule: net.spec.connections[c].rule.type, eligibility: net.eligibility(c) };
      }
      return { step: net.stepCount, pending: net.pending, populations, connections };
    });
  }

  snapshot(): Promise<ReturnType<Network['snapshot']>> {
    return this.command(() => this.net.snapshot());
  }

  summary(): SessionSummary {
    const net = this.net;
    const populations: Record<string, number> = {};
    net.populationNames.forEach((p, i) => (populations[p] = net.sizes[i]));
    const connections: SessionSummary['connections'] = {};
    for (const [name, c] of Object.entries(net.spec.connections)) connections[name] = { pre: c.pre, post: c.post, rule: c.rule.type };
    const idle = this.opts.idleTimeoutMs;
    return {
      id: this.id,
      name: this.name,
      createdAt: new Date(this.createdAt).toISOString(),
      lastUsedAt: new Date(this.lastUsed).toISOString(),
      expiresAt: idle > 0 ? new Date(this.lastUsed + idle).toISOString() : null,
      step: net.stepCount,
      pending: net.pending,
      populations,
      connections,
    };
  }

  /** The summary plus spec, limits and statistics; queued, so it never sees half a run. */
  detail(): Promise<SessionDetail> {
    return this.command(() => this.detailNow());
  }

  /** The detail as it is now (used right after creation, before anything can be queued). */
  detailNow(): SessionDetail {
    const net = this.net;
    const spikes: SessionDetail['stats']['spikes'] = {};
    net.populationNames.forEach((p, i) => {
      const total = this.spikeTotals[i];
      spikes[p] = { total, lastStep: net.spikeCount(i), rate: this.statSteps > 0 ? total / (net.sizes[i] * this.statSteps) : 0 };
    });
    const weights: SessionDetail['stats']['weights'] = {};
    for (const c of net.connectionNames) weights[c] = weightStats(net.weightsFlat(c));
    const network: ResolvedNetwork = { ...net.spec, connections: {} };
    for (const [name, c] of Object.entries(net.spec.connections)) {
      const { w: _w, ...rest } = c;
      network.connections[name] = rest;
    }
    const limits: SessionLimitsView = {
      maxNeurons: this.opts.limits.maxNeurons,
      maxSynapses: this.opts.limits.maxSynapses,
      maxStepsPerCall: this.opts.limits.maxStepsPerCall,
      maxSpikeRecordsPerCall: this.opts.limits.maxSpikeRecordsPerCall,
      idleTimeoutSeconds: this.opts.idleTimeoutMs / 1000,
    };
    return { ...this.summary(), seed: net.seed, backend: net.backend, network, limits, stats: { spikes, weights } };
  }

  /**
   * Closes the session: queued commands fail with SESSION_NOT_FOUND, a run in
   * progress stops at its next slice, and the network is released once the
   * queue is empty. Listeners hear 'closed' once.
   */
  close(reason: CloseReason): Promise<void> {
    if (this.closedReason === null) {
      this.closedReason = reason;
      this.emit('closed', reason);
    }
    return this.queue.drained().then(() => {
      if (this.disposed) return;
      this.disposed = true;
      this.listeners.step.clear();
      this.listeners.closed.clear();
      this.net.dispose();
    });
  }

  /** Resolves when every command queued so far has finished. */
  drained(): Promise<void> {
    return this.queue.drained();
  }
}

function weightStats(w: Float64Array): { min: number; max: number; mean: number; std: number } {
  if (w.length === 0) return { min: 0, max: 0, mean: 0, std: 0 };
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (let i = 0; i < w.length; i++) {
    const x = w[i];
    if (x < min) min = x;
    if (x > max) max = x;
    sum += x;
  }
  const mean = sum / w.length;
  let sq = 0;
  for (let i = 0; i < w.length; i++) sq += (w[i] - mean) ** 2;
  return { min, max, mean, std: Math.sqrt(sq / w.length) };
}
