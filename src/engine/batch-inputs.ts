/**
 * Inputs and rewards of a batch (model.md, "Batches") in the shapes a client
 * sends, turned into what the single-copy input path checks: a population's
 * input for one step becomes one vector of B * n currents, copy-major (copy
 * b's neuron i at b * n + i), and a reward one number per copy. Shapes are
 * checked here, with messages in the client's terms; values are checked by
 * the input path as for any network.
 *
 * A population's input for one step: a number (every neuron of every copy),
 * a vector of n numbers (the same for every copy), or B vectors of n (one
 * per copy). In a call of several steps, also one list of B vectors per step.
 * A reward: a number (every copy) or B numbers (one per copy); in a call of
 * several steps, also one list of B numbers per step.
 */
import { MAX_ABS_VALUE } from './bounds.js';
import { inputError } from './input-error.js';

type Raw = unknown;

function isList(x: Raw): x is ArrayLike<unknown> {
  return typeof x === 'object' && x !== null && typeof (x as ArrayLike<unknown>).length === 'number';
}

/** Whether x is a list whose first entry is itself a list (a matrix or deeper). */
function nested(x: ArrayLike<unknown>): boolean {
  return x.length > 0 && isList(x[0]);
}

/**
 * One step's input of a batch given as one Float64Array per copy: the input
 * path checks the copies' vectors where they are (inputs.ts), as it checks
 * a network's Float64Array, instead of a copy of them in one vector.
 */
export class CopyRows {
  constructor(readonly rows: readonly Float64Array[]) {}
}

/**
 * One step's input of a population, [B][n] or [n] or a number, as a flat
 * copy-major vector (a number stays a number: every entry), or as CopyRows
 * when the copies' vectors are Float64Arrays. Entries are copied as they
 * are; their values are the input path's to check.
 */
export function flattenStepInput(x: Raw, n: number, copies: number, field: string, step = -1): Raw {
  if (!isList(x)) return x;
  // A call's field names are built only for an error: a call of many steps builds no string a step.
  const at = () => (step < 0 ? field : `${field}[${step}]`);
  if (!nested(x)) {
    if (x.length !== n) throw inputError(at(), `must have ${n} entries (one per neuron, the same for every copy), or be ${copies} such vectors (one per copy); got ${x.length} entries`);
    if (x instanceof Float64Array) return new CopyRows(Array.from({ length: copies }, () => x));
    const out = new Array<unknown>(copies * n);
    for (let b = 0; b < copies; b++) for (let i = 0; i < n; i++) out[b * n + i] = x[i];
    return out;
  }
  if (x.length !== copies) throw inputError(at(), `one vector per copy: expected ${copies} vectors of ${n}, got ${x.length}`);
  let typed = true;
  for (let b = 0; b < copies; b++) {
    const row = x[b];
    if (!isList(row)) throw inputError(`${at()}[${b}]`, `must be a vector of ${n} numbers`);
    if (row.length !== n) throw inputError(`${at()}[${b}]`, `must have ${n} entries (one per neuron), got ${row.length}`);
    if (!(row instanceof Float64Array)) typed = false;
  }
  if (typed) return new CopyRows(Array.isArray(x) ? (x as Float64Array[]) : Array.from(x as ArrayLike<Float64Array>));
  const out = new Array<unknown>(copies * n);
  for (let b = 0; b < copies; b++) {
    const row = x[b] as ArrayLike<unknown>;
    for (let i = 0; i < n; i++) out[b * n + i] = row[i];
  }
  return out;
}

/**
 * A call's input of a population: as flattenStepInput, held for every step,
 * or one [B][n] per step ([steps][B][n]), which becomes one flat vector per step.
 */
export function flattenRunInput(x: Raw, n: number, copies: number, steps: number, field: string): Raw {
  if (isList(x) && nested(x) && nested(x[0] as ArrayLike<unknown>)) {
    if (x.length !== steps) throw inputError(field, `one list of ${copies} vectors per step: expected ${steps}, got ${x.length}`);
    const out = new Array<unknown>(steps);
    for (let t = 0; t < steps; t++) out[t] = flattenStepInput(x[t], n, copies, field, t);
    return out;
  }
  return flattenStepInput(x, n, copies, field);
}

