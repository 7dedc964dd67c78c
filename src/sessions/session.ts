/**
 * One session: a Network owned by nobody else, the commands that act on it
 * (run one at a time through a CommandQueue), its bookkeeping (times, spike
 * statistics) and the events a transport can watch. It knows nothing of HTTP
 * or WebSockets: both call it the same way.
 */
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { ResolvedNetwork, TypedSnapshot } from '../engine/index.js';
import { connectionShape, Network, REWARD_RULE_TYPES, synapseCount, VALUES_PER_PAUSE, type RunPlan } from '../engine/index.js';
import { inSlices } from './in-slices.js';
import { SpikeserveError } from '../errors.js';
import { sessionNotFound } from '../api/errors.js';
import { decodeBlob, encodeBlob } from '../persist/codec.js';
import type { RecordKind, SessionLog } from '../persist/journal.js';
import type { SessionDetail, SessionLimitsView, SessionSummary } from '../api/sessions.js';
import type { ResetResult, RewardResult, StepBody, StepResult } from '../api/step.js';
import type { AllWeights, ConnectionWeights, SessionState } from '../api/state.js';
import type { RewardSource } from '../api/ws.js';
import { CommandQueue } from './command-queue.js';

export interface SessionLimits {
  maxNeurons: number;
  maxSynapses: number;
  maxPopulations?: number;
  maxConnections?: number;
  maxStepsPerCall: number;
  maxSpikeRecordsPerCall: number;
}

/** Why a session left memory: deleted (or past SESSION_RETENTION_S), evicted (memory only), hibernated (still on disk), or shutdown. */
export type CloseReason = 'deleted' | 'evicted' | 'hibernated' | 'shutdown';

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

/** The reward one learning update used, for 'reward' listeners; sent once the update is applied. */
export interface RewardUpdate {
  readonly sessionId: string;
  /** The step whose learning update used this reward (its step count after that step). */
  readonly step: number;
  readonly reward: number;
  /** Given with the step (0 if none), sent later for a deferred step, or the 0 a pending update got from the next step. */
  readonly source: RewardSource;
}

export interface SessionEvents {
  step: (view: StepView) => void;
  /** One per network step, in the order the updates are applied (a step's update may come after later commands' replies: deferred). */
  reward: (update: RewardUpdate) => void;
  closed: (reason: CloseReason) => void;
}

export interface SessionOptions {
  id: string;
  name: string | null;
  seq: number;
  limits: SessionLimits;
  idleTimeoutMs: number;
  /** Deleted after this long without a request (0: never): what `expiresAt` shows. */
  expiryMs: number;
  sliceMs: number;
  now: () => number;
  /** Where a throwing listener is reported; it never breaks the command. */
  onListenerError: (error: unknown, session: Session, event: keyof SessionEvents) => void;
  /** The API key id that created it (null: created without keys); only that key sees it. */
  owner?: string | null;
  /** Creation time, when restored from disk. */
  createdAt?: number;
  /** Where its state changes are recorded; none keeps it in memory only. */
  log?: SessionLog | null;
  hooks?: SessionHooks;
}

/** What the manager checks and measures around a step, for every transport alike. */
export interface SessionHooks {
  /** Throws to refuse a step before it is queued (quotas, overload). `cost` is steps x (neurons + synapses). */
  admitStep?(session: Session, steps: number, cost: number): void;
  /** A step call finished (reply ready to send): its network steps and seconds from arrival. */
  stepDone?(steps: number, seconds: number): void;
}

/** One connection's weights, row-major, with what a reply says of it. */
export interface WeightMatrix {
  name: string;
  /** Its position in rule order. */
  index: number;
  pre: string;
  post: string;
  w_min: number;
  w_max: number;
  rows: number;
  cols: number;
  values: Float64Array;
}

export interface WeightMatrices {
  step: number;
  matrices: WeightMatrix[];
}

/** What a snapshot on disk holds beside the network: the session's spike statistics. */
export interface SnapshotMeta {
  stats: { spikes: number[]; steps: number };
}

