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
import { VALUES_PER_PAUSE } from './pause.js';
import { SpikeserveError } from '../errors.js';
import { BACKENDS, BACKEND_NAMES, type BackendName } from './backends/index.js';
import { f64Copy, type ExternalInputs, type Kernel, type KernelGuard, type KernelState, type NonFinite } from './backends/kernel.js';
import { MAX_ABS_VALUE } from './bounds.js';
import { DEFAULT_ENGINE_LIMITS, type EngineLimits } from './limits.js';
import { MAX_SEED, Rng } from './random.js';
import { SNAPSHOT_FORMAT, SNAPSHOT_VERSION, checkSnapshotEnvelope, checkSnapshotShapes, type Snapshot, type TypedSnapshot } from './snapshot.js';
import type { ResolvedNetwork } from './spec-schema.js';
import { connectionShape } from './spec-sizes.js';
import { checkMatrixShape, resolveSpec } from './validate.js';

/** Per population: one number for every neuron, or one number per neuron. */
export type StepInputs = Record<string, number | number[] | Float64Array | Float32Array>;

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

function inputError(field: string, message: string): SpikeserveError {
  return new SpikeserveError('INPUT_INVALID', `${field}: ${message}`, { field });
}

/**
 * Inputs and rewards are finite and at most MAX_ABS_VALUE in magnitude: far
 * beyond any meaningful current or reward, and small enough that the native
 * backend cannot overflow (bounds.ts); tfjs checks its float32 state instead.
 */
export { MAX_ABS_VALUE };
const TOO_LARGE = `must be a finite number of magnitude at most ${MAX_ABS_VALUE}`;

/** False for NaN, the infinities and anything beyond MAX_ABS_VALUE. */
function inRange(x: number): boolean {
  return x <= MAX_ABS_VALUE && x >= -MAX_ABS_VALUE;
}

/**
 * Validates input vector x and lists its non-zero entries in `nz`
 * (ascending); copies x into `out` if given, else leaves `out` alone (the
 * caller copied it already). Returns the number of non-zero entries, or
 * -1 - i for the first entry i out of range. Inputs are mostly zeros, so
 * entries are tested four at a time before any is looked at closely. The
 * bound is MAX_ABS_VALUE written as a literal: a module-level constant is
 * re-read from its cell on every iteration of a loop.
 */
function scanInput(x: Float64Array, nz: Int32Array, out: Float64Array | null): number {
  const n = x.length & 0x3fffffff;
  let c = 0;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    if (x[i] === 0 && x[i + 1] === 0 && x[i + 2] === 0 && x[i + 3] === 0) continue;
    for (let j = i; j < i + 4; j++) {
      const xj = x[j];
      if (xj === 0) continue;
      if (!(Math.abs(xj) <= 1e30)) return -1 - j;
      nz[c++] = j;
      if (out !== null) out[j] = xj;
    }
  }
  for (; i < n; i++) {
    const xi = x[i];
    if (xi === 0) continue;
    if (!(Math.abs(xi) <= 1e30)) return -1 - i;
    nz[c++] = i;
    if (out !== null) out[i] = xi;
  }
  return c;
}

export function checkReward(reward: unknown, field = 'reward'): asserts reward is number {
  if (typeof reward !== 'number' || !inRange(reward)) throw inputError(field, TOO_LARGE);
}

export class Network {
  readonly spec: ResolvedNetwork;
  readonly seed: number;
  readonly backend: BackendName;
  readonly populationNames: readonly string[];
  readonly connectionNames: readonly string[];
  /** Population sizes, by index. */
  readonly sizes: readonly number[];
  private readonly popIndex: Map<string, number>;
  private readonly connIndex: Map<string, number>;
  private readonly external: ExternalInputs;
  /**
   * 1 where the input buffer was last written by the sparse Float64Array
   * load: all zeros but at the entries its non-zero list names.
   */
  private readonly sparseLoaded: Uint8Array;
  private readonly kernel: Kernel;
  private rng: Rng;
  private steps = 0;
  private pendingUpdate = false;

