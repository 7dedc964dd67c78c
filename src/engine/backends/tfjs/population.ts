/**
 * A LIF population on tfjs tensors (model.md, "LIF population"): the five
 * numbered steps written as whole-vector tensor operations, one line each, in
 * model.md's order and operation order, so the code reads against the page.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ResolvedPopulation } from '../../spec-schema.js';

/** What becomes of state tensors a commit replaces: tf.dispose, or kept for a checkpoint (TfjsKernel.retire). */
export type Retire = (replaced: tf.Tensor[]) => void;

/** A Retire that frees nothing: for putting a checkpoint's own tensors back. */
export const keepAll: Retire = () => {};

/** One population's state after a step: what step() returns inside the caller's tidy. */
export type PopulationTensors = {
  v: tf.Tensor;
  refrac: tf.Tensor;
  traces: tf.Tensor;
  /** 1 where the neuron spiked, else 0 (float32, so it multiplies directly). */
  s: tf.Tensor;
};

/**
 * tf.where for a condition and two tensors of one shape: its Select kernel,
 * without the three broadcasts where() makes first (a clone each when the
 * shapes already agree). The same kernel, the same values.
 */
function select(condition: tf.Tensor, a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.engine().runKernel(tf.Select, { condition, t: a, e: b }) as tf.Tensor;
}

export class TfjsPopulation {
  readonly n: number;
  /** Copies of a batch: the state tensors are [copies][n], or [n] for one copy. */
  readonly copies: number;
  readonly shape: number[];
  v: tf.Tensor;
  refrac: tf.Tensor;
  traces: tf.Tensor;
  s: tf.Tensor;
  /** The external-input staging buffer (see TfjsKernel.stepPopulations). */
  readonly inputBuffer: Float32Array;
  /** The most recent step's spike indices (into every copy's, copy-major), read back lazily. */
  private spikeIdx: Int32Array | null = null;

  private readonly p: ResolvedPopulation;
  private readonly dt: number;
  private readonly traceDecay: number;
  /** Zero current, for a population with no input and no incoming connection. */
  readonly zero: tf.Tensor;
  /**
   * refrac_length, reset_pot and 1 in every entry: the values put in at a
   * spike (select()). A scalar there is broadcast to the state's shape
   * first, more tensor operations each step, each with tfjs's bookkeeping.
   */
  private readonly atSpike: { refrac: tf.Tensor; v: tf.Tensor; trace: tf.Tensor };

  constructor(p: ResolvedPopulation, dt: number, copies = 1) {
    this.n = p.n;
    this.copies = copies;
    this.shape = copies > 1 ? [copies, p.n] : [p.n];
    this.p = p;
    this.dt = dt;
    this.traceDecay = Math.exp(-dt / p.tau_s);
    this.inputBuffer = new Float32Array(copies * p.n);
    this.zero = tf.zeros(this.shape);
    this.atSpike = { refrac: tf.fill(this.shape, p.refrac_length), v: tf.fill(this.shape, p.reset_pot), trace: tf.fill(this.shape, 1) };
    [this.v, this.refrac, this.traces, this.s] = this.initial();
  }

  private initial(): [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor] {
    const shape = this.shape;
    return [tf.fill(shape, this.p.rest_pot), tf.zeros(shape), tf.zeros(shape), tf.zeros(shape)];
  }