/** A logged command read back from disk. */
export interface LoggedCommand {
  kind: RecordKind;
  payload: string | Uint8Array;
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
  /** An update was pending when the run began: its first step completes it with reward 0. */
  completesPending: boolean;
  /** Steps of the plan run so far. */
  done: number;
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
  readonly owner: string | null;
  private lastUsed: number;
  private closedReason: CloseReason | null = null;
  private disposed = false;
  /** WebSockets attached: a session in use that way never goes idle. */
  private holds = 0;
  private net: Network;
  private readonly log: SessionLog | null;
  private readonly queue = new CommandQueue();
  private readonly opts: SessionOptions;
  private readonly listeners: { [E in keyof SessionEvents]: Set<SessionEvents[E]> } = { step: new Set(), reward: new Set(), closed: new Set() };
  /** Spikes per population since creation or reset, and the steps they were counted over. */
  private readonly spikeTotals: Float64Array;
  private statSteps = 0;
  private readonly spikeBuf: Int32Array;
  /** Neurons plus synapses: the cost of one step, for sizing the first chunk of a run. */
  private readonly stepCost: number;
  /** Some connection learns from rewards (MSTDP). */
  private readonly rewarded: boolean;

  constructor(net: Network, opts: SessionOptions) {
    this.net = net;
    this.opts = opts;
    this.id = opts.id;
    this.name = opts.name;
    this.seq = opts.seq;
    this.owner = opts.owner ?? null;
    this.log = opts.log ?? null;
    this.createdAt = opts.createdAt ?? opts.now();
    // Restored sessions get a full idle period from the restart.
    this.lastUsed = opts.now();
    this.spikeTotals = new Float64Array(net.populationNames.length);
    this.spikeBuf = new Int32Array(Math.max(1, ...net.sizes));
    this.stepCost = net.sizes.reduce((a, b) => a + b, 0) + synapseCount(net.spec);
    this.rewarded = Object.values(net.spec.connections).some((c) => REWARD_RULE_TYPES.includes(c.rule.type));
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

  /** Held open by a transport (a WebSocket): not idle however long it is quiet. */
  get held(): boolean {
    return this.holds > 0;
  }

  /** Holds the session open until the returned function is called. */
  hold(): () => void {
    this.holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds--;
    };
  }

