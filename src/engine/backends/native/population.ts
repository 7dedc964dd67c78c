/**
 * A LIF population on typed arrays (model.md, "LIF population"). It records
 * the spiking neurons as an index list, so everything downstream works on
 * spikes only.
 *
 * Two ways to step, with bit-identical results:
 * - dense: every neuron through the five numbered steps of model.md;
 * - sparse: most neurons of an input population sit exactly at rest with no
 *   input, and for those steps 1, 2 and 4 are provably no-ops (v stays at
 *   rest, below threshold, above the lower bound), and steps 3 and 5 are
 *   `refrac -= dt` and `traces *= exp(-dt / tau_s)`. Only the neurons that
 *   have input or are away from rest (the "unsettled" list) are visited. The
 *   others' refractory counters and traces fall behind: `caughtUp[i]` says
 *   through which step neuron i's were applied, and catchUp() applies the
 *   missing subtractions and multiplications one by one, so the values are
 *   the same bits as if they had run every step. Readers of refrac or traces
 *   call catchUp() first (the kernel's accessors, snapshots, STDP).
 *
 * The loops are free functions over typed arrays with their scalar
 * parameters in a Float64Array: TurboFan then sees untagged doubles and
 * monomorphic element accesses, where the same loop as a method reading
 * `this` fields re-checked and re-converted tagged fields (booleans, Smis)
 * on every neuron and ran 3-4 times slower. The per-neuron doubles share one
 * buffer so a loop checks one array map instead of four.
 *
 * Populations of at least WASM_MIN_NEURONS keep their arrays in a
 * WebAssembly memory of their own (wasm-population.ts), where the dense step
 * runs as a WebAssembly kernel with the same bits as lifDense (about twice
 * as fast, which a busy 1000-neuron post population gains every step:
 * docs/engine.md), and so does the sparse step's catch-up of two or more
 * lagging candidates; the rest of the sparse step and catchUp() run the
 * loops below on the same views.
 */
import type { ResolvedPopulation } from '../../spec-schema.js';
import { WasmPopulation } from './wasm-population.js';

/** Which dense step a LifPopulation runs: 'auto' picks WebAssembly where available and worth it. */
export type PopulationKernels = 'auto' | 'js' | 'wasm';

// Slots of LifPopulation.params.
const THRESHOLD = 0;
const REST_POT = 1;
const RESET_POT = 2;
const REFRAC_LENGTH = 3;
const R_X_RATE = 4;
const DT = 5;
const RATE = 6;
const TRACE_DECAY = 7;
/** -Infinity without a lower bound, so the clamp needs no flag. */
const LOWER_BOUND = 8;
/** 1 for additive traces, 0 for traces set to 1. */
const ADDITIVE = 9;
const TRACE_SCALE = 10;
const PARAM_COUNT = 11;
/**
 * Largest population the step's index arithmetic allows (2^28 - 1, far
 * beyond any memory limit); masking n with it tells TurboFan the offsets
 * below cannot overflow int32, which spares an overflow check per access.
 */
const MAX_N = 0x0fffffff;
/** See LifPopulation.sparseCapable. */
const SPARSE_MIN_NEURONS = 32;
/**
 * Below this many neurons the dense step stays in JavaScript: the call into
 * WebAssembly costs more than it saves, and each WebAssembly memory reserves
 * address space.
 */
export const WASM_MIN_NEURONS = 64;

