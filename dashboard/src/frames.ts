/**
 * A reader for the event frames of the WebSocket protocol's binary format
 * (README "Binary frames"), written from that description: a 24-byte header
 * (version, kind, flags, id length, step as f64, steps, section count), the
 * id padded to 4 bytes, then sections of a 12-byte header (type, index, a, b)
 * and a little-endian payload. Only what an observer receives is decoded;
 * anything else is refused rather than misread. A batch's frames put a copy
 * section (a = the copy) before each copy's sections; the page asks for one
 * copy's spikes, and reads a reward per copy.
 */

export const FRAME_VERSION = 1;
const HEADER = 24;
const SECTION_HEADER = 12;
export const KIND = { spikesEvent: 3, weightsEvent: 5, rewardEvent: 6 } as const;
const SECTION = { spikes: 1, weights: 4, reward: 5, copy: 7 } as const;

export interface SpikesFrame {
  kind: 'spikes';
  step: number;
  pending: boolean;
  /** By population index (the hello message's order): the neurons that fired at this step. */
  spikes: Map<number, Uint32Array>;
  /** A batch: the copy they are of (the page subscribes to one); null for a network of one copy. */
  copy: number | null;
}

export interface WeightsFrame {
  kind: 'weights';
  step: number;
  pending: boolean;
  /** By connection index: row-major [rows][cols] float32 weights. */
  weights: Map<number, { rows: number; cols: number; values: Float32Array }>;
}

export interface RewardFrame {
  kind: 'reward';
  /** The step whose learning update used the reward. */
  step: number;
  /** A batch: one per copy, by copy. */
  reward: number | number[];
}

export class FrameError extends Error {}

export function readFrame(buf: ArrayBuffer): SpikesFrame | WeightsFrame | RewardFrame {
  const dv = new DataView(buf);
  const need = (end: number, what: string) => {
    if (end > buf.byteLength) throw new FrameError(`binary frame: ${what} runs past its end (${buf.byteLength} bytes)`);
  };
  need(HEADER, 'the header');
  const version = dv.getUint8(0);
  if (version !== FRAME_VERSION) throw new FrameError(`binary frame: format version ${version}; this page reads ${FRAME_VERSION}`);
  const kind = dv.getUint8(1);
  if (kind !== KIND.spikesEvent && kind !== KIND.weightsEvent && kind !== KIND.rewardEvent) throw new FrameError(`binary frame: kind ${kind} is not an event this page subscribes to`);
  const pending = (dv.getUint16(2, true) & 1) !== 0;
  const idLength = dv.getUint32(4, true);
  const step = dv.getFloat64(8, true);
  const sections = dv.getUint32(20, true);
  let o = HEADER + ((idLength + 3) & ~3);
  need(o, 'the id');
  const spikes = new Map<number, Uint32Array>();
  const weights = new Map<number, { rows: number; cols: number; values: Float32Array }>();
  let reward: number | null = null;
  const perCopy: number[] = [];
  let copy = -1;
  for (let k = 0; k < sections; k++) {
    need(o + SECTION_HEADER, `section ${k}'s header`);
    const type = dv.getUint8(o);
    const index = dv.getUint16(o + 2, true);
    const a = dv.getUint32(o + 4, true);
    const b = dv.getUint32(o + 8, true);
    const p = o + SECTION_HEADER;
    if (type === SECTION.spikes) {
      // a = steps (1 in an event), b = spikes; counts[a] then indices[b].
      need(p + 4 * (a + b), `section ${k}`);
      spikes.set(index, copyU32(dv, p + 4 * a, b));
      o = p + 4 * (a + b);
    } else if (type === SECTION.weights) {
      need(p + 4 * a * b, `section ${k}`);
      const values = new Float32Array(a * b);
      for (let i = 0; i < values.length; i++) values[i] = dv.getFloat32(p + 4 * i, true);
      weights.set(index, { rows: a, cols: b, values });
      o = p + 4 * a * b;
    } else if (type === SECTION.reward) {
      // a = where the reward came from, which the chart does not tell apart; f64 payload.
      need(p + 8, `section ${k}`);
      reward = dv.getFloat64(p, true);
      if (copy >= 0) perCopy[copy] = reward;
      o = p + 8;
    } else if (type === SECTION.copy) {
      copy = a;
      o = p;
    } else {
      throw new FrameError(`binary frame: section type ${type} is not one this page subscribes to`);
    }
  }
  if (kind === KIND.rewardEvent) {
    if (reward === null) throw new FrameError('binary frame: a reward event without its reward section');
    return { kind: 'reward', step, reward: copy >= 0 ? perCopy : reward };
  }
  return kind === KIND.spikesEvent ? { kind: 'spikes', step, pending, spikes, copy: copy >= 0 ? copy : null } : { kind: 'weights', step, pending, weights };
}

function copyU32(dv: DataView, o: number, n: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = dv.getUint32(o + 4 * i, true);
  return out;
}
