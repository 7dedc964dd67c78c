/**
 * Inputs and rewards, from what a caller sends to what a kernel reads, on one
 * path for every way of stepping: Network.step (one step, what the replay
 * CLI runs) and prepareRun/runSlice (a session's call) both check each
 * population's input into an InputVector (its non-zero entries, ascending,
 * with their values), and NetworkInputs.load writes a step's vectors into the
 * buffers the kernel reads (ExternalInputs). A load clears the entries the
 * previous one wrote and writes the new non-zeros, so the non-zero lists the
 * native kernel's sparse step merges are always known; an input held over a
 * run's steps is written once.
 *
 * Inputs and rewards are finite and at most MAX_ABS_VALUE in magnitude: far
 * beyond any meaningful current or reward, and small enough that the native
 * backend cannot overflow (bounds.ts); tfjs checks its float32 state instead.
 */
import { SpikeserveError } from '../errors.js';
import type { ExternalInputs } from './backends/kernel.js';
import { CopyRows, flattenRunInputs, flattenStepInputs, runRewards } from './batch-inputs.js';
import { MAX_ABS_VALUE } from './bounds.js';
import { inputError } from './input-error.js';

export { inputError };

/** Per population: one number for every neuron, or one number per neuron. */
export type StepInputs = Record<string, number | number[] | Float64Array | Float32Array>;
/** A batch's also: per population, one vector per copy ([batch_size][n]). */
export type BatchStepInputs = StepInputs | Record<string, number | ArrayLike<number> | ArrayLike<ArrayLike<number>>>;

/** A multi-step run: inputs held or given per step, rewards per step. */
export interface RunRequest {
  /** Default 1. */
  steps?: number;
  /**
   * Per population: a number for every neuron, a vector held for every step, or one vector per step.
   * A batch's population also takes one vector per copy (held), or one list of those per step.
   */
  inputs?: Record<string, number | ArrayLike<number> | ArrayLike<ArrayLike<number>> | ArrayLike<ArrayLike<ArrayLike<number>>>> | null;
  /**
   * A number for every step, or one per step. Default 0. A batch's: a number
   * (every copy, every step), one number per copy (every step), or one of those per step.
   */
  reward?: number | ArrayLike<number> | ArrayLike<ArrayLike<number>> | null;
  /** Leave the last step's rule update pending (see Network). */
  deferReward?: boolean;
}

/** One population's input for a step: its non-zero entries. */
export interface InputVector {
  /** Ascending indices of the non-zero entries: `count` of them from `offset` (a run's vectors of one population share their arrays). */
  index: Int32Array;
  /** value[offset + k] is the input at index[offset + k]. */
  value: Float64Array;
  offset: number;
  count: number;
  /** Changes whenever the vector is rewritten (Network.step's staging vectors), so that a buffer holding an older content reloads it. */
  version: number;
}

/** A population's input over a run: one vector held for every step, or one per step. */
export interface PlanInput {
  readonly pop: number;
  readonly vectors: readonly InputVector[];
}

/** A checked run, ready for runSlice. */
export interface RunPlan {
  readonly steps: number;
  /** The first inputCount entries are the populations with input. */
  readonly inputs: readonly PlanInput[];
  readonly inputCount: number;
  readonly reward: number;
  readonly rewards: Float64Array | null;
  /** A batch's rewards, step t's copy b at t * batch_size + b; null without a batch. */
  readonly copyRewards: Float64Array | null;
  readonly deferReward: boolean;
}

/** Network.step's plan: one step's inputs, rewritten by every call (the step's reward is passed on as it is: a double argument through a call would be boxed). */
interface StagedPlan {
  steps: number;
  inputs: PlanInput[];
  inputCount: number;
  reward: number;
  rewards: Float64Array | null;
  copyRewards: null;
  deferReward: boolean;
}

const TOO_LARGE = `must be a finite number of magnitude at most ${MAX_ABS_VALUE}`;

/** False for NaN, the infinities and anything beyond MAX_ABS_VALUE. */
function inRange(x: number): boolean {
  return x <= MAX_ABS_VALUE && x >= -MAX_ABS_VALUE;
}

export function checkReward(reward: unknown, field = 'reward'): asserts reward is number {
  if (typeof reward !== 'number' || !inRange(reward)) throw inputError(field, TOO_LARGE);
}

function newVector(n: number): InputVector {
  return { index: new Int32Array(n), value: new Float64Array(n), offset: 0, count: 0, version: 0 };
}

/**
 * Lists the non-zero entries of x into v, from entry `start` of v on and
 * numbered from `offset` (a batch's copy b at b * n), and returns the count
 * v then holds; or returns -1 - (offset + i) for the first entry i out of
 * range. Inputs are mostly zeros, so entries are tested four at a time
 * before any is looked at closely. The bound is MAX_ABS_VALUE written as a
 * literal: a module-level constant is re-read from its cell on every
 * iteration of a loop.
 */
