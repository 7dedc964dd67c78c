/**
 * The API key box in the header. A server without API_KEYS needs none; with
 * keys, REST calls send it as a Bearer token and the WebSocket trades it for a
 * ticket (see observer.ts). Typing a key re-runs the current view.
 */
import { apiKey, setApiKey } from './api.js';
import { h } from './dom.js';

export function keyForm(onChange: () => void): HTMLFormElement {
  const input = h('input', { type: 'password', name: 'key', placeholder: 'API key', title: 'Only if the server is started with API_KEYS', autocomplete: 'off', spellcheck: 'false', 'aria-label': 'API key' });
  const use = h('button', { type: 'submit' }, 'Use key');
  const forget = h('button', { type: 'button', class: 'secondary' }, 'Forget');
  const state = h('span', { class: 'key-state' });
  const form = h('form', { class: 'key-form' }, state, input, use, forget);
  const show = () => {
    const has = apiKey() !== null;
    state.textContent = has ? 'key set' : 'no key';
    state.classList.toggle('on', has);
    forget.hidden = !has;
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    setApiKey(key);
    input.value = '';
    show();
    onChange();
  });
  forget.addEventListener('click', () => {
    setApiKey(null);
    show();
    onChange();
  });
  show();
  return form;
}

/** Puts the cursor in the key box, for when the server refuses the request without one. */
export function askForKey(form: HTMLFormElement): void {
  form.classList.add('wanted');
  form.querySelector('input')?.focus();
}
