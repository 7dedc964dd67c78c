/**
 * A dense, literal float64 transcription of model.md, written for tests only:
 * every weight is touched every step, no lazy scale, no spike lists. The
 * optimised kernels are checked against it.
 */
import type { ResolvedNetwork } from '../../src/engine/index.js';

interface Pop {
  n: number;
  p: ResolvedNetwork['populations'][string];
  v: number[];
  refrac: number[];
  traces: number[];
  s: number[];
}

export interface Conn {
  c: ResolvedNetwork['connections'][string];
  pre: Pop;
  post: Pop;
  w: number[][];
  pPlus: number[];
  pMinus: number[];
  e: number[][];
  et: number[][];
}

export class ReferenceNetwork {
  readonly pops: Map<string, Pop> = new Map();
  readonly conns: Map<string, Conn> = new Map();

  constructor(
    readonly spec: ResolvedNetwork,
    weights: Record<string, number[][]>,
  ) {
    for (const [name, p] of Object.entries(spec.populations)) {
      this.pops.set(name, { n: p.n, p, v: Array(p.n).fill(p.rest_pot), refrac: Array(p.n).fill(0), traces: Array(p.n).fill(0), s: Array(p.n).fill(0) });
    }
    for (const [name, c] of Object.entries(spec.connections)) {
      const pre = this.pops.get(c.pre)!;
      const post = this.pops.get(c.post)!;
      this.conns.set(name, {
        c, pre, post,
        w: weights[name].map((r) => r.slice()),
        pPlus: Array(pre.n).fill(0),
        pMinus: Array(post.n).fill(0),
        e: Array.from({ length: pre.n }, () => Array(post.n).fill(0)),
        et: Array.from({ length: pre.n }, () => Array(post.n).fill(0)),
      });
    }
  }

  step(inputs: Record<string, number[]> = {}, reward = 0): void {
    this.stepPopulations(inputs);
    for (const conn of this.conns.values()) {
      const { up, down } = this.terms(conn, reward);
      applyTerms(conn, up, down);
    }
  }

  /** Part 1 of a step: every population in order. */
  stepPopulations(inputs: Record<string, number[]> = {}): void {
    const dt = this.spec.dt;
    for (const [name, pop] of this.pops) {
      const x = inputs[name] ? inputs[name].slice() : Array(pop.n).fill(0);
      for (const conn of this.conns.values()) {
        if (conn.post !== pop) continue;
        for (let i = 0; i < conn.pre.n; i++) for (let j = 0; j < pop.n; j++) x[j] += conn.pre.s[i] * conn.w[i][j];
      }
      const p = pop.p;
      for (let i = 0; i < pop.n; i++) {
        pop.v[i] += (((-(pop.v[i] - p.rest_pot) + p.R * x[i]) * dt) / p.tau_s) * (pop.refrac[i] <= 0 ? 1 : 0);
        pop.s[i] = pop.v[i] >= p.threshold ? 1 : 0;
        pop.refrac[i] -= dt;
        if (pop.s[i]) {
          pop.refrac[i] = p.refrac_length;
          pop.v[i] = p.reset_pot;
        }
        if (p.lower_bound !== null) pop.v[i] = Math.max(pop.v[i], p.lower_bound);
        pop.traces[i] *= Math.exp(-dt / p.tau_s);
        if (p.additive_spike_trace) pop.traces[i] += p.trace_scale * pop.s[i];
        else if (pop.s[i]) pop.traces[i] = 1;
      }
    }
  }

