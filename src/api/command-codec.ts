/**
 * The commands that change a session (step, reward, reset, weights) as they
 * are written to its log and read back: JSON text, which round-trips every
 * finite double, or the binary blob format (persist/codec.ts) where JSON
 * could not hold a value exactly. A binary request's typed arrays are
 * written as plain arrays.
 */
import { decodeBlob, encodeBlob } from '../persist/codec.js';
import type { StepBody } from './step.js';

export type CommandKind = 'step' | 'reward' | 'reset' | 'weights';

/** A command as its log holds it. */
export interface LoggedCommand {
  kind: CommandKind;
  payload: string | Uint8Array;
}

/** A logged step: what is run again, without what the reply asked for. */
export type StepCommand = Pick<StepBody, 'steps' | 'inputs' | 'reward' | 'deferReward'>;

/** A logged command read back. */
export type Command =
  | { kind: 'step'; body: StepCommand }
  | { kind: 'reward'; reward: number | number[] }
  | { kind: 'reset'; weights: boolean }
  /** `weights` is [rows][cols], or row-major values (from a binary request). */
  | { kind: 'weights'; connection: string; weights: unknown };

/** Thrown by plainNumbers when JSON could not hold a value exactly. */
const NOT_JSON_EXACT = Symbol('not JSON-exact');

/** A typed array as a plain array (JSON turns typed arrays into objects); throws NOT_JSON_EXACT at a -0, which JSON writes as 0. */
function plainNumbers(a: ArrayLike<number>): number[] {
  const out = new Array<number>(a.length);
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    if (x === 0 && 1 / x < 0) throw NOT_JSON_EXACT;
    out[i] = x;
  }
  return out;
}

/** A typed array, or an array of them (per-step values): what the binary protocol's decoder gives where JSON has arrays. */
function isTyped(v: unknown): boolean {
  return ArrayBuffer.isView(v) || (Array.isArray(v) && v.length > 0 && ArrayBuffer.isView(v[0]));
}

function plainValue(v: unknown): unknown {
  if (!isTyped(v)) return v;
  return ArrayBuffer.isView(v) ? plainNumbers(v as unknown as ArrayLike<number>) : (v as unknown[]).map(plainValue);
}

/**
 * A step command as it is logged: JSON text, with the typed arrays of a
 * binary request as plain arrays; the binary blob format only when one holds
 * a -0. Every binary step is logged: the blob's encoder costs several times
 * more (docs/durability.md).
 */
export function encodeStep(body: StepBody): string | Buffer {
  const cmd: StepCommand = { steps: body.steps, inputs: body.inputs, reward: body.reward, deferReward: body.deferReward };
  const { inputs, reward } = cmd;
  const fields = inputs !== null && typeof inputs === 'object' ? (inputs as Record<string, unknown>) : null;
  if (!isTyped(reward) && !(fields && Object.values(fields).some(isTyped))) return JSON.stringify(cmd);
  try {
    let plainInputs: unknown = inputs;
    if (fields) {
      const o: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(fields)) o[k] = plainValue(v);
      plainInputs = o;
    }
    return JSON.stringify({ ...cmd, inputs: plainInputs, reward: plainValue(reward) });
  } catch (e) {
    if (e !== NOT_JSON_EXACT) throw e;
    return encodeBlob(cmd);
  }
}

export function encodeReward(reward: number | number[]): string {
  return JSON.stringify({ reward });
}

export function encodeReset(weights: boolean): string {
  return JSON.stringify({ weights });
}

/** Binary, so that every value (a -0 too) is replayed exactly as it was given. */
export function encodeWeights(connection: string, weights: unknown): Buffer {
  return encodeBlob({ connection, weights });
}

export function decodeCommand(c: LoggedCommand): Command {
  const body = (typeof c.payload === 'string' ? JSON.parse(c.payload) : decodeBlob(c.payload)) as Record<string, unknown>;
  switch (c.kind) {
    case 'step':
      return { kind: 'step', body: body as StepCommand };
    case 'reward':
      return { kind: 'reward', reward: body.reward as number | number[] };
    case 'reset':
      return { kind: 'reset', weights: body.weights === true };
    case 'weights':
      return { kind: 'weights', connection: body.connection as string, weights: body.weights };
  }
}
