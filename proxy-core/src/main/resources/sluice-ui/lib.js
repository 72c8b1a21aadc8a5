// Shared helpers of the Sluice admin UI. DOM is built with h() (text nodes, never innerHTML), so nothing the API
// returns can inject markup. The session's CSRF token lives in this module's memory only.
export const state = { session: null };

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

/** Calls Sluice with the session cookie; writes carry the CSRF token. Throws ApiError with LiteLLM's message. */
export async function api(path, { method = 'GET', body } = {}) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && state.session) headers['x-sluice-csrf'] = state.session.csrf_token;
  const res = await fetch(path, { method, headers, credentials: 'same-origin', cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
  if (!res.ok) {
    const msg = json && json.error ? json.error.message : (text || res.statusText);
    if (res.status === 401 && onSignedOut && !path.startsWith('/ui/')) onSignedOut(msg);
    throw new ApiError(res.status, msg);
  }
  return json;
}

let onSignedOut = null;
export function whenSignedOut(f) { onSignedOut = f; }

export function readOnly() { return !state.session || state.session.read_only; }

export function toast(msg) {
  const t = h('div', {}, msg);
  document.getElementById('toast').append(t);
  setTimeout(() => t.remove(), 4000);
}

export function errorBox(e) { return h('p', { class: 'error', role: 'alert' }, e.message || String(e)); }

/** A modal dialog (native <dialog>: focus stays inside, Esc closes). Resolves true when confirmed. */
export function confirmDialog(title, text, danger = true, okLabel = 'Confirm') {
  return new Promise(resolve => {
    const d = h('dialog', { 'aria-labelledby': 'dlg-title' },
      h('h2', { id: 'dlg-title' }, title), h('p', {}, text),
      h('div', { class: 'row' },
        h('button', { type: 'button', class: danger ? 'danger' : '', onclick: () => { d.close(); resolve(true); } }, okLabel),
        h('button', { type: 'button', class: 'secondary', onclick: () => { d.close(); resolve(false); } }, 'Cancel')));
    d.addEventListener('close', () => { d.remove(); resolve(false); });
    document.body.append(d);
    d.showModal();
  });
}

/** Shows a new key once, with a copy button. The key is never stored anywhere by the UI. */
export function showSecret(title, key) {
  const input = h('input', { type: 'text', readonly: true, value: key, id: 'new-key', 'aria-label': 'New key' });
  const copy = h('button', { type: 'button', id: 'copy-key', onclick: async () => {
    try { await navigator.clipboard.writeText(key); copy.textContent = 'Copied'; }
    catch (e) { input.select(); document.execCommand && document.execCommand('copy'); copy.textContent = 'Selected: press Ctrl+C'; }
  } }, 'Copy');
  const d = h('dialog', { 'aria-labelledby': 'secret-title' },
    h('h2', { id: 'secret-title' }, title),
    h('p', {}, 'Copy this key now: it is shown once and Sluice keeps only its hash.'),
    h('div', { class: 'secret' }, input, copy),
    h('button', { type: 'button', class: 'secondary', id: 'close-key', onclick: () => d.close() }, 'Done'));
  d.addEventListener('close', () => { input.value = ''; d.remove(); });
  document.body.append(d);
  d.showModal();
  input.select();
}

export function table(columns, rows, empty = 'Nothing here yet.') {
  if (!rows.length) return h('p', { class: 'muted' }, empty);
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, columns.map(c => h('th', { scope: 'col' }, c.label)))),
    h('tbody', {}, rows.map(r => h('tr', {}, columns.map(c => {
      const v = c.render ? c.render(r) : r[c.key];
      return h('td', { class: c.class || null }, v === null || v === undefined ? '' : v);
    }))))));
}

export function field(label, input) { return h('label', {}, label, input); }
export function input(name, attrs = {}) { return h('input', { name, id: 'f-' + name, ...attrs }); }

export function money(v) { return v === null || v === undefined ? '' : '$' + Number(v).toFixed(Math.abs(v) < 1 ? 4 : 2); }
export function num(v) { return v === null || v === undefined ? '' : Number(v).toLocaleString('en-US'); }
export function when(t) { return t ? String(t).replace('T', ' ').replace(/\.\d+/, '').replace('+00:00', 'Z') : ''; }
export function list(v) { return Array.isArray(v) && v.length ? v.join(', ') : ''; }
export function csvList(s) { return s.split(',').map(x => x.trim()).filter(Boolean); }
export function optNum(s) { return s === '' || s === null || s === undefined ? undefined : Number(s); }

/** Form values by name; empty strings dropped. */
export function values(form) {
  const out = {};
  for (const [k, v] of new FormData(form).entries()) if (v !== '') out[k] = v;
  return out;
}

export function isoDay(d) { return d.toISOString().slice(0, 10); }
