/**
 * Short-lived, single-use tickets for opening a WebSocket from a browser,
 * which cannot set an Authorization header on one: an authenticated REST call
 * gets a ticket for one session, and the WebSocket upgrade presents it as
 * ?ticket=... within WS_TICKET_TTL_S. A ticket is 32 random bytes; only its
 * hash is kept (a leak of this table gives nothing away), looked up by hash,
 * and removed when it is used or expires.
 */
import { createHash, randomBytes } from 'node:crypto';
import { SpikeserveError } from '../errors.js';

interface Entry {
  sessionId: string;
  owner: string | null;
  expires: number;
}

export interface TicketOptions {
  ttlMs: number;
  /** Tickets outstanding at once, over all keys: past it the oldest go first. */
  maxOutstanding?: number;
  now?: () => number;
}

function hashOf(ticket: string): string {
  return createHash('sha256').update(ticket, 'utf8').digest('base64url');
}

export class TicketBook {
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly max: number;
  private readonly now: () => number;

  constructor(options: TicketOptions) {
    this.ttlMs = options.ttlMs;
    this.max = options.maxOutstanding ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /** A new ticket for `sessionId`, good once, for the owner given. */
  issue(sessionId: string, owner: string | null): { ticket: string; expiresAt: number } {
    this.sweep();
    while (this.entries.size >= this.max) {
      // Map iteration is insertion order: the first is the oldest.
      const first = this.entries.keys().next().value as string;
      this.entries.delete(first);
    }
    const ticket = randomBytes(32).toString('base64url');
    const expiresAt = this.now() + this.ttlMs;
    this.entries.set(hashOf(ticket), { sessionId, owner, expires: expiresAt });
    return { ticket, expiresAt };
  }

  /**
   * Uses a ticket up. Returns its owner if it is valid for `sessionId`;
   * throws UNAUTHORIZED with one message for unknown, expired, used and
   * other-session tickets alike (which one it was is nobody's business).
   */
  consume(ticket: string, sessionId: string): { owner: string | null } {
    const key = hashOf(ticket);
    const e = this.entries.get(key);
    if (e) this.entries.delete(key);
    if (!e || e.expires <= this.now() || e.sessionId !== sessionId) {
      throw new SpikeserveError('UNAUTHORIZED', 'the WebSocket ticket is not valid: tickets are good for one connection to their session, within their lifetime; get a new one with POST /v1/sessions/{id}/ws-ticket');
    }
    return { owner: e.owner };
  }

  private sweep(): void {
    const now = this.now();
    for (const [k, e] of this.entries) if (e.expires <= now) this.entries.delete(k);
  }
}
