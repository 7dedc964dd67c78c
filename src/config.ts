/**
 * The service's configuration: every setting comes from one environment
 * variable with a documented default, and is checked when the service starts,
 * so a typo stops it with a message naming the variable instead of surfacing
 * as odd behaviour hours later. To add a setting, add one line to HOST_SETTINGS
 * (and its row to the table in docs/configuration.md; a test checks both agree).
 * The engine's backends declare their own settings (BackendProvider.settings),
 * read and checked here with the others and handed to them at start.
 */
import { createHash } from 'node:crypto';
import { BACKEND_SETTINGS, type BackendSettings } from './engine/index.js';
import { splitHost } from './security/host-names.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Parses one raw value; throws an Error whose message says what is expected. */
type Parser<T> = (raw: string) => T;

interface Setting<T> {
  readonly env: string;
  readonly default: string;
  readonly parse: Parser<T>;
  readonly doc: string;
  /** Set but empty is a value of its own (DATA_DIR=: no directory), not the default. */
  readonly emptyAllowed?: boolean;
  /** Holds secrets: a bad value is never echoed in the error. */
  readonly secret?: boolean;
}

function setting<T>(env: string, def: string, parse: Parser<T>, doc: string, options: { emptyAllowed?: boolean; secret?: boolean } = {}): Setting<T> {
  return { env, default: def, parse, doc, ...options };
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

function bool(raw: string): boolean {
  const s = raw.trim().toLowerCase();
  if (s === 'true' || s === '1' || s === 'yes') return true;
  if (s === 'false' || s === '0' || s === 'no') return false;
  throw new Error('must be true or false');
}

/** An API key: its id (what owns sessions and appears in logs and metrics) and its secret. */
export interface ApiKey {
  readonly id: string;
  readonly secret: string;
}

const KEY_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * `name:secret` or a bare `secret`, comma-separated. A named key's sessions
 * stay its own when its secret is replaced; a bare one is known by a hash of
 * its secret. Secrets are at least 16 characters: a short one can be guessed.
 */
function apiKeys(raw: string): ApiKey[] {
  const out: ApiKey[] = [];
  const entries = raw.split(',').map((e) => e.trim()).filter((e) => e !== '');
  entries.forEach((entry, i) => {
    const colon = entry.indexOf(':');
    const id = colon >= 0 ? entry.slice(0, colon) : `key-${createHash('sha256').update(entry).digest('hex').slice(0, 12)}`;
    const secret = colon >= 0 ? entry.slice(colon + 1) : entry;
    if (colon >= 0 && !KEY_NAME.test(id)) throw new Error(`key ${i + 1}: a name holds letters, digits, _ . and -, at most 64 characters`);
    if (secret.length < 16 || /\s/.test(secret)) throw new Error(`key ${i + 1} (${id}): a secret needs at least 16 characters and no spaces`);
    if (out.some((k) => k.id === id)) throw new Error(`key ${i + 1}: the name ${id} is used twice`);
    if (out.some((k) => k.secret === secret)) throw new Error(`key ${i + 1} (${id}): the same secret is listed twice`);
    out.push({ id, secret });
  });
  return out;
}

/** Browser origins, comma-separated, each scheme://host[:port] exactly; `*` allows every origin. */
function origins(raw: string): string[] {
  const out = raw.split(',').map((e) => e.trim()).filter((e) => e !== '');
  for (const o of out) {
    if (o === '*') continue;
    let u: URL;
    try {
      u = new URL(o);
    } catch {
      throw new Error(`"${o}" is not an origin like https://example.org or http://localhost:8080`);
    }
    if (u.origin !== o) throw new Error(`"${o}" is not an origin: write ${u.origin} (scheme, host and port only, no path or trailing slash)`);
  }
  return out;
}

/** Host names the server answers to, comma-separated, each name or address with an optional :port; `*` for any. */
function hosts(raw: string): string[] {
  const out = raw.split(',').map((e) => e.trim()).filter((e) => e !== '');
  return out.map((h) => {
    if (h === '*') return h;
    const parsed = splitHost(h);
    if (parsed === null) throw new Error(`"${h}" is not a host name: write a name or an address, optionally with :port (spikeserve.example, 10.0.0.5:3000, [fd00::1]), without a scheme or a path`);
    return parsed.port === null ? parsed.name : `${parsed.name}:${parsed.port}`;
  });
}

/** Megabytes, or `auto`. */
function megabytesOrAuto(raw: string): number | 'auto' {
  const s = raw.trim().toLowerCase();
  if (s === 'auto') return 'auto';
  try {
    return int(0, 1024 * 1024 * 1024)(s);
  } catch {
    throw new Error('must be auto or a whole number of megabytes (0: no bound)');
  }
}

function path(raw: string): string {
  return raw.trim();
}

function nonEmpty(raw: string): string {
  const s = raw.trim();
  if (s === '') throw new Error('must not be empty');
  return s;
}

/** A URL, parsed, with what to show the user as an example when it is not one. */
function parseUrl(s: string, example: string): URL {
  try {
    return new URL(s);
  } catch {
    throw new Error(`must be a URL like ${example}`);
  }
}

/** A redis:// or rediss:// URL, or empty. */
function redisUrl(raw: string): string {
  const s = raw.trim();
  if (s === '') return s;
  const u = parseUrl(s, 'redis://127.0.0.1:6379');
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error('must be a redis:// or rediss:// URL');
  return s;
}

function nodeId(raw: string): string {
  const s = raw.trim();
  if (s !== '' && !KEY_NAME.test(s)) throw new Error('holds letters, digits, _ . and -, at most 64 characters');
  return s;
}

/** http(s)://host:port, or empty. */
function advertiseUrl(raw: string): string {
  const s = raw.trim();
  if (s === '') return s;
  const u = parseUrl(s, 'http://10.0.0.5:3000');
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.origin !== s.replace(/\/$/, '')) throw new Error(`must be scheme://host:port only, like http://10.0.0.5:3000`);
  return u.origin;
}

