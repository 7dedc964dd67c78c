/**
 * One session: a Network owned by nobody else, the commands that act on it
 * (run one at a time through a CommandQueue), its bookkeeping (times, spike
 * statistics) and the events a transport can watch. It knows nothing of HTTP
 * or WebSockets: both call it the same way. Its step calls run in run.ts, its
 * replies are built in views.ts, its log is written and replayed in
 * session-log.ts.
 */
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { EngineLimits, ResolvedNetwork, TypedSnapshot } from '../engine/index.js';
import { connectionShape, DEFAULT_ENGINE_LIMITS, Network, REWARD_RULE_TYPES, runToEnd, synapseCount } from '../engine/index.js';
import { inSlices } from './in-slices.js';
import { SpikeserveError } from '../errors.js';
import { sessionNotFound } from '../api/errors.js';
import type { LoggedCommand } from '../api/command-codec.js';
import type { SessionLog } from '../persist/session-log.js';
import type { SessionDetail, SessionSummary } from '../api/sessions.js';
import type { ResetResult, RewardResult, StepBody, StepResult } from '../api/step.js';
import type { AllWeights, ConnectionWeights, SessionState, WeightMatrices } from '../api/state.js';
import type { RewardSource } from '../api/ws.js';
import { CommandQueue } from './command-queue.js';
import { Listeners } from './listeners.js';
import { inputError, StepRun, type RunContext } from './run.js';
import { CommandRecorder, replayCommandsPausing } from './session-log.js';
import { SpikeStats, type SnapshotMeta } from './spike-stats.js';
import { allWeights, connectionWeights, copiesOf, detailOf, stateOf, stepView, summaryOf, weightMatrices, type StepView } from './views.js';

/** The engine's limits on a network (from the configuration; unset ones the engine's defaults), and those on a call. */
export interface SessionLimits extends EngineLimits {
  maxStepsPerCall: number;
  maxSpikeRecordsPerCall: number;
}

/** Why a session left memory: deleted (or past SESSION_RETENTION_S), evicted (memory only), hibernated (still on disk), or shutdown. */
export type CloseReason = 'deleted' | 'evicted' | 'hibernated' | 'shutdown';

/** The reward one learning update used, for 'reward' listeners; sent once the update is applied. */
export interface RewardUpdate {
  readonly sessionId: string;
  /** The step whose learning update used this reward (its step count after that step). */
  readonly step: number;
  /** In a batch, one per copy. */
  readonly reward: number | number[];
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
  /**
   * Throws to refuse a step before it is queued (quotas, overload). `cost` is
   * steps x (neurons + synapses). A promise (a quota asking elsewhere) holds
   * the step in its place in the session's queue until it settles, and
   * refuses it there if it rejects.
   */
  admitStep?(session: Session, steps: number, cost: number): void | Promise<void>;
  /** A step call finished (reply ready to send): its network steps and seconds from arrival. */
  stepDone?(steps: number, seconds: number): void;
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
  /** Writes its commands to its record in the database; null: memory only. */
  private readonly recorder: CommandRecorder | null;
  private readonly queue = new CommandQueue();
  /** The snapshot written before the session leaves memory (readyToLeave), while it is. */
  private leavingSave: Promise<void> | null = null;
  private readonly opts: SessionOptions;
  private readonly listeners = new Listeners<SessionEvents>((e, event) => this.opts.onListenerError(e, this, event));
  private readonly stats: SpikeStats;
  private readonly spikeBuf: Int32Array;
  /** Neurons plus synapses: the cost of one step, for sizing the first chunk of a run. */
  private readonly stepCost: number;
  /** Some connection learns from rewards (MSTDP, MSTDPET). */
  private readonly rewarded: boolean;
  /** What every step call runs with; afterStep runs after each step (statistics and events). */
  private readonly runContext: RunContext;

