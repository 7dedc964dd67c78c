/**
 * /dashboard: every session the key may see, refreshed every second (a list
 * read does not touch the sessions, so watching them keeps none alive), with
 * a link to each one's live view.
 */
import type { SessionSummary } from '../../src/api/sessions.js';
import { ApiError, listSessions } from './api.js';
import { ago, clear, compact, count, h, until } from './dom.js';

const POLL_MS = 1000;

export interface ViewContext {
  root: HTMLElement;
  setStatus(text: string, kind: 'live' | 'wait' | 'error'): void;
  onAuthError(): void;
}

export interface View {
  stop(): void;
}

export function sizeOf(s: Pick<SessionSummary, 'populations' | 'connections'>): { neurons: number; synapses: number } {
  const neurons = Object.values(s.populations).reduce((a, b) => a + b, 0);
  let synapses = 0;
  for (const c of Object.values(s.connections)) synapses += (s.populations[c.pre] ?? 0) * (s.populations[c.post] ?? 0);
  return { neurons, synapses };
}

export function sessionsView(ctx: ViewContext): View {
  const tbody = h('tbody');
  const summary = h('p', { class: 'muted', id: 'sessions-summary' }, 'Loading sessions…');
  const table = h(
    'table',
    { class: 'sessions', id: 'sessions' },
    h(
      'thead',
      {},
      h('tr', {}, h('th', {}, 'name'), h('th', {}, 'id'), h('th', {}, 'populations'), h('th', { class: 'num' }, 'neurons'), h('th', { class: 'num' }, 'synapses'), h('th', { class: 'num' }, 'steps'), h('th', { class: 'num' }, 'steps/s'), h('th', {}, 'last activity'), h('th', {}, 'expires')),
    ),
    tbody,
  );
  clear(ctx.root);
  ctx.root.append(h('section', { class: 'panel' }, h('h2', {}, 'Sessions'), summary, h('div', { class: 'table-wrap' }, table)));

  const seen = new Map<string, { step: number; at: number; rate: number }>();
  let timer: number | undefined;
  let stopped = false;

  const render = (sessions: SessionSummary[], total: number, unavailableNodes: string[]) => {
    const now = Date.now();
    clear(tbody);
    for (const s of sessions) {
      const prev = seen.get(s.id);
      let rate = prev?.rate ?? 0;
      if (prev && now > prev.at) rate = s.step >= prev.step ? ((s.step - prev.step) * 1000) / (now - prev.at) : 0;
      seen.set(s.id, { step: s.step, at: now, rate });
      const { neurons, synapses } = sizeOf(s);
      const href = `/dashboard/${encodeURIComponent(s.id)}`;
      tbody.append(
        h(
          'tr',
          { 'data-session': s.id, 'data-step': s.step },
          h('td', {}, h('a', { href }, s.name ?? '(unnamed)')),
          h('td', { class: 'mono' }, h('a', { href, title: s.id }, s.id.slice(0, 8))),
          h('td', {}, Object.entries(s.populations).map(([p, n]) => `${p} ${n}`).join(' · ')),
          h('td', { class: 'num' }, count(neurons)),
          h('td', { class: 'num' }, count(synapses)),
          h('td', { class: 'num step' }, count(s.step)),
          h('td', { class: 'num' }, rate > 0 ? compact(rate) : '–'),
          h('td', { title: s.lastUsedAt }, ago(s.lastUsedAt, now)),
          h('td', { title: s.expiresAt ?? 'never' }, s.expiresAt ? until(s.expiresAt, now) : 'never'),
        ),
      );
    }
    for (const id of seen.keys()) if (!sessions.some((s) => s.id === id)) seen.delete(id);
    summary.textContent =
      total === 0
        ? 'No sessions yet. Create one with POST /v1/sessions (see the README); it appears here within a second.'
        : `${count(total)} session${total === 1 ? '' : 's'}${sessions.length < total ? `, ${count(sessions.length)} shown` : ''}. Open one to watch it live.` +
          (unavailableNodes.length === 0 ? '' : ` The sessions of ${unavailableNodes.length === 1 ? 'node' : 'nodes'} ${unavailableNodes.join(', ')} are not shown: ${unavailableNodes.length === 1 ? 'it does' : 'they do'} not answer now.`);
  };

  const poll = async () => {
    if (stopped) return;
    if (!document.hidden) {
      try {
        const { sessions, total, unavailableNodes } = await listSessions();
        if (stopped) return;
        render(sessions, total, unavailableNodes);
        ctx.setStatus('updating every second', 'live');
      } catch (e) {
        if (stopped) return;
        const err = e instanceof ApiError ? e : new ApiError(0, 'UNKNOWN', String(e));
        ctx.setStatus(`${err.code}: ${err.message}`, 'error');
        if (err.isAuth) ctx.onAuthError();
      }
    }
    timer = window.setTimeout(poll, POLL_MS);
  };
  void poll();
  return {
    stop() {
      stopped = true;
      window.clearTimeout(timer);
    },
  };
}
