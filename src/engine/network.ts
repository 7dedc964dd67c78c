/**
 * A network: one session's simulation. It owns the parts every backend shares
 * (input validation, the deferred-reward contract, the step counter, initial
 * weights, snapshots) and hands the numeric work to its kernel.
 *
 * Deferred reward (docs/deferred-reward.md): step(..., { deferReward: true })
 * runs the populations and leaves the rule update pending, so a client can
 * look at the step's spikes before it rewards them; reward(r) then completes
 * the update with r. A pending update that gets no reward is completed with
 * reward 0 by the next step (before it runs), which is exactly what stepping
 * with no reward does, so skipping the reward never changes the trajectory.
 */
import { runToEnd, VALUES_PER_PAUSE } from './pause.js';
import { SpikeserveError } from '../errors.js';
import { DEFAULT_BACKEND, backendProvider, type BackendName } from './backends/index.js';
import { f64Copy, type ExportedRuleState, type ExportedState, type Kernel, type KernelGuard, type KernelState, type NonFinite, type RuleState } from './backends/kernel.js';
import { copyRewards } from './batch-inputs.js';
import { checkReward, inputError, NetworkInputs, type BatchStepInputs, type RunPlan, type RunRequest } from './inputs.js';
import { DEFAULT_ENGINE_LIMITS, type EngineLimits } from './limits.js';
import { MAX_SEED, Rng } from './random.js';
import { SNAPSHOT_FORMAT, SNAPSHOT_VERSION, checkSnapshotEnvelope, checkSnapshotShapes, type Snapshot, type TypedSnapshot } from './snapshot.js';
import type { ResolvedNetwork } from './spec-schema.js';
import { connectionShape } from './spec-sizes.js';
import { checkMatrixShape, resolveSpec } from './validate.js';

export interface StepOptions {
  /** Leave this step's rule update pending until reward() or the next step. */
  deferReward?: boolean;
}

export interface NetworkOptions {
  /** Seeds the generator that draws initial weights; default 0. */
  seed?: number;
  limits?: EngineLimits;
  backend?: BackendName;
}

export interface ResetOptions {
  /** Also put the weights back to their initial values (the spec's `w`, or the seeded draw). */
  weights?: boolean;
}

export class Network {
  readonly spec: ResolvedNetwork;
  readonly seed: number;
  readonly backend: BackendName;
  readonly populationNames: readonly string[];
  readonly connectionNames: readonly string[];
  /** Population sizes, by index. */
  readonly sizes: readonly number[];
  /** batch_size: copies of the network sharing its weights (model.md, "Batches"). */
  readonly copies: number;
  /** A batch's rewards for the update at hand, one per copy. */
  private readonly stepRewards: Float64Array;
  private readonly popIndex: Map<string, number>;
  private readonly connIndex: Map<string, number>;
  /** The buffers the kernel reads its input from, and how they are filled. */
  private readonly inputs: NetworkInputs;
  private readonly kernel: Kernel;
  private rng: Rng;
  private steps = 0;
  private pendingUpdate = false;

  private constructor(spec: ResolvedNetwork, seed: number, backend: BackendName) {
    const provider = backendProvider(backend);
    this.spec = spec;
    this.seed = seed;
    this.backend = backend;
    this.populationNames = Object.keys(spec.populations);
    this.connectionNames = Object.keys(spec.connections);
    this.sizes = this.populationNames.map((p) => spec.populations[p].n);
    this.popIndex = new Map(this.populationNames.map((n, i) => [n, i]));
    this.connIndex = new Map(this.connectionNames.map((n, i) => [n, i]));
    this.copies = spec.batch_size;
    this.stepRewards = new Float64Array(this.copies);
    this.inputs = new NetworkInputs(this.populationNames, this.sizes, this.popIndex, this.copies);
    this.kernel = provider.create(spec, this.inputs.external);
    this.rng = new Rng(seed);
  }

  /** Validates the spec (throws SPEC_INVALID / LIMIT_EXCEEDED before allocating) and builds the network. */
  static create(specInput: unknown, options: NetworkOptions = {}): Network {
    return runToEnd(Network.build(specInput, options));
  }

