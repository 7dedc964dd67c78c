/**
 * GET /v1/sessions over a cluster. The node asked lists its own sessions and
 * asks every other live node for a page of its own (the client's request
 * passed on, so each node checks the key itself and lists only that key's
 * sessions), then merges the pages. Sessions are listed oldest first by
 * creation time, then id: what a session keeps when it moves, so a cursor
 * (`<ms>_<id>`, the last session of a page) stands for the same place in the
 * listing whichever nodes hold what. Fanning out, rather than an index in
 * Redis, lists what each node holds now (step counts, loaded, times), which
 * only the node knows.
 *
 * A node that does not answer (or is down while the directory still gives
 * it sessions) is named in `unavailableNodes`: its sessions are missing from
 * the page, not silently dropped, and still count in `total` (the key's count
 * over the cluster, as its quotas count it).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { ListSessionsQuery, SessionList, SessionSummary } from '../api/sessions.js';
import { SpikeserveError } from '../errors.js';
import type { Owner } from '../sessions/capacity.js';
import type { SessionManager } from '../sessions/manager.js';
import { hopsOf } from './forward.js';
import { redisUnavailable, type ClusterNode } from './node.js';
import { keyName } from './quotas.js';

/** How long the node asked waits for another node's page before naming it unavailable. */
const PAGE_TIMEOUT_MS = 5000;
const DEFAULT_LIMIT = 100;

export type ClusterSessionList = SessionList & { unavailableNodes: string[] };

interface Place {
  ms: number;
  id: string;
}

/** GET /v1/sessions on a node: the cluster's listing, or (a page another node asked for) this node's own. */
export async function listSessions(node: ClusterNode, query: ListSessionsQuery, owner: Owner | undefined, headers: IncomingHttpHeaders): Promise<ClusterSessionList> {
  const limit = query.limit ?? DEFAULT_LIMIT;
  const after = query.cursor === undefined ? null : parseCursor(query.cursor);
  if (hopsOf(headers) > 0) return { ...localPage(node.sessions, owner, limit, after), unavailableNodes: [] };
  let nodes: Awaited<ReturnType<ClusterNode['registry']['all']>>;
  let total: number;
  try {
    [nodes, total] = await Promise.all([node.registry.all(), node.directory.usage(keyName(owner)).then((u) => u.sessions)]);
  } catch (e) {
    throw redisUnavailable(e);
  }
  const others = nodes.filter((n) => n.id !== node.id);
  const down = others.filter((n) => n.info === null).map((n) => n.id);
  const holding = await node.directory.counts(down).catch(() => down.map(() => 1));
  const unavailableNodes = down.filter((_, i) => holding[i] > 0);
  const pages: SessionList[] = [localPage(node.sessions, owner, limit, after)];
  const search = new URLSearchParams({ limit: String(limit), ...(query.cursor === undefined ? {} : { cursor: query.cursor }) });
  await Promise.all(
    others.flatMap((n) => (n.info === null ? [] : [n.info])).map(async (peer) => {
      try {
        const res = await node.forwarder.forward(peer.url, { method: 'GET', url: `/v1/sessions?${search}`, headers, body: null, hops: 0, timeoutMs: PAGE_TIMEOUT_MS });
        if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
        pages.push(JSON.parse(res.body.toString('utf8')) as SessionList);
      } catch {
        unavailableNodes.push(peer.id);
      }
    }),
  );
  const seen = new Set<string>();
  const merged: SessionSummary[] = [];
  // A session moving while the pages were taken may be on two of them.
  for (const s of pages.flatMap((p) => p.sessions)) {
    if (seen.has(s.id)) continue;
    seen.add(s.id);
    merged.push(s);
  }
  merged.sort((a, b) => compare(placeOf(a), placeOf(b)));
  const more = merged.length > limit || pages.some((p) => p.next !== null);
  const page = merged.slice(0, limit);
  return {
    sessions: page,
    next: more && page.length > 0 ? cursorOf(placeOf(page[page.length - 1])) : null,
    // Redis's count holds the sessions of nodes that are down; the nodes' own counts are never short.
    total: Math.max(total, pages.reduce((n, p) => n + p.total, 0)),
    unavailableNodes: unavailableNodes.sort(),
  };
}

/** This node's sessions of `owner` (every one when undefined) after `after`, oldest first by (creation time, id). */
function localPage(sessions: SessionManager, owner: Owner | undefined, limit: number, after: Place | null): SessionList {
  const all = sessions.list({ limit: Number.MAX_SAFE_INTEGER, owner });
  const sorted = all.sessions.map((s) => ({ s, place: placeOf(s) })).filter((x) => after === null || compare(x.place, after) > 0);
  sorted.sort((a, b) => compare(a.place, b.place));
  const page = sorted.slice(0, limit);
  return {
    sessions: page.map((x) => x.s),
    next: sorted.length > limit ? cursorOf(page[page.length - 1].place) : null,
    total: all.total,
  };
}

function placeOf(s: SessionSummary): Place {
  return { ms: Date.parse(s.createdAt), id: s.id };
}

function compare(a: Place, b: Place): number {
  return a.ms !== b.ms ? a.ms - b.ms : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function cursorOf(p: Place): string {
  return `${p.ms}_${p.id}`;
}

function parseCursor(cursor: string): Place {
  const m = /^([0-9]{1,15})_(.+)$/.exec(cursor);
  if (!m) {
    throw new SpikeserveError('REQUEST_INVALID', 'cursor: in a cluster a cursor is the `next` of a previous page of this listing, as it came (<ms>_<id>)', { field: 'cursor' });
  }
  return { ms: Number(m[1]), id: m[2] };
}
