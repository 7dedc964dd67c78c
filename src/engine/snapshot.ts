/**
 * The snapshot format: everything a network needs to continue bit for bit
 * (weights with their decay scale, every state variable, the pending update,
 * the step counter and the random generator). Versioned: a reader refuses a
 * version it does not know rather than guess at it.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { SpikeserveError } from '../errors.js';
import type { ExportedState, KernelState } from './backends/kernel.js';
import { STATE_BOUNDS } from './bounds.js';
import { VALUES_PER_PAUSE } from './pause.js';
import { jsonPointerToField } from './validate.js';
import type { ResolvedNetwork } from './spec-schema.js';
import { connectionShape } from './spec-sizes.js';

export const SNAPSHOT_FORMAT = 'spikeserve-snapshot';
/**
 * Version 2 added batches: the network's batch_size, and per-copy state
 * copy-major (copy b's v at b * n, spikes and e_pre/e_post as indices into
 * the copies' vectors). A version 1 snapshot is a network of one copy, whose
 * state reads the same.
 */
export const SNAPSHOT_VERSION = 2;
export const SNAPSHOT_VERSIONS_READ = [1, 2] as const;

const Numbers = Type.Array(Type.Number());
const Indices = Type.Array(Type.Integer({ minimum: 0 }));

export const SnapshotSchema = Type.Object(
  {
    format: Type.Literal(SNAPSHOT_FORMAT),
    version: Type.Union(SNAPSHOT_VERSIONS_READ.map((v) => Type.Literal(v))),
    network: Type.Unknown({ description: 'The resolved network spec, without initial weights.' }),
    seed: Type.Integer({ minimum: 0, maximum: 0xffffffff }),
    rng: Type.Tuple([Type.Integer(), Type.Integer(), Type.Integer(), Type.Integer()]),
    step: Type.Integer({ minimum: 0 }),
    pending: Type.Boolean(),
    name: Type.Optional(
      Type.Union([Type.String({ maxLength: 128 }), Type.Null()], {
        description: 'The session\'s name when it was exported; a session restored from the snapshot keeps it unless given a new one.',
      }),
    ),
    state: Type.Object({
      populations: Type.Record(Type.String(), Type.Object({ v: Numbers, refrac: Numbers, traces: Numbers, spikes: Indices }, { additionalProperties: false })),
      connections: Type.Record(
        Type.String(),
        Type.Object(
          {
            w: Numbers,
            scale: Type.Number({ exclusiveMinimum: 0 }),
            rule: Type.Object(
              {
                p_plus: Type.Optional(Numbers),
                p_minus: Type.Optional(Numbers),
                e_pre: Type.Optional(Indices),
                e_post: Type.Optional(Indices),
                et: Type.Optional(Type.Array(Type.Number(), { description: 'MSTDPET\'s eligibility trace, row-major [pre.n * post.n]; the real value is et[k] * et_scale.' })),
                et_scale: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
              },
              { additionalProperties: false },
            ),
          },
          { additionalProperties: false },
        ),
      ),
    }),
  },
  { additionalProperties: false, $id: 'Snapshot', description: 'A complete, versioned session state (format spikeserve-snapshot).' },
);

export type Snapshot = Static<typeof SnapshotSchema> & { network: ResolvedNetwork; state: KernelState };

/** A Snapshot whose vectors are Float64Arrays (Network.snapshotTyped): the same JSON text, the same blob. */
export type TypedSnapshot = Omit<Snapshot, 'state'> & { state: ExportedState };

function snapError(field: string, message: string): SpikeserveError {
  return new SpikeserveError('SNAPSHOT_INVALID', `${field}: ${message}`, { field });
}

/**
 * The keys of a snapshot's per-neuron and per-synapse vectors of numbers: a
 * binary snapshot may hold them as Float64Arrays, whose values
 * checkSnapshotShapes checks one by one (the schema walk would cost a number
 * each over millions of them, and does not read typed arrays).
 */