  /** As create, pausing (yield) every so often while initial weights are drawn, so that a caller can let other work run. */
  static *build(specInput: unknown, options: NetworkOptions = {}): Generator<void, Network> {
    const seed = options.seed ?? 0;
    if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
      throw new SpikeserveError('SPEC_INVALID', `seed: must be an integer from 0 to ${MAX_SEED}`, { field: 'seed' });
    }
    const spec = resolveSpec(specInput, options.limits ?? DEFAULT_ENGINE_LIMITS);
    const net = new Network(spec, seed, options.backend ?? DEFAULT_BACKEND);
    try {
      yield* net.initialWeights();
    } catch (e) {
      net.dispose();
      throw e;
    }
    return net;
  }

  /** Rebuilds a network from snapshot(); it continues exactly as the original would. */
  static fromSnapshot(input: unknown, options: Omit<NetworkOptions, 'seed'> = {}): Network {
    return runToEnd(Network.restore(input, options));
  }

  /** As fromSnapshot, pausing (yield) every so often while the snapshot's numbers are checked and copied in. */
  static *restore(input: unknown, options: Omit<NetworkOptions, 'seed'> = {}): Generator<void, Network> {
    checkSnapshotEnvelope(input);
    const spec = resolveSpec(input.network, options.limits ?? DEFAULT_ENGINE_LIMITS, 'snapshot.network');
    yield* checkSnapshotShapes(input, spec);
    let rng: Rng;
    try {
      rng = Rng.fromState(input.rng);
    } catch (e) {
      throw new SpikeserveError('SNAPSHOT_INVALID', `snapshot.rng: ${(e as Error).message}`, { field: 'snapshot.rng' });
    }
    const net = new Network(spec, input.seed, options.backend ?? DEFAULT_BACKEND);
    try {
      if (net.kernel.importStatePausing) yield* net.kernel.importStatePausing(input.state);
      else net.kernel.importState(input.state);
    } catch (e) {
      net.dispose();
      throw e;
    }
    net.rng = rng;
    net.steps = input.step;
    net.pendingUpdate = input.pending;
    return net;
  }

  get stepCount(): number {
    return this.steps;
  }

  /** True between a step with deferReward and its reward (or the next step). */
  get pending(): boolean {
    return this.pendingUpdate;
  }

  get kernelName(): string {
    return this.kernel.name;
  }

  populationSize(name: string): number {
    return this.sizes[this.population(name)];
  }

  /** Throws POPULATION_NOT_FOUND. */
  population(name: string): number {
    const i = this.popIndex.get(name);
    if (i === undefined) {
      throw new SpikeserveError('POPULATION_NOT_FOUND', `population "${name}" does not exist; this network has ${this.populationNames.join(', ')}`, { population: name });
    }
    return i;
  }

  /** Throws CONNECTION_NOT_FOUND. */
  connection(name: string): number {
    const i = this.connIndex.get(name);
    if (i === undefined) {
      const have = this.connectionNames.length ? this.connectionNames.join(', ') : 'no connections';
      throw new SpikeserveError('CONNECTION_NOT_FOUND', `connection "${name}" does not exist; this network has ${have}`, { connection: name });
    }
    return i;
  }

  /**
   * One network step (model.md "One network step"). Inputs and reward are
   * checked before anything changes: an invalid call leaves the network as it was.
   */
  step(inputs?: BatchStepInputs | null, reward?: number | ArrayLike<number>, options?: StepOptions): void {
    const defer = options?.deferReward === true;
    if (defer && reward !== undefined) {
      throw inputError('reward', 'give a reward with the step or defer it, not both');
    }
    if (this.copies > 1) {
      // A batch's reward: a number (every copy) or one per copy.
      copyRewards(reward ?? 0, this.stepRewards, 'reward', checkReward);
      this.inputs.load(this.inputs.stage(inputs), 0);
      this.stepLoaded(0, defer);
      return;
    }
    if (reward !== undefined) checkReward(reward);
    this.inputs.load(this.inputs.stage(inputs), 0);
    this.stepLoaded((reward as number | undefined) ?? 0, defer);
  }

  /** The step itself, its inputs loaded (NetworkInputs.load): the same for step() and runSlice(). */
  private stepLoaded(reward: number, defer: boolean): void {
    if (this.kernel.guard !== undefined) {
      this.guarded(() => this.stepUnguarded(reward, defer), 'step');
      return;
    }
    this.stepUnguarded(reward, defer);
  }

  private stepUnguarded(reward: number, defer: boolean): void {
    if (this.pendingUpdate) {
      this.pendingUpdate = false;
      this.kernel.updateRules(0);
    }
    this.kernel.stepPopulations();
    this.steps++;
    if (defer) this.pendingUpdate = true;
    else if (this.copies > 1) this.kernel.updateRulesPerCopy(this.stepRewards);
    else this.kernel.updateRules(reward);
  }

  /** Completes the pending update of a step taken with deferReward; a batch's reward is a number (every copy) or one per copy. */
  reward(reward: number | ArrayLike<number>): void {
    const batch = this.copies > 1;
    // Checked before the pending state, as before batches: a bad reward is INPUT_INVALID either way.
    if (batch) copyRewards(reward, this.pendingUpdate ? this.stepRewards : new Float64Array(this.copies), 'reward', checkReward);
    else checkReward(reward);
    if (!this.pendingUpdate) {
      throw new SpikeserveError('REWARD_NOT_PENDING', 'no step is waiting for a reward: step with deferReward: true first, or send the reward with the step');
    }
    const complete = () => {
      this.pendingUpdate = false;
      if (batch) this.kernel.updateRulesPerCopy(this.stepRewards);
      else this.kernel.updateRules(reward as number);
    };
    if (this.kernel.guard !== undefined) this.guarded(complete, 'reward');
    else complete();
  }

  /**
   * Runs a step or reward on a guarded kernel (KernelGuard): if it leaves a
   * non-finite value, everything it changed is put back and STEP_OVERFLOW
   * names the value.
   */
  private guarded(run: () => void, what: 'step' | 'reward'): void {
    const guard = this.kernel.guard as KernelGuard;
    const steps = this.steps;
    const pending = this.pendingUpdate;
    guard.checkpoint();
    let bad: NonFinite | null;
    try {
      run();
      bad = guard.findNonFinite();
    } catch (e) {
      guard.rollback();
      this.steps = steps;
      this.pendingUpdate = pending;
      throw e;
    }
    if (bad === null) {
      guard.release();
      return;
    }
    guard.rollback();
    this.steps = steps;
    this.pendingUpdate = pending;
    const where = bad.population !== undefined ? `population ${bad.population}, neuron ${bad.index}` : `connection ${bad.connection}, entry ${bad.index} (row-major)`;
    throw new SpikeserveError(
      'STEP_OVERFLOW',
      `this ${what} overflows: ${bad.variable} of ${where} becomes ${bad.value} (the ${this.kernel.name} backend computes in float32); it was refused and the session is as before it: use smaller inputs, rewards or parameters, or the native backend`,
      { ...(bad.population !== undefined ? { population: bad.population } : { connection: bad.connection }), variable: bad.variable, index: bad.index, step: steps + (what === 'step' ? 1 : 0) },
    );
  }

  /** Prepares a multi-step run: every input and reward is checked up front. */
  prepareRun(request: RunRequest, maxSteps = Infinity): RunPlan {
    return this.inputs.prepare(request, maxSteps);
  }

  /** Runs steps [from, to) of a prepared plan; onStep sees the network after each step. */
  runSlice(plan: RunPlan, from: number, to: number, onStep?: (t: number) => void): void {
    for (let t = from; t < to; t++) {
      this.inputs.load(plan, t);
      const last = t === plan.steps - 1;
      const perCopy = plan.copyRewards;
      if (perCopy !== null) {
        const B = this.copies;
        for (let b = 0; b < B; b++) this.stepRewards[b] = perCopy[t * B + b];
      }
      this.stepLoaded(plan.rewards ? plan.rewards[t] : plan.reward, last && plan.deferReward);
      onStep?.(t);
    }
  }

  /** Convenience: prepare and run a whole plan. */
  run(request: RunRequest, onStep?: (t: number) => void): void {
    const plan = this.prepareRun(request);
    this.runSlice(plan, 0, plan.steps, onStep);
  }

  /** Number of neurons of population `pop` (index) of copy `copy` that spiked in the most recent step. */
  spikeCount(pop: number, copy = 0): number {
    return this.kernel.spikeCount(pop, copy);
  }

  /** Writes the most recent step's spike indices of population `pop` (copy `copy`) into out; returns the count. */
  readSpikes(pop: number, out: Int32Array, copy = 0): number {
    return this.kernel.readSpikes(pop, out, copy);
  }

  /** Throws INPUT_INVALID unless `copy` names a copy of the batch. */
  checkCopy(copy: unknown, field = 'copy'): asserts copy is number {
    if (!(Number.isInteger(copy) && (copy as number) >= 0 && (copy as number) < this.copies)) {
      throw inputError(field, `must be a copy of the batch, an integer from 0 to ${this.copies - 1}`);
    }
  }

  spikes(population: string, copy = 0): number[] {
    const p = this.population(population);
    this.checkCopy(copy);
    const out = new Int32Array(this.sizes[p]);
    const n = this.kernel.readSpikes(p, out, copy);
    return Array.from(out.subarray(0, n));
  }

  potentials(population: string, copy = 0): Float64Array {
    const p = this.population(population);
    this.checkCopy(copy);
    return this.kernel.potentials(p, copy);
  }

  traces(population: string, copy = 0): Float64Array {
    const p = this.population(population);
    this.checkCopy(copy);
    return this.kernel.traces(p, copy);
  }

  refractory(population: string, copy = 0): Float64Array {
    const p = this.population(population);
    this.checkCopy(copy);
    return this.kernel.refractory(p, copy);
  }

  private shape(conn: number): [number, number] {
    return connectionShape(this.spec, this.spec.connections[this.connectionNames[conn]]);
  }

  /** Weights as [pre.n][post.n]. */
  weights(connection: string): number[][] {
    const k = this.connection(connection);
    return toRows(this.kernel.weights(k), this.shape(k));
  }

  /** Weights row-major. */
  weightsFlat(connection: string): Float64Array {
    return this.kernel.weights(this.connection(connection));
  }

  /** As weightsFlat, pausing (yield) every so often where the backend can, so that a caller can let other work run. */
  *weightsFlatPausing(connection: string): Generator<void, Float64Array> {
    const k = this.connection(connection);
    return this.kernel.weightsPausing ? yield* this.kernel.weightsPausing(k) : this.kernel.weights(k);
  }

  /** Replaces a connection's weights: shape checked, values clamped into [w_min, w_max]. */
  setWeights(connection: string, w: unknown): void {
    const k = this.connection(connection);
    const [rows, cols] = this.shape(k);
    checkMatrixShape(w, rows, cols, 'weights', 'WEIGHTS_INVALID');
    const flat = new Float64Array(rows * cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) flat[i * cols + j] = w[i][j];
    this.kernel.setWeights(k, flat);
  }

  /** As setWeights, from row-major values (a binary request's): length and values checked, clamped into [w_min, w_max]. */
  setWeightsFlat(connection: string, values: ArrayLike<number>): void {
    runToEnd(this.setWeightsFlatPausing(connection, values));
  }

  /** As setWeightsFlat, pausing (yield) every VALUES_PER_PAUSE values while they are checked; nothing changes until they all pass. */
  *setWeightsFlatPausing(connection: string, values: ArrayLike<number>): Generator<void, void> {
    const k = this.connection(connection);
    const [rows, cols] = this.shape(k);
    const fail = (field: string, message: string) => new SpikeserveError('WEIGHTS_INVALID', `${field}: ${message}`, { field, expected: [rows, cols] });
    if (values.length !== rows * cols) throw fail('weights', `must be ${rows} x ${cols} (pre.n x post.n) values, got ${values.length}`);
    for (let from = 0; from < values.length; from += VALUES_PER_PAUSE) {
      const to = Math.min(values.length, from + VALUES_PER_PAUSE);
      for (let q = from; q < to; q++) {
        if (!Number.isFinite(values[q])) throw fail(`weights[${Math.floor(q / cols)}][${q % cols}]`, 'must be a finite number');
      }
      yield;
    }
    // Kernels clamp what they are given into weights of their own: a Float64Array needs no copy first.
    const flat = values instanceof Float64Array ? values : f64Copy(values);
    if (this.kernel.setWeightsPausing) yield* this.kernel.setWeightsPausing(k, flat);
    else this.kernel.setWeights(k, flat);
  }


  /** MSTDP's eligibility (copy `copy`'s) as [pre.n][post.n]; null for rules without one. */
  eligibility(connection: string, copy = 0): number[][] | null {
    const k = this.connection(connection);
    this.checkCopy(copy);
    const e = this.kernel.eligibility(k, copy);
    return e ? toRows(e, this.shape(k)) : null;
  }

  /** MSTDPET's eligibility trace (copy `copy`'s) as [pre.n][post.n]; null for other rules. */
  eligibilityTrace(connection: string, copy = 0): number[][] | null {
    const k = this.connection(connection);
    this.checkCopy(copy);
    const et = this.kernel.eligibilityTrace(k, copy);
    return et ? toRows(et, this.shape(k)) : null;
  }

  /** Potentials, traces, refractory counters, eligibility, pending update and time back to 0. */
  reset(options: ResetOptions = {}): void {
    this.kernel.resetState();
    this.steps = 0;
    this.pendingUpdate = false;
    if (options.weights) {
      this.rng = new Rng(this.seed);
      this.drawInitialWeights();
    }
  }

  /** The spec's `w` where given (clamped), else uniform in [w_min, w_max], connection by connection in order. */
  private drawInitialWeights(): void {
    for (const _ of this.initialWeights());
  }

  /** drawInitialWeights, pausing (yield) every VALUES_PER_PAUSE weights or so. */
  private *initialWeights(): Generator<void> {
    let since = 0;
    for (let k = 0; k < this.connectionNames.length; k++) {
      const c = this.spec.connections[this.connectionNames[k]];
      const [rows, cols] = this.shape(k);
      const flat = new Float64Array(rows * cols);
      const span = c.w_max - c.w_min;
      for (let i = 0; i < rows; i++) {
        const row = i * cols;
        if (c.w) {
          const given = c.w[i];
          for (let j = 0; j < cols; j++) flat[row + j] = given[j];
        } else {
          for (let j = 0; j < cols; j++) flat[row + j] = c.w_min + span * this.rng.nextFloat();
        }
        since += cols;
        if (since >= VALUES_PER_PAUSE) {
          since = 0;
          yield;
        }
      }
      // Clamped into the kernel's own weights: millions of them in one go would hold the caller's loop as long as the draw.
      if (this.kernel.setWeightsPausing) yield* this.kernel.setWeightsPausing(k, flat);
      else this.kernel.setWeights(k, flat);
    }
  }

  /** The snapshot, in plain arrays: what JSON writes and a client sends back. */
  snapshot(): Snapshot {
    const s = this.snapshotTyped();
    const state: KernelState = { populations: {}, connections: {} };
    for (const [name, p] of Object.entries(s.state.populations)) state.populations[name] = { ...p, v: plain(p.v), refrac: plain(p.refrac), traces: plain(p.traces) };
    for (const [name, c] of Object.entries(s.state.connections)) {
      state.connections[name] = { ...c, w: plain(c.w), rule: plainRule(c.rule) };
    }
    return { ...s, state };
  }

  /** The snapshot with its vectors as Float64Array copies: cheap to make, to encode and to write in slices. */
  snapshotTyped(): TypedSnapshot {
    return this.typedSnapshot(this.kernel.exportState());
  }

  /**
   * As snapshotTyped, pausing (yield) every so often while millions of
   * per-synapse values are copied: for a reply sent after the command, made
   * in slices. The caller keeps the network unchanged until it ends.
   */
  *snapshotTypedPausing(): Generator<void, TypedSnapshot> {
    if (this.kernel.exportStatePausing === undefined) return this.snapshotTyped();
    return this.typedSnapshot(yield* this.kernel.exportStatePausing());
  }

  /**
   * As snapshotTyped, but its weights and MSTDPET's traces may be the
   * network's own arrays (no copy): read it only before the network next changes (a step, new
   * weights, a reset, dispose).
   */
  snapshotView(): TypedSnapshot {
    return this.typedSnapshot(this.kernel.exportState({ live: true }));
  }

  /** The snapshot of the network as it is now, with `state` its kernel's. */
  private typedSnapshot(state: ExportedState): TypedSnapshot {
    const network: ResolvedNetwork = { ...this.spec, connections: {} };
    for (const [name, c] of Object.entries(this.spec.connections)) {
      // Weights live in the state; the spec's initial `w` would only double the size.
      const { w: _w, ...rest } = c;
      network.connections[name] = rest;
    }
    return {
      format: SNAPSHOT_FORMAT,
      version: SNAPSHOT_VERSION,
      network,
      seed: this.seed,
      rng: this.rng.getState(),
      step: this.steps,
      pending: this.pendingUpdate,
      state,
    };
  }

  dispose(): void {
    this.kernel.dispose();
  }
}

/** A rule's state with MSTDPET's trace as a plain array, in the same place. */
function plainRule(r: ExportedRuleState): RuleState {
  const { et, ...rest } = r;
  return et === undefined ? rest : { ...r, et: plain(et) };
}

/** A plain array of the same numbers (a loop: Array.from's iteration costs several times more). */
function plain(a: Float64Array): number[] {
  const out = new Array<number>(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i];
  return out;
}

function toRows(flat: Float64Array, [rows, cols]: [number, number]): number[][] {
  const out: number[][] = new Array(rows);
  for (let i = 0; i < rows; i++) out[i] = Array.from(flat.subarray(i * cols, (i + 1) * cols));
  return out;
}
