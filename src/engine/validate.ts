/**
 * Turns an untrusted spec into a ResolvedNetwork, or throws SPEC_INVALID /
 * LIMIT_EXCEEDED naming the field. Nothing is allocated for the network until
 * this has passed, so an oversized spec costs nothing.
 */
import { Value } from '@sinclair/typebox/value';
import { SpikeserveError } from '../errors.js';
import { MAX_ABS_VALUE, MIN_TAU_S, MIN_TC_E_TRACE } from './bounds.js';
import { DEFAULT_ENGINE_LIMITS, type EngineLimits } from './limits.js';
import { synapseCount } from './spec-sizes.js';
import {
  NAME_PATTERN,
  NetworkSpecSchema,
  RULE_TYPES,
  type ConnectionSpec,
  type NetworkSpec,
  type PopulationSpec,
  type ResolvedConnection,
  type ResolvedNetwork,
  type ResolvedPopulation,
  type ResolvedRule,
  type RuleSpec,
  type RuleType,
} from './spec-schema.js';

/** SynapticFlow's LIFPopulation defaults. */
export const POPULATION_DEFAULTS: Omit<ResolvedPopulation, 'n'> = {
  threshold: -52,
  rest_pot: -62,
  reset_pot: -62,
  refrac_length: 5,
  tau_s: 10,
  R: 20,
  lower_bound: null,
  additive_spike_trace: false,
  trace_scale: 1,
};

export const MSTDP_DEFAULTS = { tc_plus: 20, tc_minus: 20, a_plus: 1, a_minus: -1 } as const;
const MSTDP_ONLY = Object.keys(MSTDP_DEFAULTS) as (keyof typeof MSTDP_DEFAULTS)[];
/** MSTDPET's parameters beyond MSTDP's (BindsNET's default). */
export const MSTDPET_DEFAULTS = { tc_e_trace: 25 } as const;

function specError(path: string, message: string): SpikeserveError {
  return new SpikeserveError('SPEC_INVALID', `${path}: ${message}`, { field: path });
}

/** '/populations/pre/n' -> 'network.populations.pre.n' */
export function jsonPointerToField(root: string, pointer: string): string {
  if (pointer === '') return root;
  // An all-digit segment is an array index, except as a key of a name map
  // (where it is an invalid name the message must show as given).
  const maps = new Set(['populations', 'connections', 'inputs', 'initial_weights', 'weights']);
  const parts = pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  return root + parts.map((p, i) => (/^\d+$/.test(p) && !maps.has(parts[i - 1]) ? `[${p}]` : '.' + p)).join('');
}

function structuralCheck(input: unknown, root: string): asserts input is NetworkSpec {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw specError(root, 'must be an object with "populations" (and optionally "dt", "connections")');
  }
  // Value.Check first: it is several times cheaper than walking for errors, and nearly every spec passes.
  if (Value.Check(NetworkSpecSchema, input)) return;
  for (const err of Value.Errors(NetworkSpecSchema, input)) {
    const field = jsonPointerToField(root, err.path);
    let message = err.message;
    // TypeBox reports a bad record key as an unexpected property; say why.
    const last = err.path.split('/').pop() ?? '';
    if (/^\/(populations|connections)\/[^/]+$/.test(err.path) && !new RegExp(NAME_PATTERN).test(last)) {
      message = 'invalid name: a name starts with a letter and holds letters, digits, _ and -, at most 64 characters';
    } else if (err.message === 'Unexpected property') {
      message = 'unknown field';
    }
    throw specError(field, message.charAt(0).toLowerCase() + message.slice(1));
  }
}

/** Finite and at most MAX_ABS_VALUE in magnitude (see bounds.ts for why). */
function finite(path: string, v: number | null | undefined): void {
  if (typeof v === 'number' && !(Math.abs(v) <= MAX_ABS_VALUE)) throw specError(path, `must be a finite number of magnitude at most ${MAX_ABS_VALUE}`);
}

function resolvePopulation(p: PopulationSpec, path: string): ResolvedPopulation {
  for (const [k, v] of Object.entries(p)) if (typeof v === 'number') finite(`${path}.${k}`, v);
  if (p.tau_s !== undefined && p.tau_s < MIN_TAU_S) {
    throw specError(`${path}.tau_s`, `must be at least ${MIN_TAU_S} (dt / tau_s scales every change of v)`);
  }
  return { ...POPULATION_DEFAULTS, ...p, lower_bound: p.lower_bound ?? null };
}