  /** One step with input current x; call inside tf.tidy. Returns the new state, leaves this one as it is. */
  step(x: tf.Tensor): PopulationTensors {
    const { p, dt } = this;
    const { v, refrac, traces, atSpike } = this;
    // 1. v += ((-(v - rest_pot) + R * x) * dt / tau_s) * (refrac_count <= 0)
    const active = tf.cast(tf.lessEqual(refrac, 0), 'float32');
    const drive = tf.add(tf.neg(tf.sub(v, p.rest_pot)), tf.mul(p.R, x));
    const v1 = tf.add(v, tf.mul(tf.div(tf.mul(drive, dt), p.tau_s), active));
    // 2. s = v >= threshold
    const spiked = tf.greaterEqual(v1, p.threshold);
    // 3. refrac_count -= dt; where s: refrac_count = refrac_length, v = reset_pot
    const refrac1 = select(spiked, atSpike.refrac, tf.sub(refrac, dt));
    let v2 = select(spiked, atSpike.v, v1);
    // 4. v = max(v, lower_bound)
    if (p.lower_bound !== null) v2 = tf.maximum(v2, p.lower_bound);
    // 5. traces *= exp(-dt / tau_s); then traces = 1 where s, or traces += trace_scale * s
    const s = tf.cast(spiked, 'float32');
    const decayed = tf.mul(traces, this.traceDecay);
    const traces1 = p.additive_spike_trace ? tf.add(decayed, tf.mul(p.trace_scale, s)) : select(spiked, atSpike.trace, decayed);
    return { v: v2, refrac: refrac1, traces: traces1, s };
  }

  /**
   * Replaces the state with `next` (already kept out of its tidy) and hands
   * the old tensors to `retire`: freed, or kept by a checkpoint.
   */
  commit(next: PopulationTensors, retire: Retire = tf.dispose): void {
    retire([this.v, this.refrac, this.traces, this.s]);
    ({ v: this.v, refrac: this.refrac, traces: this.traces, s: this.s } = next);
    this.spikeIdx = null;
  }

  /** The state tensors themselves, for a checkpoint: commit() then retires them rather than freeing them. */
  state(): PopulationTensors {
    return { v: this.v, refrac: this.refrac, traces: this.traces, s: this.s };
  }

  /** The state variables by name, for finding a non-finite value. */
  variables(): [string, tf.Tensor][] {
    return [['v', this.v], ['refrac', this.refrac], ['traces', this.traces]];
  }

  /** Indices of the neurons of copy `copy` that spiked in the most recent step. */
  spikes(copy = 0): Int32Array {
    const all = this.spikesAll();
    if (this.copies === 1) return all;
    const n = this.n;
    return all.filter((k) => Math.floor(k / n) === copy).map((k) => k - copy * n);
  }

  /** Every copy's spiking neurons, as indices into the copies' vectors (copy b's neuron i at b * n + i). */
  spikesAll(): Int32Array {
    if (!this.spikeIdx) {
      const s = this.s.dataSync();
      let count = 0;
      for (let i = 0; i < s.length; i++) if (s[i] !== 0) count++;
      const idx = new Int32Array(count);
      for (let i = 0, k = 0; i < s.length; i++) if (s[i] !== 0) idx[k++] = i;
      this.spikeIdx = idx;
    }
    return this.spikeIdx;
  }

  reset(): void {
    tf.dispose([this.v, this.refrac, this.traces, this.s]);
    [this.v, this.refrac, this.traces, this.s] = this.initial();
    this.spikeIdx = null;
  }

  /** Restores state from plain numbers (a snapshot, possibly from another backend). */
  load(v: ArrayLike<number>, refrac: ArrayLike<number>, traces: ArrayLike<number>, spikes: ArrayLike<number>): void {
    const s = new Float32Array(this.copies * this.n);
    for (let k = 0; k < spikes.length; k++) s[spikes[k]] = 1;
    tf.dispose([this.v, this.refrac, this.traces, this.s]);
    this.v = tf.tensor(Float32Array.from(v), this.shape);
    this.refrac = tf.tensor(Float32Array.from(refrac), this.shape);
    this.traces = tf.tensor(Float32Array.from(traces), this.shape);
    this.s = tf.tensor(s, this.shape);
    this.spikeIdx = null;
  }

  dispose(): void {
    tf.dispose([this.v, this.refrac, this.traces, this.s, this.zero, this.atSpike.refrac, this.atSpike.v, this.atSpike.trace]);
  }
}
