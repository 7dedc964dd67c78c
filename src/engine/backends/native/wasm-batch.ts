/**
 * A batch's per-copy state in its connection's WebAssembly memory, next to
 * the weights and the summed terms (wasm-weights.ts reserves the room), and
 * the kernels of batch-kernels.wat that run over it once for all copies:
 * MSTDP's update from every copy's terms, the p vectors' decay, and every
 * copy's delivery. A
 * batch of B copies otherwise pays B calls, or B passes of JavaScript, for
 * each.
 *
 * Layout, in bytes from `at` (a multiple of 16): a header of the i32
 * offsets the kernels read (see the .wat), then pPlus (B * rows f64),
 * pMinus (B * cols f64), m (cols f64), c (B f64), out (B * cols f64),
 * ePreIdx (B * rows i32), ePreCount (B i32), ePostIdx (B * cols i32),
 * ePostCount (B i32), rowList (rows i32), colList (cols i32), counts (2 i32),
 * spikes (B * rows i32), ePreMask (B * rows u8), ePostMask (B * cols u8),
 * rowMask (rows u8), colMask (cols u8), then from the next multiple of 16
 * uRow, dRow (cols f64 each), colPos, colCopyCount (cols i32 each),
 * colCopies (B * cols i32), then from the next multiple of 16 rowKeep (rows i64),
 * colKeep (cols i64), soleC (cols + 1 f64), ownerCount, owner (rows i32
 * each), soleCols, soleCopies, soleP (cols + 1 i32 each), multiCols (cols i32).
 */
import { BATCH_KERNELS_WASM_BASE64 } from './batch-kernels-wasm.js';
import { compileEmbedded } from './wasm-module.js';

const HEADER_BYTES = 160;
/** The header's slot of the reduction factor's address (byte 108). */
const HEADER_FACTOR = 27;

interface BatchExports {
  mstdpUpdate(header: number): void;
  deliverCopies(header: number, count: number, fresh: number): void;
  decayCopies(header: number, plus: number, minus: number): void;
}

/** Compiled once per process; null where WebAssembly or its SIMD instructions are missing (batches keep the JavaScript loops). */
const BATCH_MODULE = compileEmbedded(BATCH_KERNELS_WASM_BASE64);

export function batchKernelsAvailable(): boolean {
  return BATCH_MODULE !== null;
}

/** Bytes of a batch's part of the memory (see the file comment). */
export function batchBytes(rows: number, cols: number, copies: number): number {
  const doubles = copies * rows + 2 * copies * cols + cols + copies;
  const ints = 2 * copies * rows + copies * cols + 2 * copies + rows + cols + 2;
  const first = HEADER_BYTES + 8 * doubles + 4 * ints + copies * rows + copies * cols + rows + cols;
  return Math.ceil((Math.ceil(first / 16) * 16 + 16 * cols + 8 * cols + 4 * copies * cols) / 16) * 16 + 8 * rows + 8 * cols + 8 * (cols + 1) + 8 * rows + 12 * (cols + 1) + 4 * cols;
}

/** Where the weights' own arrays are. */
export interface BatchHost {
  memory: WebAssembly.Memory;
  rows: number;
  cols: number;
  storedAt: number;
  termsUpAt: number;
  termsDownAt: number;
  /** Byte offset of the rules' scalars (DenseWeights.ruleParams). */
  ruleParamsAt: number;
}

export class WasmBatch {
  readonly copies: number;
  /** Copy-major: copy b's p_plus at b * rows, p_minus at b * cols. */
  readonly pPlus: Float64Array;
  readonly pMinus: Float64Array;
  /** c[b] = lr[0] * r_b, set before mstdpTerms. */
  readonly c: Float64Array;
  /** Copy b's eligibility spikes at b * rows (pre) and b * cols (post), ePreCount[b] and ePostCount[b] of them, and their masks. */
  readonly ePreIdx: Int32Array;
  readonly ePreCount: Int32Array;
  readonly ePreMask: Uint8Array;
  readonly ePostIdx: Int32Array;
  readonly ePostCount: Int32Array;
  readonly ePostMask: Uint8Array;
  /** The rows and columns the summed terms touch (BatchTerms), counts[0] and counts[1] of them. */
  readonly rowMask: Uint8Array;
  readonly rowList: Int32Array;
  readonly colMask: Uint8Array;
  readonly colList: Int32Array;
  readonly counts: Int32Array;
  private readonly out: Float64Array;
  private readonly spikes: Int32Array;
  private readonly fns: BatchExports;
  private readonly host: BatchHost;
  private readonly headerAt: number;
  private readonly header: Int32Array;