  private constructor(spec: ResolvedNetwork, seed: number, backend: BackendName) {
    if (!BACKENDS[backend]) {
      throw new SpikeserveError('SPEC_INVALID', `backend: unknown backend "${backend}"; available: ${BACKEND_NAMES.join(', ')}`, { field: 'backend' });
    }
    this.spec = spec;
    this.seed = seed;
    this.backend = backend;
    this.populationNames = Object.keys(spec.populations);
    this.connectionNames = Object.keys(spec.connections);
    this.sizes = this.populationNames.map((p) => spec.populations[p].n);
    this.popIndex = new Map(this.populationNames.map((n, i) => [n, i]));
    this.connIndex = new Map(this.connectionNames.map((n, i) => [n, i]));
    this.external = {
      inputs: this.sizes.map((n) => new Float64Array(n)),
      hasInput: new Uint8Array(this.sizes.length),
      nonZero: this.sizes.map((n) => new Int32Array(n)),
      nonZeroCount: new Int32Array(this.sizes.length),
    };
    this.sparseLoaded = new Uint8Array(this.sizes.length);
    this.kernel = BACKENDS[backend](spec, this.external);
    this.rng = new Rng(seed);
  }

  /** Validates the spec (throws SPEC_INVALID / LIMIT_EXCEEDED before allocating) and builds the network. */
  static create(specInput: unknown, options: NetworkOptions = {}): Network {
    const steps = Network.build(specInput, options);
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
    }
  }

  /** As create, pausing (yield) every so often while initial weights are drawn, so that a caller can let other work run. */
  static *build(specInput: unknown, options: NetworkOptions = {}): Generator<void, Network> {
    const seed = options.seed ?? 0;
    if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
      throw new SpikeserveError('SPEC_INVALID', `seed: must be an integer from 0 to ${MAX_SEED}`, { field: 'seed' });
    }
    const spec = resolveSpec(specInput, options.limits ?? DEFAULT_ENGINE_LIMITS);
    const net = new Network(spec, seed, options.backend ?? 'native');
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
    checkSnapshotEnvelope(input);
    const spec = resolveSpec(input.network, options.limits ?? DEFAULT_ENGINE_LIMITS, 'snapshot.network');
    checkSnapshotShapes(input, spec);
    let rng: Rng;
    try {
      rng = Rng.fromState(input.rng);
    } catch (e) {
      throw new SpikeserveError('SNAPSHOT_INVALID', `snapshot.rng: ${(e as Error).message}`, { field: 'snapshot.rng' });
    }
    const net = new Network(spec, input.seed, options.backend ?? 'native');
    net.kernel.importState(input.state);
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
   * Checks inputs and copies them into the external buffers in one pass. The
   * buffers are scratch, not state: a rejected input leaves the network as it was.
   */
  private loadInputs(inputs: unknown, field = 'inputs'): void {
    const { inputs: buf, hasInput, nonZero, nonZeroCount } = this.external;
    hasInput.fill(0);
    if (inputs === undefined || inputs === null) return;
    if (typeof inputs !== 'object' || Array.isArray(inputs)) throw inputError(field, 'must be an object keyed by population name');
    const o = inputs as Record<string, unknown>;
    for (const name in o) {
      if (!Object.prototype.hasOwnProperty.call(o, name)) continue;
      const p = this.popIndex.get(name);
      if (p === undefined) throw inputError(`${field}.${name}`, `unknown population; this network has ${this.populationNames.join(', ')}`);
      const x = o[name];
      const out = buf[p];
      const n = out.length;
      let count: number;
      if (typeof x === 'number') {
        if (!inRange(x)) throw inputError(`${field}.${name}`, TOO_LARGE);
        this.sparseLoaded[p] = 0;
        out.fill(x);
        count = x === 0 ? 0 : -1;
      } else if (x instanceof Float64Array) {
        if (x.length !== n) throw inputError(`${field}.${name}`, `must have ${n} entries (one per neuron), got ${x.length}`);
        // The buffer holds zeros but at the listed entries of the previous
        // load (when that load was one of these): clear those and write only
        // the new non-zeros, instead of copying every entry.
        const nz = nonZero[p];
        const prev = this.sparseLoaded[p] === 1 ? nonZeroCount[p] : -1;
        if (prev >= 0) for (let k = 0; k < prev; k++) out[nz[k]] = 0;
        else out.fill(0);
        this.sparseLoaded[p] = 0;
        count = scanInput(x, nz, out);
        if (count < 0) throw inputError(`${field}.${name}[${-1 - count}]`, TOO_LARGE);
        this.sparseLoaded[p] = 1;
      } else if (x instanceof Float32Array) {
        if (x.length !== n) throw inputError(`${field}.${name}`, `must have ${n} entries (one per neuron), got ${x.length}`);
        this.sparseLoaded[p] = 0;
        out.set(x);
        count = scanInput(out, nonZero[p], null);
        if (count < 0) throw inputError(`${field}.${name}[${-1 - count}]`, TOO_LARGE);
      } else if (Array.isArray(x)) {
        if (x.length !== n) throw inputError(`${field}.${name}`, `must have ${n} entries (one per neuron), got ${x.length}`);
        const nz = nonZero[p];
        this.sparseLoaded[p] = 0;
        count = 0;
        for (let i = 0; i < n; i++) {
          const xi: unknown = x[i];
          if (typeof xi !== 'number' || !inRange(xi)) throw inputError(`${field}.${name}[${i}]`, TOO_LARGE);
          out[i] = xi;
          if (xi !== 0) nz[count++] = i;
        }
      } else {
        throw inputError(`${field}.${name}`, `must be a number or a vector of ${n} numbers`);
      }
      nonZeroCount[p] = count;
      hasInput[p] = 1;
    }
  }

  /**
   * One network step (model.md "One network step"). Inputs and reward are
   * checked before anything changes: an invalid call leaves the network as it was.
   */
  step(inputs?: StepInputs | null, reward?: number, options?: StepOptions): void {
    if (reward !== undefined) checkReward(reward);
    const defer = options?.deferReward === true;
    if (defer && reward !== undefined) {
      throw inputError('reward', 'give a reward with the step or defer it, not both');
    }
    this.loadInputs(inputs);
    this.stepLoaded(reward ?? 0, defer);
  }

  /** The step itself, inputs already in the external buffers. */
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
    else this.kernel.updateRules(reward);
  }

  /** Completes the pending update of a step taken with deferReward. */
  reward(reward: number): void {
    checkReward(reward);
    if (!this.pendingUpdate) {
      throw new SpikeserveError('REWARD_NOT_PENDING', 'no step is waiting for a reward: step with deferReward: true first, or send the reward with the step');
    }
    const complete = () => {
      this.pendingUpdate = false;
      this.kernel.updateRules(reward);
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
    return prepareRun(this, request, maxSteps);
  }

  /** Runs steps [from, to) of a prepared plan; onStep sees the network after each step. */
  runSlice(plan: RunPlan, from: number, to: number, onStep?: (t: number) => void): void {
    const { inputs: buf, hasInput, nonZeroCount } = this.external;
    for (let t = from; t < to; t++) {
      hasInput.fill(0);
      nonZeroCount.fill(-1);
      this.sparseLoaded.fill(0);
      for (let k = 0; k < plan.inputs.length; k++) {
        const src = plan.inputs[k];
        const p = src.pop;
        if (src.perStep) buf[p].set(src.perStep[t]);
        else buf[p].set(src.held as Float64Array);
        hasInput[p] = 1;
      }
      const last = t === plan.steps - 1;
      this.stepLoaded(plan.rewards ? plan.rewards[t] : plan.reward, last && plan.deferReward);
      onStep?.(t);
    }
  }

  /** Convenience: prepare and run a whole plan. */
  run(request: RunRequest, onStep?: (t: number) => void): void {
    const plan = this.prepareRun(request);
    this.runSlice(plan, 0, plan.steps, onStep);
  }

  /** Number of neurons of population `pop` (index) that spiked in the most recent step. */
  spikeCount(pop: number): number {
    return this.kernel.spikeCount(pop);
  }

  /** Writes the most recent step's spike indices of population `pop` into out; returns the count. */
  readSpikes(pop: number, out: Int32Array): number {
    return this.kernel.readSpikes(pop, out);
  }

  spikes(population: string): number[] {
    const p = this.population(population);
    const out = new Int32Array(this.sizes[p]);
    const n = this.kernel.readSpikes(p, out);
    return Array.from(out.subarray(0, n));
  }

  potentials(population: string): Float64Array {
    return this.kernel.potentials(this.population(population));
  }

  traces(population: string): Float64Array {
    return this.kernel.traces(this.population(population));
  }

  refractory(population: string): Float64Array {
    return this.kernel.refractory(this.population(population));
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
    const k = this.connection(connection);
    const [rows, cols] = this.shape(k);
    const fail = (field: string, message: string) => new SpikeserveError('WEIGHTS_INVALID', `${field}: ${message}`, { field, expected: [rows, cols] });
    if (values.length !== rows * cols) throw fail('weights', `must be ${rows} x ${cols} (pre.n x post.n) values, got ${values.length}`);
    for (let q = 0; q < values.length; q++) {
      if (!Number.isFinite(values[q])) throw fail(`weights[${Math.floor(q / cols)}][${q % cols}]`, 'must be a finite number');
    }
    this.kernel.setWeights(k, f64Copy(values));
  }

  /** MSTDP's eligibility as [pre.n][post.n]; null for rules without one. */
  eligibility(connection: string): number[][] | null {
    const k = this.connection(connection);
    const e = this.kernel.eligibility(k);
    return e ? toRows(e, this.shape(k)) : null;
  }

  /** MSTDPET's eligibility trace as [pre.n][post.n]; null for other rules. */
  eligibilityTrace(connection: string): number[][] | null {
    const k = this.connection(connection);
    const et = this.kernel.eligibilityTrace(k);
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
      this.kernel.setWeights(k, flat);
    }
  }

  /** The snapshot, in plain arrays: what JSON writes and a client sends back. */
  snapshot(): Snapshot {
    const s = this.snapshotTyped();
    const state: KernelState = { populations: {}, connections: {} };
    for (const [name, p] of Object.entries(s.state.populations)) state.populations[name] = { ...p, v: plain(p.v), refrac: plain(p.refrac), traces: plain(p.traces) };
    for (const [name, c] of Object.entries(s.state.connections)) state.connections[name] = { ...c, w: plain(c.w) };
    return { ...s, state };
  }

  /** The snapshot with its vectors as Float64Array copies: cheap to make, to encode and to write in slices. */
  snapshotTyped(): TypedSnapshot {
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
      state: this.kernel.exportState(),
    };
  }

  dispose(): void {
    this.kernel.dispose();
  }
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

