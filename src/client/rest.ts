/**
 * A typed client for the REST API (/v1), on fetch. Every method returns the
 * response body typed by the schema the server validates it with, or throws
 * SpikeserveClientError with the server's code and status.
 */
import type { Static } from '@sinclair/typebox';
import type { ErrorResponse } from '../api/common.js';
import type { CreateSessionBody, DeletedSchema, ListSessionsQuery, SessionDetail, SessionList } from '../api/sessions.js';
import type { AllWeights, ConnectionWeights, SessionState } from '../api/state.js';
import type { ResetBody, ResetResult, RewardResult, StepBody, StepResult } from '../api/step.js';
import type { Snapshot } from '../engine/snapshot.js';
import { SpikeserveClientError } from './errors.js';
import { MultiplexSocket, type MultiplexOptions } from './multiplex.js';
import { SessionSocket, type SocketOptions } from './socket.js';
import type { OpenOptions } from './transport.js';

export interface RestClientOptions {
  /** Sent as `Authorization: Bearer <key>` on every request and socket. */
  apiKey?: string;
}

export class RestClient {
  /** The server's base URL, without a trailing slash: http://127.0.0.1:3000 */
  readonly baseUrl: string;
  private readonly apiKey: string | undefined;

  constructor(baseUrl: string, options: RestClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.apiKey = options.apiKey;
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.apiKey !== undefined) headers.authorization = `Bearer ${this.apiKey}`;
    const res = await fetch(this.baseUrl + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new SpikeserveClientError('RESPONSE_INVALID', `${method} ${path}: the server answered ${res.status} with a body that is not JSON`, { status: res.status });
    }
    if (!res.ok) {
      const e = (parsed as ErrorResponse | undefined)?.error;
      throw new SpikeserveClientError(e?.code ?? 'HTTP_ERROR', e?.message ?? `${method} ${path}: HTTP ${res.status}`, { status: res.status, details: e?.details });
    }
    return parsed as T;
  }

  private sessionPath(id: string, rest = ''): string {
    return `/v1/sessions/${encodeURIComponent(id)}${rest}`;
  }

  createSession(body: CreateSessionBody): Promise<SessionDetail> {
    return this.call('POST', '/v1/sessions', body);
  }

  listSessions(query: ListSessionsQuery = {}): Promise<SessionList> {
    const q = new URLSearchParams();
    if (query.limit !== undefined) q.set('limit', String(query.limit));
    if (query.cursor !== undefined) q.set('cursor', query.cursor);
    const s = q.toString();
    return this.call('GET', `/v1/sessions${s ? `?${s}` : ''}`);
  }

  getSession(id: string): Promise<SessionDetail> {
    return this.call('GET', this.sessionPath(id));
  }

  deleteSession(id: string): Promise<Static<typeof DeletedSchema>> {
    return this.call('DELETE', this.sessionPath(id));
  }

  step(id: string, body: StepBody = {}): Promise<StepResult> {
    return this.call('POST', this.sessionPath(id, '/step'), body);
  }

  /** A batch's reward is a number (every copy) or one per copy. */
  reward(id: string, reward: number | number[]): Promise<RewardResult> {
    return this.call('POST', this.sessionPath(id, '/reward'), { reward });
  }

  reset(id: string, body: ResetBody = {}): Promise<ResetResult> {
    return this.call('POST', this.sessionPath(id, '/reset'), body);
  }

  weights(id: string): Promise<AllWeights> {
    return this.call('GET', this.sessionPath(id, '/weights'));
  }

  connectionWeights(id: string, connection: string): Promise<ConnectionWeights> {
    return this.call('GET', this.sessionPath(id, `/weights/${encodeURIComponent(connection)}`));
  }

  setWeights(id: string, connection: string, weights: number[][]): Promise<ConnectionWeights> {
    return this.call('PUT', this.sessionPath(id, `/weights/${encodeURIComponent(connection)}`), { weights });
  }

  /** A batch's per-copy values come for `copies` (default every copy), in that order. */
  state(id: string, copies?: number[]): Promise<SessionState> {
    const q = copies === undefined ? '' : `?${copies.map((b) => `copies=${b}`).join('&')}`;
    return this.call('GET', this.sessionPath(id, `/state${q}`));
  }

  snapshot(id: string): Promise<Snapshot> {
    return this.call('GET', this.sessionPath(id, '/snapshot'));
  }

  /** Opens the session's WebSocket (controller unless options.role says observer); resolves once the hello has arrived. */
  socket(id: string, options: SocketOptions = {}): Promise<SessionSocket> {
    return SessionSocket.connect(this.baseUrl.replace(/^http/, 'ws') + this.sessionPath(id, '/ws'), this.withKey(options));
  }

  /**
   * Opens the multiplexed WebSocket (/v1/ws), one socket for many sessions;
   * resolves once the hello has arrived. After a drop it reads the sessions
   * through this client (getSession) to tell which unanswered commands ran.
   */
  multiplex(options: MultiplexOptions = {}): Promise<MultiplexSocket> {
    return MultiplexSocket.connect(this.baseUrl.replace(/^http/, 'ws') + '/v1/ws', this.withKey({ readSession: (id: string) => this.getSession(id), ...options }));
  }

  /** A socket's options with this client's API key in its headers, unless they carry one. */
  private withKey<O extends OpenOptions>(options: O): O {
    const headers = { ...(options.headers ?? {}) };
    if (this.apiKey !== undefined && headers.authorization === undefined) headers.authorization = `Bearer ${this.apiKey}`;
    return { ...options, headers };
  }
}
