/**
 * The one catalogue of error codes. Every failure a client can see carries one
 * of these codes; its HTTP status lives here so the REST layer, the WebSocket
 * protocol and the CLI cannot disagree. Codes are stable: add new ones, never
 * rename or reuse.
 */
export const ERROR_CATALOGUE = {
  SPEC_INVALID: { status: 400, description: 'The network spec is malformed: a field is missing, unknown, of the wrong type or out of range.' },
  INPUT_INVALID: { status: 400, description: 'Step inputs or a reward are malformed: unknown population, wrong vector length, or a non-finite number.' },
  WEIGHTS_INVALID: { status: 400, description: 'A weight matrix has the wrong shape or holds a non-finite number.' },
  SNAPSHOT_INVALID: { status: 400, description: 'A snapshot is malformed or inconsistent with its own network.' },
  SNAPSHOT_VERSION_UNSUPPORTED: { status: 422, description: 'A snapshot was written in a format version this server does not read.' },
  LIMIT_EXCEEDED: { status: 422, description: 'A request is well formed but exceeds a configured limit (neurons, synapses, steps per call, sessions).' },
  STEP_OVERFLOW: { status: 422, description: 'A step or reward would make a value of the session non-finite (the tfjs backend computes in float32, where large inputs or parameters overflow): it was refused and the session is as it was before that step. details name the population or connection, the variable and its index, and for a step call `stepsRun`, the steps of the call that ran before it (they stand).' },
  REWARD_NOT_PENDING: { status: 409, description: 'A reward was sent but no step is waiting for one (step with deferReward first).' },
  CONNECTION_NOT_FOUND: { status: 404, description: 'The named connection does not exist in this session.' },
  POPULATION_NOT_FOUND: { status: 404, description: 'The named population does not exist in this session.' },
  SESSION_NOT_FOUND: { status: 404, description: 'No session with this id exists (or it was deleted or evicted).' },
  REPLAY_CASE_INVALID: { status: 400, description: 'A replay case file is not a recorded case (network, initial_weights, steps), the format of the reference trajectories in test/golden.' },
  BACKEND_UNAVAILABLE: { status: 503, description: 'The requested engine backend cannot run on this server: it was not started, or could not start here (GET /healthz says why; use the native backend). A saved session on that backend stays on disk, unchanged, and loads once the server runs with it.' },
  REQUEST_INVALID: { status: 400, description: 'The request is malformed: the body is not valid JSON, or a field, query parameter or path parameter is missing, unknown or of the wrong type.' },
  ROUTE_NOT_FOUND: { status: 404, description: 'No endpoint has this method and path (the API lives under /v1; see /openapi.yaml).' },
  BODY_TOO_LARGE: { status: 413, description: 'The request body is larger than its endpoint takes (BODY_LIMIT_BYTES for JSON; binary weights and snapshots have limits of their own).' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, description: 'The request body is not sent as application/json.' },
  SHUTTING_DOWN: { status: 503, description: 'The server is shutting down and takes no new work; retry against another instance or after the restart.' },
  MESSAGE_INVALID: { status: 400, description: 'A WebSocket message is not a JSON text object with a known `type` (malformed JSON, a binary frame, a missing or unknown type, or an `id` that is not a string of at most 128 characters or a finite number). It gets an error reply; the socket stays open.' },
  WS_READ_ONLY: { status: 403, description: 'An observer WebSocket sent a command that changes the session (step, reward, reset, set_weights); only the controller may. Connect with role=controller to send commands.' },
  WS_CONTROLLER_TAKEN: { status: 409, description: 'Another WebSocket already controls this session: connect with role=observer to watch it, or close the other controller first. The refused socket is closed with 4409.' },
  RATE_LIMITED: { status: 429, description: 'Too many messages in too short a time: a WebSocket connection sent more than WS_RATE_LIMIT_PER_S messages a second (beyond a burst of WS_RATE_BURST). The message was not run; retry after details.retryAfterMs.' },
  WS_BUFFER_EXCEEDED: { status: 413, description: 'A WebSocket peer read so slowly that the data waiting for it passed WS_MAX_BUFFERED_BYTES; the server closed the socket (4413). Read faster, subscribe to less, or use the binary format.' },
  UPGRADE_REQUIRED: { status: 426, description: 'This path is a WebSocket endpoint: connect with a WebSocket client (an HTTP upgrade request), not a plain HTTP request.' },
  UNAUTHORIZED: { status: 401, description: 'No valid credentials: API_KEYS is set and the request has no `Authorization: Bearer <key>` header, or its key is not one of them; or a WebSocket ticket is unknown, expired or already used.' },
  QUOTA_EXCEEDED: { status: 429, description: 'The API key is over one of its quotas: sessions held (QUOTA_SESSIONS), synapses over its sessions (QUOTA_SYNAPSES), or network steps per second (QUOTA_STEPS_PER_S; the Retry-After header says when to retry). details.quota names it.' },
  ORIGIN_NOT_ALLOWED: { status: 403, description: 'A browser request or WebSocket upgrade came from an origin not in CORS_ORIGINS: a preflight, a request that changes something (POST, PUT, DELETE) or an upgrade whose Origin is neither the server\'s own (scheme, host and port) nor listed.' },
  HOST_NOT_ALLOWED: { status: 403, description: 'The request\'s Host header names this server by a name it does not answer to (against DNS rebinding): without API_KEYS only loopback names (localhost, 127.0.0.0/8, [::1]) and those in ALLOWED_HOSTS are served; with API_KEYS, only those when ALLOWED_HOSTS is set. Add the name clients use to ALLOWED_HOSTS.' },
  OVERLOADED: { status: 503, description: 'The server is past a load bound (event-loop delay or memory; OVERLOAD_*) and refuses new sessions and heavy steps for now; light steps and health checks still run. Retry after the Retry-After header\'s seconds.' },
  PERSISTENCE_FAILED: { status: 503, description: 'The change could not be saved to disk (disk full or failing); the session is back at its last saved state. Retry later; the server log has the cause.' },
  SESSION_UNAVAILABLE: { status: 503, description: 'The session lives on another node of the cluster that does not answer now (stopped, restarting or cut off): it is kept on that node\'s disk and answers again, exactly where its last acknowledged command left it, once the node is back. Also for a request the cluster\'s Redis is needed for while it cannot be reached, or is being filled in again after it restarted without its data. Retry after the Retry-After header\'s seconds.' },
  INTERNAL_ERROR: { status: 500, description: 'A bug in the server, not in the request. The response carries the request id to report; the details are in the server log.' },
} as const;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class SpikeserveError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'SpikeserveError';
    this.code = code;
    if (details !== undefined) this.details = details;
  }

  get status(): number {
    return ERROR_CATALOGUE[this.code].status;
  }
}

export function isSpikeserveError(e: unknown): e is SpikeserveError {
  return e instanceof SpikeserveError;
}