function scanF64(x: Float64Array, v: InputVector, start: number, offset: number): number {
  const n = x.length & 0x3fffffff;
  const { index, value } = v;
  let c = start;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    if (x[i] === 0 && x[i + 1] === 0 && x[i + 2] === 0 && x[i + 3] === 0) continue;
    for (let j = i; j < i + 4; j++) {
      const xj = x[j];
      if (xj === 0) continue;
      if (!(Math.abs(xj) <= 1e30)) return -1 - (offset + j);
      index[c] = offset + j;
      value[c++] = xj;
    }
  }
  for (; i < n; i++) {
    const xi = x[i];
    if (xi === 0) continue;
    if (!(Math.abs(xi) <= 1e30)) return -1 - (offset + i);
    index[c] = offset + i;
    value[c++] = xi;
  }
  return c;
}

/** As scanF64 for any other array-like: every entry must be a number in range. */
function scanArrayLike(x: ArrayLike<unknown>, v: InputVector): number {
  const n = x.length;
  const { index, value } = v;
  let c = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[i];
    if (typeof xi !== 'number' || !inRange(xi)) return -1 - i;
    if (xi !== 0) {
      index[c] = i;
      value[c++] = xi;
    }
  }
  return c;
}

/** What checkVector found, besides the index of an entry out of range (>= 0). */
const VECTOR_OK = -1;
const NOT_A_VECTOR = -2;
const WRONG_LENGTH = -3;
const NUMBER_OUT_OF_RANGE = -4;

/**
 * Checks one population's input for one step into v (room for n entries)
 * and says what it found (the constants above, or the index of the first
 * entry out of range); messages are built by vectorError, only on failure,
 * so that a step builds no strings. `anyArrayLike` accepts every array-like
 * (a run's vectors) instead of arrays and float typed arrays only
 * (Network.step's).
 */
function checkVector(x: unknown, n: number, v: InputVector, anyArrayLike: boolean): number {
  v.version = (v.version + 1) | 0;
  v.count = 0;
  if (typeof x === 'number') {
    if (!inRange(x)) return NUMBER_OUT_OF_RANGE;
    if (x === 0) return VECTOR_OK;
    const { index, value } = v;
    for (let i = 0; i < n; i++) {
      index[i] = i;
      value[i] = x;
    }
    v.count = n;
    return VECTOR_OK;
  }
  if (x instanceof CopyRows) {
    // A batch's copies, one Float64Array each (their lengths checked by batch-inputs.ts).
    const rows = x.rows;
    const per = n / rows.length;
    let count = 0;
    for (let b = 0; b < rows.length; b++) {
      count = scanF64(rows[b], v, count, b * per);
      if (count < 0) return -1 - count;
    }
    v.count = count;
    return VECTOR_OK;
  }
  const isVector = anyArrayLike
    ? typeof x === 'object' && x !== null && typeof (x as ArrayLike<unknown>).length === 'number'
    : x instanceof Float64Array || x instanceof Float32Array || Array.isArray(x);
  if (!isVector) return NOT_A_VECTOR;
  if ((x as ArrayLike<unknown>).length !== n) return WRONG_LENGTH;
  const count = x instanceof Float64Array ? scanF64(x, v, 0, 0) : scanArrayLike(x as ArrayLike<unknown>, v);
  if (count < 0) return -1 - count;
  v.count = count;
  return VECTOR_OK;
}

/**
 * The error for what checkVector found; `shape` says what was expected when
 * x is neither a number nor a vector. In a batch (perCopy > 0, x every
 * copy's inputs in one vector) an entry is named [copy][neuron].
 */
function vectorError(found: number, x: unknown, n: number, field: string, shape: string, perCopy = 0): SpikeserveError {
  if (found >= 0) return inputError(perCopy > 0 ? `${field}[${Math.floor(found / perCopy)}][${found % perCopy}]` : `${field}[${found}]`, TOO_LARGE);
  if (found === NUMBER_OUT_OF_RANGE) return inputError(field, TOO_LARGE);
  if (found === WRONG_LENGTH) return inputError(field, `must have ${n} entries (one per neuron), got ${(x as ArrayLike<unknown>).length}`);
  return inputError(field, shape);
}

/**
 * Collects a run's vectors of one population into one pair of arrays, so
 * that a call of many steps allocates a few arrays instead of two per step.
 */
class VectorPool {
  private index = new Int32Array(0);
  private value = new Float64Array(0);
  private used = 0;
  private readonly vectors: InputVector[] = [];

