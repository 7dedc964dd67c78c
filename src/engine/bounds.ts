/**
 * The magnitudes a network's numbers may have, chosen so that no accepted
 * spec, input, reward, weight or snapshot can make the native backend's state
 * non-finite: the bounds are checked where the numbers come in, and the step
 * itself checks nothing (it stays allocation- and branch-free).
 *
 * Why nothing overflows (float64, largest finite ~1.8e308). Let B = 1e30
 * (MAX_ABS_VALUE): every spec number, input and reward has |x| <= B, and
 * tau_s >= 1e-30 (MIN_TAU_S), so rho = dt / tau_s <= 1e60. No array holds more
 * than 2^53 entries, so a population receives fewer than 2^53 weights a step.
 * The state between steps satisfies (I) below, which a fresh network does
 * (v = rest_pot, everything else 0 or a clamped weight) and a snapshot must
 * (checkSnapshotShapes); each step keeps it:
 *
 *   (I)  -1e150 <= v <= 2e30; |refrac|, |traces|, |p_plus|, |p_minus| <= 1e50;
 *        MSTDPET's |et| <= 1e100;
 *        real weights |w| <= 2e30 (within [w_min, w_max] up to an ulp);
 *        1e-100 <= decay scale <= 1.
 *
 * - Current: |I| <= B + 2^53 * 2e30 < 2e46, so |R * I| < 2e76 =: C.
 * - v: not refractory, v' = v + ((rest - v) + R * I) * rho. The bracket is at
 *   most 1e30 + 1e150 + C in magnitude, times rho at most ~1e210: finite. If
 *   v' >= threshold it becomes reset_pot; else v' < threshold <= B, or it is
 *   clamped up to lower_bound <= B: so v' <= B. Below: for rho <= 1, v' is
 *   between v and rest + R * I, so v' >= min(v, -C) >= -1e150; for rho > 1,
 *   v' = (1 - rho) v + rho (rest + R I) >= (1 - rho) max(v, 0) - rho (B + C)
 *   >= -1e60 * (2e30 + 2e30 + 2e76) > -1e150, whatever v was. A refractory
 *   neuron keeps its v.
 * - refrac: set to refrac_length (<= B) or decreased by dt (<= B): once
 *   |refrac| >= 2^54 dt, subtracting dt rounds back to it, so it stays above
 *   -max(1e50, 2^54 B ~ 1.8e46). traces (and MSTDP's p vectors) are
 *   x * d + s with 0 <= d <= 1 and |s| <= B (trace_scale, 1, a_plus, a_minus):
 *   they never grow past max(|x|, 2^54 |s|) by the same absorption.
 * - MSTDPET's trace: et' = et * d + e / tc_e_trace with 0 <= d <= 1,
 *   |e| <= 2e50 and tc_e_trace >= 1e-30 (MIN_TC_E_TRACE), so the term added is
 *   at most 2e80, less than half an ulp of 1e100: by the same absorption
 *   |et| stays at most 1e100.
 * - Weight updates: STDP's terms lr * trace <= 1e80; MSTDP's lr * reward *
 *   (p_plus + p_minus) <= 1e60 * 2e50; MSTDPET's lr * dt * reward * et <=
 *   1e90 * 1e100; a soft bound multiplies these by
 *   (w_max - w) <= 4e30. The sums with w are finite, then clamped into
 *   [w_min, w_max]; stored = w / scale' with scale' >= 1e-100 * (1 -
 *   weight_decay) >= 1e-100 * 2^-53, so stored <= 2e30 * 1e117 and
 *   stored * scale is finite. The scale is folded back in below 1e-100.
 *
 * The tfjs backend computes in float32 (largest ~3.4e38), where these bounds
 * are not enough (R * I alone can pass it): it checks every step's state for
 * a non-finite value and undoes the step (tfjs/kernel.ts).
 */

/** Largest magnitude of any spec number, input, reward and initial weight. */
export const MAX_ABS_VALUE = 1e30;
/** Smallest tau_s: dt / tau_s, the factor on a step's change of v, stays at most 1e60. */
export const MIN_TAU_S = 1e-30;
/** Smallest tc_e_trace: e / tc_e_trace, what MSTDPET's trace adds a step, stays at most 2e80. */
export const MIN_TC_E_TRACE = 1e-30;

/** Snapshot state bounds, invariant (I) above. */
export const STATE_BOUNDS = {
  vMin: -1e150,
  vMax: 2e30,
  /** refrac, traces, p_plus, p_minus. */
  other: 1e50,
  /** MSTDPET's et. */
  eligibilityTrace: 1e100,
  weight: 2e30,
  scaleMin: 1e-100,
  scaleMax: 1,
} as const;