/** A multi-step run: inputs held or given per step, rewards per step. */
export interface RunRequest {
  /** Default 1. */
  steps?: number;
  /** Per population: a number for every neuron, a vector held for every step, or one vector per step. */
  inputs?: Record<string, number | ArrayLike<number> | ArrayLike<ArrayLike<number>>> | null;
  /** A number for every step, or one per step. Default 0. */
  reward?: number | ArrayLike<number> | null;
  /** Leave the last step's rule update pending (see Network). */
  deferReward?: boolean;
}

export interface RunPlan {
  readonly steps: number;
  readonly inputs: { pop: number; held?: Float64Array; perStep?: Float64Array[] }[];
  readonly reward: number;
  readonly rewards: Float64Array | null;
  readonly deferReward: boolean;
}

function prepareRun(net: Network, req: RunRequest, maxSteps: number): RunPlan {
  if (typeof req !== 'object' || req === null) throw inputError('request', 'must be an object');
  const steps = req.steps ?? 1;
  if (typeof steps !== 'number' || !Number.isInteger(steps) || steps < 1) throw inputError('steps', 'must be a whole number >= 1');
  if (steps > maxSteps) {
    throw new SpikeserveError('LIMIT_EXCEEDED', `steps: ${steps} exceeds the limit of ${maxSteps} steps per call; split the run`, {
      field: 'steps', limit: 'maxStepsPerCall', value: steps, max: maxSteps,
    });
  }
  const inputs: RunPlan['inputs'] = [];
  const raw = req.inputs;
  if (raw !== undefined && raw !== null) {
    if (typeof raw !== 'object' || Array.isArray(raw)) throw inputError('inputs', 'must be an object keyed by population name');
    for (const name of Object.keys(raw)) {
      const field = `inputs.${name}`;
      const p = net.populationNames.indexOf(name);
      if (p < 0) throw inputError(field, `unknown population; this network has ${net.populationNames.join(', ')}`);
      const n = net.sizes[p];
      const x = (raw as Record<string, unknown>)[name];
      if (typeof x === 'number') {
        if (!inRange(x)) throw inputError(field, TOO_LARGE);
        inputs.push({ pop: p, held: new Float64Array(n).fill(x) });
      } else if (Array.isArray(x) && x.length > 0 && typeof x[0] === 'object' && x[0] !== null) {
        if (x.length !== steps) throw inputError(field, `one vector per step: expected ${steps} vectors, got ${x.length}`);
        inputs.push({ pop: p, perStep: x.map((v, t) => vector(v, n, `${field}[${t}]`)) });
      } else {
        inputs.push({ pop: p, held: vector(x, n, field) });
      }
    }
  }
  // With deferReward the last step's reward comes later, so rewards given
  // here cover the steps before it.
  const deferReward = req.deferReward === true;
  const rewarded = deferReward ? steps - 1 : steps;
  let reward = 0;
  let rewards: Float64Array | null = null;
  const r = req.reward;
  if (r !== undefined && r !== null && rewarded === 0) {
    throw inputError('reward', 'the only step\'s reward is deferred: send it with reward() (POST .../reward) after the step, or do not defer');
  }
  if (typeof r === 'number') {
    checkReward(r);
    reward = r;
  } else if (r !== undefined && r !== null) {
    if (typeof r !== 'object' || typeof (r as ArrayLike<number>).length !== 'number') throw inputError('reward', 'must be a number or one number per step');
    if (r.length !== rewarded) {
      throw inputError('reward', `one reward per ${deferReward ? 'step before the deferred last one' : 'step'}: expected ${rewarded}, got ${r.length}`);
    }
    rewards = new Float64Array(steps);
    for (let t = 0; t < rewarded; t++) {
      checkReward(r[t], `reward[${t}]`);
      rewards[t] = r[t];
    }
  }
  return { steps, inputs, reward, rewards, deferReward };
}

function vector(x: unknown, n: number, field: string): Float64Array {
  if (typeof x !== 'object' || x === null || typeof (x as ArrayLike<unknown>).length !== 'number') {
    throw inputError(field, `must be a number, a vector of ${n} numbers, or one such vector per step`);
  }
  const v = x as ArrayLike<unknown>;
  if (v.length !== n) throw inputError(field, `must have ${n} entries (one per neuron), got ${v.length}`);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const xi = v[i];
    if (typeof xi !== 'number' || !inRange(xi)) throw inputError(`${field}[${i}]`, TOO_LARGE);
    out[i] = xi;
  }
  return out;
}
