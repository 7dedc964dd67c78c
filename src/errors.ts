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
  REWARD_NOT_PENDING: { status: 409, description: 'A reward was sent but no step is waiting for one (step with deferReward first).' },
  CONNECTION_NOT_FOUND: { status: 404, description: 'The named connection does not exist in this session.' },
  POPULATION_NOT_FOUND: { status: 404, description: 'The named population does not exist in this session.' },
  SESSION_NOT_FOUND: { status: 404, description: 'No session with this id exists (or it was deleted or evicted).' },
  REPLAY_CASE_INVALID: { status: 400, description: 'A replay case file is not in the format of shared/golden.' },
  BACKEND_UNAVAILABLE: { status: 503, description: 'The requested engine backend cannot run on this server: the tfjs backend was not started, or no TensorFlow.js platform could start here (use the native backend).' },
  REQUEST_INVALID: { status: 400, description: 'The request is malformed: the body is not valid JSON, or a field, query parameter or path parameter is missing, unknown or of the wrong type.' },
  ROUTE_NOT_FOUND: { status: 404, description: 'No endpoint has this method and path (the API lives under /v1; see /openapi.yaml).' },
  BODY_TOO_LARGE: { status: 413, description: 'The request body is larger than the configured limit (BODY_LIMIT_BYTES).' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, description: 'The request body is not sent as application/json.' },
  SHUTTING_DOWN: { status: 503, description: 'The server is shutting down and takes no new work; retry against another instance or after the restart.' },
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
