/**
 * A LIF population on typed arrays (model.md, "LIF population"). The step
 * touches every neuron once (the membrane equation needs it) and records the
 * spiking neurons as an index list, so everything downstream works on spikes
 * only.
 */
import type { ResolvedPopulation } from '../../spec-schema.js';

export class LifPopulation {
  readonly n: number;
  readonly v: Float64Array;
  readonly refrac: Float64Array;
  readonly traces: Float64Array;
  /** 1 where the neuron spiked in its most recent step. */
  readonly s: Uint8Array;
  /** Indices of the neurons that spiked in the most recent step: the first spikeCount entries. */
  readonly spikeIdx: Int32Array;
  spikeCount = 0;
  /** The summed input of the step under way: external input plus deliveries. */
  readonly current: Float64Array;

  private readonly threshold: number;
  private readonly restPot: number;
  private readonly resetPot: number;
  private readonly refracLength: number;
  /** dt / tau_s */
  private readonly rate: number;
  private readonly R: number;
  private readonly hasLowerBound: boolean;
  private readonly lowerBound: number;
  private readonly additive: boolean;
  private readonly traceScale: number;
  private readonly dt: number;
  private readonly traceDecay: number;

  constructor(p: ResolvedPopulation, dt: number) {
    this.n = p.n;
    this.v = new Float64Array(p.n);
    this.refrac = new Float64Array(p.n);
    this.traces = new Float64Array(p.n);
    this.s = new Uint8Array(p.n);
    this.spikeIdx = new Int32Array(p.n);
    this.current = new Float64Array(p.n);
    this.threshold = p.threshold;
    this.restPot = p.rest_pot;
    this.resetPot = p.reset_pot;
    this.refracLength = p.refrac_length;
    this.rate = dt / p.tau_s;
    this.R = p.R;
    this.hasLowerBound = p.lower_bound !== null;
    this.lowerBound = p.lower_bound ?? 0;
    this.additive = p.additive_spike_trace;
    this.traceScale = p.trace_scale;
    this.dt = dt;
    this.traceDecay = Math.exp(-dt / p.tau_s);
    this.reset();
  }

  reset(): void {
    this.v.fill(this.restPot);
    this.refrac.fill(0);
    this.traces.fill(0);
    this.s.fill(0);
    this.spikeCount = 0;
  }

  /** One step with input `this.current`; the five numbered steps of model.md in order. */
  step(): void {
    const { v, refrac, traces, s, spikeIdx, current: x, n } = this;
    const { threshold, restPot, resetPot, refracLength, R, dt, rate, traceDecay, hasLowerBound, lowerBound, additive, traceScale } = this;
    // s is cleared through the previous spike list instead of rewritten for every neuron.
    for (let k = 0; k < this.spikeCount; k++) s[spikeIdx[k]] = 0;
    let count = 0;
    for (let i = 0; i < n; i++) {
      let vi = v[i];
      const r = refrac[i];
      // (-(v - rest) + R x) dt / tau_s, with dt / tau_s folded into one factor.
      if (r <= 0) vi += (restPot - vi + R * x[i]) * rate;
      let tr = traces[i] * traceDecay;
      if (vi >= threshold) {
        refrac[i] = refracLength;
        vi = resetPot;
        spikeIdx[count++] = i;
        s[i] = 1;
        tr = additive ? tr + traceScale : 1;
      } else {
        refrac[i] = r - dt;
      }
      if (hasLowerBound && vi < lowerBound) vi = lowerBound;
      v[i] = vi;
      traces[i] = tr;
    }
    this.spikeCount = count;
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
