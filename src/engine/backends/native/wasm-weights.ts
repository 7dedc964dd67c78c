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
 * mask (rows u8); with lazy columns (lazy-columns.ts),
 * from the next multiple of 8: rowState (16 bytes a row), entries (40 bytes
 * each, LAZY_ENTRIES of them), pool (lazyPoolSize(cols) i32, columns' byte
 * offsets in a row); with a trace
 * (MSTDPET's), from the next multiple of 16: trace (rows * cols f64) and
 * its pending columns (trace-columns.ts: cols f64, then rows f64 twice),
 * then the lazy rewards' H (cols f64), row scalars (8 f64) and rows'
 * bounds on the trace (rows f64, lazy-rewards.ts); with
 * terms (a batch's summed potentiation and depression), from the next
 * multiple of 16: termsUp, termsDown (rows * cols f64 each); with a batch's
 * copies, from the next multiple of 16: their state (wasm-batch.ts).
 */
import { lazyRewardSlots } from './lazy-rewards.js';
import { batchBytes, WasmBatch } from './wasm-batch.js';
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
  rowsNeg(stored: number, cols: number, idx: number, count: number, m: number): void;
  rowsNegCross(stored: number, cols: number, rowIdx: number, rowCount: number, colIdx: number, colCount: number, m: number, pre: number, post: number, c: number, save: number): void;
  rowUpDown(row: number, up: number, down: number, cols: number): void;
  stdpRows(stored: number, cols: number, rowIdx: number, rowCount: number, colIdx: number, colCount: number, m: number, up: number, save: number): void;
  cross(stored: number, rows: number, cols: number, perRow: number, mask: number, colIdx: number, colCount: number, split: number): void;
  decayClamp(stored: number, n: number): void;
  scaleInto(dst: number, src: number, n: number, c: number, negate: number): void;
  decayAddList(p: number, idx: number, count: number, n: number, d: number): void;
  flushRows(stored: number, cols: number, rowIdx: number, rowCount: number, all: number, rowState: number, entries: number, entryCount: number, pool: number): void;
  denseAdd(stored: number, m: number, n: number, c: number): void;
  denseAddPending(stored: number, m: number, rows: number, cols: number, c: number, pr: number, q: number): void;
  addCols(m: number, rows: number, cols: number, perRow: number, colIdx: number, colCount: number): void;
  addRows(m: number, cols: number, idx: number, count: number, v: number, q: number, dq: number, out: number, keepMax: number): void;
  foldColumns(m: number, rows: number, cols: number, pr: number, q: number, dq: number): void;
  lazyRow(u: number, t: number, h: number, h0: number, real: number, fails: number, cols: number, p: number, dst: number): number;
  lazyReplay(u: number, t: number, q: number, real: number, fails: number, n: number, g: number, qAt: number, rowBytes: number, start: number, slots: number, steps: number, p: number, commit: number): void;
  lazyOne(u: number, t: number, q: number, dst: number, cols: number, p: number): void;
  lazyReward(q: number, h: number, qRow: number, hRow: number, cols: number, g: number): void;
  maxAbsRows(m: number, cols: number, rows: number, out: number): void;
  takeTerms(stored: number, rows: number, cols: number, rowIdx: number, rowCount: number, mask: number, colIdx: number, colCount: number, up: number, down: number): void;
}

/**
 * The lazy columns' bound (see lazy-columns.ts): at most this many pending
 * steps, and lazyPoolSize(cols) pending column indices, before every row is
 * brought up to date.
 */
export const LAZY_ENTRIES = 4096;
export function lazyPoolSize(cols: number): number {
  return Math.max(cols, Math.min(1 << 16, 64 * cols));
}
/** The lazy rewards' row scalars (lazy-rewards.ts, LazyRewardParts.params). */
const LAZY_REWARD_PARAMS = 8;
/** What the lazy rewards keep of an epoch: g, q and H at each of its rewarded steps (LazyRewardParts). */
function lazyEpochDoubles(rows: number, cols: number): number {
  const slots = lazyRewardSlots(rows);
  return slots + slots * cols + (slots + 1) * cols;
}

/** Byte offset of the lazy columns' p_plus decay among the kernels' doubles. */
export const LAZY_DECAY_AT = 104;
/** Byte offset of an i32, 1 while every stored weight is known to be within [w_min, w_max] (see the .wat's $keepLevel). */
const IN_BOUNDS_AT = 112;

/** Typed-array views of the lazy columns' state in a WasmWeights memory. */
export interface LazyViews {
  /** Per row, 16 bytes: f64 p at [2i], i32 cursor at [4i + 2], i32 step at [4i + 3]. */
  rowF64: Float64Array;
  rowI32: Int32Array;
  /** Per entry, 40 bytes: f64 c, scale, inv at [5e ..]; i32 start, count, step at [10e + 6 ..]. */
  entryF64: Float64Array;
  entryI32: Int32Array;
  pool: Int32Array;
  /** [p_plus decay]. */
  decay: Float64Array;
}

/**
 * Compiled once per process; null where WebAssembly or its SIMD instructions
 * are missing, in which case every connection keeps the JavaScript loops.
 */
const KERNEL_MODULE = compileEmbedded(WEIGHT_KERNELS_WASM_BASE64);

/** Copies list[0 .. count) into `to`, one of the lists in the memory that the kernels read. */
function listInto(to: Int32Array, list: Int32Array, count: number): void {
  for (let k = 0; k < count; k++) to[k] = list[k];
}

/** Bytes a rows x cols connection needs, as laid out above. */
function baseBytes(rows: number, cols: number): number {
  const doubles = rows * cols + 4 * cols + 2 * rows;
  const ints = 2 * Math.max(rows, cols);
  return PARAM_BYTES + 8 * doubles + 4 * ints + rows;
}

function lazyEnd(rows: number, cols: number, lazy: boolean): number {
  const base = baseBytes(rows, cols);
  if (!lazy) return base;
  return Math.ceil(base / 8) * 8 + 16 * rows + 40 * LAZY_ENTRIES + 4 * lazyPoolSize(cols);
}

/** What a connection's memory holds: its rows x cols weights, with or without room for lazy columns' state, MSTDPET's trace and a batch's terms. */
export interface WasmLayout {
  rows: number;
  cols: number;
  lazy: boolean;
  trace: boolean;
  /** Default false. */
  terms?: boolean;
  /** A batch's copies (more than 1 with terms: room for their state, wasm-batch.ts). Default 1. */
  copies?: number;
}

function traceEnd({ rows, cols, lazy, trace }: WasmLayout): number {
  const end = lazyEnd(rows, cols, lazy);
  return trace ? Math.ceil(end / 16) * 16 + 8 * (rows * cols + 2 * cols + 3 * rows + LAZY_REWARD_PARAMS + lazyEpochDoubles(rows, cols)) : end;
}

function termsEnd(layout: WasmLayout): number {
  const end = traceEnd(layout);
  return layout.terms === true ? Math.ceil(end / 16) * 16 + 16 * layout.rows * layout.cols : end;
}

/** Whether a layout holds a batch's state: copies with their terms. */
function hasBatch(layout: WasmLayout): boolean {
  return layout.terms === true && (layout.copies ?? 1) > 1;
}

function layoutBytes(layout: WasmLayout): number {
  const end = termsEnd(layout);
  return hasBatch(layout) ? Math.ceil(end / 16) * 16 + batchBytes(layout.rows, layout.cols, layout.copies as number) : end;
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
  private readonly out: Float64Array;
  private readonly idx: Int32Array;
  private readonly idx2: Int32Array;
  private readonly mask: Uint8Array;
  private readonly inBoundsFlag: Int32Array;
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
  /** The lazy columns' state, or null when this memory has none. */
  readonly lazy: LazyViews | null = null;
  private readonly rowStateAt: number = 0;
  private readonly entriesAt: number = 0;
  private readonly poolAt: number = 0;
  /** MSTDPET's trace, a matrix the size of the weights, or null when this memory has none. */
  readonly trace: Float64Array | null = null;
  private readonly traceAt: number = 0;
  /** MSTDPET's pending trace columns (trace-columns.ts), next to the trace, or null with it. */
  readonly traceColumns: Float64Array | null = null;
  readonly traceRowFactors: Float64Array | null = null;
  readonly traceRowChanges: Float64Array | null = null;
  private readonly traceColumnsAt: number = 0;
  private readonly traceRowFactorsAt: number = 0;
  private readonly traceRowChangesAt: number = 0;
  /** MSTDPET's lazy rewards' H and row scalars (lazy-rewards.ts), next to the trace, or null with it. */
  readonly lazyH: Float64Array | null = null;
  readonly lazyParams: Float64Array | null = null;
  readonly traceRowMax: Float64Array | null = null;
  readonly lazyHistoryG: Float64Array | null = null;
  readonly lazyHistoryQ: Float64Array | null = null;
  readonly lazyHistoryH: Float64Array | null = null;
  private readonly lazyHistoryGAt: number = 0;
  private readonly lazyHistoryQAt: number = 0;
  private readonly lazyHistoryHAt: number = 0;
  private readonly lazyHAt: number = 0;
  private readonly lazyParamsAt: number = 0;
  private readonly traceRowMaxAt: number = 0;
  /** A batch's summed potentiation and depression, matrices the size of the weights, or null when this memory has none. */
  readonly termsUp: Float64Array | null = null;
  readonly termsDown: Float64Array | null = null;
  private readonly termsUpAt: number = 0;
  private readonly termsDownAt: number = 0;
  /** A batch's per-copy state and kernels (wasm-batch.ts), or null when this memory has none. */
  readonly batch: WasmBatch | null = null;

  private constructor(module: WebAssembly.Module, layout: WasmLayout) {
    const { rows, cols, lazy, trace, terms = false } = layout;
    this.rows = rows;
    this.cols = cols;
    const pages = Math.ceil(layoutBytes(layout) / PAGE_BYTES);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    this.fns = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
    const buf = memory.buffer;
    let at = PARAM_BYTES;
    this.params = new Float64Array(buf, 0, 5);
    this.ruleParams = new Float64Array(buf, RULE_PARAMS_AT, RULE_PARAM_COUNT);
    this.inBoundsFlag = new Int32Array(buf, IN_BOUNDS_AT, 1);
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
    if (lazy) {
      at = Math.ceil(at / 8) * 8;
      this.rowStateAt = at;
      const rowF64 = new Float64Array(buf, at, 2 * rows);
      const rowI32 = new Int32Array(buf, at, 4 * rows);
      at += 16 * rows;
      this.entriesAt = at;
      const entryF64 = new Float64Array(buf, at, 5 * LAZY_ENTRIES);
      const entryI32 = new Int32Array(buf, at, 10 * LAZY_ENTRIES);
      at += 40 * LAZY_ENTRIES;
      this.poolAt = at;
      const pool = new Int32Array(buf, at, lazyPoolSize(cols));
      this.lazy = { rowF64, rowI32, entryF64, entryI32, pool, decay: new Float64Array(buf, LAZY_DECAY_AT, 1) };
      at += 4 * lazyPoolSize(cols);
    }
    if (trace) {
      at = Math.ceil(at / 16) * 16;
      this.traceAt = at;
      this.trace = new Float64Array(buf, at, rows * cols);
      at += 8 * rows * cols;
      this.traceColumnsAt = at;
      this.traceColumns = new Float64Array(buf, at, cols);
      at += 8 * cols;
      this.traceRowFactorsAt = at;
      this.traceRowFactors = new Float64Array(buf, at, rows);
      at += 8 * rows;
      this.traceRowChangesAt = at;
      this.traceRowChanges = new Float64Array(buf, at, rows);
      at += 8 * rows;
      this.lazyHAt = at;
      this.lazyH = new Float64Array(buf, at, cols);
      at += 8 * cols;
      this.lazyParamsAt = at;
      this.lazyParams = new Float64Array(buf, at, LAZY_REWARD_PARAMS);
      at += 8 * LAZY_REWARD_PARAMS;
      this.traceRowMaxAt = at;
      this.traceRowMax = new Float64Array(buf, at, rows);
      at += 8 * rows;
      const slots = lazyRewardSlots(rows);
      this.lazyHistoryGAt = at;
      this.lazyHistoryG = new Float64Array(buf, at, slots);
      at += 8 * slots;
      this.lazyHistoryQAt = at;
      this.lazyHistoryQ = new Float64Array(buf, at, slots * cols);
      at += 8 * slots * cols;
      this.lazyHistoryHAt = at;
      this.lazyHistoryH = new Float64Array(buf, at, (slots + 1) * cols);
      at += 8 * (slots + 1) * cols;
    }
    if (terms) {
      at = Math.ceil(at / 16) * 16;
      this.termsUpAt = at;
      this.termsUp = new Float64Array(buf, at, rows * cols);
      at += 8 * rows * cols;
      this.termsDownAt = at;
      this.termsDown = new Float64Array(buf, at, rows * cols);
      at += 8 * rows * cols;
    }
    if (hasBatch(layout)) {
      at = Math.ceil(at / 16) * 16;
      this.batch = WasmBatch.create(
        { memory, rows, cols, storedAt: this.storedAt, termsUpAt: this.termsUpAt, termsDownAt: this.termsDownAt, ruleParamsAt: RULE_PARAMS_AT },
        at,
        layout.copies as number,
      );
    }
  }

  /**
   * A connection's memory in WebAssembly, or null when the kernels
   * are unavailable, it is too large, or no memory can be had: V8 reserves
   * about 10 GiB of address space per memory (guard regions, not resident),
   * so a process runs out after some 13,000 live memories. The JavaScript
   * loops then run that connection, with the same results.
   */
  static create(layout: WasmLayout): WasmWeights | null {
    if (KERNEL_MODULE === null || layoutBytes(layout) > MAX_WASM_BYTES) return null;
    try {
      return new WasmWeights(KERNEL_MODULE, layout);
    } catch (err) {
      if (err instanceof RangeError) return null;
      throw err;
    }
  }

  /** Tells the row kernels whether every stored weight is within [w_min, w_max] (DenseWeights.inBounds). */
  set inBounds(yes: boolean) {
    this.inBoundsFlag[0] = yes ? 1 : 0;
  }

  /** out[j] += w[i][j] * params[0] over the listed rows (weights.ts deliverRows); `fresh`, from zeros rather than out's values. */
  deliver(spikeIdx: Int32Array, spikeCount: number, out: Float64Array, fresh = false): void {
    listInto(this.idx, spikeIdx, spikeCount);
    if (fresh) this.out.fill(0);
    else this.out.set(out);
    this.fns.deliver(this.storedAt, this.cols, this.idxAt, spikeCount, this.outAt);
    out.set(this.out);
  }

  /** Each listed row minus downRow, hard bounds, lazy decay (weights.ts rowHardLazy). */
  rowsNegated(rows: Int32Array, count: number): void {
    listInto(this.idx, rows, count);
    this.fns.rowsNeg(this.storedAt, this.cols, this.idxAt, count, this.downAt);
  }

  /** DenseWeights.applyRowsNegatedCross; `out` is the kernel's scratch. */
  rowsNegatedCross(rows: Int32Array, rowCount: number, cols: Int32Array, colCount: number, slot: number): void {
    listInto(this.idx, rows, rowCount);
    listInto(this.idx2, cols, colCount);
    this.fns.rowsNegCross(
      this.storedAt, this.cols, this.idxAt, rowCount, this.idx2At, colCount, this.downAt, this.preVectorAt, this.postVectorAt, RULE_PARAMS_AT + 8 * slot, this.outAt,
    );
  }

  /** Row i with upRow and downRow, hard bounds, lazy decay (weights.ts applyRow). */
  rowUpDown(i: number): void {
    this.fns.rowUpDown(this.storedAt + 8 * i * this.cols, this.upAt, this.downAt, this.cols);
  }

  /** DenseWeights.applyStdpRows: the rows' potentiation in perRow (by row), their depression in downRow; `out` is the kernel's scratch. */
  stdpRows(rows: Int32Array, rowCount: number, cols: Int32Array, colCount: number): void {
    listInto(this.idx, rows, rowCount);
    listInto(this.idx2, cols, colCount);
    this.fns.stdpRows(this.storedAt, this.cols, this.idxAt, rowCount, this.idx2At, colCount, this.downAt, this.perRowAt, this.outAt);
  }

  /**
   * DenseWeights.takeTerms from termsUp and termsDown under hard bounds with
   * lazy decay, the reduction's factor 1 (weights.ts termsHardLazy).
   */
  takeTerms(rowList: Int32Array, rowCount: number, rowMask: Uint8Array, colList: Int32Array, colCount: number): void {
    listInto(this.idx, rowList, rowCount);
    listInto(this.idx2, colList, colCount);
    if (colCount > 0) this.mask.set(rowMask);
    this.fns.takeTerms(this.storedAt, this.rows, this.cols, this.idxAt, rowCount, this.maskAt, this.idx2At, colCount, this.termsUpAt, this.termsDownAt);
  }

  /** DenseWeights.applyCross under hard bounds with lazy decay. */
  cross(skipRow: Uint8Array, colIdx: Int32Array, colCount: number, split: boolean): void {
    this.mask.set(skipRow);
    listInto(this.idx, colIdx, colCount);
    this.fns.cross(this.storedAt, this.rows, this.cols, this.perRowAt, this.maskAt, this.idxAt, colCount, split ? 1 : 0);
  }

  /** Every weight times params[1], clamped into [params[2], params[3]] (weights.ts decayAndClamp). */
  decayAndClamp(): void {
    this.fns.decayClamp(this.storedAt, this.rows * this.cols);
  }

  /** downRow[j] = ruleParams[slot] * x[j], x copied in through `out` (a rule's postVector may be in use). */
  scaledIntoDown(x: Float64Array, slot: number): void {
    this.out.set(x);
    this.fns.scaleInto(this.downAt, this.outAt, this.cols, RULE_PARAMS_AT + 8 * slot, 0);
  }

  /** downRow[j] = -(ruleParams[slot] * postVector[j]). */
  negScaledPostIntoDown(slot: number): void {
    this.fns.scaleInto(this.downAt, this.postVectorAt, this.cols, RULE_PARAMS_AT + 8 * slot, 1);
  }

  /** perRow[i] = ruleParams[slot] * preVector[i]. */
  scaledPreIntoPerRow(slot: number): void {
    this.fns.scaleInto(this.perRowAt, this.preVectorAt, this.rows, RULE_PARAMS_AT + 8 * slot, 0);
  }

  /** preVector[i] = preVector[i] * ruleParams[slot] + ruleParams[slot + 1] * s[i], s[i] 1 at the `count` listed neurons, else 0. */
  decayAddPre(slot: number, spikes: Int32Array, count: number): void {
    this.decayAddList(this.preVectorAt, this.rows, slot, spikes, count);
  }

  /** postVector[j] = postVector[j] * ruleParams[slot] + ruleParams[slot + 1] * s[j], s[j] 1 at the `count` listed neurons, else 0. */
  decayAddPost(slot: number, spikes: Int32Array, count: number): void {
    this.decayAddList(this.postVectorAt, this.cols, slot, spikes, count);
  }

  private decayAddList(at: number, n: number, slot: number, spikes: Int32Array, count: number): void {
    listInto(this.idx, spikes, count);
    this.fns.decayAddList(at, this.idxAt, count, n, RULE_PARAMS_AT + 8 * slot);
  }

  /**
   * Brings the listed rows (or, when `all`, rows 0 .. count) up to date with
   * the first entryCount lazy column entries; params[1..3] must hold factor,
   * w_min and w_max.
   */
  flushRows(rows: Int32Array | null, count: number, entryCount: number): void {
    if (rows !== null) listInto(this.idx, rows, count);
    this.fns.flushRows(this.storedAt, this.cols, this.idxAt, count, rows === null ? 1 : 0, this.rowStateAt, this.entriesAt, entryCount, this.poolAt);
  }

  /**
   * MSTDPET's dense update of every weight by ruleParams[slot] times the
   * trace, with its pending columns when `pending`, hard bounds, lazy decay
   * (weights.ts denseScaled).
   */
  traceIntoWeights(slot: number, pending: boolean): void {
    if (pending) {
      this.fns.denseAddPending(this.storedAt, this.traceAt, this.rows, this.cols, RULE_PARAMS_AT + 8 * slot, this.traceRowFactorsAt, this.traceColumnsAt);
    } else {
      this.fns.denseAdd(this.storedAt, this.traceAt, this.rows * this.cols, RULE_PARAMS_AT + 8 * slot);
    }
  }

  /**
   * trace[i][j] += ruleParams[slot] * postVector[j] on the listed rows, less
   * their pending columns' change, with `keepMax` each row's max |trace[i][j]|
   * into traceRowMax (DenseWeights.traceAddRows; upRow is the scratch).
   */
  traceAddRows(rows: Int32Array, count: number, slot: number, keepMax: boolean): void {
    listInto(this.idx, rows, count);
    this.fns.scaleInto(this.upAt, this.postVectorAt, this.cols, RULE_PARAMS_AT + 8 * slot, 0);
    this.fns.addRows(this.traceAt, this.cols, this.idxAt, count, this.upAt, this.traceColumnsAt, this.traceRowChangesAt, this.traceRowMaxAt, keepMax ? 1 : 0);
  }

  /** trace[i][j] += ruleParams[slot] * preVector[i] on the listed columns (perRow is the scratch). */
  traceAddCols(cols: Int32Array, count: number, slot: number): void {
    listInto(this.idx, cols, count);
    this.fns.scaleInto(this.perRowAt, this.preVectorAt, this.rows, RULE_PARAMS_AT + 8 * slot, 0);
    this.fns.addCols(this.traceAt, this.rows, this.cols, this.perRowAt, this.idxAt, count);
  }

  /** DenseWeights.foldTraceColumns. */
  foldTraceColumns(): void {
    this.fns.foldColumns(this.traceAt, this.rows, this.cols, this.traceRowFactorsAt, this.traceColumnsAt, this.traceRowChangesAt);
  }

  /** The lazy rewards' columns to replay are listed in idx2 (lazy-rewards.ts). */
  get lazyFails(): Int32Array {
    return this.idx2;
  }

  /**
   * Row i's real weights into downRow, the columns that may need a replay
   * listed in idx2; returns how many; with `commit`, the row stored where
   * none is needed; `hRow`, the row of the history of H that holds H as
   * it was when row i was last brought up to date (lazy-rewards.ts
   * lazyRowJs).
   */
  lazyRow(i: number, hRow: number, commit: boolean): number {
    const off = 8 * i * this.cols;
    const h0 = this.lazyHistoryHAt + 8 * hRow * this.cols;
    // Without commit the row as committed goes to upRow, scratch here.
    const dst = commit ? this.storedAt + off : this.upAt;
    return this.fns.lazyRow(this.storedAt + off, this.traceAt + off, this.lazyHAt, h0, this.downAt, this.idx2At, this.cols, this.lazyParamsAt, dst);
  }

  /**
   * Of the n columns lazyRow listed, those whose own bound fails too
   * replayed over `steps` rewarded steps from slot `start` of the history
   * (a ring of `slots`) into downRow; with `commit`, every listed column
   * stored (lazy-rewards.ts ownBounds and replay).
   */
  lazyReplay(i: number, start: number, slots: number, steps: number, n: number, commit: boolean): void {
    const off = 8 * i * this.cols;
    this.fns.lazyReplay(
      this.storedAt + off, this.traceAt + off, this.traceColumnsAt, this.downAt, this.idx2At, n,
      this.lazyHistoryGAt, this.lazyHistoryQAt, 8 * this.cols, start, slots, steps, this.lazyParamsAt, commit ? 1 : 0,
    );
  }

  /**
   * A rewarded step's columns: H takes g * q, and q and the new H go to the
   * history, q and g (already there) in slot `slot`, H in row `hRow`
   * (lazy-rewards.ts reward).
   */
  lazyReward(slot: number, hRow: number): void {
    const rowBytes = 8 * this.cols;
    this.fns.lazyReward(this.traceColumnsAt, this.lazyHAt, this.lazyHistoryQAt + slot * rowBytes, this.lazyHistoryHAt + hRow * rowBytes, this.cols, this.lazyHistoryGAt + 8 * slot);
  }

  /**
   * Row i after one rewarded step, from its stored weights, into the
   * stored row with `commit`, else into downRow (lazy-rewards.ts
   * lazyOneJs).
   */
  lazyOne(i: number, commit: boolean): void {
    const off = 8 * i * this.cols;
    this.fns.lazyOne(this.storedAt + off, this.traceAt + off, this.traceColumnsAt, commit ? this.storedAt + off : this.downAt, this.cols, this.lazyParamsAt);
  }

  /** traceRowMax[i] = max |trace[i][j]| for every row (DenseWeights.traceRowMaxAll). */
  maxAbsRows(): void {
    this.fns.maxAbsRows(this.traceAt, this.cols, this.rows, this.traceRowMaxAt);
  }

  /** The post input in, for lazyDeliverComputed and lazyDeliverStored (params[0] must hold the scale). */
  lazyDeliverBegin(out: Float64Array): void {
    this.out.set(out);
  }

  /** out[j] += downRow[j] * scale: delivery of the row lazyRow computed, as deliver() adds a row. */
  lazyDeliverComputed(): void {
    this.idx[0] = 0;
    this.fns.deliver(this.downAt, this.cols, this.idxAt, 1, this.outAt);
  }

  /** out[j] += w[i][j] * scale: delivery of stored row i, which holds its weights. */
  lazyDeliverStored(i: number): void {
    this.idx[0] = i;
    this.fns.deliver(this.storedAt, this.cols, this.idxAt, 1, this.outAt);
  }

  lazyDeliverEnd(out: Float64Array): void {
    out.set(this.out);
  }
}
