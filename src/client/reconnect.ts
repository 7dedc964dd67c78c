/**
 * Opening a dropped socket again, as both of the client's sockets do
 * (SessionSocket, MultiplexSocket): which closes are worth another try,
 * which refusals of the new socket pass, and the tries with growing waits.
 * What each socket then makes of its unanswered commands is resume.ts's.
 */
import type WebSocket from 'ws';
import { SpikeserveClientError } from './errors.js';
import { openSocket, type CloseInfo, type OpenOptions } from './transport.js';

/** Close codes after which opening the socket again cannot succeed. */
const FINAL_CLOSE_CODES: ReadonlySet<number> = new Set([1002, 1007, 1009, 4400, 4401, 4403, 4404, 4422]);
/** Refusals of a new socket that pass: the server has not yet seen the old socket go, is restarting, or (a cluster) the session's node is. */
const PASSING_REFUSALS: ReadonlySet<string> = new Set(['WS_CONTROLLER_TAKEN', 'SHUTTING_DOWN', 'OVERLOADED', 'SESSION_UNAVAILABLE', 'CONNECTION_FAILED', 'CONNECTION_CLOSED', 'HTTP_ERROR']);
const MAX_RECONNECT_ATTEMPTS = 8;

/** Whether a socket closed this way is worth opening again. */
export function mayReconnect(code: number): boolean {
  return !FINAL_CLOSE_CODES.has(code);
}

/**
 * Opens the socket again (up to 8 tries over about 6 s), unless `stopped()`
 * says the socket was closed meanwhile: the new socket and its hello, or
 * the refusal that ended the tries (null when none came).
 */
export async function reopen<H>(url: URL, options: OpenOptions, stopped: () => boolean): Promise<{ ws: WebSocket; hello: H } | { failure: SpikeserveClientError | null }> {
  let delay = 50;
  let last: SpikeserveClientError | null = null;
  for (let attempt = 0; attempt < MAX_RECONNECT_ATTEMPTS && !stopped(); attempt++) {
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 2000);
    let opened: { ws: WebSocket; hello: H };
    try {
      opened = await openSocket<H>(new URL(url), options);
    } catch (e) {
      last = e instanceof SpikeserveClientError ? e : new SpikeserveClientError('CONNECTION_FAILED', String(e));
      if (PASSING_REFUSALS.has(last.code)) continue;
      break;
    }
    if (stopped()) {
      opened.ws.close(1000);
      break;
    }
    return opened;
  }
  return { failure: last };
}

/** The final close to tell once reconnecting failed. */
export function gaveUp(info: CloseInfo, failure: SpikeserveClientError | null): CloseInfo {
  return failure ? { code: info.code, reason: `${info.reason || 'closed'} (reconnecting failed: ${failure.code}: ${failure.message})` } : info;
}

/**
 * Hands a socket's messages and its close to its owner for as long as it is
 * the owner's current socket: one replaced by a reconnection is ignored.
 */
export function listenWhileCurrent(
  ws: WebSocket,
  current: () => WebSocket | undefined,
  on: { message(data: Buffer, isBinary: boolean): void; close(info: CloseInfo): void },
): void {
  ws.on('message', (data, isBinary) => {
    if (ws === current()) on.message(data as Buffer, isBinary);
  });
  ws.on('close', (code, reason) => {
    if (ws === current()) on.close({ code, reason: reason.toString() });
  });
}