  /** Counts as a request: the idle timer starts again. */
  touch(): void {
    this.lastUsed = this.opts.now();
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

  /** Neurons plus synapses: what one step costs. */
  get size(): number {
    return this.stepCost;
  }

  get backend(): string {
    return this.net.backend;
  }

  /** Its record in the database; null when the server keeps sessions in memory only. */
  get persistence(): SessionLog | null {
    return this.log;
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

  /** SESSION_NOT_FOUND, saying why this session closed; what a request to it gets once it has. */
  notFound(): SpikeserveError {
    const why =
      this.closedReason === 'evicted'
        ? 'it was evicted after being idle'
        : this.closedReason === 'shutdown'
          ? 'the server is shutting down'
          : this.closedReason === 'hibernated'
            ? 'it was moved to disk after being idle; retry, and it is loaded again'
            : 'it was deleted';
    return sessionNotFound(this.id, why);
  }

  /**
   * Queues a command; it fails with SESSION_NOT_FOUND if the session closes
   * first. With persistence, its result is released only once every change
   * it could observe is durable; the next command does not wait for that (it
   * may run, and be logged in the same commit).
   */
  private command<T>(task: () => T | Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(this.notFound());
    this.lastUsed = this.opts.now();
    const log = this.log;
    if (log === null) {
      return this.queue.run(() => {
        if (this.closed) throw this.notFound();
        return task();
      });
    }
    // What the reply waits for is taken as the command finishes, not in a
    // later promise job: by then a failed commit may have put the session
    // back to its saved state and cleared its failure, and the command,
    // never saved, would look durable.
    let durable: Promise<void> | null = null;
    const ran = this.queue.run(() => {
      if (this.closed) throw this.notFound();
      const out = task();
      if (out instanceof Promise) {
        return out.then((v) => {
          durable = log.durable;
          return v;
        });
      }
      durable = log.durable;
      return out;
    });
    return ran.then((v) => (durable === null ? v : durable.then(() => v)));
  }

  /** Records a state change (with persistence on) and compacts the log into a snapshot past its bound. */
  private record(kind: RecordKind, payload: string | Buffer, steps: number): void {
    const log = this.log;
    if (log === null) return;
    log.append(kind, payload, steps);
    if (log.wantsCompaction) this.writeSnapshot();
  }

  /** Writes a snapshot of the session as it is now (between commands) to the database. */
  private writeSnapshot(): void {
    if (this.log === null) return;
    const meta: SnapshotMeta = { stats: { spikes: Array.from(this.spikeTotals), steps: this.statSteps } };
    this.log.snapshot(JSON.stringify(meta), encodeBlob(this.net.snapshotTyped()));
  }

  /** Compacts the log into a snapshot, in turn with the other commands. */
  compact(): Promise<void> {
    return this.command(() => this.writeSnapshot());
  }

  /** Writes a snapshot now if any change since the last one is only in the log (shutdown: queues are drained). */
  snapshotIfLogged(): void {
    if (this.log !== null && this.log.liveRecords > 0 && !this.log.failed) this.writeSnapshot();
  }

  /** Resolves once the session's creation and every change so far are durable. */
  persisted(): Promise<void> {
    return this.log?.durable ?? Promise.resolve();
  }

  step(body: StepBody): Promise<StepResult> {
    const hooks = this.opts.hooks;
    if (hooks === undefined) return this.command(() => this.runStep(body));
    const steps = body.steps ?? 1;
    try {
      hooks.admitStep?.(this, steps, steps * this.stepCost);
    } catch (e) {
      return Promise.reject(e);
    }
    if (hooks.stepDone === undefined) return this.command(() => this.runStep(body));
    const t0 = performance.now();
    const done = hooks.stepDone;
    return this.command(() => this.runStep(body)).then((r) => {
      done(r.steps, (performance.now() - t0) / 1000);
      return r;
    });
  }

  private runStep(body: StepBody): StepResult | Promise<StepResult> {
    const run = this.prepareRun(body);
    try {
      if (this.advance(run)) return this.finishLogged(run, body);
    } catch (e) {
      throw this.stoppedAt(e, run, body);
    }
    return this.continueRun(run).then(
      (r) => {
        this.logStep(body);
        return r;
      },
      (e: unknown) => {
        throw this.stoppedAt(e, run, body);
      },
    );
  }

  /**
   * A step of the call was refused (STEP_OVERFLOW; the network undid it): the
   * steps before it stand, so they are logged as the call they were, and the
   * error says how many ran.
   */
  private stoppedAt(e: unknown, run: Run, body: StepBody): unknown {
    if (!(e instanceof SpikeserveError) || e.code !== 'STEP_OVERFLOW') return e;
    const ran = run.done;
    if (ran > 0) this.logStep(truncateStepBody(body, ran));
    const stood = ran > 0 ? `; the call's first ${ran} step${ran === 1 ? '' : 's'} ran and stand (step ${this.net.stepCount})` : '';
    return new SpikeserveError('STEP_OVERFLOW', `step ${ran + 1} of this call: ${e.message}${stood}`, { ...e.details, stepsRun: ran });
  }

  private finishLogged(run: Run, body: StepBody): StepResult {
    const r = this.finishRun(run);
    this.logStep(body);
    return r;
  }

  private logStep(body: StepBody): void {
    if (this.log === null) return;
    const cmd = { steps: body.steps, inputs: body.inputs, reward: body.reward, deferReward: body.deferReward };
    this.record('step', encodeStepCommand(cmd), body.steps ?? 1);
  }

  /** Everything is checked here, before the first step: a refused call changes nothing. */
  private prepareRun(body: StepBody): Run {
    const net = this.net;
    if (body.reward !== undefined && body.reward !== null) this.checkRewarded('reward');
    if (body.deferReward === true) this.checkRewarded('deferReward');
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
      completesPending: net.pending,
      done: 0,
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
    run.done = t + 1;
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
    const plan = run.plan;
    const pending = t === plan.steps - 1 && plan.deferReward;
    // The order the updates ran in: the pending one (completed before this
    // step's populations), then this step's own (after them).
    const rewards = this.listeners.reward.size > 0;
    if (rewards && t === 0 && run.completesPending) this.emitReward(net.stepCount - 1, 0, 'implicit');
    if (this.listeners.step.size > 0) this.emit('step', this.stepView(pending));
    if (rewards && !pending) this.emitReward(net.stepCount, plan.rewards ? plan.rewards[t] : plan.reward, 'step');
  }

  private emitReward(step: number, reward: number, source: RewardSource): void {
    this.emit('reward', { sessionId: this.id, step, reward, source });
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

  /**
   * A reward (or deferring one) is refused where no rule uses it, as any
   * misplaced parameter is. Live commands only: logged ones replay as they ran.
   */
  private checkRewarded(field: 'reward' | 'deferReward'): void {
    if (this.rewarded) return;
    throw inputError(field, 'this network has no MSTDP or MSTDPET connection, so no rule learns from a reward: leave out reward and deferReward (or give a connection one of those rules)');
  }

  reward(reward: number): Promise<RewardResult> {
    return this.command(() => {
      this.checkRewarded('reward');
      this.net.reward(reward);
      if (this.listeners.reward.size > 0) this.emitReward(this.net.stepCount, reward, 'deferred');
      this.record('reward', JSON.stringify({ reward }), 0);
      return { step: this.net.stepCount, pending: this.net.pending };
    });
  }

  reset(options: { weights?: boolean } = {}): Promise<ResetResult> {
    return this.command(() => {
      this.resetNow(options.weights === true);
      this.record('reset', JSON.stringify({ weights: options.weights === true }), 0);
      return { step: this.net.stepCount, pending: this.net.pending, weightsReset: options.weights === true };
    });
  }

  private resetNow(weights: boolean): void {
    this.net.reset({ weights });
    this.spikeTotals.fill(0);
    this.statSteps = 0;
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

  /**
   * Weights as row-major copies, for replies written after the command
   * (a stream, in slices): the session goes on meanwhile, the copy does not
   * change. One connection, or every one in rule order.
   */
  weightMatrices(connection?: string): Promise<WeightMatrices> {
    return this.command(() => inSlices(this.matrices(connection === undefined ? this.net.connectionNames : [connection]), this.opts.sliceMs));
  }

  /** [pre.n, post.n] of a connection; throws CONNECTION_NOT_FOUND. */
  shapeOf(connection: string): [number, number] {
    const net = this.net;
    return connectionShape(net.spec, net.spec.connections[net.connectionNames[net.connection(connection)]]);
  }

  /** The copies, pausing (yield) while they are made; run in slices inside a command, so that nothing changes meanwhile. */
  private *matrices(names: readonly string[]): Generator<void, WeightMatrices> {
    const net = this.net;
    const matrices: WeightMatrices['matrices'] = [];
    for (const name of names) {
      const values = yield* net.weightsFlatPausing(name);
      const c = net.spec.connections[name];
      const [rows, cols] = connectionShape(net.spec, c);
      matrices.push({ name, index: net.connectionNames.indexOf(name), pre: c.pre, post: c.post, w_min: c.w_min, w_max: c.w_max, rows, cols, values });
    }
    return { step: net.stepCount, matrices };
  }

  /**
   * Shape checked, values clamped into [w_min, w_max]; returns the weights as
   * stored. `w` is [rows][cols], or row-major values (a binary request's).
   */
  setWeights(connection: string, w: unknown): Promise<ConnectionWeights> {
    return this.command(() => {
      this.applyWeights(connection, w);
      return this.connectionWeights(connection);
    });
  }

  /** As setWeights, with the stored weights as a row-major copy (for a reply written in slices). */
  replaceWeights(connection: string, w: unknown): Promise<WeightMatrices> {
    return this.command(() => {
      this.applyWeights(connection, w);
      return inSlices(this.matrices([connection]), this.opts.sliceMs);
    });
  }

  private applyWeights(connection: string, w: unknown): void {
    if (w instanceof Float64Array) this.net.setWeightsFlat(connection, w);
    else this.net.setWeights(connection, w);
    // Binary, so that every value (a -0 too) is replayed exactly as it was given.
    this.record('weights', encodeBlob({ connection, weights: w }), 0);
  }

  /**
   * Puts back the state read from disk: the network rebuilt from its snapshot,
   * the statistics saved with it, then every command logged after it, run
   * again. Not queued: for restore at start, and inside resync().
   */
  loadState(net: Network, meta: SnapshotMeta, commands: Iterable<LoggedCommand>): { steps: number; bytes: number } {
    if (net !== this.net) {
      const old = this.net;
      this.net = net;
      old.dispose();
    }
    const spikes = meta.stats.spikes;
    for (let p = 0; p < this.spikeTotals.length; p++) this.spikeTotals[p] = spikes[p] ?? 0;
    this.statSteps = meta.stats.steps;
    let steps = 0;
    let bytes = 0;
    for (const c of commands) {
      steps += this.replay(c);
      bytes += c.payload.length;
    }
    return { steps, bytes };
  }

  /** Runs one logged command again, exactly as it ran the first time (limits of the time it ran do not apply twice). */
  private replay(c: LoggedCommand): number {
    const net = this.net;
    const body = (typeof c.payload === 'string' ? JSON.parse(c.payload) : decodeBlob(c.payload)) as Record<string, unknown>;
    switch (c.kind) {
      case 'step': {
        const plan = net.prepareRun(body as StepBody);
        const n = net.populationNames.length;
        net.runSlice(plan, 0, plan.steps, () => {
          for (let p = 0; p < n; p++) this.spikeTotals[p] += net.spikeCount(p);
          this.statSteps++;
        });
        return plan.steps;
      }
      case 'reward':
        net.reward(body.reward as number);
        break;
      case 'reset':
        this.resetNow(body.weights === true);
        break;
      case 'weights': {
        // Row-major values (from a binary request) or [rows][cols].
        const w = body.weights as unknown[];
        if (Array.isArray(w) && typeof w[0] === 'number') net.setWeightsFlat(body.connection as string, w as number[]);
        else net.setWeights(body.connection as string, w);
        break;
      }
    }
    return 0;
  }

  /**
   * After a failed commit: waits for the commands already queued (their
   * replies fail), then puts back the state on disk via `load`. If that fails
   * too, the session is closed (it stays on disk for the next start).
   */
  resync(load: () => { net: Network; meta: SnapshotMeta; commands: LoggedCommand[] }, onLoaded: (replayed: { steps: number; bytes: number }) => void): Promise<void> {
    return this.queue.run(() => {
      if (this.closed) return;
      const { net, meta, commands } = load();
      onLoaded(this.loadState(net, meta, commands));
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
        const trace = net.eligibilityTrace(c);
        connections[c] = { rule: net.spec.connections[c].rule.type, eligibility: net.eligibility(c), ...(trace ? { eligibility_trace: trace } : {}) };
      }
      return { step: net.stepCount, pending: net.pending, populations, connections };
    });
  }

  /** The network's snapshot with the session's name, which a restore keeps. */
  snapshot(): Promise<ReturnType<Network['snapshot']>> {
    return this.command(() => ({ ...this.net.snapshot(), name: this.name }));
  }

  /** The snapshot with Float64Array copies of its vectors: for replies written in slices, or in binary. */
  snapshotTyped(): Promise<TypedSnapshot> {
    return this.command(() => ({ ...this.net.snapshotTyped(), name: this.name }));
  }

  summary(): SessionSummary {
    const net = this.net;
    const populations: Record<string, number> = {};
    net.populationNames.forEach((p, i) => (populations[p] = net.sizes[i]));
    const connections: SessionSummary['connections'] = {};
    for (const [name, c] of Object.entries(net.spec.connections)) connections[name] = { pre: c.pre, post: c.post, rule: c.rule.type };
    const expiry = this.opts.expiryMs;
    return {
      id: this.id,
      name: this.name,
      createdAt: new Date(this.createdAt).toISOString(),
      lastUsedAt: new Date(this.lastUsed).toISOString(),
      expiresAt: expiry > 0 ? new Date(this.lastUsed + expiry).toISOString() : null,
      loaded: true,
      step: net.stepCount,
      pending: net.pending,
      populations,
      connections,
    };
  }

  /** The summary plus spec, limits and statistics; queued, so it never sees half a run. */
  detail(): Promise<SessionDetail> {
    return this.command(() => inSlices(this.detailing(), this.opts.sliceMs));
  }

  /** The detail, pausing (yield) while the weight statistics are taken. */
  private *detailing(): Generator<void, SessionDetail> {
    const net = this.net;
    const spikes: SessionDetail['stats']['spikes'] = {};
    net.populationNames.forEach((p, i) => {
      const total = this.spikeTotals[i];
      spikes[p] = { total, lastStep: net.spikeCount(i), rate: this.statSteps > 0 ? total / (net.sizes[i] * this.statSteps) : 0 };
    });
    const weights: SessionDetail['stats']['weights'] = {};
    for (const c of net.connectionNames) weights[c] = yield* weightStats(yield* net.weightsFlatPausing(c));
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
      this.listeners.reward.clear();
      this.listeners.closed.clear();
      this.net.dispose();
    });
  }

  /** Resolves when every command queued so far has finished. */
  drained(): Promise<void> {
    return this.queue.drained();
  }
}

/** Pausing (yield) every VALUES_PER_PAUSE weights; the sums run in the same order as in one go, so the figures are the same. */
function* weightStats(w: Float64Array): Generator<void, { min: number; max: number; mean: number; std: number }> {
  if (w.length === 0) return { min: 0, max: 0, mean: 0, std: 0 };
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (let from = 0; from < w.length; from += VALUES_PER_PAUSE) {
    const to = Math.min(w.length, from + VALUES_PER_PAUSE);
    for (let i = from; i < to; i++) {
      const x = w[i];
      if (x < min) min = x;
      if (x > max) max = x;
      sum += x;
    }
    yield;
  }
  const mean = sum / w.length;
  let sq = 0;
  for (let from = 0; from < w.length; from += VALUES_PER_PAUSE) {
    const to = Math.min(w.length, from + VALUES_PER_PAUSE);
    for (let i = from; i < to; i++) sq += (w[i] - mean) ** 2;
    yield;
  }
  return { min, max, mean, std: Math.sqrt(sq / w.length) };
}

/** The first `k` steps of a step call, as a call of their own (what ran when step k + 1 was refused). */
function truncateStepBody(body: StepBody, k: number): StepBody {
  const perStep = (x: unknown) => Array.isArray(x) && x.length > 0 && typeof x[0] === 'object' && x[0] !== null;
  const inputs = body.inputs ? Object.fromEntries(Object.entries(body.inputs).map(([name, x]) => [name, perStep(x) ? (x as unknown[]).slice(0, k) : x])) : body.inputs;
  const r = body.reward as unknown;
  const reward = Array.isArray(r) || ArrayBuffer.isView(r) ? (r as number[]).slice(0, k) : body.reward;
  return { steps: k, inputs: inputs as StepBody['inputs'], reward, deferReward: false };
}

/** Thrown by plainNumbers when JSON could not hold a value exactly. */
const NOT_JSON_EXACT = Symbol('not JSON-exact');

/** A typed array as a plain array (JSON turns typed arrays into objects); throws NOT_JSON_EXACT at a -0, which JSON writes as 0. */
function plainNumbers(a: ArrayLike<number>): number[] {
  const out = new Array<number>(a.length);
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    if (x === 0 && 1 / x < 0) throw NOT_JSON_EXACT;
    out[i] = x;
  }
  return out;
}