  /** Appends a copy of v's entries; the vector is complete once done() has run. */
  add(v: InputVector): InputVector {
    const c = v.count;
    if (this.used + c > this.index.length) {
      const size = Math.max(this.used + c, 2 * this.index.length);
      const index = new Int32Array(size);
      const value = new Float64Array(size);
      index.set(this.index.subarray(0, this.used));
      value.set(this.value.subarray(0, this.used));
      this.index = index;
      this.value = value;
    }
    this.index.set(v.index.subarray(0, c), this.used);
    this.value.set(v.value.subarray(0, c), this.used);
    const out: InputVector = { index: this.index, value: this.value, offset: this.used, count: c, version: 0 };
    this.used += c;
    this.vectors.push(out);
    return out;
  }

  /** Points every vector at the final arrays, trimmed to what they hold. */
  done(): void {
    const index = this.index.slice(0, this.used);
    const value = this.value.slice(0, this.used);
    for (const v of this.vectors) {
      v.index = index;
      v.value = value;
    }
  }
}

/**
 * A network's inputs: the buffers its kernel reads, what each holds, and
 * the staging vectors of Network.step.
 */
export class NetworkInputs {
  readonly external: ExternalInputs;
  private readonly names: readonly string[];
  /** Entries of a population's input vector: its size times the copies of a batch. */
  private readonly sizes: readonly number[];
  /** Neurons per population: a batch's inputs arrive per copy and are reshaped (batch-inputs.ts). */
  private readonly perCopy: ReadonlyMap<string, number>;
  private readonly copies: number;
  private readonly popIndex: ReadonlyMap<string, number>;
  /** The vector each buffer holds (at holdsVersion), or null for none yet. */
  private readonly holds: (InputVector | null)[];
  private readonly holdsVersion: Int32Array;
  private readonly staged: StagedPlan;
  /** Per population: its staging entry of `staged.inputs`. */
  private readonly stagedInputs: PlanInput[];
  /** Per population: where prepare() checks a vector before copying it into its run's pool. */
  private readonly scratch: InputVector[];

  constructor(names: readonly string[], neurons: readonly number[], popIndex: ReadonlyMap<string, number>, copies = 1) {
    const sizes = neurons.map((n) => n * copies);
    this.names = names;
    this.sizes = sizes;
    this.perCopy = new Map(names.map((name, p) => [name, neurons[p]]));
    this.copies = copies;
    this.popIndex = popIndex;
    this.external = {
      inputs: sizes.map((n) => new Float64Array(n)),
      hasInput: new Uint8Array(sizes.length),
      nonZero: sizes.map((n) => new Int32Array(n)),
      nonZeroCount: new Int32Array(sizes.length),
    };
    this.holds = sizes.map(() => null);
    this.holdsVersion = new Int32Array(sizes.length);
    this.stagedInputs = sizes.map((n, pop) => ({ pop, vectors: [newVector(n)] }));
    this.scratch = sizes.map((n) => newVector(n));
    this.staged = { steps: 1, inputs: sizes.map((_, p) => this.stagedInputs[p]), inputCount: 0, reward: 0, rewards: null, copyRewards: null, deferReward: false };
  }

  /**
   * Network.step's inputs as a one-step plan, checked into the staging
   * vectors (the buffers are untouched: a rejected input changes nothing).
   * The plan is rewritten by the next call.
   */
  stage(given: unknown): RunPlan {
    const plan = this.staged;
    plan.inputCount = 0;
    if (given === undefined || given === null) return plan;
    const batch = this.copies > 1;
    const inputs = batch ? flattenStepInputs(given, this.perCopy, this.copies) : given;
    if (typeof inputs !== 'object' || Array.isArray(inputs)) throw inputError('inputs', 'must be an object keyed by population name');
    const o = inputs as Record<string, unknown>;
    let c = 0;
    for (const name in o) {
      if (!Object.prototype.hasOwnProperty.call(o, name)) continue;
      const p = this.population(name, 'inputs');
      const n = this.sizes[p];
      const entry = this.stagedInputs[p];
      const x = o[name];
      const found = checkVector(x, n, entry.vectors[0], false);
      if (found !== VECTOR_OK) throw vectorError(found, x, n, `inputs.${name}`, `must be a number or a vector of ${n} numbers`, batch ? n / this.copies : 0);
      plan.inputs[c++] = entry;
    }
    plan.inputCount = c;
    return plan;
  }

