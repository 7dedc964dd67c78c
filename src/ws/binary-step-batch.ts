/**
 * A binary step_batch (batch-frame.ts) read into the step requests it
 * stands for, one per row, and its outcomes written into the reply frame.
 * Each row is the step `{inputs: {population: row}, reward, steps,
 * deferReward, return}`, checked and run as that request would be, so a
 * binary batch and a JSON one of the same steps give the same results.
 */
import { errorBody, type CodedFields } from '../api/errors.js';
import type { StepBody, StepResult } from '../api/step.js';
import { BinaryStepBatchHeaderSchema, type BinaryStepBatchErrors, type BinaryStepBatchHeader } from '../api/ws-multiplex.js';
import { SpikeserveError } from '../errors.js';
import { checkBatchSize } from '../sessions/batch-step.js';
import { encodeStepBatchReply, splitStepBatchRequest, type BatchReplyInput } from './batch-frame.js';
import { BinaryFrameError } from './binary-format.js';
import { messageParser, type Parsed } from './message-parser.js';

const parseHeader = messageParser<BinaryStepBatchHeader, 'step_batch'>({ step_batch: BinaryStepBatchHeaderSchema });

export interface BinaryStepBatch {
  header: BinaryStepBatchHeader;
  /** One step request per session of the header, in its order. */
  bodies: StepBody[];
}

function invalid(message: string, details?: Record<string, unknown>): SpikeserveError {
  return new SpikeserveError('MESSAGE_INVALID', message, details);
}

/**
 * Refuses (INPUT_INVALID) entry i of a binary step_batch whose rows (its
 * `copyRows[i]`) are neither one for every copy nor one per copy of the
 * session it steps, which has `copies` copies (its batch_size). Checked as
 * the row runs, so that it fails that row alone, as a JSON item of the wrong
 * shape does.
 */
export function checkCopyRows(h: BinaryStepBatchHeader, i: number, copies: number): void {
  const rows = h.copyRows?.[i] ?? 1;
  if (rows === 1 || rows === copies) return;
  const field = `copyRows[${i}]`;
  const want = copies === 1 ? 'its network has batch_size 1: give 1 row' : `its network has batch_size ${copies}: give 1 row (for every copy) or ${copies} (one per copy)`;
  throw new SpikeserveError('INPUT_INVALID', `${field}: ${rows} rows for session ${h.sessions[i]}; ${want}`, { field, expected: copies === 1 ? [1] : [1, copies], got: rows });
}

