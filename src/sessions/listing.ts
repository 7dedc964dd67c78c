/** Pages of the session list: loaded and dormant sessions alike, oldest first, dormant ones listed without being loaded. */
import type { SessionSummary } from '../api/sessions.js';
import type { Owner } from './capacity.js';
import type { Entry, HeldSessions } from './held-sessions.js';
import { Session } from './session.js';

export interface SessionPage {
  sessions: SessionSummary[];
  next: string | null;
  total: number;
}

/** Oldest first; `cursor` is the `next` of the previous page. With `owner` given, only that owner's sessions. */
export function listPage(held: HeldSessions, options: { limit?: number; cursor?: string; owner?: Owner }): SessionPage {
  const limit = options.limit ?? 100;
  const after = options.cursor === undefined ? 0 : Number(options.cursor);
  const owner = options.owner;
  const page: Entry[] = [];
  let more = false;
  for (const e of held.entries.values()) {
    if (e.seq <= after || (owner !== undefined && e.owner !== owner)) continue;
    if (page.length === limit) {
      more = true;
      break;
    }
    page.push(e);
  }
  const total = owner === undefined ? held.entries.size : held.capacity.sessionsOf(owner);
  return { sessions: page.map((e) => (e instanceof Session ? e.summary() : e.summary(held.opts.retentionMs))), next: more ? String(page[page.length - 1].seq) : null, total };
}