function canonicalRuleType(type: string, path: string): RuleType {
  const t = RULE_TYPES.find((r) => r.toLowerCase() === type.toLowerCase());
  if (!t) throw specError(`${path}.type`, `unknown rule "${type}"; expected one of ${RULE_TYPES.join(', ')}`);
  return t;
}

function resolveRule(r: RuleSpec | undefined, path: string): ResolvedRule {
  if (!r) return { type: 'NoOp', lr: [0, 0], weight_decay: 0, boundary: 'hard', reduction: 'sum' };
  const type = canonicalRuleType(r.type, path);
  const lrIn = r.lr ?? 0;
  const lr: [number, number] = typeof lrIn === 'number' ? [lrIn, lrIn] : [lrIn[0], lrIn[1]];
  finite(typeof lrIn === 'number' ? `${path}.lr` : `${path}.lr[0]`, lr[0]);
  finite(typeof lrIn === 'number' ? `${path}.lr` : `${path}.lr[1]`, lr[1]);
  for (const k of ['weight_decay', ...MSTDP_ONLY, 'tc_e_trace'] as const) finite(`${path}.${k}`, r[k]);
  const rule: ResolvedRule = {
    type,
    lr,
    weight_decay: r.weight_decay ?? 0,
    boundary: r.boundary ?? 'hard',
    reduction: r.reduction ?? 'sum',
  };
  if (type === 'MSTDP' || type === 'MSTDPET') {
    for (const k of MSTDP_ONLY) rule[k] = r[k] ?? MSTDP_DEFAULTS[k];
  } else {
    for (const k of MSTDP_ONLY) {
      if (r[k] !== undefined) throw specError(`${path}.${k}`, `only MSTDP and MSTDPET have this parameter, not ${type}`);
    }
  }
  if (type === 'MSTDPET') {
    if (r.tc_e_trace !== undefined && r.tc_e_trace < MIN_TC_E_TRACE) {
      throw specError(`${path}.tc_e_trace`, `must be at least ${MIN_TC_E_TRACE} (the trace adds e / tc_e_trace every step)`);
    }
    rule.tc_e_trace = r.tc_e_trace ?? MSTDPET_DEFAULTS.tc_e_trace;
  }
  else if (r.tc_e_trace !== undefined) throw specError(`${path}.tc_e_trace`, `only MSTDPET has this parameter, not ${type}`);
  return rule;
}

function resolveConnection(
  c: ConnectionSpec,
  path: string,
  pops: Record<string, ResolvedPopulation>,
): ResolvedConnection {
  // Own properties only: "constructor" or "toString" must not find Object's.
  const pre = Object.hasOwn(pops, c.pre) ? pops[c.pre] : undefined;
  if (!pre) throw specError(`${path}.pre`, `unknown population "${c.pre}"; declared: ${Object.keys(pops).join(', ')}`);
  const post = Object.hasOwn(pops, c.post) ? pops[c.post] : undefined;
  if (!post) throw specError(`${path}.post`, `unknown population "${c.post}"; declared: ${Object.keys(pops).join(', ')}`);
  const w_min = c.w_min ?? 0;
  const w_max = c.w_max ?? 1;
  finite(`${path}.w_min`, w_min);
  finite(`${path}.w_max`, w_max);
  if (w_min > w_max) throw specError(`${path}.w_min`, `w_min (${w_min}) must not exceed w_max (${w_max})`);
  const out: ResolvedConnection = { pre: c.pre, post: c.post, w_min, w_max, rule: resolveRule(c.rule, `${path}.rule`) };
  if (c.w !== undefined) {
    checkMatrixShape(c.w, pre.n, post.n, `${path}.w`, 'SPEC_INVALID');
    out.w = c.w;
  }
  return out;
}

/** Checks a [rows][cols] matrix of finite numbers; shared by specs and weight writes. */
export function checkMatrixShape(
  w: unknown,
  rows: number,
  cols: number,
  path: string,
  code: 'SPEC_INVALID' | 'WEIGHTS_INVALID',
): asserts w is number[][] {
  const fail = (p: string, m: string) => new SpikeserveError(code, `${p}: ${m}`, { field: p, expected: [rows, cols] });
  if (!Array.isArray(w)) throw fail(path, `must be an array of ${rows} rows`);
  if (w.length !== rows) throw fail(path, `must have ${rows} rows (one per pre neuron), got ${w.length}`);
  for (let i = 0; i < rows; i++) {
    const row: unknown = w[i];
    if (!Array.isArray(row) || row.length !== cols) {
      throw fail(`${path}[${i}]`, `must have ${cols} columns (one per post neuron), got ${Array.isArray(row) ? row.length : typeof row}`);
    }
    for (let j = 0; j < cols; j++) {
      const x: unknown = row[j];
      if (typeof x !== 'number' || !Number.isFinite(x)) throw fail(`${path}[${i}][${j}]`, 'must be a finite number');
    }
  }
}