/** The step requests of a binary step_batch frame, or the error that refuses it whole (more than `maxItems` sessions: LIMIT_EXCEEDED). */
export function readBinaryStepBatch(data: Buffer, maxDepth: number, maxItems: number): Parsed<BinaryStepBatch, 'step_batch'> {
  let parts;
  try {
    parts = splitStepBatchRequest(data);
  } catch (e) {
    if (!(e instanceof BinaryFrameError)) throw e;
    return { ok: false, error: invalid(`${e.message}; see docs/websocket.md, "Binary step_batch"`) };
  }
  const parsed = parseHeader(parts.header, false, maxDepth);
  if (!parsed.ok) return parsed;
  const h = parsed.message;
  const n = h.sessions.length;
  const refuse = (error: SpikeserveError): Parsed<BinaryStepBatch, 'step_batch'> => ({ ok: false, id: h.id, request: 'step_batch', error });
  try {
    checkBatchSize(n, maxItems, 'sessions');
  } catch (e) {
    return refuse(e as SpikeserveError);
  }
  const copyRows = h.copyRows;
  if (copyRows !== undefined && copyRows.length !== n) {
    return refuse(new SpikeserveError('REQUEST_INVALID', `copyRows: ${copyRows.length} entries; it needs one per session, ${n}`, { field: 'copyRows', expected: n, got: copyRows.length }));
  }
  // first[i]: session i's first row in every array; rows in all, r.
  const first = new Array<number>(n);
  let r = 0;
  for (let i = 0; i < n; i++) {
    first[i] = r;
    r += copyRows === undefined ? 1 : copyRows[i];
  }
  const inputs = h.inputs ?? [];
  const seen = new Set<string>();
  let expected = h.rewards === true ? r : 0;
  for (let k = 0; k < inputs.length; k++) {
    const p = inputs[k].population;
    if (seen.has(p)) return refuse(new SpikeserveError('REQUEST_INVALID', `inputs[${k}].population: "${p}" is given twice`, { field: `inputs[${k}].population` }));
    seen.add(p);
    expected += r * inputs[k].n;
  }
  const values = parts.values;
  if (values.length !== expected) {
    const rows = copyRows === undefined ? `${n} sessions` : `${n} sessions, ${r} rows`;
    return refuse(invalid(`the frame has ${values.length} float64 values after its header; its header (${rows}, inputs and rewards) needs ${expected}`, { expected, got: values.length }));
  }
  const counts = h.counts ?? [];
  const potentials = h.potentials ?? [];
  const ret: NonNullable<StepBody['return']> = { populations: [...new Set([...counts, ...potentials])], spikes: counts.length > 0 ? 'counts' : 'none' };
  if (potentials.length > 0) ret.potentials = true;
  const bodies: StepBody[] = new Array<StepBody>(n);
  const rewards = h.rewards === true ? values.subarray(expected - r) : null;
  for (let i = 0; i < n; i++) {
    const body: StepBody = { return: ret };
    const rows = copyRows === undefined ? 1 : copyRows[i];
    const at = first[i];
    if (h.steps !== undefined) body.steps = h.steps;
    if (h.deferReward !== undefined) body.deferReward = h.deferReward;
    // One row: a number and an [n] vector, for every copy; rows per copy: [B] rewards and [B][n] inputs, as JSON gives them.
    if (rewards !== null) body.reward = (rows === 1 ? rewards[at] : rewards.subarray(at, at + rows)) as StepBody['reward'];
    if (inputs.length > 0) {
      // Views of the frame's values: the engine reads float64 arrays as they are.
      const x: Record<string, Float64Array | Float64Array[]> = {};
      let base = 0;
      for (const { population, n: width } of inputs) {
        const row = (c: number) => values.subarray(base + (at + c) * width, base + (at + c + 1) * width);
        x[population] = rows === 1 ? row(0) : Array.from({ length: rows }, (_, c) => row(c));
        base += r * width;
      }
      body.inputs = x as unknown as StepBody['inputs'];
    }
    bodies[i] = body;
  }
  return { ok: true, message: { header: h, bodies } };
}

const EMPTY: readonly number[] = [];

/** A population's values in a step reply, a batch session's copies one after the other. */
function flat(v: number[] | number[][] | undefined): ArrayLike<number> {
  if (v === undefined) return EMPTY;
  return v.length > 0 && Array.isArray(v[0]) ? (v as number[][]).flat() : (v as number[]);
}

/** The reply frame of a binary step_batch: `coded(reason, i)` is item i's error as the client may see it. */
export function binaryStepBatchReply(h: BinaryStepBatchHeader, settled: readonly PromiseSettledResult<StepResult>[], coded: (reason: unknown, i: number) => CodedFields): Buffer {
  const counts = h.counts ?? [];
  const potentials = h.potentials ?? [];
  const items: BatchReplyInput['items'][number][] = new Array(settled.length);
  const countValues: ArrayLike<number>[][] = counts.map(() => new Array(settled.length));
  const potentialValues: ArrayLike<number>[][] = potentials.map(() => new Array(settled.length));
  const errors: BinaryStepBatchErrors = [];
  for (let i = 0; i < settled.length; i++) {
    const s = settled[i];
    if (s.status === 'fulfilled') {
      const r = s.value;
      items[i] = { ok: true, step: r.step, steps: r.steps, pending: r.pending };
      for (let k = 0; k < counts.length; k++) countValues[k][i] = flat(r.spikeCounts?.[counts[k]]);
      for (let k = 0; k < potentials.length; k++) potentialValues[k][i] = flat(r.potentials?.[potentials[k]]);
    } else {
      items[i] = { ok: false, step: 0, steps: 0, pending: false };
      for (const v of countValues) v[i] = EMPTY;
      for (const v of potentialValues) v[i] = EMPTY;
      errors.push({ index: i, error: errorBody(coded(s.reason, i)) });
    }
  }
  return encodeStepBatchReply({
    id: h.id,
    items,
    sections: [
      ...countValues.map((values, index) => ({ type: 'counts' as const, index, values })),
      ...potentialValues.map((values, index) => ({ type: 'potentials' as const, index, values })),
    ],
    errors,
  });
}
