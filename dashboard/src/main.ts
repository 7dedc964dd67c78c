/**
 * The dashboard's entry point: one page for /dashboard (the sessions) and
 * /dashboard/{id} (one session live), chosen from the path.
 */
import { h } from './dom.js';
import { askForKey, keyForm } from './key-form.js';
import { sessionView } from './session-view.js';
import { sessionsView, type View, type ViewContext } from './sessions-view.js';

const statusEl = h('span', { id: 'status', class: 'status wait' }, 'starting');
const root = h('main', { id: 'view' });
let view: View | null = null;

function start(): void {
  view?.stop();
  const m = /^\/dashboard\/([^/]+)\/?$/.exec(location.pathname);
  const ctx: ViewContext = {
    root,
    setStatus(text, kind) {
      statusEl.textContent = text;
      statusEl.className = `status ${kind}`;
      statusEl.dataset.kind = kind;
    },
    onAuthError: () => askForKey(form),
  };
  view = m ? sessionView(ctx, decodeURIComponent(m[1])) : sessionsView(ctx);
}

const form = keyForm(start);
document.body.append(
  h('header', { class: 'top' }, h('a', { href: '/dashboard', class: 'brand' }, h('span', { class: 'logo' }, '⚡'), 'spikeserve'), statusEl, h('span', { class: 'spacer' }), form),
  root,
);
start();
