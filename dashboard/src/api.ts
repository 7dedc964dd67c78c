/**
 * The REST calls the dashboard makes, with the API key typed into the page
 * (if any) sent as a Bearer token, and failures turned into ApiError with the
 * server's code and message, so the page can say what went wrong.
 */
import type { ErrorResponse } from '../../src/api/common.js';
import type { SessionDetail, SessionList, SessionSummary } from '../../src/api/sessions.js';
import type { AllWeights } from '../../src/api/state.js';

const KEY_STORAGE = 'spikeserve.apiKey';

/** The key lives in sessionStorage: it survives reloads of the tab, not the browser. */
export function apiKey(): string | null {
  try {
    return sessionStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

export function setApiKey(key: string | null): void {
  try {
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // Storage disabled: the key is then forgotten on reload, nothing worse.
  }
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** The server wants a (different) key. */
  get isAuth(): boolean {
    return this.status === 401 || this.status === 403;
  }
}

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const key = apiKey();
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'NETWORK', `cannot reach the server (${e instanceof Error ? e.message : String(e)})`);
  }
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text === '' ? null : JSON.parse(text);
  } catch {
    // Not JSON: a proxy's error page, say; reported by status below.
  }
  if (!res.ok) {
    const err = (parsed as ErrorResponse | null)?.error;
    if (err && typeof err.code === 'string') throw new ApiError(res.status, err.code, err.message);
    throw new ApiError(res.status, `HTTP_${res.status}`, `${method} ${path} answered ${res.status} ${res.statusText}`);
  }
  return parsed as T;
}

const base = (id: string) => `/v1/sessions/${encodeURIComponent(id)}`;

/**
 * Every session, following the list's pages (bounded, so a huge server cannot
 * hang the page); in a cluster, with the nodes that did not answer.
 */
export async function listSessions(maxPages = 20): Promise<{ sessions: SessionSummary[]; total: number; unavailableNodes: string[] }> {
  const sessions: SessionSummary[] = [];
  const unavailable = new Set<string>();
  let cursor: string | null = null;
  let total = 0;
  for (let page = 0; page < maxPages; page++) {
    const q: string = cursor ? `?limit=1000&cursor=${encodeURIComponent(cursor)}` : '?limit=1000';
    const r: SessionList = await request<SessionList>('GET', `/v1/sessions${q}`);
    sessions.push(...r.sessions);
    for (const n of r.unavailableNodes ?? []) unavailable.add(n);
    total = r.total;
    cursor = r.next;
    if (!cursor) break;
  }
  return { sessions, total, unavailableNodes: [...unavailable].sort() };
}

export const getSession = (id: string) => request<SessionDetail>('GET', base(id));
export const getWeights = (id: string) => request<AllWeights>('GET', `${base(id)}/weights`);
export const getSnapshot = (id: string) => request<unknown>('GET', `${base(id)}/snapshot`);

/**
 * A single-use ticket for the session's WebSocket, when the page has a key:
 * browsers cannot put an Authorization header on a WebSocket, so the key buys
 * a short-lived ticket over REST (POST /v1/sessions/{id}/ws-ticket) and the
 * socket presents that. Without a key, or on a server without tickets, none.
 */
export async function wsTicket(id: string): Promise<string | null> {
  if (!apiKey()) return null;
  try {
    const r = await request<{ ticket: string }>('POST', `${base(id)}/ws-ticket`);
    return typeof r.ticket === 'string' ? r.ticket : null;
  } catch (e) {
    if (e instanceof ApiError && e.code === 'ROUTE_NOT_FOUND') return null;
    throw e;
  }
}