export class LifPopulation {
  readonly n: number;
  readonly v: Float64Array;
  readonly refrac: Float64Array;
  readonly traces: Float64Array;
  /** 1 where the neuron spiked in its most recent step. */
  readonly s: Uint8Array;
  /** Indices of the neurons that spiked in the most recent step: the first spikeCount entries. */
  readonly spikeIdx: Int32Array;
  spikeCount: number;
  /** Scratch for the summed input of a step: external input plus deliveries. */
  readonly current: Float64Array;
  /** True while `current` is known to be all zeros (saves refilling it). */
  currentIsZero: boolean;
  /** [v | refrac | traces | current], each n long; the arrays above are views of it. */
  private readonly state: Float64Array;
  /** Parameters of the step functions, by the slot constants above. */
  private readonly params: Float64Array;
  private readonly restPot: number;
  /**
   * Whether a neuron at rest with no input is provably unchanged by steps 1,
   * 2 and 4: rest below threshold, not below the lower bound, and not zero
   * (v === rest must imply the same bits; -0 and +0 compare equal).
   */
  readonly canSkipRest: boolean;
  /**
   * Whether the kernel may take the sparse path: canSkipRest, and at least
   * SPARSE_MIN_NEURONS neurons (below that a dense step costs less than the
   * sparse path's bookkeeping).
   */
  readonly sparseCapable: boolean;
  /**
   * Ascending indices of the neurons whose v is not exactly rest: the first
   * unsettledCount entries. After a dense step in WebAssembly they are
   * listed only when fewer than a quarter of the neurons (unsettledListed),
   * otherwise only counted: the kernel takes the sparse step, their one
   * reader, only then (prefersSparse); a sparse step called anyway lists them first.
   */
  private unsettled: Int32Array;
  private unsettledCount: number;
  /** Whether `unsettled` holds the list, not only its count (see there). */
  private unsettledListed = true;
  /** Scratch: the list being built during a step (swapped with `unsettled`), and the step's candidates. */
  private nextUnsettled: Int32Array;
  private readonly candidates: Int32Array;
  /** Out-parameters of the step functions: [spike count, unsettled count]. */
  private readonly counts: Int32Array;
  /** The arrays' WebAssembly memory and dense step (wasm-population.ts), or null for the JavaScript loop. */
  private readonly wasm: WasmPopulation | null;
  /** Steps taken since the last reset or catch-up (kept below 2^30). */
  private t: number;
  /** While lagging: the step through which neuron i's refrac and trace were applied. */
  private readonly caughtUp: Int32Array;
  /** True when some neuron's refrac or trace is behind (see the file comment). */
  private lagging: boolean;

  constructor(p: ResolvedPopulation, dt: number, kernels: PopulationKernels = 'auto') {
    const n = p.n;
    if (n > MAX_N) throw new RangeError(`a population of ${n} neurons exceeds the engine's maximum of ${MAX_N}`);
    this.n = n;
    const useWasm = kernels === 'wasm' || (kernels === 'auto' && n >= WASM_MIN_NEURONS);
    const wasm = useWasm ? WasmPopulation.create(n, PARAM_COUNT) : null;
    if (kernels === 'wasm' && wasm === null) throw new RangeError('the WebAssembly population kernel is unavailable here, or the population is too large for it');
    this.wasm = wasm;
    this.state = wasm?.state ?? new Float64Array(4 * n);
    this.v = this.state.subarray(0, n);
    this.refrac = this.state.subarray(n, 2 * n);
    this.traces = this.state.subarray(2 * n, 3 * n);
    this.current = this.state.subarray(3 * n, 4 * n);
    this.currentIsZero = true;
    this.s = wasm?.s ?? new Uint8Array(n);
    this.spikeIdx = wasm?.spikeIdx ?? new Int32Array(n);
    this.spikeCount = 0;
    const params = wasm?.params ?? new Float64Array(PARAM_COUNT);
    params[THRESHOLD] = p.threshold;
    params[REST_POT] = p.rest_pot;
    params[RESET_POT] = p.reset_pot;
    params[REFRAC_LENGTH] = p.refrac_length;
    params[R_X_RATE] = p.R;
    params[DT] = dt;
    params[RATE] = dt / p.tau_s;
    params[TRACE_DECAY] = Math.exp(-dt / p.tau_s);
    params[LOWER_BOUND] = p.lower_bound ?? -Infinity;
    params[ADDITIVE] = p.additive_spike_trace ? 1 : 0;
    params[TRACE_SCALE] = p.trace_scale;
    this.params = params;
    this.restPot = p.rest_pot;
    this.canSkipRest = p.rest_pot < p.threshold && params[LOWER_BOUND] <= p.rest_pot && p.rest_pot !== 0;
    this.sparseCapable = this.canSkipRest && n >= SPARSE_MIN_NEURONS;
    this.unsettled = wasm?.unsettledA ?? new Int32Array(n);
    this.unsettledCount = 0;
    this.nextUnsettled = wasm?.unsettledB ?? new Int32Array(n);
    this.candidates = new Int32Array(n);
    this.counts = wasm?.counts ?? new Int32Array(2);
    this.t = 0;
    this.caughtUp = wasm?.caughtUp ?? new Int32Array(n);
    this.lagging = false;
    this.reset();
  }

