/**
 * The copies of a batch population (model.md, "Batches"). The kernel steps
 * a population of B copies as one LifPopulation of B * n neurons, copy-major
 * (copy b's neuron i at b * n + i): the neurons of different copies never
 * interact, so this is B populations stepped side by side, in one dense
 * kernel call (or one sparse step over the copies' few active neurons)
 * instead of B. A PopulationCopy is copy b's part of it, as the rules and
 * the delivery see it: its spike mask and traces are views of the whole
 * population's, and its spikes a list of its own, in its own neuron
 * numbers, split from the population's after each step.
 */
import type { LifPopulation } from './population.js';

/** What a rule and a connection read of one copy of a population (LifPopulation is one copy of itself). */
export interface SpikingCopy {
  readonly n: number;
  /** 1 where the neuron spiked in the most recent step. */
  readonly s: Uint8Array;
  readonly traces: Float64Array;
  /** The most recent step's spiking neurons: the first spikeCount entries. */
  readonly spikeIdx: Int32Array;
  readonly spikeCount: number;
  /** Brings the traces up to date (see LifPopulation.catchUp). */
  catchUp(): void;
}

export class PopulationCopy implements SpikingCopy {
  readonly s: Uint8Array;
  readonly traces: Float64Array;
  readonly spikeIdx: Int32Array;
  spikeCount = 0;

  constructor(
    private readonly whole: LifPopulation,
    readonly n: number,
    copy: number,
  ) {
    this.s = whole.s.subarray(copy * n, (copy + 1) * n);
    this.traces = whole.traces.subarray(copy * n, (copy + 1) * n);
    this.spikeIdx = new Int32Array(n);
  }

  catchUp(): void {
    this.whole.catchUp();
  }
}

/**
 * Copy b's spikes of the whole population's step, in copy b's neuron
 * numbers and in the order listed: the whole list holds copy 0's, then copy
 * 1's, and so on (a step lists them ascending), so copy b's are one run of it.
 */
export function splitSpikes(whole: LifPopulation, copies: readonly PopulationCopy[]): void {
  const idx = whole.spikeIdx;
  const count = whole.spikeCount;
  let k = 0;
  for (let b = 0; b < copies.length; b++) {
    const copy = copies[b];
    const out = copy.spikeIdx;
    const from = b * copy.n;
    const to = from + copy.n;
    let m = 0;
    while (k < count && idx[k] < to) out[m++] = idx[k++] - from;
    copy.spikeCount = m;
  }
}

/**
 * The spike masks of copies 0 .. B - 1 as one array, copy-major: the copies
 * of a population are consecutive views of the whole population's mask.
 */
export function wholeMask(copies: readonly SpikingCopy[]): Uint8Array {
  const first = copies[0].s;
  return new Uint8Array(first.buffer, first.byteOffset, copies.length * first.length);
}
