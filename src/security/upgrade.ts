/**
 * Who may open a session's WebSocket: the check the WebSocket endpoint runs
 * on each upgrade request (its `authorizeUpgrade` hook), before a socket
 * exists. In order: the Host (a name the server answers to, see hosts.ts),
 * the Origin (browsers send any page's; only the server's own pages, scheme
 * included, and CORS_ORIGINS may), then the caller (a one-use ticket in
 * ?ticket=, or `Authorization: Bearer <key>` from a client that can set
 * headers), then the session (another key's answers 404, as over HTTP).
 */
import type { IncomingMessage } from 'node:http';
import { SpikeserveError } from '../errors.js';
import type { SessionManager } from '../sessions/manager.js';
import type { HostPolicy } from './hosts.js';
import type { KeyRing } from './keys.js';
import type { OriginPolicy } from './origins.js';
import type { TicketBook } from './tickets.js';

export interface UpgradeTarget {
  /** The session of a session socket; null for the multiplexed socket (/v1/ws). */
  sessionId: string | null;
  url: URL;
}

/** Query parameters the check reads from the socket's URL. */
export const UPGRADE_QUERY_PARAMS = ['ticket'] as const;

/**
 * The check, returning the key the upgrade authenticated (`owner`; undefined
 * when the server has no keys). The multiplexed socket names no session: it
 * needs a key (tickets are for one session's socket), and each of its
 * messages is checked against that owner when it runs.
 */
export function upgradeAuthorizer(deps: { keys: KeyRing; tickets: TicketBook; origins: OriginPolicy; hosts: HostPolicy; sessions: SessionManager }): (req: IncomingMessage, target: UpgradeTarget) => { owner?: string | null } {
  return (req, target) => {
    deps.hosts.check(req.headers.host);
    const origin = req.headers.origin;
    if (!deps.origins.allowsRequest(origin, req.headers.host, schemeOf(req))) {
      throw new SpikeserveError('ORIGIN_NOT_ALLOWED', `origin ${origin} may not open WebSockets here (CORS_ORIGINS)`);
    }
    const ticket = target.url.searchParams.get('ticket');
    let owner: string | null;
    if (ticket !== null) {
      if (target.sessionId === null) {
        throw new SpikeserveError('UNAUTHORIZED', 'query.ticket: a ticket opens one session\'s socket (/v1/sessions/{id}/ws), not the multiplexed one; open it without a ticket, with Authorization: Bearer <key> on a server with API keys');
      }
      owner = deps.tickets.consume(ticket, target.sessionId).owner;
    } else if (deps.keys.enabled) {
      const r = deps.keys.authenticate(req.headers.authorization);
      if ('error' in r) {
        throw new SpikeserveError(
          'UNAUTHORIZED',
          r.error === 'missing'
            ? target.sessionId === null
              ? 'this server needs an API key: send Authorization: Bearer <key> with the upgrade'
              : 'this server needs an API key: send Authorization: Bearer <key> with the upgrade, or (from a browser) a ticket from POST /v1/sessions/{id}/ws-ticket as ?ticket='
            : 'the API key is not valid',
        );
      }
      owner = r.id;
    } else {
      return {};
    }
    if (!deps.keys.enabled) return {};
    if (target.sessionId !== null) deps.sessions.check(target.sessionId, owner);
    return { owner };
  };
}

/** The scheme the client used to reach this server. */
function schemeOf(req: IncomingMessage): 'http' | 'https' {
  return (req.socket as { encrypted?: boolean } | undefined)?.encrypted === true ? 'https' : 'http';
}
