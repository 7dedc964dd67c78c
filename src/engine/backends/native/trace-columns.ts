/**
 * MSTDPET's eligibility on the columns of the post spikes, kept pending.
 *
 * Step t adds p_plus[i] / tc_e_trace to the trace of every synapse (i, j)
 * whose post neuron j spiked at t - 1: a whole column, one cache line per
 * synapse of a matrix far larger than the cache. Between two spikes of pre
 * neuron i, p_plus[i] only decays: p_plus[i] = f[i] * pi, with pi the
 * product of the decays since the columns were last taken in and f[i] a
 * factor per row, set when neuron i spikes. So the column adds f[i] * (pi *
 * k) to row i (k = 1 / tc_e_trace over the trace's scale), and one number
 * per column, q[j] += pi * k, holds every row's share: synapse (i, j) is
 * trace[i][j] + f[i] * q[j]. When neuron i spikes its factor changes by
 * delta, and its row takes - delta * q[j] (the columns before the spike, at
 * the old factor) with its own eligibility at the next step, on the same
 * contiguous row (DenseWeights.traceAddRows). The rewarded update reads
 * trace[i][j] + f[i] * q[j] as it goes (DenseWeights.applyScaledTrace).
 *
 * The values are those of adding each column at once up to rounding: a
 * product of decays for each step's p_plus[i], one rounded sum per column.
 * The columns are taken into the trace (fold) before the rule's state is
 * taken (snapshots; a read of the trace computes the same values without
 * changing anything), when the trace's scale is folded
 * into its values, and when pi falls below FOLD_BELOW, which bounds f[i]
 * (p_plus[i] / pi) and with it what the rounding of f[i] * q[j] can lose to
 * cancellation against the row's - delta * q[j]. The JavaScript loops and
 * the WebAssembly kernels do the same operations in the same order: the
 * same bits.
 */
import type { LazyRewards } from './lazy-rewards.js';
import type { DenseWeights } from './weights.js';

/** pi below which the columns are taken into the trace: rounding is then amplified at most 2^20-fold. */
const FOLD_BELOW = 2 ** -20;

export class TraceColumns {
  private readonly q: Float64Array;
  private readonly factors: Float64Array;
  private readonly changes: Float64Array;
  /** The product of p_plus's decays since the columns were last taken in. */
  private pi = 1;
  /** Whether q holds anything. */
  pending = false;
  /**
   * MSTDPET's lazily applied rewards, which read the trace, q and the
   * factors: every row takes its rewards before they change as a whole.
   */
  lazy: LazyRewards | null = null;

  constructor(
    private readonly w: DenseWeights,
    /** p_plus. */
    private readonly source: Float64Array,
    /** p_plus's decay in one step. */
    private readonly decay: number,
  ) {
    if (w.traceColumns === null || w.traceRowFactors === null || w.traceRowChanges === null) throw new Error('MSTDPET needs weights built with a trace');
    this.q = w.traceColumns;
    this.factors = w.traceRowFactors;
    this.changes = w.traceRowChanges;
    this.restart();
  }

  /**
   * Step t's columns (the post spikes of t - 1), with k = 1 / tc_e_trace
   * over the trace's scale in the weights' ruleParams[slot] (a double
   * argument would be boxed).
   */
  addColumns(cols: Int32Array, count: number, slot: number): void {
    if (count === 0) return;
    const { q } = this;
    const a = this.pi * this.w.ruleParams[slot];
    for (let c = 0; c < count; c++) q[cols[c]] += a;
    this.pending = true;
    this.lazy?.columnsAdded(cols, count);
  }

  /** The listed rows have taken their change (DenseWeights.traceAddRows). */
  rowsTaken(rows: Int32Array, count: number): void {
    const { changes } = this;
    for (let k = 0; k < count; k++) changes[rows[k]] = 0;
  }

  /** After p_plus has decayed and taken this step's pre spikes, listed: their rows' factors change. */
  afterPreSpikes(rows: Int32Array, count: number): void {
    this.pi *= this.decay;
    if (this.pi < FOLD_BELOW) {
      this.fold();
      return;
    }
    const { factors, changes, source, pi } = this;
    for (let k = 0; k < count; k++) {
      const i = rows[k];
      const f = source[i] / pi;
      changes[i] += f - factors[i];
      factors[i] = f;
    }
  }

  /**
   * The real trace (the stored values with the pending columns, times
   * `scale`) into a new array, leaving the state as it is: a read does not
   * change how the network goes on. The values are those fold() would leave.
   */
  values(stored: Float64Array, scale: number): Float64Array {
    const { q, factors, changes } = this;
    const cols = q.length;
    const out = new Float64Array(stored.length);
    for (let i = 0, k = 0; i < factors.length; i++) {
      const d = changes[i];
      const p = factors[i];
      for (let j = 0; j < cols; j++, k++) {
        let x = stored[k];
        if (this.pending) {
          if (d !== 0) x -= d * q[j];
          x += p * q[j];
        }
        out[k] = x * scale;
      }
    }
    return out;
  }

  /** Takes the pending columns into the trace and starts again from p_plus as it is. */
  fold(): void {
    this.lazy?.flushAll();
    if (this.pending) {
      this.w.foldTraceColumns();
      this.pending = false;
    }
    this.restart();
  }

  /** Nothing pending, the factors p_plus as it is: after the trace was reset, restored or folded. */
  restart(): void {
    this.lazy?.flushAll();
    this.q.fill(0);
    this.changes.fill(0);
    this.factors.set(this.source);
    this.pi = 1;
    this.pending = false;
    this.lazy?.factorsChanged();
  }
}
