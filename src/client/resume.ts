/**
 * What a socket that dropped and was opened again makes of the commands it
 * had sent without a reply (the same rules as the Python client's,
 * docs/python.md "When the socket drops"). The server runs the messages it
 * read before the drop and no later one, so those that ran are the first
 * ones sent. Replaying the unanswered commands that change sessions on each
 * session's last acknowledged (step, pending), the numbers of them that give
 * every session the state it shows now say which ran. A session's socket
 * reads that state in its new hello; the multiplexed socket, whose hello
 * names no session, reads each session over HTTP. A reset or set_weights
 * leaves it unknown.
 */
import { SpikeserveClientError } from './errors.js';

/** (step count, pending) of a session. */
export interface SessionPoint {
  step: number;
  pending: boolean;
}

/** An unanswered command of a session's socket as resuming sees it. */
export interface Unanswered {
  request: string;
  /** A step's `steps` (default 1) and `deferReward`. */
  steps: number;
  defer: boolean;
}

/** What an unanswered command does to one session it names: a step's steps and deferral, a reward, or a change not replayed (reset, set_weights). */
export interface Effect {
  session: string;
  kind: 'step' | 'reward' | 'opaque';
  steps: number;
  defer: boolean;
}

/** How many of the unanswered commands that change sessions ran: at least `fewest`, at most `most`. */
export interface Ran {
  fewest: number;
  most: number;
}

/** Each unanswered command's fate: `lost` with applied true (it ran, its reply is gone) or null (unknown), or `resend` (it did not run, or only reads). */
export type Fate = { lost: true | null } | 'resend';

/** Commands that change the session; the others only read it. */
export const MUTATING: ReadonlySet<string> = new Set(['step', 'reward', 'reset', 'set_weights']);

/**
 * How many of the unanswered commands that change sessions (`commands`, in
 * the order sent, each with its effect on every session it names) ran,
 * given each session's last acknowledged point and the one it shows now; null
 * if it cannot be told. A session with no acknowledged point tells nothing.
 */
export function ranOf(commands: readonly (readonly Effect[])[], acked: ReadonlyMap<string, SessionPoint>, observed: ReadonlyMap<string, SessionPoint>): Ran | null {
  if (commands.some((c) => c.some((e) => e.kind === 'opaque'))) return null;
  const state = new Map<string, SessionPoint>();
  for (const id of observed.keys()) {
    const a = acked.get(id);
    if (a) state.set(id, { ...a });
  }
  const agrees = () => [...state].every(([id, p]) => p.step === observed.get(id)!.step && p.pending === observed.get(id)!.pending);
  const counts = agrees() ? [0] : [];
  commands.forEach((c, i) => {
    for (const e of c) {
      const p = state.get(e.session);
      if (!p) continue;
      if (e.kind === 'step') {
        p.step += e.steps;
        p.pending = e.defer;
      } else {
        // A reward with nothing pending is refused and changes nothing.
        p.pending = false;
      }
    }
    if (agrees()) counts.push(i + 1);
  });
  return counts.length === 0 ? null : { fewest: counts[0], most: counts[counts.length - 1] };
}

/**
 * The fate of each unanswered command (`mutating[i]`: whether the i-th
 * changes sessions), given how many of those that do ran.
 */
export function fatesOf(mutating: readonly boolean[], ran: Ran | null): Fate[] {
  let seen = 0;
  return mutating.map((m) => {
    if (m) {
      seen++;
      if (ran === null) return { lost: null };
      if (seen <= ran.fewest) return { lost: true };
      return seen <= ran.most ? { lost: null } : 'resend';
    }
    // A read sent before the last command that ran was answered before it: its reply is lost.
    return ran !== null && seen < ran.fewest ? { lost: true } : 'resend';
  });
}

/** The one session of a session's socket, in the maps ranOf takes. */
const ONE = '';

function effectOf(r: Unanswered): Effect {
  return { session: ONE, kind: r.request === 'step' ? 'step' : r.request === 'reward' ? 'reward' : 'opaque', steps: r.steps, defer: r.defer };
}

/**
 * How many of a session socket's unanswered commands that change the
 * session ran, given the last acknowledged point and the one the new hello
 * reports; null if it cannot be told (more than one count agrees).
 */
export function appliedPrefix(unanswered: readonly Unanswered[], acked: SessionPoint, observed: SessionPoint): number | null {
  const commands = unanswered.filter((r) => MUTATING.has(r.request)).map((r) => [effectOf(r)]);
  const ran = ranOf(commands, new Map([[ONE, acked]]), new Map([[ONE, observed]]));
  return ran !== null && ran.fewest === ran.most ? ran.fewest : null;
}

/** Each of a session socket's unanswered commands' fate. */
export function fates(unanswered: readonly Unanswered[], acked: SessionPoint, observed: SessionPoint): Fate[] {
  const k = appliedPrefix(unanswered, acked, observed);
  return fatesOf(
    unanswered.map((r) => MUTATING.has(r.request)),
    k === null ? null : { fewest: k, most: k },
  );
}

/** The error of an unanswered command that ran (applied true) or may have (null). */
export function commandLost(request: string, applied: true | null): SpikeserveClientError {
  const message =
    applied === true
      ? `${request} ran, but the socket dropped before its reply`
      : `the socket dropped before the reply to ${request}; whether it ran cannot be told: read the session (GET /v1/sessions/{id})`;
  return new SpikeserveClientError('COMMAND_LOST', message, { details: { request, applied } });
}
