/**
 * What a backend implements: the numeric work of model.md on its own storage.
 * Everything around it (validation, the deferred-reward contract, the step
 * counter, initial weights, snapshots) lives in Network, once for every
 * backend, in the spirit of tfjs-core's kernel/backend split.
 */
import type { ResolvedNetwork } from '../spec-schema.js';

/** A rule's state beyond the weights, in snapshot form. */
export interface RuleState {
  p_plus?: number[];
  p_minus?: number[];
  /** The pre and post spikes the current eligibility was built from. */
  e_pre?: number[];
  e_post?: number[];
  /** MSTDPET's eligibility trace, row-major [pre.n * post.n]: the real value is et[k] * et_scale. */
  et?: number[];
  et_scale?: number;
}

/** A rule's state as a kernel exports it: MSTDPET's eligibility trace as a Float64Array (millions of numbers as a plain array cost seconds). */
export type ExportedRuleState = Omit<RuleState, 'et'> & { et?: Float64Array };

/** What a rule's state is restored from: a snapshot's (a binary one holds the trace as a Float64Array too) or an exported one. */
export type AnyRuleState = RuleState | ExportedRuleState;

/** The state part of a rule whose only state is the weights (either backend's): nothing to reset, save or show. */
export abstract class WeightsOnlyRule {
  reset(): void {}
  getState(): ExportedRuleState {
    return {};
  }
  setState(_state?: AnyRuleState): void {}
  eligibility(): null {
    return null;
  }
}

export interface PopulationState {
  v: number[];
  refrac: number[];
  traces: number[];
  /** Indices of the neurons that spiked in the most recent step. */
  spikes: number[];
}

export interface ConnectionState {
  /** Row-major [pre.n * post.n]; the real weight is w[k] * scale. */
  w: number[];
  scale: number;
  rule: RuleState;
}

export interface KernelState {
  populations: Record<string, PopulationState>;
  connections: Record<string, ConnectionState>;
}

/**
 * KernelState as a kernel exports it: the per-neuron and per-synapse vectors
 * as Float64Array copies, which cost a memory copy to make and to write to
 * disk or a socket (plain arrays of millions of numbers cost seconds).
 */
export interface ExportedState {
  populations: Record<string, Omit<PopulationState, 'v' | 'refrac' | 'traces'> & { v: Float64Array; refrac: Float64Array; traces: Float64Array }>;
  connections: Record<string, Omit<ConnectionState, 'w' | 'rule'> & { w: Float64Array; rule: ExportedRuleState }>;
}

/** A Float64Array copy of `a`. */
export function f64Copy(a: ArrayLike<number>): Float64Array {
  return a instanceof Float64Array ? a.slice() : Float64Array.from(a);
}

/** Per-step external input, owned by Network and written before each step:
 * inputs[p] holds population p's current where hasInput[p] is 1. */
export interface ExternalInputs {
  /** Population p's input, copy-major for a batch: copy b's current of neuron i at b * n + i. */
  readonly inputs: Float64Array[];
  readonly hasInput: Uint8Array;
  /**
   * Where hasInput[p] is 1 and nonZeroCount[p] >= 0: the ascending indices of
   * the non-zero entries of inputs[p] are nonZero[p][0 .. nonZeroCount[p]).
   * Found while the input is checked (inputs.ts), so a backend that works in
   * proportion to input activity need not scan for them again.
   */
  readonly nonZero: Int32Array[];
  readonly nonZeroCount: Int32Array;
}

/** Where a step left a non-finite value: population (v, refrac, traces) or connection (w, p_plus, p_minus), and the entry. */
export interface NonFinite {
  population?: string;
  connection?: string;
  variable: string;
  index: number;
  value: number;
}

/**
 * For a backend whose arithmetic can overflow within the bounds the engine
 * accepts (tfjs, in float32): Network takes a checkpoint before a step or
 * reward, asks for the first non-finite value after it, and rolls back to
 * the checkpoint if there is one. The native backend has none (bounds.ts).
 */
export interface KernelGuard {
  checkpoint(): void;
  /** The first non-finite state value, or null. */
  findNonFinite(): NonFinite | null;
  rollback(): void;
  release(): void;
}

export interface Kernel {
  readonly name: string;
  /** Present where the state must be checked after every step (see KernelGuard). */
  readonly guard?: KernelGuard;
  /** Model.md "One network step", part 1: every population in order. */
  stepPopulations(): void;
  /** Part 2: every connection's rule in order, with this reward (for every copy of a batch). */
  updateRules(reward: number): void;
  /** Part 2 for a batch: rewards[b] is copy b's reward. */
  updateRulesPerCopy(rewards: Float64Array): void;
  /** The readers below take the copy of a batch (0 without one). */
  spikeCount(pop: number, copy?: number): number;
  /** The most recent step's spiking neurons, written into `out` (length >= n); returns the count. */
  readSpikes(pop: number, out: Int32Array, copy?: number): number;
  potentials(pop: number, copy?: number): Float64Array;
  traces(pop: number, copy?: number): Float64Array;
  refractory(pop: number, copy?: number): Float64Array;
  /** Real weights, row-major. */
  weights(conn: number): Float64Array;
  /** As weights, pausing (yield) every so often; where absent, weights() is read in one go. */
  weightsPausing?(conn: number): Generator<void, Float64Array>;
  /** Sets real weights (row-major), clamped into the bounds. */
  setWeights(conn: number, w: Float64Array): void;
  /** As setWeights, pausing (yield) every so often; the weights are used only once it ends. Where absent, setWeights runs in one go. */
  setWeightsPausing?(conn: number, w: Float64Array): Generator<void, void>;
  /** Dense eligibility, row-major, or null for rules without one. */
  eligibility(conn: number, copy?: number): Float64Array | null;
  /** MSTDPET's eligibility trace, row-major, or null for other rules. */
  eligibilityTrace(conn: number, copy?: number): Float64Array | null;
  /** Potentials, traces, refractory counters, spikes and rule state back to their start; weights kept. */
  resetState(): void;
  /**
   * The state, its vectors as Float64Array copies; with `live`, the
   * per-synapse ones may be the kernel's own arrays instead, valid only until
   * the kernel next changes (no copy of millions of weights).
   */
  exportState(options?: { live?: boolean }): ExportedState;
  /** As exportState (copies), pausing (yield) every so often while the per-synapse vectors are copied. Where absent, exportState runs in one go. */
  exportStatePausing?(): Generator<void, ExportedState>;
  importState(state: KernelState): void;
  /** As importState, pausing (yield) every so often while millions of weights are copied in; the kernel is used only once it ends. Where absent, importState runs in one go. */
  importStatePausing?(state: KernelState): Generator<void, void>;
  dispose(): void;
}

export interface KernelFactory {
  (spec: ResolvedNetwork, external: ExternalInputs): Kernel;
}