const HOST_SETTINGS = {
  host: setting('HOST', '127.0.0.1', nonEmpty, 'Address to listen on. 0.0.0.0 listens on every interface.'),
  port: setting('PORT', '3000', int(0, 65535), 'TCP port to listen on; 0 picks a free one.'),
  apiKeys: setting(
    'API_KEYS',
    '',
    apiKeys,
    'API keys, comma-separated, each name:secret or a bare secret (16+ characters). When set, every /v1 request and WebSocket needs Authorization: Bearer <secret>, and a session is visible only to the key that created it. Empty: no authentication, and HOST must be a loopback address.',
    { secret: true },
  ),
  allowUnauthenticatedPublic: setting(
    'ALLOW_UNAUTHENTICATED_PUBLIC',
    'false',
    bool,
    'true lets the server listen on a non-loopback HOST without API_KEYS (anyone who reaches it can use every session). Without it, that configuration refuses to start.',
  ),
  corsOrigins: setting('CORS_ORIGINS', '', origins, 'Browser origins (scheme://host[:port], comma-separated; * for any) allowed to call the API and open WebSockets from another origin. Empty: none.'),
  allowedHosts: setting(
    'ALLOWED_HOSTS',
    '',
    hosts,
    'Host names (name or address, optionally :port; comma-separated; * for any) the server answers to besides loopback ones (localhost, 127.0.0.0/8, [::1]), against DNS rebinding. Without API_KEYS a request naming another Host gets 403 HOST_NOT_ALLOWED; with API_KEYS the Host is checked only when this is set.',
  ),
  wsTicketTtlS: setting('WS_TICKET_TTL_S', '30', decimal(1, 3600), 'Seconds a WebSocket ticket (POST /v1/sessions/{id}/ws-ticket) stays valid; it is good for one connection.'),
  quotaSessions: setting('QUOTA_SESSIONS', '0', int(0, 1_000_000), 'Sessions one API key may hold at once (in a cluster, over every node); one more gets 429 QUOTA_EXCEEDED. 0: only MAX_SESSIONS applies.'),
  quotaSynapses: setting(
    'QUOTA_SYNAPSES',
    '0',
    int(0, 100_000_000_000),
    'Synapses over the sessions of one API key (in a cluster, over every node); past it a new session gets 429 QUOTA_EXCEEDED. 0: only MAX_TOTAL_SYNAPSES applies.',
  ),
  quotaStepsPerS: setting(
    'QUOTA_STEPS_PER_S',
    '0',
    decimal(0, 1e12),
    'Network steps per second one API key may run, over HTTP and WebSocket together (a token bucket; in a cluster, over every node); past it, 429 QUOTA_EXCEEDED with Retry-After. 0: no limit.',
  ),
  quotaStepsBurst: setting('QUOTA_STEPS_BURST', '0', decimal(0, 1e12), 'Steps one API key may run at once above QUOTA_STEPS_PER_S (the bucket\'s size). 0: one second\'s worth.'),
  overloadEventLoopDelayMs: setting(
    'OVERLOAD_EVENT_LOOP_DELAY_MS',
    '500',
    decimal(0, 60_000),
    'Event-loop delay (99th percentile over the loop\'s last 500 probes, 10 ms apart: its last 5 s when it runs free) past which the server is overloaded: new sessions and heavy steps get 503 OVERLOADED with Retry-After; light steps and health checks still run. One long request is one late probe and does not trip it (a server just started counts as idle before it); sustained delay does. 0: not checked.',
  ),
  overloadMemoryMb: setting(
    'OVERLOAD_MEMORY_MB',
    'auto',
    megabytesOrAuto,
    'Resident memory (RSS) past which the server is overloaded, in MB. auto: 90% of the container\'s memory limit, or of the machine\'s memory. 0: not checked.',
  ),
  overloadHeavyStepCost: setting(
    'OVERLOAD_HEAVY_STEP_COST',
    '10000000',
    int(0, Number.MAX_SAFE_INTEGER),
    'A step request is heavy, and refused while overloaded, when its steps x (neurons + synapses) reaches this. 0: every step is heavy.',
  ),
  dataDir: setting(
    'DATA_DIR',
    './data',
    path,
    'Directory of the SQLite database that keeps sessions across restarts (created if missing). Set it empty (DATA_DIR=) to keep sessions in memory only.',
    { emptyAllowed: true },
  ),
  persistSync: setting(
    'PERSIST_SYNC',
    'normal',
    oneOf(['normal', 'full'] as const),
    'normal: a reply waits until its change is written to the operating system (survives a crash or kill of the server). full: also flushed to the disk (survives a power cut), at about a millisecond or more per commit.',
  ),
  persistCompactSteps: setting(
    'PERSIST_COMPACT_STEPS',
    '10000',
    int(1, 1_000_000_000),
    'A session\'s log of commands is folded into a new snapshot once it holds this many network steps (or is larger than the snapshot): what bounds replay at start.',
  ),
  logLevel: setting('LOG_LEVEL', 'info', oneOf(LOG_LEVELS), `Log level: ${LOG_LEVELS.join(', ')}. At info, one line per request.`),
  bodyLimitBytes: setting('BODY_LIMIT_BYTES', '16777216', int(1024, 1024 ** 3), 'Largest request body accepted, in bytes (16 MiB); larger gets 413 BODY_TOO_LARGE.'),
  maxSessions: setting('MAX_SESSIONS', '256', int(1, 1_000_000), 'Sessions held at once, hibernated ones included; one more gets 422 LIMIT_EXCEEDED.'),
  maxNeurons: setting('MAX_NEURONS_PER_SESSION', '100000', int(1, 100_000_000), 'Neurons, summed over populations, in one session.'),
  maxSynapses: setting('MAX_SYNAPSES_PER_SESSION', '4000000', int(0, 1_000_000_000), 'Synapses (pre.n x post.n summed over connections) in one session; about 8 to 24 bytes each.'),
  maxPopulations: setting(
    'MAX_POPULATIONS_PER_SESSION',
    '1000',
    int(1, 1_000_000),
    'Populations in one network. Each costs bookkeeping in every step, reply and snapshot whatever its size, so many tiny ones cost far more than their neurons.',
  ),
  maxConnections: setting('MAX_CONNECTIONS_PER_SESSION', '1000', int(0, 1_000_000), 'Connections in one network; each costs bookkeeping as a population does.'),
  maxBatchSize: setting(
    'MAX_BATCH_SIZE',
    '64',
    int(1, 100_000),
    'Copies in one batch network (batch_size). Each copy also counts in full against MAX_NEURONS_PER_SESSION and MAX_SYNAPSES_PER_SESSION; more copies get 422 LIMIT_EXCEEDED.',
  ),
  maxJsonDepth: setting(
    'MAX_JSON_DEPTH',
    '32',
    int(4, 10_000),
    'Arrays and objects nested inside each other in a JSON request body or WebSocket message; deeper gets 400 REQUEST_INVALID before it is parsed (parsing deep nesting is costly, and no request needs more than a few levels).',
  ),
  maxTotalSynapses: setting(
    'MAX_TOTAL_SYNAPSES',
    '100000000',
    int(0, 100_000_000_000),
    'Synapses summed over the sessions in memory (hibernated ones do not count): with the per-session limits, what bounds its memory (about 8 to 24 bytes a synapse). With DATA_DIR, sessions not in use are hibernated, least recently used first, to make room under it.',
  ),
  maxStepsPerCall: setting('MAX_STEPS_PER_CALL', '100000', int(1, 100_000_000), 'Network steps one step request may ask for.'),
  maxBatchItems: setting('MAX_BATCH_ITEMS', '1024', int(1, 1_000_000), 'Items (session steps) one POST /v1/batch/step, or one step_batch message of the multiplexed WebSocket, may carry; more gets LIMIT_EXCEEDED.'),
  maxSpikeRecords: setting(
    'MAX_SPIKE_RECORDS_PER_CALL',
    '5000000',
    int(1, 1_000_000_000),
    'Bound on the per-step spike lists one step request may return: steps x neurons of the returned populations. Ask for counts, fewer populations or fewer steps beyond it.',
  ),
  sessionIdleTimeoutS: setting(
    'SESSION_IDLE_TIMEOUT_S',
    '3600',
    decimal(0, 365 * 24 * 3600),
    'Seconds without a request after which a session leaves memory. With DATA_DIR it hibernates: kept on disk, still listed and counted in its key\'s quotas, and loaded back exactly as it was by its next request (one with a WebSocket open stays in memory). With DATA_DIR= (memory only) it is deleted. 0: never.',
  ),
  sessionRetentionS: setting(
    'SESSION_RETENTION_S',
    '0',
    decimal(0, 100 * 365 * 24 * 3600),
    'With DATA_DIR: seconds without a request after which a session, hibernated or not, is deleted for good. 0: never (sessions are deleted only by DELETE).',
  ),
  stepSliceMs: setting('STEP_SLICE_MS', '10', decimal(1, 10_000), 'A long step request runs in slices of about this many milliseconds, yielding to other requests between them.'),
  shutdownTimeoutS: setting('SHUTDOWN_TIMEOUT_S', '10', decimal(0, 3600), 'On SIGTERM/SIGINT, seconds to finish requests in flight before exiting anyway (with code 1).'),
  wsMaxPayloadBytes: setting(
    'WS_MAX_PAYLOAD_BYTES',
    '16777216',
    int(1024, 1024 ** 3),
    'Largest WebSocket message (and frame) accepted, in bytes (16 MiB, as BODY_LIMIT_BYTES); a larger one closes the socket with 1009.',
  ),
  wsSendBufferBytes: setting(
    'WS_SEND_BUFFER_BYTES',
    '1048576',
    int(1024, 1024 ** 3),
    'Bytes waiting to be sent on one WebSocket above which its stream events are dropped (and counted) and the server stops reading its requests until it drains (1 MiB).',
  ),
  wsMaxBufferedBytes: setting(
    'WS_MAX_BUFFERED_BYTES',
    '67108864',
    int(1024, 1024 ** 4),
    'Bytes waiting to be sent on one WebSocket past which the server closes it (4413 WS_BUFFER_EXCEEDED): a peer that stopped reading (64 MiB).',
  ),
  wsMaxInFlight: setting(
    'WS_MAX_IN_FLIGHT',
    '4096',
    int(1, 1_000_000),
    'Requests one WebSocket may have sent and not yet had answered (pipelining); past it the server stops reading the socket until replies go out.',
  ),
  wsRateLimitPerS: setting(
    'WS_RATE_LIMIT_PER_S',
    '50000',
    decimal(0, 1e9),
    'Messages per second one WebSocket may send, on average; more get RATE_LIMITED error replies, unrun. A third or less of what one pipelining socket can push through the server on 2 cores, so one socket cannot take it all. 0: no limit.',
  ),
  wsRateBurst: setting('WS_RATE_BURST', '10000', int(1, 1e9), 'Messages one WebSocket may send at once above the rate (the token bucket\'s size).'),
  wsHeartbeatIntervalS: setting(
    'WS_HEARTBEAT_INTERVAL_S',
    '30',
    decimal(0, 3600),
    'The server pings every WebSocket this often and closes one that has not answered the previous ping (a dead peer). 0: no heartbeat.',
  ),
  redisUrl: setting(
    'REDIS_URL',
    '',
    redisUrl,
    'redis://[user:password@]host:port[/db] of the Redis that coordinates a cluster of nodes (docs/cluster.md): set, this server is one node of it, registered there, its sessions listed in its session directory, and requests for sessions of other nodes forwarded to them. Empty: one process on its own, no Redis.',
    { secret: true },
  ),
  nodeId: setting('NODE_ID', '', nodeId, 'This node\'s name in the cluster (letters, digits, _ . -). Empty: a random one, kept in DATA_DIR so that a restarted node is the same node.'),
  advertiseUrl: setting('ADVERTISE_URL', '', advertiseUrl, 'The http://host:port at which the other nodes (and clients that skip the hop) reach this node. Empty: http://HOST:PORT with the port it listens on.'),
  clusterHeartbeatS: setting('CLUSTER_HEARTBEAT_S', '1', decimal(0.1, 60), 'Seconds between a node\'s heartbeats to Redis; its registration expires after three missed ones, and its sessions then answer 503 SESSION_UNAVAILABLE until it is back.'),
  wsMaxObservers: setting('WS_MAX_OBSERVERS', '16', int(0, 100_000), 'Observer WebSockets one session may have at once (besides its one controller).'),
} as const;

