/**
 * Binary frames read into the shapes of their JSON counterparts, so that
 * code using the client does not care which format the socket speaks
 * (weights and potentials then hold float32 values). A batch's frames have
 * a copy section before each copy's sections (docs/websocket.md, "Binary
 * frames"); they read as the JSON replies and events of a batch do: spikes
 * per step then per copy, counts and potentials per copy, `copies` listing
 * the copies in their order.
 */
import type { StepResult } from '../api/step.js';
import type { HelloMessage, PotentialsEvent, RewardEvent, SpikesEvent } from '../api/ws.js';
import { spikeLists, weightRows, type DecodedFrame, type Section } from '../ws/binary-format.js';

type Layout = Pick<HelloMessage, 'populations' | 'connections'>;

/** Calls `each` for every section but the copy sections, with the position (in `copies`) of the copy it is of: -1 before any copy section. */
function walk(sections: readonly Section[], each: (s: Exclude<Section, { type: 'copy' }>, q: number) => void): number[] {
  const copies: number[] = [];
  for (const s of sections) {
    if (s.type === 'copy') copies.push(s.copy);
    else each(s, copies.length - 1);
  }
  return copies;
}

/** Puts `value` at `out[name]`, or, for a section of a copy (q >= 0), at `out[name][q]`. */
function place<T>(out: Record<string, T | T[]>, name: string, q: number, value: T): void {
  if (q < 0) out[name] = value;
  else ((out[name] ??= []) as T[])[q] = value;
}

export function stepResultOf(f: DecodedFrame, layout: Layout): StepResult {
  const r: StepResult = { step: f.step, steps: f.steps, pending: f.pending };
  const copies = walk(f.sections, (s, q) => {
    if (s.type === 'spikes') {
      const lists = spikeLists(s);
      const name = layout.populations[s.index].name;
      const spikes = (r.spikes ??= {});
      if (q < 0) spikes[name] = lists;
      else {
        // A batch's spikes are [steps][copies][indices].
        const perStep = (spikes[name] ??= lists.map(() => [])) as number[][][];
        lists.forEach((list, t) => (perStep[t][q] = list));
      }
    } else if (s.type === 'counts') place<number[]>((r.spikeCounts ??= {}) as Record<string, number[] | number[][]>, layout.populations[s.index].name, q, Array.from(s.counts));
    else if (s.type === 'potentials') place<number[]>((r.potentials ??= {}) as Record<string, number[] | number[][]>, layout.populations[s.index].name, q, Array.from(s.values));
    else if (s.type === 'weights') (r.weights ??= {})[layout.connections[s.index].name] = weightRows(s);
  });
  if (copies.length > 0) r.copies = copies;
  return r;
}

export function spikesEventOf(f: DecodedFrame, layout: Layout): SpikesEvent {
  const spikes: Record<string, number[] | number[][]> = {};
  const copies = walk(f.sections, (s, q) => {
    if (s.type === 'spikes') place<number[]>(spikes, layout.populations[s.index].name, q, Array.from(s.indices));
  });
  return { type: 'spikes', step: f.step, pending: f.pending, ...(copies.length > 0 ? { copies } : {}), spikes };
}

export function potentialsEventOf(f: DecodedFrame, layout: Layout): PotentialsEvent {
  const potentials: Record<string, number[] | number[][]> = {};
  const copies = walk(f.sections, (s, q) => {
    if (s.type === 'potentials') place<number[]>(potentials, layout.populations[s.index].name, q, Array.from(s.values));
  });
  return { type: 'potentials', step: f.step, pending: f.pending, ...(copies.length > 0 ? { copies } : {}), potentials };
}

/** Each connection's weights in a weights reply or event. */
export function weightsOf(f: DecodedFrame, layout: Layout): Record<string, number[][]> {
  const weights: Record<string, number[][]> = {};
  for (const s of f.sections) if (s.type === 'weights') weights[layout.connections[s.index].name] = weightRows(s);
  return weights;
}

/** A reward event: one reward section, or in a batch a copy section and a reward section for each copy, in copy order; null if it is neither. */
export function rewardEventOf(f: DecodedFrame): RewardEvent | null {
  const s = f.sections;
  const only = s[0];
  if (s.length === 1 && only.type === 'reward') return { type: 'reward', step: f.step, reward: only.reward, source: only.source };
  if (s.length === 0 || s.length % 2 !== 0) return null;
  const perCopy: number[] = [];
  let source: RewardEvent['source'] = 'step';
  for (let i = 0; i < s.length; i += 2) {
    const c = s[i];
    const r = s[i + 1];
    // The JSON event's list is indexed by copy: every copy, in order.
    if (c.type !== 'copy' || c.copy !== i / 2 || r.type !== 'reward') return null;
    perCopy.push(r.reward);
    source = r.source;
  }
  return { type: 'reward', step: f.step, reward: perCopy, source };
}
