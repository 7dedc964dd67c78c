/**
 * Stream subscriptions: checking a subscribe request against the session,
 * and building each event once for every connection that wants the same
 * thing (same stream, selection and format). Spikes, potentials and weights
 * are read from a step; rewards come from the learning updates, which are
 * not always a step's (a deferred reward arrives on its own). A batch's
 * spikes and potentials come per copy, for the copies subscribed to; its
 * weights are shared.
 */
import type { Subscribed, SubscribeMessage, WsFormat, WsStream } from '../api/ws.js';
import { SpikeserveError } from '../errors.js';
import type { Session } from '../sessions/manager.js';
import type { RewardUpdate } from '../sessions/session.js';
import type { StepView } from '../sessions/views.js';
import { encodeFrame, type SectionInput } from './binary-format.js';

export interface Subscription {
  readonly stream: WsStream;
  /** Population names (spikes, potentials) or connection names (weights), in the session's order; none for rewards. */
  readonly names: readonly string[];
  /** Their indices in the hello message's lists. */
  readonly indices: readonly number[];
  /** A batch's spikes and potentials: the copies the events are of, in order; null for a network of one copy (no copy level). */
  readonly copies: readonly number[] | null;
  readonly every: number;
  readonly format: WsFormat;
  /** Connections with equal keys get the very same frame. */
  readonly key: string;
}

function pick(all: readonly string[], wanted: string[] | undefined, field: string, code: 'POPULATION_NOT_FOUND' | 'CONNECTION_NOT_FOUND'): number[] {
  if (wanted === undefined) return all.map((_, i) => i);
  const set = new Set<number>();
  wanted.forEach((name, k) => {
    const i = all.indexOf(name);
    if (i < 0) {
      const what = code === 'POPULATION_NOT_FOUND' ? 'population' : 'connection';
      throw new SpikeserveError(code, `${field}[${k}]: unknown ${what} "${name}"; this network has ${all.join(', ')}`, { field: `${field}[${k}]` });
    }
    set.add(i);
  });
  return [...set].sort((a, b) => a - b);
}

/** The copies a spikes or potentials subscription is of: every copy by default; null for a network of one copy. */
function pickCopies(batchSize: number, wanted: number[] | undefined): number[] | null {
  if (batchSize === 1) {
    if (wanted !== undefined && wanted.some((b) => b !== 0)) {
      throw new SpikeserveError('REQUEST_INVALID', 'copies: this network has one copy (batch_size 1): leave out copies, or ask for [0]', { field: 'copies' });
    }
    return null;
  }
  if (wanted === undefined) return Array.from({ length: batchSize }, (_, b) => b);
  wanted.forEach((b, i) => {
    if (b >= batchSize) throw new SpikeserveError('REQUEST_INVALID', `copies[${i}]: must be a copy of the batch, an integer from 0 to ${batchSize - 1}`, { field: `copies[${i}]` });
  });
  return wanted.slice();
}

export function makeSubscription(session: Session, msg: SubscribeMessage, defaultFormat: WsFormat): Subscription {
  const stream = msg.stream;
  const format = msg.format ?? defaultFormat;
  const every = msg.every ?? 1;
  let indices: number[];
  let names: readonly string[];
  let copies: number[] | null = null;
  if ((stream === 'rewards' || stream === 'weights') && msg.copies !== undefined) {
    const why = stream === 'weights' ? 'the copies of a batch share their weights' : 'a rewards event carries every copy\'s reward';
    throw new SpikeserveError('REQUEST_INVALID', `copies: the ${stream} stream has no copy selection (${why})`, { field: 'copies' });
  }
  if (stream === 'rewards') {
    for (const field of ['populations', 'connections'] as const) {
      if (msg[field] !== undefined) throw new SpikeserveError('REQUEST_INVALID', `${field}: the rewards stream has no selection (one reward per step, for the whole network)`, { field });
    }
    indices = [];
    names = [];
  } else if (stream === 'weights') {
    if (msg.populations !== undefined) throw new SpikeserveError('REQUEST_INVALID', 'populations: the weights stream is chosen by connections', { field: 'populations' });
    indices = pick(session.connectionNames, msg.connections, 'connections', 'CONNECTION_NOT_FOUND');
    names = indices.map((i) => session.connectionNames[i]);
  } else {
    if (msg.connections !== undefined) throw new SpikeserveError('REQUEST_INVALID', `connections: the ${stream} stream is chosen by populations`, { field: 'connections' });
    indices = pick(session.populationNames, msg.populations, 'populations', 'POPULATION_NOT_FOUND');
    names = indices.map((i) => session.populationNames[i]);
    copies = pickCopies(session.copies, msg.copies);
  }
  return { stream, names, indices, copies, every, format, key: `${stream}|${format}|${indices.join(',')}|${copies?.join(',') ?? ''}` };
}

