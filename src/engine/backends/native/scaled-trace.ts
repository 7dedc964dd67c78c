/**
 * MSTDPET's eligibility trace (model.md, "Learning rules") kept as stored
 * values times one scale: between rewards it only decays, and decaying it is
 * one multiplication of the scale, folded into the values before it
 * underflows. One copy's trace (rules.ts) or every copy's, copy-major
 * (batch-rules.ts).
 */
import type { ResolvedRule } from '../../spec-schema.js';
import type { AnyRuleState, ExportedRuleState } from '../kernel.js';
import { DenseWeights } from './weights.js';

export class ScaledTrace {
  /** The real trace is stored[k] * scale. */
  scale = 1;
  /** exp(-dt / tc_e_trace): the decay of one step. */
  readonly decay: number;
  /** 1 / tc_e_trace, the weight of e added to the trace. */
  readonly invTc: number;
  /** lr[0] * dt, which the reward scales. */
  readonly lrDt: number;

  constructor(
    readonly stored: Float64Array,
    rule: ResolvedRule,
    dt: number,
  ) {
    const tc = rule.tc_e_trace as number;
    this.decay = Math.exp(-dt / tc);
    this.invTc = 1 / tc;
    this.lrDt = rule.lr[0] * dt;
  }

  /** One step's decay; the scale is folded into the stored values before it underflows. */
  decayStep(): void {
    this.scale *= this.decay;
    if (this.scale < DenseWeights.RENORMALISE_BELOW) {
      const { stored, scale } = this;
      for (let k = 0; k < stored.length; k++) stored[k] *= scale;
      this.scale = 1;
    }
  }

  /** The real values of `count` entries from `at`. */
  values(at: number, count: number): Float64Array {
    const out = new Float64Array(count);
    for (let k = 0; k < count; k++) out[k] = this.stored[at + k] * this.scale;
    return out;
  }

  reset(): void {
    this.stored.fill(0);
    this.scale = 1;
  }

  /** The stored values (themselves, not a copy: the kernel copies them) and their scale as they are, so that a restored rule continues bit for bit. */
  state(): Pick<ExportedRuleState, 'et' | 'et_scale'> {
    return { et: this.stored, et_scale: this.scale };
  }

  restore(state: AnyRuleState): void {
    this.stored.fill(0);
    this.stored.set(state.et ?? []);
    this.scale = state.et_scale ?? 1;
  }
}
