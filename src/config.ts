/**
 * The service's configuration: every setting comes from one environment
 * variable with a documented default, and is checked when the service starts,
 * so a typo stops it with a message naming the variable instead of surfacing
 * as odd behaviour hours later. To add a setting, add one line to SETTINGS
 * (and its row to the README's configuration table; a test checks both agree).
 */

import { TFJS_PLATFORMS } from './engine/index.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Parses one raw value; throws an Error whose message says what is expected. */
type Parser<T> = (raw: string) => T;

interface Setting<T> {
  readonly env: string;
  readonly default: string;
  readonly parse: Parser<T>;
  readonly doc: string;
}

function setting<T>(env: string, def: string, parse: Parser<T>, doc: string): Setting<T> {
  return { env, default: def, parse, doc };
}

function int(min: number, max: number): Parser<number> {
  return (raw) => {
    const s = raw.trim().replace(/_/g, '');
    if (!/^-?\d+$/.test(s)) throw new Error(`must be a whole number from ${min} to ${max}`);
    const n = Number(s);
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new Error(`must be a whole number from ${min} to ${max}`);
    return n;
  };
}

function decimal(min: number, max: number): Parser<number> {
  return (raw) => {
    const s = raw.trim();
    const n = Number(s);
    if (s === '' || !Number.isFinite(n) || n < min || n > max) throw new Error(`must be a number from ${min} to ${max}`);
    return n;
  };
}

function oneOf<const T extends readonly string[]>(values: T): Parser<T[number]> {
  return (raw) => {
    const s = raw.trim().toLowerCase();
    if (!(values as readonly string[]).includes(s)) throw new Error(`must be one of ${values.join(', ')}`);
    return s as T[number];
  };
}

function nonEmpty(raw: string): string {
  const s = raw.trim();
  if (s === '') throw new Error('must not be empty');
  return s;
}

export const SETTINGS = {
  host: setting('HOST', '127.0.0.1', nonEmpty, 'Address to listen on. 0.0.0.0 listens on every interface.'),
  port: setting('PORT', '3000', int(0, 65535), 'TCP port to listen on; 0 picks a free one.'),
  logLevel: setting('LOG_LEVEL', 'info', oneOf(LOG_LEVELS), `Log level: ${LOG_LEVELS.join(', ')}. At info, one line per request.`),
  bodyLimitBytes: setting('BODY_LIMIT_BYTES', '16777216', int(1024, 1024 ** 3), 'Largest request body accepted, in bytes (16 MiB); larger gets 413 BODY_TOO_LARGE.'),
  maxSessions: setting('MAX_SESSIONS', '256', int(1, 1_000_000), 'Sessions held at once; one more gets 422 LIMIT_EXCEEDED.'),
  maxNeurons: setting('MAX_NEURONS_PER_SESSION', '100000', int(1, 100_000_000), 'Neurons, summed over populations, in one session.'),
  maxSynapses: setting('MAX_SYNAPSES_PER_SESSION', '4000000', int(0, 1_000_000_000), 'Synapses (pre.n x post.n summed over connections) in one session; about 8 to 24 bytes each.'),
  maxTotalSynapses: setting(
    'MAX_TOTAL_SYNAPSES',
    '100000000',
    int(0, 100_000_000_000),
    'Synapses summed over every session the server holds: with the per-session limits, what bounds its memory (about 8 to 24 bytes a synapse).',
  ),
  maxStepsPerCall: setting('MAX_STEPS_PER_CALL', '100000', int(1, 100_000_000), 'Network steps one step request may ask for.'),
  maxSpikeRecords: setting(
    'MAX_SPIKE_RECORDS_PER_CALL',
    '5000000',
    int(1, 1_000_000_000),
    'Bound on the per-step spike lists one step request may return: steps x neurons of the returned populations. Ask for counts, fewer populations or fewer steps beyond it.',
  ),
  sessionIdleTimeoutS: setting('SESSION_IDLE_TIMEOUT_S', '3600', decimal(0, 365 * 24 * 3600), 'Seconds without a request after which a session is evicted; 0 never evicts.'),
  stepSliceMs: setting('STEP_SLICE_MS', '10', decimal(1, 10_000), 'A long step request runs in slices of about this many milliseconds, yielding to other requests between them.'),
  shutdownTimeoutS: setting('SHUTDOWN_TIMEOUT_S', '10', decimal(0, 3600), 'On SIGTERM/SIGINT, seconds to finish requests in flight before exiting anyway (with code 1).'),
  tfjsBackend: setting(
    'TFJS_BACKEND',
    'auto',
    oneOf(['auto', ...TFJS_PLATFORMS] as const),
    'Platform of the "tfjs" session backend: auto tries node (@tensorflow/tfjs-node, when installed), then wasm, then cpu; naming one forces it. If none starts, tfjs sessions get 503 BACKEND_UNAVAILABLE and native ones run as usual.',
  ),
} as const;

type Settings = typeof SETTINGS;
export type Config = { readonly [K in keyof Settings]: Settings[K] extends Setting<infer T> ? T : never };

export class ConfigError extends Error {
  readonly problems: { variable: string; message: string }[];

  constructor(problems: { variable: string; message: string }[]) {
    super('invalid configuration:\n' + problems.map((p) => `  ${p.variable}: ${p.message}`).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Reads every setting from `env` (unset or empty means the default); throws ConfigError naming each bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const out: Record<string, unknown> = {};
  const problems: { variable: string; message: string }[] = [];
  for (const [key, s] of Object.entries(SETTINGS) as [string, Setting<unknown>][]) {
    const raw = env[s.env];
    const given = raw !== undefined && raw.trim() !== '';
    try {
      out[key] = s.parse(given ? raw : s.default);
    } catch (e) {
      problems.push({ variable: s.env, message: `${(e as Error).message}, got ${JSON.stringify(raw)}` });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(out) as Config;
}

/** The defaults, with overrides: what tests and tools use instead of the environment. */
export function defaultConfig(overrides: Partial<Config> = {}): Config {
  return Object.freeze({ ...loadConfig({}), ...overrides });
}
