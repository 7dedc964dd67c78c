/**
 * What a session socket that dropped and was opened again makes of the
 * commands it had sent without a reply (the same rules as the Python
 * client's, docs/python.md "When the socket drops"). The protocol numbers
 * nothing, but the new hello reports the session's step count and whether
 * an update is pending: replaying the unanswered commands that change the
 * session on the last acknowledged (step, pending), the one prefix that
 * gives the hello's state is what ran. A reset or set_weights, or more than
 * one matching prefix, leaves it unknown.
 */

/** (step count, pending) of a session. */
export interface SessionPoint {
  step: number;
  pending: boolean;
}

/** An unanswered command as resuming sees it. */
export interface Unanswered {
  request: string;
  /** A step's `steps` (default 1) and `deferReward`. */
  steps: number;
  defer: boolean;
}

/** Commands that change the session; the others only read it. */
export const MUTATING: ReadonlySet<string> = new Set(['step', 'reward', 'reset', 'set_weights']);

/**
 * How many of the unanswered commands that change the session ran, given
 * the last acknowledged point and the one the new hello reports; null if it
 * cannot be told.
 */
export function appliedPrefix(unanswered: readonly Unanswered[], acked: SessionPoint, observed: SessionPoint): number | null {
  const mutating = unanswered.filter((r) => MUTATING.has(r.request));
  if (mutating.some((r) => r.request === 'reset' || r.request === 'set_weights')) return null;
  let { step, pending } = acked;
  const points: SessionPoint[] = [{ step, pending }];
  for (const r of mutating) {
    if (r.request === 'step') {
      step += r.steps;
      pending = r.defer;
    } else if (pending) {
      // A reward with nothing pending is refused and changes nothing.
      pending = false;
    }
    points.push({ step, pending });
  }
  const matches = points.flatMap((p, i) => (p.step === observed.step && p.pending === observed.pending ? [i] : []));
  return matches.length === 1 ? matches[0] : null;
}

/**
 * Each unanswered command's fate: `lost` with applied true (it ran, its reply
 * is gone) or null (unknown), or `resend` (it did not run, or only reads).
 */
export function fates(unanswered: readonly Unanswered[], acked: SessionPoint, observed: SessionPoint): ({ lost: true | null } | 'resend')[] {
  const k = appliedPrefix(unanswered, acked, observed);
  let seen = 0;
  return unanswered.map((r) => {
    const mutating = MUTATING.has(r.request);
    if (k === null) return mutating ? { lost: null } : 'resend';
    if (mutating) return ++seen <= k ? { lost: true } : 'resend';
    // A read sent before the last command that ran was answered before it: its reply is lost.
    return seen < k ? { lost: true } : 'resend';
  });
}