  constructor(net: Network, opts: SessionOptions) {
    this.net = net;
    this.opts = opts;
    this.id = opts.id;
    this.name = opts.name;
    this.seq = opts.seq;
    this.owner = opts.owner ?? null;
    const log = opts.log ?? null;
    this.recorder =
      log === null
        ? null
        : new CommandRecorder(log, {
            meta: () => JSON.stringify(this.stats.meta()),
            view: () => this.net.snapshotView(),
            // A part that cannot be written fails the session's log, and its owner reloads it (Journal onFailure): nothing more to do here.
            compactLater: () => void this.compact().catch(() => {}),
          });
    this.createdAt = opts.createdAt ?? opts.now();
    // Restored sessions get a full idle period from the restart.
    this.lastUsed = opts.now();
    this.stats = new SpikeStats(net.populationNames.length);
    this.spikeBuf = new Int32Array(Math.max(1, ...net.sizes));
    this.stepCost = net.sizes.reduce((a, b) => a + b, 0) + synapseCount(net.spec);
    this.rewarded = Object.values(net.spec.connections).some((c) => REWARD_RULE_TYPES.includes(c.rule.type));
    this.runContext = {
      limits: opts.limits,
      stepCost: this.stepCost,
      allPopulations: net.populationNames.map((_, i) => i),
      spikeBuf: this.spikeBuf,
      stepped: (run, t) => this.afterStep(run, t),
    };
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

  /** batch_size: the network's copies. */
  get copies(): number {
    return this.net.copies;
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
    return this.recorder?.log ?? null;
  }

  on<E extends keyof SessionEvents>(event: E, listener: SessionEvents[E]): () => void {
    return this.listeners.on(event, listener);
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
  private command<T>(task: () => T | Promise<T>, touch = true): Promise<T> {
    if (this.closed) return Promise.reject(this.notFound());
    if (touch) this.lastUsed = this.opts.now();
    const log = this.recorder?.log ?? null;
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

  /** Compacts the log into a snapshot, in turn with the other commands; not a use of the session (its idle time goes on). */
  compact(): Promise<void> {
    return this.command(() => (this.recorder ? inSlices(this.recorder.compactPausing(), this.opts.sliceMs) : undefined), false);
  }

  /** Writes a snapshot now if any change since the last one is only in the log (shutdown: queues are drained). */
  snapshotIfLogged(): void {
    this.recorder?.snapshotIfLogged();
  }

  /**
   * Whether the session can leave memory now: true if that needs no
   * snapshot, or one small enough for snapshotIfLogged. One that would be
   * written in parts (over several turns of the event loop) is queued as a
   * compaction instead, and false returned: once it is written, the session
   * can leave.
   */
  readyToLeave(): boolean {
    if (this.leavingSave !== null) return false;
    const r = this.recorder;
    if (r === null || !r.snapshotDue || !r.log.snapshotsInParts) return true;
    // A failure fails the session's log (its owner reloads it): nothing more to do here.
    this.leavingSave = this.compact()
      .catch(() => {})
      .finally(() => {
        this.leavingSave = null;
      });
    return false;
  }

  /** While the snapshot readyToLeave queued is being written: resolves once it is (or failed), and the session can leave memory. */
  get leaving(): Promise<void> | null {
    return this.leavingSave;
  }

  /**
   * As snapshotIfLogged, a snapshot larger than a part written in parts, as
   * the session's next command, in slices (at a stop).
   */
  async saveSnapshot(): Promise<void> {
    const r = this.recorder;
    if (r === null || !r.snapshotDue) return;
    if (r.log.snapshotsInParts) await this.compact();
    else r.snapshot();
  }

  /** Resolves once the session's creation and every change so far are durable. */
  persisted(): Promise<void> {
    return this.recorder?.log.durable ?? Promise.resolve();
  }

  step(body: StepBody): Promise<StepResult> {
    const hooks = this.opts.hooks;
    if (hooks === undefined) return this.command(() => this.runStep(body));
    const steps = body.steps ?? 1;
    let admitted: void | Promise<void>;
    try {
      admitted = hooks.admitStep?.(this, steps, steps * this.stepCost);
    } catch (e) {
      return Promise.reject(e);
    }
    const task = admitted instanceof Promise ? afterAdmission(admitted, () => this.runStep(body)) : () => this.runStep(body);
    if (hooks.stepDone === undefined) return this.command(task);
    const t0 = performance.now();
    const done = hooks.stepDone;
    return this.command(task).then((r) => {
      done(r.steps, (performance.now() - t0) / 1000);
      return r;
    });
  }

  private runStep(body: StepBody): StepResult | Promise<StepResult> {
    if (body.reward !== undefined && body.reward !== null) this.checkRewarded('reward');
    if (body.deferReward === true) this.checkRewarded('deferReward');
    const run = new StepRun(this.net, body, this.runContext);
    try {
      if (run.advance(this.opts.sliceMs)) return this.finishRun(run, body);
    } catch (e) {
      throw this.stoppedAt(e, run, body);
    }
    return this.continueRun(run, body).catch((e: unknown) => {
      throw this.stoppedAt(e, run, body);
    });
  }

  private async continueRun(run: StepRun, body: StepBody): Promise<StepResult> {
    for (;;) {
      await yieldToLoop();
      // Deleted or evicted mid-run: nobody can read the result, stop spending on it.
      if (this.closed) throw this.notFound();
      if (run.advance(this.opts.sliceMs)) return this.finishRun(run, body);
    }
  }

  /** A step of the call was refused (STEP_OVERFLOW): the steps before it stand, so they are logged as the call they were. */
  private stoppedAt(e: unknown, run: StepRun, body: StepBody): unknown {
    const { error, ranCall } = run.stoppedAt(e, body);
    if (ranCall !== null) this.recorder?.step(ranCall);
    return error;
  }

  private finishRun(run: StepRun, body: StepBody): StepResult {
    const r = run.result();
    this.lastUsed = this.opts.now();
    this.recorder?.step(body);
    return r;
  }

  private afterStep(run: StepRun, t: number): void {
    const net = this.net;
    this.stats.add(net);
    const pending = run.pendingAfter(t);
    // The order the updates ran in: the pending one (completed before this
    // step's populations), then this step's own (after them).
    const rewards = this.listeners.has('reward');
    if (rewards && t === 0 && run.completesPending) this.emitReward(net.stepCount - 1, 0, 'implicit');
    if (this.listeners.has('step')) this.listeners.emit('step', stepView(net, this.id, pending));
    if (rewards && !pending) this.emitReward(net.stepCount, run.rewardOf(t), 'step');
  }

  private emitReward(step: number, reward: number | number[], source: RewardSource): void {
    // A batch's rewards are always per copy, a number given for every copy repeated.
    const copies = this.net.copies;
    this.listeners.emit('reward', { sessionId: this.id, step, reward: copies > 1 && typeof reward === 'number' ? new Array<number>(copies).fill(reward) : reward, source });
  }

  /**
   * A reward (or deferring one) is refused where no rule uses it, as any
   * misplaced parameter is. Live commands only: logged ones replay as they ran.
   */
  private checkRewarded(field: 'reward' | 'deferReward'): void {
    if (this.rewarded) return;
    throw inputError(field, 'this network has no MSTDP or MSTDPET connection, so no rule learns from a reward: leave out reward and deferReward (or give a connection one of those rules)');
  }

  /** A batch's reward is a number (every copy) or one per copy. */
  reward(reward: number | number[]): Promise<RewardResult> {
    return this.command(() => {
      this.checkRewarded('reward');
      this.net.reward(reward);
      if (this.listeners.has('reward')) this.emitReward(this.net.stepCount, reward, 'deferred');
      this.recorder?.reward(reward);
      return { step: this.net.stepCount, pending: this.net.pending };
    });
  }

  reset(options: { weights?: boolean } = {}): Promise<ResetResult> {
    const weights = options.weights === true;
    return this.command(() => {
      this.resetNow(weights);
      this.recorder?.reset(weights);
      return { step: this.net.stepCount, pending: this.net.pending, weightsReset: weights };
    });
  }

  private resetNow(weights: boolean): void {
    this.net.reset({ weights });
    this.stats.clear();
  }

  allWeights(): Promise<AllWeights> {
    return this.command(() => allWeights(this.net));
  }

  weights(connection: string): Promise<ConnectionWeights> {
    return this.command(() => connectionWeights(this.net, connection));
  }

  /**
   * Weights as row-major copies, for replies written after the command
   * (a stream, in slices): the session goes on meanwhile, the copy does not
   * change. One connection, or every one in rule order.
   */
  weightMatrices(connection?: string): Promise<WeightMatrices> {
    return this.command(() => inSlices(weightMatrices(this.net, connection === undefined ? this.net.connectionNames : [connection]), this.opts.sliceMs));
  }

  /** [pre.n, post.n] of a connection; throws CONNECTION_NOT_FOUND. */
  shapeOf(connection: string): [number, number] {
    const net = this.net;
    return connectionShape(net.spec, net.spec.connections[net.connectionNames[net.connection(connection)]]);
  }

  /**
   * Shape checked, values clamped into [w_min, w_max]; returns the weights as
   * stored. `w` is [rows][cols], or row-major values (a binary request's).
   */
  setWeights(connection: string, w: unknown): Promise<ConnectionWeights> {
    return this.command(() => andThen(this.applyWeights(connection, w), () => connectionWeights(this.net, connection)));
  }

  /** As setWeights, with the stored weights as a row-major copy (for a reply written in slices). */
  replaceWeights(connection: string, w: unknown): Promise<WeightMatrices> {
    return this.command(() => andThen(this.applyWeights(connection, w), () => inSlices(weightMatrices(this.net, [connection]), this.opts.sliceMs)));
  }

  /** Sets the weights and records them; a promise while the values are checked, or the record written, in slices. */
  private applyWeights(connection: string, w: unknown): Promise<void> | void {
    if (w instanceof Float64Array) return inSlices(this.net.setWeightsFlatPausing(connection, w), this.opts.sliceMs).then(() => this.recordWeights(connection, w));
    this.net.setWeights(connection, w);
    return this.recordWeights(connection, w);
  }

  private recordWeights(connection: string, w: unknown): Promise<void> | void {
    if (this.recorder === null) return;
    const [rows, cols] = this.shapeOf(connection);
    return inSlices(this.recorder.weights(connection, w, rows * cols), this.opts.sliceMs);
  }


  /**
   * Puts back the state read from disk: the network rebuilt from its snapshot,
   * the statistics saved with it, then every command logged after it, run
   * again. Not queued: for restore at start, and inside resync().
   */
  loadState(net: Network, meta: SnapshotMeta, commands: Iterable<LoggedCommand>): { steps: number; bytes: number } {
    return runToEnd(this.loadStatePausing(net, meta, commands));
  }

  /** As loadState, pausing (yield) while the commands run again. */
  private *loadStatePausing(net: Network, meta: SnapshotMeta, commands: Iterable<LoggedCommand>): Generator<void, { steps: number; bytes: number }> {
    if (net !== this.net) {
      const old = this.net;
      this.net = net;
      old.dispose();
    }
    this.stats.load(meta);
    return yield* replayCommandsPausing({ net: this.net, stats: this.stats, reset: (weights) => this.resetNow(weights) }, commands);
  }

  /**
   * After a failed commit: waits for the commands already queued (their
   * replies fail), then puts back the state on disk via `load`, and runs its
   * logged commands again, in slices (the commands after wait). If that
   * fails too, the session is closed (it stays on disk for the next start).
   */
  resync(load: () => Generator<void, { net: Network; meta: SnapshotMeta; commands: LoggedCommand[] }>, onLoaded: (replayed: { steps: number; bytes: number }) => void): Promise<void> {
    return this.queue.run(async () => {
      if (this.closed) return;
      const { net, meta, commands } = await inSlices(load(), this.opts.sliceMs);
      if (this.closed) {
        net.dispose();
        return;
      }
      onLoaded(await inSlices(this.loadStatePausing(net, meta, commands), this.opts.sliceMs));
    });
  }

  /** `copies`: a batch's copies to show (default every copy; copiesOf, `field` naming the selection in errors). */
  state(copies?: readonly number[], field = 'copies'): Promise<SessionState> {
    return this.command(() => stateOf(this.net, copiesOf(this.net, copies, field)));
  }

  /** The network's snapshot with the session's name, which a restore keeps. */
  snapshot(): Promise<ReturnType<Network['snapshot']>> {
    return this.command(() => ({ ...this.net.snapshot(), name: this.name }));
  }

  /**
   * The snapshot with Float64Array copies of its vectors, made in slices: for
   * replies sent after the command (JSON in slices, binary a chunk at a
   * time), which a step arriving meanwhile does not change.
   */
  snapshotTyped(): Promise<TypedSnapshot> {
    return this.command(() => inSlices(this.net.snapshotTypedPausing(), this.opts.sliceMs).then((s) => ({ ...s, name: this.name })));
  }

  summary(): SessionSummary {
    return summaryOf(this.net, { id: this.id, name: this.name, createdAt: this.createdAt, lastUsedAt: this.lastUsed, expiryMs: this.opts.expiryMs });
  }

  /** The summary plus spec, limits and statistics; queued, so it never sees half a run. */
  detail(): Promise<SessionDetail> {
    const limits = this.opts.limits;
    const view = {
      maxNeurons: limits.maxNeurons,
      maxSynapses: limits.maxSynapses,
      maxBatchSize: limits.maxBatchSize ?? DEFAULT_ENGINE_LIMITS.maxBatchSize,
      maxStepsPerCall: limits.maxStepsPerCall,
      maxSpikeRecordsPerCall: limits.maxSpikeRecordsPerCall,
      idleTimeoutSeconds: this.opts.idleTimeoutMs / 1000,
    };
    return this.command(() => inSlices(detailOf(this.net, () => this.summary(), this.stats, view), this.opts.sliceMs));
  }

  /**
   * Closes the session: queued commands fail with SESSION_NOT_FOUND, a run in
   * progress stops at its next slice, and the network is released once the
   * queue is empty. Listeners hear 'closed' once.
   */
  close(reason: CloseReason): Promise<void> {
    if (this.closedReason === null) {
      this.closedReason = reason;
      this.listeners.emit('closed', reason);
    }
    return this.queue.drained().then(() => {
      if (this.disposed) return;
      this.disposed = true;
      this.listeners.clear();
      this.net.dispose();
    });
  }

  /** Resolves when every command queued so far has finished. */
  drained(): Promise<void> {
    return this.queue.drained();
  }
}

/** `next` after `first` if that is a promise, else at once. */
function andThen<T>(first: Promise<void> | void, next: () => T | Promise<T>): T | Promise<T> {
  return first instanceof Promise ? first.then(next) : next();
}

/**
 * A step's task once its admission settles: queued at once, so that it keeps
 * its place among the session's commands, and refused in that place if the
 * admission rejects (handled from the start: a rejection before the task
 * runs is not an unhandled one).
 */
function afterAdmission<T>(admission: Promise<void>, run: () => T | Promise<T>): () => Promise<T> {
  const settled = admission.then(
    () => null,
    (e: unknown) => ({ refused: e }),
  );
  return async () => {
    const outcome = await settled;
    if (outcome !== null) throw outcome.refused;
    return run();
  };
}
