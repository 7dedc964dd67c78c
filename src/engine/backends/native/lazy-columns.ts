/**
 * Column updates of MSTDP and STDP, applied row by row when a row is next used.
 *
 * At step t MSTDP changes, for each post neuron j that spiked at t - 1, the
 * whole column j: every row i not updated as a row that step gets
 * c_t * p_plus_{t-1}[i] (DenseWeights.applyCross, split by sign); STDP, for
 * each post neuron j that spiked at t, every row i whose pre neuron did not
 * gets lr[1] * x_t[i], x the pre population's traces after step t. Done at once
 * that is one cache line per synapse of a matrix far larger than the cache.
 * Instead each step's columns are recorded as an entry (the columns, c_t, the
 * decay scale and 1 / next scale of that step, the step) and a row applies
 * the entries it has not seen, in step order, with the same operations and
 * scalars, when it is next read or written: delivery (the rows of spiking
 * pre neurons), MSTDP's row update, a pre spike (below), and any reader or
 * writer of the whole matrix (DenseWeights.flushAll). So every weight ends
 * with the same bits as the eager update's.
 *
 * p_plus[i] (the pre trace x[i] under STDP) is not stored per entry: between
 * two flushes of row i pre neuron i did not spike (a spike flushes its row
 * before the source vector takes it in), so the value only decays, p * d +
 * a_plus * 0 each step, the expression the eager decayAddList applies to every
 * neuron (for STDP's traces, x * d + -0, which is x * d, the population
 * step's own multiplication, for every x). Each row keeps its p at a step
 * and the kernel iterates it forward to each entry's step, as p * d: adding
 * a zero changes no p but a zero's sign, and a zero p changes no weight.
 *
 * Bound: at most LAZY_ENTRIES entries, lazyPoolSize(cols) pending column
 * indices and TICK_LIMIT steps since the oldest entry; beyond that every row
 * is brought up to date and the list starts again. All of it lives in the
 * connection's WebAssembly memory, preallocated: the step allocates nothing.
 */
import type { LazyViews, WasmWeights } from './wasm-weights.js';
import { LAZY_ENTRIES } from './wasm-weights.js';

/** Steps after the first pending entry before every row is flushed (bounds the p iteration too). */
export const TICK_LIMIT = 8192;

export class LazyColumns {
  private entryCount = 0;
  private poolUsed = 0;
  /** The current step, counted from the first pending entry's. */
  private tick = 0;

  /** The per-row values an entry scales (MSTDP's p_plus, STDP's pre traces). */
  private pPlus: Float64Array;

  constructor(
    private readonly wasm: WasmWeights,
    private readonly v: LazyViews,
    private readonly rows: number,
    pPlus: Float64Array,
  ) {
    this.pPlus = pPlus;
  }

  /**
   * Sets the per-row values the entries scale and how a silent neuron's
   * value moves from one step to the next: p * d, then plus a zero (MSTDP:
   * p_plus, plus a_plus * 0; STDP: the pre traces, plus -0), which the
   * kernel leaves out (see the file comment).
   */
  setSource(p: Float64Array, d: number): void {
    this.flushAll();
    this.pPlus = p;
    this.v.decay[0] = d;
  }

  get pending(): boolean {
    return this.entryCount > 0;
  }

  /** Steps whose columns some row has not taken yet. */
  get pendingEntries(): number {
    return this.entryCount;
  }

  /** Brings the listed rows up to date. The kernels' params must hold factor, w_min, w_max. */
  flushRows(rows: Int32Array, count: number): void {
    if (this.entryCount > 0 && count > 0) this.wasm.flushRows(rows, count, this.entryCount);
  }

  /** Brings every row up to date and empties the list. */
  flushAll(): void {
    if (this.entryCount === 0) return;
    this.wasm.flushRows(null, this.rows, this.entryCount);
    this.entryCount = 0;
    this.poolUsed = 0;
  }

  /**
   * Records this step's columns with c, scale and inv (1 / next scale).
   * skipRows were updated as rows this step (and brought up to date before):
   * the entry does not apply to them, as applyCross's mask skips them.
   */
  append(cols: Int32Array, colCount: number, c: number, scale: number, inv: number, skipRows: Int32Array, skipCount: number): void {
    const v = this.v;
    if (this.entryCount === LAZY_ENTRIES || this.poolUsed + colCount > v.pool.length || this.tick >= TICK_LIMIT) this.flushAll();
    if (this.entryCount === 0) {
      // Every row is up to date: start its p from p_plus now, the value this step's entry uses.
      const { rowF64, rowI32 } = v;
      const p = this.pPlus;
      for (let i = 0; i < this.rows; i++) {
        rowF64[2 * i] = p[i];
        rowI32[4 * i + 2] = 0;
        rowI32[4 * i + 3] = 0;
      }
      this.tick = 0;
    }
    const e = this.entryCount;
    v.entryF64[5 * e] = c;
    v.entryF64[5 * e + 1] = scale;
    v.entryF64[5 * e + 2] = inv;
    v.entryI32[10 * e + 6] = this.poolUsed;
    v.entryI32[10 * e + 7] = colCount;
    v.entryI32[10 * e + 8] = this.tick;
    const pool = v.pool;
    // Each column as its byte offset in a row, as the kernel adds it to the row's address.
    for (let q = 0; q < colCount; q++) pool[this.poolUsed + q] = cols[q] << 3;
    this.poolUsed += colCount;
    this.entryCount = e + 1;
    const rowI32 = v.rowI32;
    for (let k = 0; k < skipCount; k++) rowI32[4 * skipRows[k] + 2] = e + 1;
  }

  /**
   * After p_plus has decayed and taken in this step's spikes (whose rows
   * were flushed just before, with the p they had): the step ends.
   */
  afterPreSpikes(rows: Int32Array, count: number): void {
    if (this.entryCount === 0) return;
    this.tick++;
    this.stampRows(rows, count);
    if (this.tick >= TICK_LIMIT) this.flushAll();
  }

  /**
   * For a source that already holds this step's spikes when the step's
   * entry is recorded (STDP's traces): the spiking rows, flushed before
   * their row update, take their value now, as this step's entry would
   * have used it; then the step ends.
   */
  afterStep(rows: Int32Array, count: number): void {
    if (this.entryCount === 0) return;
    this.stampRows(rows, count);
    this.tick++;
    if (this.tick >= TICK_LIMIT) this.flushAll();
  }

  /** The given rows take p_plus's value now, as of the current tick. */
  private stampRows(rows: Int32Array, count: number): void {
    const { rowF64, rowI32 } = this.v;
    const p = this.pPlus;
    for (let k = 0; k < count; k++) {
      const i = rows[k];
      rowF64[2 * i] = p[i];
      rowI32[4 * i + 3] = this.tick;
    }
  }
}
