/**
 * A LIF population's arrays in its own WebAssembly memory, and the dense step
 * and the sparse step's catch-up (population-kernels.wat) that run over them. The JavaScript loop in
 * population.ts pays a map and bounds check on every typed-array access;
 * the same loop in WebAssembly does not, and gives the same bits.
 *
 * The memory is sized at construction and never grown, so the typed-array
 * views below stay valid for the population's life; LifPopulation uses them
 * as its own arrays, so its JavaScript paths (the sparse step, catch-up,
 * snapshots) work on them unchanged.
 *
 * Layout, in bytes: [0, 88) the step's parameters (population.ts slots),
 * [88, 96) the step's two i32 counts, then from 128: state ([v | refrac |
 * traces | current], 4n f64), spikeIdx, unsettled, nextUnsettled, caughtUp
 * (n i32 each), s (n u8).
 */
import { POPULATION_KERNELS_WASM_BASE64 } from './population-kernels-wasm.js';
import { compileEmbedded } from './wasm-module.js';
import { MAX_WASM_BYTES } from './wasm-weights.js';

const HEADER_BYTES = 128;
const COUNTS_AT = 88;
const PAGE_BYTES = 65536;

interface PopulationExports {
  lifDense(state: number, s: number, spikeIdx: number, prevCount: number, n: number, params: number, unsettled: number, track: number, counts: number): void;
  catchUpList(state: number, n: number, list: number, count: number, caughtUp: number, t: number, dt: number, decay: number): void;
}

/** Compiled once per process; null where WebAssembly is missing (populations keep the JavaScript loop). */
const POPULATION_MODULE = compileEmbedded(POPULATION_KERNELS_WASM_BASE64);

function layoutBytes(n: number, paramCount: number): number {
  if (8 * paramCount > COUNTS_AT) throw new RangeError('population parameters overflow the header');
  return HEADER_BYTES + 32 * n + 16 * n + n;
}

export class WasmPopulation {
  readonly params: Float64Array;
  readonly counts: Int32Array;
  readonly state: Float64Array;
  readonly spikeIdx: Int32Array;
  /** The two unsettled lists the sparse step swaps between. */
  readonly unsettledA: Int32Array;
  readonly unsettledB: Int32Array;
  /** LifPopulation's caughtUp, here so that catchUpList reads and writes it. */
  readonly caughtUp: Int32Array;
  readonly s: Uint8Array;
  private readonly fns: PopulationExports;
  private readonly n: number;
  private readonly stateAt: number;
  private readonly spikeIdxAt: number;
  private readonly unsettledAAt: number;
  private readonly unsettledBAt: number;
  private readonly caughtUpAt: number;
  private readonly sAt: number;

  private constructor(n: number, paramCount: number, module: WebAssembly.Module) {
    this.n = n;
    const pages = Math.ceil(layoutBytes(n, paramCount) / PAGE_BYTES);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    this.fns = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as PopulationExports;
    const buf = memory.buffer;
    this.params = new Float64Array(buf, 0, paramCount);
    this.counts = new Int32Array(buf, COUNTS_AT, 2);
    let at = HEADER_BYTES;
    this.stateAt = at;
    this.state = new Float64Array(buf, at, 4 * n);
    at += 32 * n;
    this.spikeIdxAt = at;
    this.spikeIdx = new Int32Array(buf, at, n);
    at += 4 * n;
    this.unsettledAAt = at;
    this.unsettledA = new Int32Array(buf, at, n);
    at += 4 * n;
    this.unsettledBAt = at;
    this.unsettledB = new Int32Array(buf, at, n);
    at += 4 * n;
    this.caughtUpAt = at;
    this.caughtUp = new Int32Array(buf, at, n);
    at += 4 * n;
    this.sAt = at;
    this.s = new Uint8Array(buf, at, n);
  }

  /**
   * A population of n neurons in WebAssembly memory, or null when the kernel
   * is unavailable, the population too large, or no memory can be had (V8
   * reserves about 10 GiB of address space per memory; see wasm-weights.ts):
   * the JavaScript loop then steps it, with the same results.
   */
  static create(n: number, paramCount: number): WasmPopulation | null {
    if (POPULATION_MODULE === null || layoutBytes(n, paramCount) > MAX_WASM_BYTES) return null;
    try {
      return new WasmPopulation(n, paramCount, POPULATION_MODULE);
    } catch (err) {
      if (err instanceof RangeError) return null;
      throw err;
    }
  }

  /** population.ts lifDense, into `unsettled` (one of unsettledA and unsettledB); counts land in `counts`. */
  lifDense(prevCount: number, unsettled: Int32Array, track: number): void {
    const unsettledAt = unsettled === this.unsettledA ? this.unsettledAAt : this.unsettledBAt;
    this.fns.lifDense(this.stateAt, this.sAt, this.spikeIdxAt, prevCount, this.n, 0, unsettledAt, track, COUNTS_AT);
  }

  /**
   * population.ts catchUpSideBySide for the `count` neurons listed in `list`
   * (one of unsettledA and unsettledB): their refrac and trace brought up to
   * step t, with caughtUp.
   */
  catchUpList(list: Int32Array, count: number, t: number, dt: number, decay: number): void {
    const listAt = list === this.unsettledA ? this.unsettledAAt : this.unsettledBAt;
    this.fns.catchUpList(this.stateAt, this.n, listAt, count, this.caughtUpAt, t, dt, decay);
  }
}