  reset(): void {
    this.v.fill(this.restPot);
    this.refrac.fill(0);
    this.traces.fill(0);
    this.s.fill(0);
    this.spikeCount = 0;
    this.resync();
  }

  /**
   * Rebuilds the unsettled list from v; call after writing v, refrac or traces
   * from outside (snapshot restore): the written values count as current.
   */
  resync(): void {
    this.lagging = false;
    this.t = 0;
    this.listUnsettled();
  }

  private listUnsettled(): void {
    const { v, restPot, unsettled } = this;
    let u = 0;
    for (let i = 0; i < v.length; i++) if (v[i] !== restPot) unsettled[u++] = i;
    this.unsettledCount = u;
    this.unsettledListed = true;
  }

  /**
   * Whether a step that nothing delivers into, with input to `inputCount`
   * neurons, is cheaper sparse: the sparse step visits the neurons with
   * input and those away from rest, each at several times the dense step's
   * cost per neuron, and lags the others (caught up at the next dense step),
   * so only while they are under a quarter of the population. Outputs that
   * fired keep their potentials away from rest for good (v creeps toward
   * rest and stops some ulps short), so a busy output population would
   * otherwise visit most of its neurons through the list at every step
   * without a delivery.
   */
  prefersSparse(inputCount: number): boolean {
    return this.sparseCapable && (inputCount + this.unsettledCount) * 4 < this.n;
  }

  /** A dense step (every neuron) with input `current`: model.md's five numbered steps. */
  stepDense(): void {
    // Step numbers count only while lagging (catchUp puts t back to 0), so a
    // population stepped densely for hours starts its next sparse run at 0.
    if (this.lagging) this.catchUp();
    const counts = this.counts;
    const track = this.sparseCapable ? 1 : 0;
    if (this.wasm !== null) this.wasm.lifDense(this.spikeCount, this.unsettled, track);
    else lifDense(this.state, this.s, this.spikeIdx, this.spikeCount, this.n, this.params, this.unsettled, track, counts);
    this.spikeCount = counts[0];
    this.unsettledCount = counts[1];
    this.unsettledListed = this.wasm === null || this.unsettledCount * 4 < this.n;
  }

  /**
   * A sparse step (only candidates visited; see the file comment), for when
   * nothing was delivered into the population this step; only if
   * sparseCapable (dense steps keep the unsettled list only then). The input is x, or zero when x is null; `nonZeroCount`
   * entries of `nonZero` list its non-zero entries, or it is -1 and x is
   * scanned for them.
   */
  stepSparse(x: Float64Array | null, nonZero: Int32Array, nonZeroCount: number): void {
    if (!this.unsettledListed) this.listUnsettled();
    if (!this.lagging) {
      this.caughtUp.fill(this.t);
      this.lagging = true;
    } else if (this.t >= 0x3fffffff) {
      // Keep step numbers in int32 range on very long runs.
      this.catchUp();
      this.caughtUp.fill(0);
      this.lagging = true;
    }
    const input = x ?? this.current;
    let candidateCount: number;
    if (x === null) {
      candidateCount = copyList(this.unsettled, this.unsettledCount, this.candidates);
    } else if (nonZeroCount >= 0) {
      candidateCount = mergeLists(nonZero, nonZeroCount, this.unsettled, this.unsettledCount, this.candidates);
    } else {
      candidateCount = scanCandidates(x, this.unsettled, this.unsettledCount, this.candidates);
    }
    const next = this.nextUnsettled;
    const counts = this.counts;
    lifSparse(
      this.state, input, x === null ? 0 : 1, this.s, this.spikeIdx, this.spikeCount, this.n, this.params,
      this.candidates, candidateCount, next, this.caughtUp, this.t, counts, this.wasm,
    );
    this.nextUnsettled = this.unsettled;
    this.unsettled = next;
    this.t++;
    this.spikeCount = counts[0];
    this.unsettledCount = counts[1];
  }

  /** Brings every neuron's refrac and trace up to the current step (see the file comment). */
  catchUp(): void {
    if (!this.lagging) return;
    catchUpAll(this.state, this.n, this.params, this.caughtUp, this.t);
    this.lagging = false;
    this.t = 0;
  }