/** Every population's input of one step, flattened (the object's other keys are passed on for the input path to refuse). */
export function flattenStepInputs(inputs: Raw, sizes: ReadonlyMap<string, number>, copies: number, root = 'inputs'): Raw {
  if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs)) return inputs;
  const out: Record<string, unknown> = {};
  for (const [name, x] of Object.entries(inputs)) {
    const n = sizes.get(name);
    out[name] = n === undefined ? x : flattenStepInput(x, n, copies, `${root}.${name}`);
  }
  return out;
}

/** Every population's input of a call, flattened (see flattenRunInput). */
export function flattenRunInputs(inputs: Raw, sizes: ReadonlyMap<string, number>, copies: number, steps: number): Raw {
  if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs)) return inputs;
  const out: Record<string, unknown> = {};
  for (const [name, x] of Object.entries(inputs)) {
    const n = sizes.get(name);
    out[name] = n === undefined ? x : flattenRunInput(x, n, copies, steps, `inputs.${name}`);
  }
  return out;
}

/**
 * Shape of one step's reward for a batch: a number, or B numbers. Writes
 * the rewards into out (length B) through check, which refuses a value.
 */
export function copyRewards(reward: Raw, out: Float64Array, field: string, check: (x: unknown, field: string) => void): void {
  const copies = out.length;
  if (!isList(reward)) {
    check(reward, field);
    out.fill(reward as number);
    return;
  }
  if (reward.length !== copies) throw inputError(field, `must be a number (every copy) or ${copies} numbers (one per copy), got ${reward.length}`);
  for (let b = 0; b < copies; b++) {
    check(reward[b], `${field}[${b}]`);
    out[b] = reward[b] as number;
  }
}

/**
 * One step's reward (a number, or a list of `copies` numbers) into
 * out[at .. at + copies) when every value is a number of magnitude at most
 * MAX_ABS_VALUE, as checkReward accepts; false (out's values then
 * unspecified) for anything else, which copyRewards checks with messages.
 */
function copyValid(reward: Raw, out: Float64Array, at: number, copies: number): boolean {
  if (typeof reward === 'number') {
    if (!(reward <= MAX_ABS_VALUE && reward >= -MAX_ABS_VALUE)) return false;
    for (let b = 0; b < copies; b++) out[at + b] = reward;
    return true;
  }
  if (!isList(reward) || reward.length !== copies) return false;
  for (let b = 0; b < copies; b++) {
    const x = reward[b];
    if (typeof x !== 'number' || !(x <= MAX_ABS_VALUE && x >= -MAX_ABS_VALUE)) return false;
    out[at + b] = x;
  }
  return true;
}

/**
 * A call's rewards for a batch, `rewarded` steps of them: a number, B
 * numbers (every step), or one of those per step. Step t's are at t * B.
 */
export function runRewards(reward: Raw, copies: number, steps: number, rewarded: number, check: (x: unknown, field: string) => void): Float64Array {
  const out = new Float64Array(steps * copies);
  if (isList(reward) && Array.prototype.some.call(reward, isList)) {
    if (reward.length !== rewarded) throw inputError('reward', `one reward (a number or ${copies} numbers) per rewarded step: expected ${rewarded}, got ${reward.length}`);
    for (let t = 0; t < rewarded; t++) {
      // Rewards in range are copied without a field name or a view a step; anything else goes through copyRewards and its messages.
      if (!copyValid(reward[t], out, t * copies, copies)) copyRewards(reward[t], out.subarray(t * copies, (t + 1) * copies), `reward[${t}]`, check);
    }
    return out;
  }
  const held = new Float64Array(copies);
  copyRewards(reward, held, 'reward', check);
  for (let t = 0; t < rewarded; t++) out.set(held, t * copies);
  return out;
}