export const SNAPSHOT_VECTORS: ReadonlySet<string> = new Set(['v', 'refrac', 'traces', 'w', 'p_plus', 'p_minus', 'et']);

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** `o` with its Float64Array vectors (SNAPSHOT_VECTORS) as empty arrays, for the schema; a copy where any changes. */
function withoutTyped(o: unknown): unknown {
  if (!isRecord(o)) return o;
  let out: Record<string, unknown> | null = null;
  for (const k of Object.keys(o)) {
    const v = o[k];
    const next = v instanceof Float64Array && SNAPSHOT_VECTORS.has(k) ? [] : k === 'rule' ? withoutTyped(v) : v;
    if (next !== v) (out ??= { ...o })[k] = next;
  }
  return out ?? o;
}

/** The snapshot as the schema sees it: typed vectors of populations and connections (and their rules) as empty arrays. */
function schemaView(input: Record<string, unknown>): unknown {
  const state = input.state;
  if (!isRecord(state)) return input;
  const view: Record<string, unknown> = { ...state };
  for (const part of ['populations', 'connections']) {
    const group = state[part];
    if (!isRecord(group)) continue;
    // fromEntries: a name such as __proto__ stays an own property, as in the input.
    view[part] = Object.fromEntries(Object.keys(group).map((name) => [name, withoutTyped(group[name])]));
  }
  return { ...input, state: view };
}

/** Structural check; the shapes against the network, and the values of typed vectors, are checked once it is resolved. */
export function checkSnapshotEnvelope(input: unknown, root = 'snapshot'): asserts input is Snapshot {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw snapError(root, 'must be an object');
  const o = input as Record<string, unknown>;
  if (o.format !== SNAPSHOT_FORMAT) throw snapError(`${root}.format`, `must be "${SNAPSHOT_FORMAT}"`);
  if (!(SNAPSHOT_VERSIONS_READ as readonly unknown[]).includes(o.version)) {
    throw new SpikeserveError(
      'SNAPSHOT_VERSION_UNSUPPORTED',
      `${root}.version: this server reads snapshot versions ${SNAPSHOT_VERSIONS_READ.join(' and ')}, not ${JSON.stringify(o.version)}`,
      { field: `${root}.version`, supported: [...SNAPSHOT_VERSIONS_READ] },
    );
  }
  const network = o.network as { batch_size?: unknown } | null;
  if (o.version === 1 && typeof network === 'object' && network !== null && network.batch_size !== undefined && network.batch_size !== 1) {
    throw snapError(`${root}.network.batch_size`, 'a version 1 snapshot holds one copy; batches came with version 2');
  }
  const view = schemaView(o);
  // Value.Check first: it is several times cheaper than walking for errors, and nearly every snapshot passes.
  if (Value.Check(SnapshotSchema, view)) return;
  for (const err of Value.Errors(SnapshotSchema, view)) {
    throw snapError(jsonPointerToField(root, err.path), err.message.charAt(0).toLowerCase() + err.message.slice(1));
  }
}

