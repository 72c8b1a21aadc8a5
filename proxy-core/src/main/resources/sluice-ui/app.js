// The Sluice admin UI: sign-in, navigation, pages. Plain ES modules; everything it shows comes from Sluice's API.
import { h, api, state, whenSignedOut, errorBox, toast } from './lib.js';
import { keysPage } from './keys.js';
import { teamsPage, usersPage } from './org.js';
import { modelsPage } from './models.js';
import { usagePage } from './usage.js';
import { logsPage } from './logs.js';

const pages = { keys: keysPage, teams: teamsPage, users: usersPage, models: modelsPage, usage: usagePage, logs: logsPage };
const titles = { keys: 'Keys', teams: 'Teams', users: 'Users', models: 'Models', usage: 'Usage', logs: 'Logs' };
const main = document.getElementById('main');

function signInPage(message) {
  state.session = null;
  document.getElementById('top').hidden = true;
  document.title = 'Sign in · Sluice';
  const key = h('input', { type: 'password', id: 'signin-key', name: 'key', autocomplete: 'current-password', required: true });
  const err = h('div', {});
  const form = h('form', { class: 'card signin', id: 'signin-form', onsubmit: async ev => {
    ev.preventDefault();
    err.replaceChildren();
    try {
      state.session = await api('/ui/login', { method: 'POST', body: { key: key.value } });
      key.value = '';
      if (!location.hash || location.hash === '#/signin') location.hash = '#/keys';
      route();
    } catch (e) { err.replaceChildren(errorBox(e)); key.focus(); }
  } },
    h('h1', {}, 'Sluice admin'),
    h('p', { class: 'muted' }, 'Sign in with the master key or the key of a proxy_admin or proxy_admin_viewer user.'),
    h('label', { for: 'signin-key' }, 'Key', key),
    err,
    h('button', { type: 'submit', id: 'signin-submit' }, 'Sign in'));
  main.replaceChildren(message ? h('p', { class: 'muted', style: null }, message) : '', form);
  key.focus();
}

whenSignedOut(msg => signInPage(msg));

async function route() {
  if (!state.session) {
    try { state.session = await api('/ui/session'); } catch (e) { return signInPage(); }
  }
  const name = (location.hash.replace(/^#\//, '').split('?')[0]) || 'keys';
  const page = pages[name] || keysPage;
  const top = document.getElementById('top');
  top.hidden = false;
  for (const a of top.querySelectorAll('nav a')) {
    if (a.getAttribute('href') === '#/' + name) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  const s = state.session;
  document.getElementById('who').textContent = (s.master_key ? 'master key' : s.user_id) + ' · ' + s.role
    + (s.read_only ? ' (read-only)' : '');
  document.title = (titles[name] || 'Keys') + ' · Sluice';
  main.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
  try {
    const content = await page();
    main.replaceChildren(content);
  } catch (e) {
    if (e.status !== 401) main.replaceChildren(errorBox(e));
  }
  main.focus({ preventScroll: true });
}

document.getElementById('signout').addEventListener('click', async () => {
  try { await api('/ui/logout', { method: 'POST', body: {} }); } catch (e) { /* signed out anyway */ }
  state.session = null;
  location.hash = '#/signin';
  signInPage('Signed out.');
  toast('Signed out');
});

window.addEventListener('hashchange', () => { if (state.session) route(); });
export function refresh() { return route(); }
route();