/** The backends' settings, by variable name. */
const BACKEND_HOST_SETTINGS: Readonly<Record<string, Setting<string>>> = Object.fromEntries(
  BACKEND_SETTINGS.map((s) => [s.env, setting(s.env, s.default, oneOf(s.values), s.doc)]),
);

/** Every setting: the host's, and the backends'. */
export const SETTINGS: Readonly<Record<string, Setting<unknown>>> = { ...HOST_SETTINGS, ...BACKEND_HOST_SETTINGS };

type Settings = typeof HOST_SETTINGS;
export type Config = { readonly [K in keyof Settings]: Settings[K] extends Setting<infer T> ? T : never } & {
  /** The backends' settings by variable name, checked, for startBackends. */
  readonly backendSettings: BackendSettings;
};

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
  const read = (s: Setting<unknown>, set: (value: unknown) => void) => {
    const raw = env[s.env];
    const given = raw !== undefined && (raw.trim() !== '' || s.emptyAllowed === true);
    try {
      set(s.parse(given ? raw : s.default));
    } catch (e) {
      problems.push({ variable: s.env, message: `${(e as Error).message}${s.secret ? '' : `, got ${JSON.stringify(raw)}`}` });
    }
  };
  for (const [key, s] of Object.entries(HOST_SETTINGS) as [string, Setting<unknown>][]) read(s, (v) => (out[key] = v));
  const backendSettings: Record<string, string> = {};
  for (const s of Object.values(BACKEND_HOST_SETTINGS)) read(s, (v) => (backendSettings[s.env] = v as string));
  out.backendSettings = Object.freeze(backendSettings);
  if (problems.length === 0) checkExposure(out as Config, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(out) as Config;
}

/** The defaults, with overrides: what tests and tools use instead of the environment. */
export function defaultConfig(overrides: Partial<Config> = {}): Config {
  return Object.freeze({ ...loadConfig({}), ...overrides });
}

/** 127.0.0.0/8, ::1 and localhost: addresses no other machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Without keys the service is for this machine only, unless the operator says otherwise in so many words. */
function checkExposure(c: Config, problems: { variable: string; message: string }[]): void {
  if (c.apiKeys.length === 0 && !isLoopback(c.host) && !c.allowUnauthenticatedPublic) {
    problems.push({
      variable: 'HOST',
      message: `${c.host} can be reached from other machines and API_KEYS is empty, so anyone could use every session: set API_KEYS, listen on 127.0.0.1, or set ALLOW_UNAUTHENTICATED_PUBLIC=true to serve without keys anyway`,
    });
  }
}