  /**
   * catchUp(), and out[i] = scale[slot] * traces[i] for every neuron, in the
   * same pass: STDP's potentiation of a post spike's column reads every pre
   * trace, and reading each one as it is caught up saves a second pass over
   * them. The factor comes in a Float64Array (a double argument would be boxed).
   */
  catchUpScaledTraces(out: Float64Array, scale: Float64Array, slot: number): void {
    catchUpScaled(this.state, this.n, this.params, this.caughtUp, this.lagging ? this.t : -1, out, scale[slot]);
    this.lagging = false;
    this.t = 0;
  }

  /** exp(-dt / tau_s): what a silent neuron's trace is multiplied by each step. */
  get traceDecay(): number {
    return this.params[TRACE_DECAY];
  }

  /** Whether the dense step runs in WebAssembly. */
  get usesWasm(): boolean {
    return this.wasm !== null;
  }

  /** Rebuilds s from a list of spike indices (snapshot restore). */
  setSpikes(indices: ArrayLike<number>): void {
    this.s.fill(0);
    for (let k = 0; k < indices.length; k++) {
      this.s[indices[k]] = 1;
      this.spikeIdx[k] = indices[k];
    }
    this.spikeCount = indices.length;
  }
}

/**
 * Every neuron through model.md's steps 1-5. With `track` set, also lists the
 * neurons that end away from rest in `unsettled`. Writes [spike count,
 * unsettled count] into `counts`.
 */
function lifDense(
  st: Float64Array,
  s: Uint8Array,
  spikeIdx: Int32Array,
  prevCount: number,
  n: number,
  params: Float64Array,
  unsettled: Int32Array,
  track: number,
  counts: Int32Array,
): void {
  const threshold = params[THRESHOLD];
  const restPot = params[REST_POT];
  const resetPot = params[RESET_POT];
  const refracLength = params[REFRAC_LENGTH];
  const R = params[R_X_RATE];
  const dt = params[DT];
  const rate = params[RATE];
  const traceDecay = params[TRACE_DECAY];
  const lowerBound = params[LOWER_BOUND];
  const additive = params[ADDITIVE];
  const traceScale = params[TRACE_SCALE];
  // s is cleared through the previous spike list instead of rewritten for every neuron.
  for (let k = 0; k < prevCount; k++) s[spikeIdx[k]] = 0;
  let count = 0;
  let u = 0;
  const n1 = n & MAX_N;
  const n2 = 2 * n1;
  const n3 = 3 * n1;
  for (let i = 0; i < n1; i++) {
    let vi = st[i];
    const r = st[n1 + i];
    // (-(v - rest) + R x) dt / tau_s, with dt / tau_s folded into one factor.
    if (r <= 0) vi += (restPot - vi + R * st[n3 + i]) * rate;
    let tr = st[n2 + i] * traceDecay;
    if (vi >= threshold) {
      st[n1 + i] = refracLength;
      vi = resetPot;
      spikeIdx[count++] = i;
      s[i] = 1;
      tr = additive !== 0 ? tr + traceScale : 1;
    } else {
      st[n1 + i] = r - dt;
    }
    if (vi < lowerBound) vi = lowerBound;
    st[i] = vi;
    st[n2 + i] = tr;
    if (track !== 0 && vi !== restPot) unsettled[u++] = i;
  }
  counts[0] = count;
  counts[1] = u;
}

function copyList(a: Int32Array, count: number, out: Int32Array): number {
  for (let k = 0; k < count; k++) out[k] = a[k];
  return count;
}

/** The union of two ascending index lists, ascending, into out; returns its length. */
function mergeLists(a: Int32Array, aCount: number, b: Int32Array, bCount: number, out: Int32Array): number {
  let i = 0;
  let j = 0;
  let c = 0;
  while (i < aCount && j < bCount) {
    const x = a[i];
    const y = b[j];
    if (x < y) {
      out[c++] = x;
      i++;
    } else if (y < x) {
      out[c++] = y;
      j++;
    } else {
      out[c++] = x;
      i++;
      j++;
    }
  }
  while (i < aCount) out[c++] = a[i++];
  while (j < bCount) out[c++] = b[j++];
  return c;
}