  /** Checks a multi-step run up front: every input and reward. */
  prepare(req: RunRequest, maxSteps: number): RunPlan {
    if (typeof req !== 'object' || req === null) throw inputError('request', 'must be an object');
    const steps = req.steps ?? 1;
    if (typeof steps !== 'number' || !Number.isInteger(steps) || steps < 1) throw inputError('steps', 'must be a whole number >= 1');
    if (steps > maxSteps) {
      throw new SpikeserveError('LIMIT_EXCEEDED', `steps: ${steps} exceeds the limit of ${maxSteps} steps per call; split the run`, {
        field: 'steps', limit: 'maxStepsPerCall', value: steps, max: maxSteps,
      });
    }
    const inputs: PlanInput[] = [];
    const batch = this.copies > 1;
    // A batch's inputs become one vector of every copy's currents per step (batch-inputs.ts).
    const raw = batch ? (flattenRunInputs(req.inputs, this.perCopy, this.copies, steps) as RunRequest['inputs']) : req.inputs;
    if (raw !== undefined && raw !== null) {
      if (typeof raw !== 'object' || Array.isArray(raw)) throw inputError('inputs', 'must be an object keyed by population name');
      // Field names and messages are built only for an error: a single-step call pays for no string.
      for (const name of Object.keys(raw)) {
        const p = this.population(name, 'inputs');
        const n = this.sizes[p];
        const x = (raw as Record<string, unknown>)[name];
        const scratch = this.scratch[p];
        if (Array.isArray(x) && x.length > 0 && typeof x[0] === 'object' && x[0] !== null) {
          if (x.length !== steps) throw inputError(`inputs.${name}`, `one vector per step: expected ${steps} vectors, got ${x.length}`);
          const pool = new VectorPool();
          const vectors = new Array<InputVector>(steps);
          for (let t = 0; t < steps; t++) {
            const found = checkVector(x[t], n, scratch, true);
            if (found !== VECTOR_OK) throw this.runVectorError(found, x[t], n, `inputs.${name}[${t}]`);
            vectors[t] = pool.add(scratch);
          }
          pool.done();
          inputs.push({ pop: p, vectors });
        } else {
          // A held vector (every single-step call's): two arrays of its size, without a pool's growing and trimming,
          // filled by a loop (TypedArray slice costs more than the copy of a few entries).
          const found = checkVector(x, n, scratch, true);
          if (found !== VECTOR_OK) throw this.runVectorError(found, x, n, `inputs.${name}`);
          const c = scratch.count;
          const index = new Int32Array(c);
          const value = new Float64Array(c);
          const from = scratch.index;
          const values = scratch.value;
          for (let k = 0; k < c; k++) {
            index[k] = from[k];
            value[k] = values[k];
          }
          inputs.push({ pop: p, vectors: [{ index, value, offset: 0, count: c, version: 0 }] });
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
    if (batch) {
      const copyRewards = runRewards(r ?? 0, this.copies, steps, rewarded, checkReward);
      return { steps, inputs, inputCount: inputs.length, reward, rewards, copyRewards, deferReward };
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
        const rt: unknown = r[t];
        checkReward(rt, `reward[${t}]`);
        rewards[t] = rt;
      }
    }
    return { steps, inputs, inputCount: inputs.length, reward, rewards, copyRewards: null, deferReward };
  }

  /** The error for what checkVector found in a run's vector `x` of a population of `n` entries. */
  private runVectorError(found: number, x: unknown, n: number, field: string): SpikeserveError {
    return vectorError(found, x, n, field, `must be a number, a vector of ${n} numbers, or one such vector per step`, this.copies > 1 ? n / this.copies : 0);
  }

  /** Writes step t's inputs of a plan into the buffers the kernel reads. */
  load(plan: RunPlan, t: number): void {
    const { hasInput } = this.external;
    hasInput.fill(0);
    const inputs = plan.inputs;
    for (let k = 0; k < plan.inputCount; k++) {
      const src = inputs[k];
      const vs = src.vectors;
      this.put(src.pop, vs.length === 1 ? vs[0] : vs[t]);
      hasInput[src.pop] = 1;
    }
  }

  /** Makes buffer p hold v: the previous content's entries cleared, v's written. */
  private put(p: number, v: InputVector): void {
    if (this.holds[p] === v && this.holdsVersion[p] === v.version) return;
    const buf = this.external.inputs[p];
    const nz = this.external.nonZero[p];
    const prev = this.external.nonZeroCount[p];
    for (let k = 0; k < prev; k++) buf[nz[k]] = 0;
    const { index, value, offset } = v;
    const c = v.count;
    for (let k = 0; k < c; k++) {
      const i = index[offset + k];
      buf[i] = value[offset + k];
      nz[k] = i;
    }
    this.external.nonZeroCount[p] = c;
    this.holds[p] = v;
    this.holdsVersion[p] = v.version;
  }

  private population(name: string, field: string): number {
    const p = this.popIndex.get(name);
    if (p === undefined) throw inputError(`${field}.${name}`, `unknown population; this network has ${this.names.join(', ')}`);
    return p;
  }
}