/** Every vector has its population's or connection's size, every number is finite; pausing (yield) every VALUES_PER_PAUSE numbers. */
export function* checkSnapshotShapes(snap: Snapshot, spec: ResolvedNetwork, root = 'snapshot'): Generator<void, void> {
  // Within the bounds every state the engine reaches keeps (bounds.ts), so
  // that a restored session cannot overflow either.
  const vec = function* (field: string, a: ArrayLike<number> | undefined, n: number, lo: number = -STATE_BOUNDS.other, hi: number = STATE_BOUNDS.other): Generator<void, void> {
    if (!a || a.length !== n) throw snapError(field, `must have ${n} entries, got ${a ? a.length : 'none'}`);
    for (let from = 0; from < a.length; from += VALUES_PER_PAUSE) {
      const to = Math.min(a.length, from + VALUES_PER_PAUSE);
      for (let k = from; k < to; k++) {
        if (!(a[k] >= lo && a[k] <= hi)) throw snapError(`${field}[${k}]`, `must be a finite number from ${lo} to ${hi}`);
      }
      yield;
    }
  };
  const idx = (field: string, a: number[] | undefined, n: number) => {
    const seen = new Set<number>();
    for (const i of a ?? []) {
      if (i >= n || seen.has(i)) throw snapError(field, `must list distinct neuron indices below ${n}`);
      seen.add(i);
    }
  };
  // Per-copy state holds every copy's, copy-major.
  const B = spec.batch_size;
  const pops = snap.state.populations;
  for (const [name, p] of Object.entries(spec.populations)) {
    // Own properties only, here and below: a population named "constructor" must not find Object's.
    const s = Object.hasOwn(pops, name) ? pops[name] : undefined;
    const f = `${root}.state.populations.${name}`;
    if (!s) throw snapError(f, 'missing');
    yield* vec(`${f}.v`, s.v, B * p.n, STATE_BOUNDS.vMin, STATE_BOUNDS.vMax);
    yield* vec(`${f}.refrac`, s.refrac, B * p.n);
    yield* vec(`${f}.traces`, s.traces, B * p.n);
    idx(`${f}.spikes`, s.spikes, B * p.n);
  }
  for (const name of Object.keys(pops)) {
    if (!Object.hasOwn(spec.populations, name)) throw snapError(`${root}.state.populations.${name}`, 'not in the network');
  }
  const conns = snap.state.connections;
  for (const [name, c] of Object.entries(spec.connections)) {
    const s = Object.hasOwn(conns, name) ? conns[name] : undefined;
    const f = `${root}.state.connections.${name}`;
    if (!s) throw snapError(f, 'missing');
    const [rows, cols] = connectionShape(spec, c);
    if (!(s.scale >= STATE_BOUNDS.scaleMin && s.scale <= STATE_BOUNDS.scaleMax)) {
      throw snapError(`${f}.scale`, `must be a number from ${STATE_BOUNDS.scaleMin} to ${STATE_BOUNDS.scaleMax}`);
    }
    yield* vec(`${f}.w`, s.w, rows * cols, -Infinity, Infinity);
    const w: ArrayLike<number> = s.w;
    for (let from = 0; from < w.length; from += VALUES_PER_PAUSE) {
      const to = Math.min(w.length, from + VALUES_PER_PAUSE);
      for (let k = from; k < to; k++) {
        if (!(Math.abs(w[k] * s.scale) <= STATE_BOUNDS.weight)) throw snapError(`${f}.w[${k}]`, `times scale must be a finite number of magnitude at most ${STATE_BOUNDS.weight}`);
      }
      yield;
    }
    if (c.rule.type === 'MSTDP' || c.rule.type === 'MSTDPET') {
      yield* vec(`${f}.rule.p_plus`, s.rule.p_plus, B * rows);
      yield* vec(`${f}.rule.p_minus`, s.rule.p_minus, B * cols);
      idx(`${f}.rule.e_pre`, s.rule.e_pre, B * rows);
      idx(`${f}.rule.e_post`, s.rule.e_post, B * cols);
      if (c.rule.type === 'MSTDPET') {
        const scale = s.rule.et_scale;
        if (!(scale !== undefined && scale >= STATE_BOUNDS.scaleMin && scale <= STATE_BOUNDS.scaleMax)) {
          throw snapError(`${f}.rule.et_scale`, `must be a number from ${STATE_BOUNDS.scaleMin} to ${STATE_BOUNDS.scaleMax}`);
        }
        yield* vec(`${f}.rule.et`, s.rule.et, B * rows * cols, -Infinity, Infinity);
        const et: ArrayLike<number> = s.rule.et!;
        for (let from = 0; from < et.length; from += VALUES_PER_PAUSE) {
          const to = Math.min(et.length, from + VALUES_PER_PAUSE);
          for (let k = from; k < to; k++) {
            if (!(Math.abs(et[k] * scale) <= STATE_BOUNDS.eligibilityTrace)) {
              throw snapError(`${f}.rule.et[${k}]`, `times et_scale must be a finite number of magnitude at most ${STATE_BOUNDS.eligibilityTrace}`);
            }
          }
          yield;
        }
      } else if (s.rule.et !== undefined || s.rule.et_scale !== undefined) {
        throw snapError(`${f}.rule`, 'only an MSTDPET rule has an eligibility trace (et, et_scale)');
      }
    } else if (Object.keys(s.rule).length > 0) {
      throw snapError(`${f}.rule`, `a ${c.rule.type} rule has no state`);
    }
  }
  for (const name of Object.keys(conns)) {
    if (!Object.hasOwn(spec.connections, name)) throw snapError(`${root}.state.connections.${name}`, 'not in the network');
  }
}