/** Keys of an object, counted up to `stop` (no array of them is built). */
function countKeys(o: unknown, stop: number): number {
  if (typeof o !== 'object' || o === null) return 0;
  let n = 0;
  for (const k in o) if (Object.hasOwn(o, k) && ++n > stop) break;
  return n;
}

/** Population and connection counts, checked before anything walks the spec: many small entries cost more than their size says. */
export function checkSpecCounts(input: unknown, limits: EngineLimits, root: string): void {
  if (typeof input !== 'object' || input === null) return;
  const spec = input as { populations?: unknown; connections?: unknown };
  const counts = [
    { field: 'populations', limit: 'maxPopulations', env: 'MAX_POPULATIONS_PER_SESSION', max: limits.maxPopulations ?? DEFAULT_ENGINE_LIMITS.maxPopulations },
    { field: 'connections', limit: 'maxConnections', env: 'MAX_CONNECTIONS_PER_SESSION', max: limits.maxConnections ?? DEFAULT_ENGINE_LIMITS.maxConnections },
  ];
  for (const c of counts) {
    if (countKeys(spec[c.field as 'populations'], c.max) > c.max) {
      throw new SpikeserveError('LIMIT_EXCEEDED', `${root}.${c.field}: more than the limit of ${c.max} ${c.field} in one network (${c.env}); merge small ones into larger ones`, {
        limit: c.limit,
        max: c.max,
      });
    }
  }
}

export function resolveSpec(
  input: unknown,
  limits: EngineLimits = DEFAULT_ENGINE_LIMITS,
  root = 'network',
): ResolvedNetwork {
  checkSpecCounts(input, limits, root);
  structuralCheck(input, root);
  const dt = input.dt ?? 0.1;
  finite(`${root}.dt`, dt);

  const batch = input.batch_size ?? 1;
  const maxBatch = limits.maxBatchSize ?? DEFAULT_ENGINE_LIMITS.maxBatchSize;
  if (batch > maxBatch) {
    throw new SpikeserveError('LIMIT_EXCEEDED', `${root}.batch_size: ${batch} copies exceeds the limit of ${maxBatch} (MAX_BATCH_SIZE); run several sessions instead`, {
      field: `${root}.batch_size`, limit: 'maxBatchSize', value: batch, max: maxBatch,
    });
  }

  // Sizes first, before any per-element work on a possibly huge `w`. Every
  // copy of a batch steps its own neurons and runs its rules over every
  // synapse, so each counts in full.
  let neurons = 0;
  for (const p of Object.values(input.populations)) neurons += p.n;
  const copies = batch > 1 ? ` (${neurons} per copy, ${batch} copies)` : '';
  neurons *= batch;
  if (neurons > limits.maxNeurons) {
    throw new SpikeserveError('LIMIT_EXCEEDED', `${root}.populations: ${neurons} neurons in all${copies} exceeds the limit of ${limits.maxNeurons}`, {
      limit: 'maxNeurons', value: neurons, max: limits.maxNeurons,
    });
  }
  const connsIn = input.connections ?? {};
  const perCopy = synapseCount(input);
  const synapses = perCopy * batch;
  if (synapses > limits.maxSynapses) {
    const detail = batch > 1 ? ` (${perCopy} per copy, ${batch} copies)` : '';
    throw new SpikeserveError('LIMIT_EXCEEDED', `${root}.connections: ${synapses} synapses in all${detail} exceeds the limit of ${limits.maxSynapses}`, {
      limit: 'maxSynapses', value: synapses, max: limits.maxSynapses,
    });
  }

  const populations: Record<string, ResolvedPopulation> = {};
  for (const [name, p] of Object.entries(input.populations)) {
    populations[name] = resolvePopulation(p, `${root}.populations.${name}`);
  }
  const connections: Record<string, ResolvedConnection> = {};
  for (const [name, c] of Object.entries(connsIn)) {
    connections[name] = resolveConnection(c, `${root}.connections.${name}`, populations);
  }
  return { dt, batch_size: batch, populations, connections };
}