/** The neurons with non-zero input in x merged with the unsettled ones, ascending, into out; returns their number. */
function scanCandidates(x: Float64Array, unsettled: Int32Array, unsettledCount: number, out: Int32Array): number {
  let c = 0;
  let a = 0;
  for (let i = 0; i < x.length; i++) {
    if (x[i] === 0) continue;
    while (a < unsettledCount && unsettled[a] < i) out[c++] = unsettled[a++];
    if (a < unsettledCount && unsettled[a] === i) a++;
    out[c++] = i;
  }
  while (a < unsettledCount) out[c++] = unsettled[a++];
  return c;
}

/**
 * The sparse step for the candidates only: each is first caught up to the
 * previous step (its missed refrac subtractions and trace multiplications),
 * then goes through model.md's steps 1-5 exactly as in lifDense. Every other
 * neuron is at rest with no input, where steps 1, 2 and 4 change nothing; its
 * steps 3 and 5 are left to catchUpAll. Writes [spike count, unsettled
 * count] into `counts`.
 */
function lifSparse(
  st: Float64Array,
  x: Float64Array,
  hasX: number,
  s: Uint8Array,
  spikeIdx: Int32Array,
  prevCount: number,
  n: number,
  params: Float64Array,
  candidates: Int32Array,
  candidateCount: number,
  unsettled: Int32Array,
  caughtUp: Int32Array,
  t: number,
  counts: Int32Array,
  wasm: WasmPopulation | null,
): void {
  const threshold = params[THRESHOLD];
  const restPot = params[REST_POT];
  const resetPot = params[RESET_POT];
  const refracLength = params[REFRAC_LENGTH];
  const R = params[R_X_RATE];
  const dt = params[DT];
  const rate = params[RATE];
  const traceDecay = params[TRACE_DECAY];
  const lowerBound = params[LOWER_BOUND];
  const additive = params[ADDITIVE];
  const traceScale = params[TRACE_SCALE];
  for (let k = 0; k < prevCount; k++) s[spikeIdx[k]] = 0;
  const n1 = n & MAX_N;
  const n2 = 2 * n1;
  // The lagging candidates first, several chains side by side (`unsettled` is free until the loop below fills it).
  let lagging = 0;
  for (let c = 0; c < candidateCount; c++) {
    const i = candidates[c] & MAX_N;
    if (caughtUp[i] < t) unsettled[lagging++] = i;
  }
  if (lagging > 1) {
    // In WebAssembly, two chains a vector (the same operations).
    if (wasm !== null) wasm.catchUpList(unsettled, lagging, t, dt, traceDecay);
    else catchUpSideBySide(st, n1, unsettled, lagging, caughtUp, t, dt, traceDecay);
  }
  let count = 0;
  let u = 0;
  for (let c = 0; c < candidateCount; c++) {
    const i = candidates[c] & MAX_N;
    let r = st[n1 + i];
    let tr = st[n2 + i];
    for (let q = caughtUp[i]; q < t; q++) {
      r -= dt;
      tr *= traceDecay;
    }
    caughtUp[i] = t + 1;
    let vi = st[i];
    if (r <= 0) vi += (restPot - vi + R * (hasX !== 0 ? x[i] : 0)) * rate;
    tr *= traceDecay;
    if (vi >= threshold) {
      r = refracLength;
      vi = resetPot;
      spikeIdx[count++] = i;
      s[i] = 1;
      tr = additive !== 0 ? tr + traceScale : 1;
    } else {
      r -= dt;
    }
    if (vi < lowerBound) vi = lowerBound;
    st[i] = vi;
    st[n1 + i] = r;
    st[n2 + i] = tr;
    if (vi !== restPot) unsettled[u++] = i;
  }
  counts[0] = count;
  counts[1] = u;
}

/**
 * Brings the refrac and trace of the `count` neurons listed in `list` up to
 * step t, four at a time: each neuron's missed subtractions and
 * multiplications are a chain of dependent operations (as in catchUpAll, in
 * the same order, so the same bits), which one at a time run at the
 * latency of each operation; four chains side by side run in about the
 * time of one. A batch's input population has a lagging candidate per copy
 * each step, most about as far behind as the others.
 */
