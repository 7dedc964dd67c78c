/**
 * A connection's weight matrix in its own WebAssembly memory, and the
 * WebAssembly kernels (weight-kernels.wat) that update it. The JavaScript
 * loops in weights.ts pay a map and bounds check on every typed-array access
 * (Node 20's optimiser does not hoist them out of the loop) and cannot use
 * SIMD; the same loops in WebAssembly do neither, and give the same bits.
 *
 * The memory is sized at construction and never grown, so the typed-array
 * views below stay valid for the connection's life. What the kernels touch
 * lives in it: the matrix and the rules' scratch rows, which DenseWeights
 * exposes as these views. What belongs to others (the post population's
 * input, spike lists, spike masks) is copied in and out with TypedArray.set
 * or a short loop, which allocates nothing.
 *
 * Layout, in bytes: [0, 128) the kernels' doubles (see the .wat; from
 * byte 40 the rules' scalars), then stored (rows * cols f64), upRow,
 * downRow (cols f64 each), perRow (rows f64), out (cols f64), preVector
 * (rows f64), postVector (cols f64), idx, idx2 (max(rows, cols) i32 each),
 * mask (rows u8), postMask (cols u8).
 */
import { compileEmbedded } from './wasm-module.js';
import { WEIGHT_KERNELS_WASM_BASE64 } from './weight-kernels-wasm.js';

const PARAM_BYTES = 128;
/** Where the rules' scalars start (DenseWeights.ruleParams), and how many there are. */
const RULE_PARAMS_AT = 40;
const RULE_PARAM_COUNT = 8;
const PAGE_BYTES = 65536;
/** The kernels address memory with i32 byte offsets; above this the JavaScript loops run. */
export const MAX_WASM_BYTES = 2 ** 31 - PAGE_BYTES;

interface KernelExports {
  deliver(stored: number, cols: number, idx: number, count: number, out: number): void;
  rowNeg(row: number, m: number, cols: number): void;
  rowsNeg(stored: number, cols: number, idx: number, count: number, m: number): void;
  rowsNegCross(stored: number, cols: number, rowIdx: number, rowCount: number, colIdx: number, colCount: number, m: number, pre: number, post: number, c: number): void;
  cells(row: number, idx: number, count: number, up: number, down: number): void;
  cross(stored: number, rows: number, cols: number, perRow: number, mask: number, colIdx: number, colCount: number, split: number): void;
  decayClamp(stored: number, n: number): void;
  scaleInto(dst: number, src: number, n: number, c: number, negate: number): void;
  decayAdd(p: number, s: number, n: number, d: number): void;
}

/**
 * Compiled once per process; null where WebAssembly or its SIMD instructions
 * are missing, in which case every connection keeps the JavaScript loops.
 */
const KERNEL_MODULE = compileEmbedded(WEIGHT_KERNELS_WASM_BASE64);

/** Bytes a rows x cols connection needs, as laid out above. */
function layoutBytes(rows: number, cols: number): number {
  const doubles = rows * cols + 4 * cols + 2 * rows;
  const ints = 2 * Math.max(rows, cols);
  return PARAM_BYTES + 8 * doubles + 4 * ints + rows + cols;
}

export function wasmKernelsAvailable(): boolean {
  return KERNEL_MODULE !== null;
}

export class WasmWeights {
  readonly stored: Float64Array;
  readonly upRow: Float64Array;
  readonly downRow: Float64Array;
  readonly perRow: Float64Array;
  /** [scale, factor, wMin, wMax, 1 / next scale]: the kernels' doubles. */
  readonly params: Float64Array;
  /** Per pre and per post neuron vectors a rule keeps (MSTDP's p_plus and p_minus), and its scalars. */
  readonly preVector: Float64Array;
  readonly postVector: Float64Array;
  readonly ruleParams: Float64Array;
  private readonly postMask: Uint8Array;
  private readonly out: Float64Array;
  private readonly idx: Int32Array;
  private readonly idx2: Int32Array;
  private readonly mask: Uint8Array;
  private readonly fns: KernelExports;
  private readonly rows: number;
  private readonly cols: number;
  private readonly storedAt: number;
  private readonly upAt: number;
  private readonly downAt: number;
  private readonly perRowAt: number;
  private readonly outAt: number;
  private readonly idxAt: number;
  private readonly idx2At: number;
  private readonly maskAt: number;
  private readonly preVectorAt: number;
  private readonly postVectorAt: number;
  private readonly postMaskAt: number;

  private constructor(rows: number, cols: number, module: WebAssembly.Module) {
    this.rows = rows;
    this.cols = cols;
    const pages = Math.ceil(layoutBytes(rows, cols) / PAGE_BYTES);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    this.fns = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
    const buf = memory.buffer;
    let at = PARAM_BYTES;
    this.params = new Float64Array(buf, 0, 5);
    this.ruleParams = new Float64Array(buf, RULE_PARAMS_AT, RULE_PARAM_COUNT);
    this.storedAt = at;
    this.stored = new Float64Array(buf, at, rows * cols);
    at += 8 * rows * cols;
    this.upAt = at;
    this.upRow = new Float64Array(buf, at, cols);
    at += 8 * cols;
    this.downAt = at;
    this.downRow = new Float64Array(buf, at, cols);
    at += 8 * cols;
    this.perRowAt = at;
    this.perRow = new Float64Array(buf, at, rows);
    at += 8 * rows;
    this.outAt = at;
    this.out = new Float64Array(buf, at, cols);
    at += 8 * cols;
    this.preVectorAt = at;
    this.preVector = new Float64Array(buf, at, rows);
    at += 8 * rows;
    this.postVectorAt = at;
    this.postVector = new Float64Array(buf, at, cols);
    at += 8 * cols;
    this.idxAt = at;
    this.idx = new Int32Array(buf, at, Math.max(rows, cols));
    at += 4 * Math.max(rows, cols);
    this.idx2At = at;
    this.idx2 = new Int32Array(buf, at, Math.max(rows, cols));
    at += 4 * Math.max(rows, cols);
    this.maskAt = at;
    this.mask = new Uint8Array(buf, at, rows);
    at += rows;
    this.postMaskAt = at;
    this.postMask = new Uint8Array(buf, at, cols);
  }