  private constructor(module: WebAssembly.Module, host: BatchHost, at: number, copies: number) {
    const { memory, rows, cols } = host;
    this.host = host;
    this.copies = copies;
    this.fns = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as BatchExports;
    const buf = memory.buffer;
    this.headerAt = at;
    let next = at + HEADER_BYTES;
    /** The next `bytes` of the region. */
    const take = (bytes: number): number => {
      const from = next;
      next += bytes;
      return from;
    };
    const pPlusAt = take(8 * copies * rows);
    const pMinusAt = take(8 * copies * cols);
    const mAt = take(8 * cols);
    const cAt = take(8 * copies);
    const outAt = take(8 * copies * cols);
    const ePreIdxAt = take(4 * copies * rows);
    const ePreCountAt = take(4 * copies);
    const ePostIdxAt = take(4 * copies * cols);
    const ePostCountAt = take(4 * copies);
    const rowListAt = take(4 * rows);
    const colListAt = take(4 * cols);
    const countsAt = take(8);
    const spikesAt = take(4 * copies * rows);
    const ePreMaskAt = take(copies * rows);
    const ePostMaskAt = take(copies * cols);
    const rowMaskAt = take(rows);
    const colMaskAt = take(cols);
    next = Math.ceil(next / 16) * 16;
    const uRowAt = take(8 * cols);
    const dRowAt = take(8 * cols);
    const colPosAt = take(4 * cols);
    const colCopyCountAt = take(4 * cols);
    const colCopiesAt = take(4 * copies * cols);
    next = Math.ceil(next / 16) * 16;
    const rowKeepAt = take(8 * rows);
    const colKeepAt = take(8 * cols);
    const soleCAt = take(8 * (cols + 1));
    const ownerCountAt = take(4 * rows);
    const ownerAt = take(4 * rows);
    const soleColsAt = take(4 * (cols + 1));
    const soleCopiesAt = take(4 * (cols + 1));
    const solePAt = take(4 * (cols + 1));
    const multiColsAt = take(4 * cols);
    this.pPlus = new Float64Array(buf, pPlusAt, copies * rows);
    this.pMinus = new Float64Array(buf, pMinusAt, copies * cols);
    this.c = new Float64Array(buf, cAt, copies);
    this.out = new Float64Array(buf, outAt, copies * cols);
    this.ePreIdx = new Int32Array(buf, ePreIdxAt, copies * rows);
    this.ePreCount = new Int32Array(buf, ePreCountAt, copies);
    this.ePostIdx = new Int32Array(buf, ePostIdxAt, copies * cols);
    this.ePostCount = new Int32Array(buf, ePostCountAt, copies);
    this.rowList = new Int32Array(buf, rowListAt, rows);
    this.colList = new Int32Array(buf, colListAt, cols);
    this.counts = new Int32Array(buf, countsAt, 2);
    this.spikes = new Int32Array(buf, spikesAt, copies * rows);
    this.ePreMask = new Uint8Array(buf, ePreMaskAt, copies * rows);
    this.ePostMask = new Uint8Array(buf, ePostMaskAt, copies * cols);
    this.rowMask = new Uint8Array(buf, rowMaskAt, rows);
    this.colMask = new Uint8Array(buf, colMaskAt, cols);
    this.header = new Int32Array(buf, at, HEADER_BYTES / 4);
    this.header.set([
      host.termsUpAt, host.termsDownAt, rows, cols, copies,
      pPlusAt, pMinusAt, mAt, cAt,
      ePreIdxAt, ePreCountAt, ePreMaskAt, ePostIdxAt, ePostCountAt,
      rowMaskAt, rowListAt, colMaskAt, colListAt, countsAt,
      host.storedAt, outAt, spikesAt,
      uRowAt, dRowAt, colPosAt, colCopyCountAt, colCopiesAt, 0, rowKeepAt, colKeepAt, ownerCountAt, ownerAt,
      soleColsAt, soleCopiesAt, multiColsAt, soleCAt, solePAt,
    ]);
  }

  /**
   * A batch's part of a connection's memory at byte `at` (batchBytes of it
   * reserved there), or null where the batch kernels are unavailable.
   */
  static create(host: BatchHost, at: number, copies: number): WasmBatch | null {
    return BATCH_MODULE === null ? null : new WasmBatch(BATCH_MODULE, host, at, copies);
  }

  /**
   * MSTDP's update of the weights from every copy's terms (batch-rules.ts
   * BatchMstdpRule.addTerms, then BatchTerms.apply), c[b] = lr[0] * r_b
   * set, under hard bounds with lazy decay: the kernels' doubles at bytes
   * 0-39 set (DenseWeights), the reduction's factor at ruleParams[slot].
   */
  mstdpUpdate(slot: number): void {
    this.header[HEADER_FACTOR] = this.host.ruleParamsAt + 8 * slot;
    this.fns.mstdpUpdate(this.headerAt);
  }

  /**
   * out[b * cols + j] += w[i][j] * scale for every spike b * rows + i of
   * spikeIdx[0 .. count) (the whole pre population's, copy by copy), the
   * scale the double at byte 0: every copy's delivery into its part of out
   * (the whole post population's input), in one call. `fresh`: out is
   * written whole, as if it had been zeros (its contents are not read).
   */
  deliver(spikeIdx: Int32Array, count: number, out: Float64Array, fresh: boolean): void {
    const spikes = this.spikes;
    for (let k = 0; k < count; k++) spikes[k] = spikeIdx[k];
    if (!fresh) this.out.set(out);
    this.fns.deliverCopies(this.headerAt, count, fresh ? 1 : 0);
    out.set(this.out);
  }

  /**
   * p_plus = p_plus * d + a * ePreMask and p_minus likewise with ePostMask,
   * for every copy, (d, a) at ruleParams[plusSlot] and [minusSlot]; from
   * the eligibility's spike lists, which the masks mirror.
   */
  decayP(plusSlot: number, minusSlot: number): void {
    const at = this.host.ruleParamsAt;
    this.fns.decayCopies(this.headerAt, at + 8 * plusSlot, at + 8 * minusSlot);
  }
}
