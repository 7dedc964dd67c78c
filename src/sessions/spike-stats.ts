/**
 * A session's spike statistics: spikes per population since creation or
 * reset, and the steps they were counted over. Saved with each snapshot
 * (SnapshotMeta), so that a restored session reports the same figures.
 */
import type { Network } from '../engine/index.js';

/** What a snapshot on disk holds beside the network: the session's spike statistics. */
export interface SnapshotMeta {
  stats: { spikes: number[]; steps: number };
}

export class SpikeStats {
  private readonly totals: Float64Array;
  private steps = 0;

  constructor(populations: number) {
    this.totals = new Float64Array(populations);
  }

  /** Counts the step the network just made. */
  add(net: Network): void {
    const totals = this.totals;
    for (let p = 0; p < totals.length; p++) totals[p] += net.spikeCount(p);
    this.steps++;
  }

  clear(): void {
    this.totals.fill(0);
    this.steps = 0;
  }

  /** Spikes of population `p` so far, and the mean rate per neuron and step (`n` neurons). */
  of(p: number, n: number): { total: number; rate: number } {
    const total = this.totals[p];
    return { total, rate: this.steps > 0 ? total / (n * this.steps) : 0 };
  }

  meta(): SnapshotMeta {
    return { stats: { spikes: Array.from(this.totals), steps: this.steps } };
  }

  load(meta: SnapshotMeta): void {
    const spikes = meta.stats.spikes;
    for (let p = 0; p < this.totals.length; p++) this.totals[p] = spikes[p] ?? 0;
    this.steps = meta.stats.steps;
  }
}

/** The meta of a snapshot read from disk; throws if it is not one. */
export function parseSnapshotMeta(text: string): SnapshotMeta {
  const meta = JSON.parse(text) as SnapshotMeta;
  if (!meta || !meta.stats || !Array.isArray(meta.stats.spikes) || typeof meta.stats.steps !== 'number') throw new Error('snapshot statistics are malformed');
  return meta;
}