function catchUpSideBySide(st: Float64Array, n1: number, list: Int32Array, count: number, caughtUp: Int32Array, t: number, dt: number, traceDecay: number): void {
  const n2 = 2 * n1;
  let k = 0;
  for (; k + 3 < count; k += 4) {
    const i0 = list[k] & MAX_N;
    const i1 = list[k + 1] & MAX_N;
    const i2 = list[k + 2] & MAX_N;
    const i3 = list[k + 3] & MAX_N;
    let q0 = caughtUp[i0];
    let q1 = caughtUp[i1];
    let q2 = caughtUp[i2];
    let q3 = caughtUp[i3];
    let r0 = st[n1 + i0];
    let r1 = st[n1 + i1];
    let r2 = st[n1 + i2];
    let r3 = st[n1 + i3];
    let tr0 = st[n2 + i0];
    let tr1 = st[n2 + i1];
    let tr2 = st[n2 + i2];
    let tr3 = st[n2 + i3];
    // The steps all four miss, together; then each one's own.
    const together = t - Math.max(q0, q1, q2, q3);
    for (let q = 0; q < together; q++) {
      r0 -= dt;
      r1 -= dt;
      r2 -= dt;
      r3 -= dt;
      tr0 *= traceDecay;
      tr1 *= traceDecay;
      tr2 *= traceDecay;
      tr3 *= traceDecay;
    }
    for (q0 += together; q0 < t; q0++) {
      r0 -= dt;
      tr0 *= traceDecay;
    }
    for (q1 += together; q1 < t; q1++) {
      r1 -= dt;
      tr1 *= traceDecay;
    }
    for (q2 += together; q2 < t; q2++) {
      r2 -= dt;
      tr2 *= traceDecay;
    }
    for (q3 += together; q3 < t; q3++) {
      r3 -= dt;
      tr3 *= traceDecay;
    }
    st[n1 + i0] = r0;
    st[n1 + i1] = r1;
    st[n1 + i2] = r2;
    st[n1 + i3] = r3;
    st[n2 + i0] = tr0;
    st[n2 + i1] = tr1;
    st[n2 + i2] = tr2;
    st[n2 + i3] = tr3;
    caughtUp[i0] = t;
    caughtUp[i1] = t;
    caughtUp[i2] = t;
    caughtUp[i3] = t;
  }
  for (; k < count; k++) {
    const i = list[k] & MAX_N;
    let r = st[n1 + i];
    let tr = st[n2 + i];
    for (let q = caughtUp[i]; q < t; q++) {
      r -= dt;
      tr *= traceDecay;
    }
    st[n1 + i] = r;
    st[n2 + i] = tr;
    caughtUp[i] = t;
  }
}

/** Applies every neuron's missed refrac subtractions and trace multiplications through step t. */
function catchUpAll(st: Float64Array, n: number, params: Float64Array, caughtUp: Int32Array, t: number): void {
  const dt = params[DT];
  const traceDecay = params[TRACE_DECAY];
  const n1 = n & MAX_N;
  const n2 = 2 * n1;
  for (let i = 0; i < n1; i++) {
    const from = caughtUp[i];
    if (from >= t) continue;
    let r = st[n1 + i];
    let tr = st[n2 + i];
    for (let q = from; q < t; q++) {
      r -= dt;
      tr *= traceDecay;
    }
    st[n1 + i] = r;
    st[n2 + i] = tr;
  }
}

/**
 * catchUpAll (when t >= 0; t = -1 when nothing lags) and out[i] = lr *
 * traces[i]: the trace each neuron ends with, the same bits as catching up
 * first and reading after.
 */
function catchUpScaled(st: Float64Array, n: number, params: Float64Array, caughtUp: Int32Array, t: number, out: Float64Array, lr: number): void {
  const dt = params[DT];
  const traceDecay = params[TRACE_DECAY];
  const n1 = n & MAX_N;
  const n2 = 2 * n1;
  for (let i = 0; i < n1; i++) {
    const from = caughtUp[i];
    let tr = st[n2 + i];
    if (from < t) {
      let r = st[n1 + i];
      for (let q = from; q < t; q++) {
        r -= dt;
        tr *= traceDecay;
      }
      st[n1 + i] = r;
      st[n2 + i] = tr;
    }
    out[i] = lr * tr;
  }
}