/** A typed array, or an array of them (per-step values): what the binary protocol's decoder gives where JSON has arrays. */
function isTyped(v: unknown): boolean {
  return ArrayBuffer.isView(v) || (Array.isArray(v) && v.length > 0 && ArrayBuffer.isView(v[0]));
}

function plainValue(v: unknown): unknown {
  if (!isTyped(v)) return v;
  return ArrayBuffer.isView(v) ? plainNumbers(v as unknown as ArrayLike<number>) : (v as unknown[]).map(plainValue);
}

/**
 * A step command as it is logged: JSON text, which round-trips every finite
 * double, with the typed arrays of a binary request as plain arrays; the
 * binary blob format only when one holds a -0. Every binary step is logged,
 * and the blob's encoder cost several times this (docs/durability.md).
 */
function encodeStepCommand(cmd: { steps?: number; inputs?: unknown; reward?: unknown; deferReward?: boolean }): string | Buffer {
  const { inputs, reward } = cmd;
  const fields = inputs !== null && typeof inputs === 'object' ? (inputs as Record<string, unknown>) : null;
  if (!isTyped(reward) && !(fields && Object.values(fields).some(isTyped))) return JSON.stringify(cmd);
  try {
    let plainInputs = inputs;
    if (fields) {
      const o: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(fields)) o[k] = plainValue(v);
      plainInputs = o;
    }
    return JSON.stringify({ ...cmd, inputs: plainInputs, reward: plainValue(reward) });
  } catch (e) {
    if (e !== NOT_JSON_EXACT) throw e;
    return encodeBlob(cmd);
  }
}