export function describeSubscription(s: Subscription): Subscribed {
  const out: Subscribed = { stream: s.stream, every: s.every, format: s.format };
  if (s.stream === 'weights') out.connections = [...s.names];
  else if (s.stream !== 'rewards') out.populations = [...s.names];
  if (s.copies !== null) out.copies = [...s.copies];
  return out;
}

/** A rewards event, as a text or binary frame. */
export function buildRewardEvent(s: Subscription, u: RewardUpdate): string | Buffer {
  if (s.format === 'binary') {
    const r = u.reward;
    // A batch's (one per copy): a copy section before each copy's reward.
    const sections: SectionInput[] =
      typeof r === 'number' ? [{ type: 'reward', source: u.source, reward: r }] : r.flatMap((reward, copy) => [{ type: 'copy', copy } as const, { type: 'reward', source: u.source, reward } as const]);
    return encodeFrame({ kind: 'rewardEvent', step: u.step, sections });
  }
  return JSON.stringify({ type: 'reward', step: u.step, reward: u.reward, source: u.source });
}

/** One stream event of a step stream (spikes, potentials, weights) for one step, as a text or binary frame. */
export function buildEvent(session: Session, s: Subscription, view: StepView): string | Buffer {
  const { step, pending } = view;
  const copies = s.copies;
  if (s.format === 'binary') {
    const sections: SectionInput[] = [];
    if (s.stream === 'spikes' || s.stream === 'potentials') {
      const spikes = s.stream === 'spikes';
      // A batch: each copy's sections after a copy section.
      for (const copy of copies ?? [0]) {
        if (copies !== null) sections.push({ type: 'copy', copy });
        for (let k = 0; k < s.names.length; k++) {
          sections.push(
            spikes ? { type: 'spikes', index: s.indices[k], steps: [view.spikes(s.names[k], copy)] } : { type: 'potentials', index: s.indices[k], values: view.potentials(s.names[k], copy) },
          );
        }
      }
      return encodeFrame({ kind: spikes ? 'spikesEvent' : 'potentialsEvent', step, pending, sections });
    }
    for (let k = 0; k < s.names.length; k++) {
      const [rows, cols] = session.shapeOf(s.names[k]);
      sections.push({ type: 'weights', index: s.indices[k], rows, cols, values: view.weights(s.names[k]) });
    }
    return encodeFrame({ kind: 'weightsEvent', step, pending, sections });
  }
  const data: Record<string, unknown> = {};
  if (s.stream === 'spikes') for (const name of s.names) data[name] = copies === null ? view.spikes(name) : copies.map((b) => view.spikes(name, b));
  else if (s.stream === 'potentials') for (const name of s.names) data[name] = copies === null ? view.potentials(name) : copies.map((b) => view.potentials(name, b));
  else for (const name of s.names) data[name] = view.weights(name);
  return JSON.stringify(copies === null ? { type: s.stream, step, pending, [s.stream]: data } : { type: s.stream, step, pending, copies, [s.stream]: data });
}