  /** A rule's terms for this step's reward; advances the rule's own state (p_plus, p_minus, e, et). */
  terms(conn: Conn, reward: number): { up: number[][]; down: number[][] } {
    const { c, pre, post, w } = conn;
    const r = c.rule;
    const up: number[][] = w.map((row) => row.map(() => 0));
    const down: number[][] = w.map((row) => row.map(() => 0));
    if (r.type === 'STDP') {
      for (let i = 0; i < pre.n; i++) {
        for (let j = 0; j < post.n; j++) {
          down[i][j] = r.lr[0] * pre.s[i] * post.traces[j];
          up[i][j] = r.lr[1] * pre.traces[i] * post.s[j];
        }
      }
    } else if (r.type === 'MSTDP' || r.type === 'MSTDPET') {
      const dt = this.spec.dt;
      for (let i = 0; i < pre.n; i++) {
        for (let j = 0; j < post.n; j++) {
          let dw: number;
          if (r.type === 'MSTDPET') {
            conn.et[i][j] = conn.et[i][j] * Math.exp(-dt / r.tc_e_trace!) + conn.e[i][j] / r.tc_e_trace!;
            dw = r.lr[0] * dt * reward * conn.et[i][j];
          } else {
            dw = r.lr[0] * reward * conn.e[i][j];
          }
          up[i][j] = Math.max(dw, 0);
          down[i][j] = Math.max(-dw, 0);
        }
      }
      for (let i = 0; i < pre.n; i++) conn.pPlus[i] = conn.pPlus[i] * Math.exp(-dt / r.tc_plus!) + r.a_plus! * pre.s[i];
      for (let j = 0; j < post.n; j++) conn.pMinus[j] = conn.pMinus[j] * Math.exp(-dt / r.tc_minus!) + r.a_minus! * post.s[j];
      for (let i = 0; i < pre.n; i++) for (let j = 0; j < post.n; j++) conn.e[i][j] = conn.pPlus[i] * post.s[j] + pre.s[i] * conn.pMinus[j];
    }
    return { up, down };
  }

  spikes(pop: string): number[] {
    const s = this.pops.get(pop)!.s;
    return s.flatMap((x, i) => (x ? [i] : []));
  }
}

/** The update, steps 1-3, with the given terms. */
export function applyTerms(conn: Conn, up: number[][], down: number[][]): void {
  const { c, w } = conn;
  const r = c.rule;
  for (let i = 0; i < w.length; i++) {
    for (let j = 0; j < w[i].length; j++) {
      let x = w[i][j];
      if (r.boundary === 'soft') x = x + up[i][j] * (c.w_max - x) - down[i][j] * (x - c.w_min);
      else x = x + up[i][j] - down[i][j];
      x *= 1 - r.weight_decay;
      w[i][j] = Math.min(c.w_max, Math.max(c.w_min, x));
    }
  }
}

/**
 * A batch (model.md, "Batches"): one ReferenceNetwork per copy, all holding
 * the same weight matrices; each rule's terms are computed per copy, reduced
 * (sum or mean) and applied once.
 */
export class ReferenceBatch {
  readonly copies: ReferenceNetwork[];

  constructor(spec: ResolvedNetwork, weights: Record<string, number[][]>) {
    const shared = Object.fromEntries(Object.entries(weights).map(([k, w]) => [k, w.map((r) => r.slice())]));
    this.copies = Array.from({ length: spec.batch_size }, () => new ReferenceNetwork(spec, shared));
    for (const copy of this.copies) for (const [name, conn] of copy.conns) conn.w = this.copies[0].conns.get(name)!.w;
  }

  /** inputs[pop][b] is copy b's input; rewards[b] copy b's reward. */
  step(inputs: Record<string, number[][]>, rewards: number[]): void {
    this.copies.forEach((copy, b) => copy.stepPopulations(Object.fromEntries(Object.entries(inputs).map(([p, x]) => [p, x[b]]))));
    for (const name of this.copies[0].conns.keys()) {
      const terms = this.copies.map((copy, b) => copy.terms(copy.conns.get(name)!, rewards[b]));
      const conn = this.copies[0].conns.get(name)!;
      const k = conn.c.rule.reduction === 'mean' ? 1 / this.copies.length : 1;
      const reduce = (which: 'up' | 'down') => conn.w.map((row, i) => row.map((_, j) => terms.reduce((a, t) => a + t[which][i][j], 0) * k));
      applyTerms(conn, reduce('up'), reduce('down'));
    }
  }

  get weights(): Map<string, number[][]> {
    return new Map([...this.copies[0].conns].map(([name, c]) => [name, c.w]));
  }
}