  /**
   * A rows x cols connection in WebAssembly memory, or null when the kernels
   * are unavailable, it is too large, or no memory can be had: V8 reserves
   * about 10 GiB of address space per memory (guard regions, not resident),
   * so a process runs out after some 13,000 live memories. The JavaScript
   * loops then run that connection, with the same results.
   */
  static create(rows: number, cols: number): WasmWeights | null {
    if (KERNEL_MODULE === null || layoutBytes(rows, cols) > MAX_WASM_BYTES) return null;
    try {
      return new WasmWeights(rows, cols, KERNEL_MODULE);
    } catch (err) {
      if (err instanceof RangeError) return null;
      throw err;
    }
  }

  /** out[j] += w[i][j] * params[0] over the listed rows (weights.ts deliverRows). */
  deliver(spikeIdx: Int32Array, spikeCount: number, out: Float64Array): void {
    const idx = this.idx;
    for (let k = 0; k < spikeCount; k++) idx[k] = spikeIdx[k];
    this.out.set(out);
    this.fns.deliver(this.storedAt, this.cols, this.idxAt, spikeCount, this.outAt);
    out.set(this.out);
  }

  /** Row i minus downRow, hard bounds, lazy decay (weights.ts rowHardLazy). */
  rowNegated(i: number): void {
    this.fns.rowNeg(this.storedAt + 8 * i * this.cols, this.downAt, this.cols);
  }

  /** rowNegated for each listed row. */
  rowsNegated(rows: Int32Array, count: number): void {
    const idx = this.idx;
    for (let k = 0; k < count; k++) idx[k] = rows[k];
    this.fns.rowsNeg(this.storedAt, this.cols, this.idxAt, count, this.downAt);
  }

  /** DenseWeights.applyRowsNegatedCross. */
  rowsNegatedCross(rows: Int32Array, rowCount: number, cols: Int32Array, colCount: number, slot: number): void {
    const { idx, idx2 } = this;
    for (let k = 0; k < rowCount; k++) idx[k] = rows[k];
    for (let q = 0; q < colCount; q++) idx2[q] = cols[q];
    this.fns.rowsNegCross(
      this.storedAt, this.cols, this.idxAt, rowCount, this.idx2At, colCount, this.downAt, this.preVectorAt, this.postVectorAt, RULE_PARAMS_AT + 8 * slot,
    );
  }

  /** Row i's listed columns with upRow and downRow (weights.ts cellsHardLazy). */
  cells(i: number, list: Int32Array, count: number): void {
    const idx = this.idx;
    for (let q = 0; q < count; q++) idx[q] = list[q];
    this.fns.cells(this.storedAt + 8 * i * this.cols, this.idxAt, count, this.upAt, this.downAt);
  }

  /** DenseWeights.applyCross under hard bounds with lazy decay. */
  cross(skipRow: Uint8Array, colIdx: Int32Array, colCount: number, split: boolean): void {
    this.mask.set(skipRow);
    const idx = this.idx;
    for (let c = 0; c < colCount; c++) idx[c] = colIdx[c];
    this.fns.cross(this.storedAt, this.rows, this.cols, this.perRowAt, this.maskAt, this.idxAt, colCount, split ? 1 : 0);
  }

  /** Every weight times params[1], clamped into [params[2], params[3]] (weights.ts decayAndClamp). */
  decayAndClamp(): void {
    this.fns.decayClamp(this.storedAt, this.rows * this.cols);
  }

  /** downRow[j] = -(ruleParams[slot] * postVector[j]). */
  negScaledPostIntoDown(slot: number): void {
    this.fns.scaleInto(this.downAt, this.postVectorAt, this.cols, RULE_PARAMS_AT + 8 * slot, 1);
  }

  /** perRow[i] = ruleParams[slot] * preVector[i]. */
  scaledPreIntoPerRow(slot: number): void {
    this.fns.scaleInto(this.perRowAt, this.preVectorAt, this.rows, RULE_PARAMS_AT + 8 * slot, 0);
  }

  /** preVector[i] = preVector[i] * ruleParams[slot] + ruleParams[slot + 1] * s[i]. */
  decayAddPre(slot: number, s: Uint8Array): void {
    this.mask.set(s);
    this.fns.decayAdd(this.preVectorAt, this.maskAt, this.rows, RULE_PARAMS_AT + 8 * slot);
  }

  /** postVector[j] = postVector[j] * ruleParams[slot] + ruleParams[slot + 1] * s[j]. */
  decayAddPost(slot: number, s: Uint8Array): void {
    this.postMask.set(s);
    this.fns.decayAdd(this.postVectorAt, this.postMaskAt, this.cols, RULE_PARAMS_AT + 8 * slot);
  }
}
