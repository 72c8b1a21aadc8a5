import { h, api, table, field, input, values, money, num, when, errorBox } from './lib.js';

export async function logsPage() {
  const root = h('section', { 'aria-labelledby': 'logs-title' }, h('h1', { id: 'logs-title' }, 'Logs'));
  const box = h('div', { id: 'logs-list' });
  const form = h('form', { class: 'card', id: 'logs-form', onsubmit: ev => { ev.preventDefault(); load(); } },
    h('div', { class: 'row' }, field('Key (sk-… or hash)', input('api_key', { type: 'password', autocomplete: 'off' })),
      field('User id', input('user_id')), field('Team id', input('team_id')),
      field('From (day)', input('start_date', { type: 'date' })), field('To (day)', input('end_date', { type: 'date' })),
      field('Rows', h('select', { name: 'limit', id: 'f-limit' }, ['50', '100', '500'].map(n => h('option', { value: n }, n)))),
      h('button', { type: 'submit' }, 'Filter')));
  async function load() {
    const v = values(form);
    // A key typed here is hashed in the browser first (the API takes the hash): the key itself never goes in a URL.
    if (v.api_key && v.api_key.startsWith('sk-')) {
      if (!crypto.subtle) { box.replaceChildren(errorBox(new Error('Enter the key\'s hash (this page is not on https or localhost, so the browser cannot hash it).'))); return; }
      const d = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(v.api_key));
      v.api_key = Array.from(new Uint8Array(d)).map(b => b.toString(16).padStart(2, '0')).join('');
    }
    const q = new URLSearchParams(v).toString();
    try {
      const rows = await api('/spend/logs' + (q ? '?' + q : ''));
      box.replaceChildren(table([
        { label: 'Time', render: r => when(r.startTime) },
        { label: 'Request id', render: r => h('span', { class: 'mono' }, r.request_id) },
        { label: 'Key', render: r => r.metadata.key_alias || (r.api_key ? h('span', { class: 'mono' }, r.api_key.slice(0, 10) + '…') : 'master key') },
        { label: 'User', key: 'user' }, { label: 'Team', key: 'team_id' }, { label: 'Model', key: 'model_group' },
        { label: 'Tokens in / out', render: r => num(r.prompt_tokens) + ' / ' + num(r.completion_tokens) },
        { label: 'Spend', render: r => money(r.spend) },
        { label: 'Duration', render: r => num(r.request_duration_ms) + ' ms' },
        { label: 'Status', render: r => h('span', { class: 'badge ' + (r.status === 'success' ? 'ok' : 'bad') },
          r.status === 'success' ? String(r.metadata.http_status) : r.metadata.outcome + ' ' + r.metadata.http_status) },
      ], rows, 'No requests match.'));
    } catch (e) { box.replaceChildren(errorBox(e)); }
  }
  root.append(form, box);
  await load();
  return root;
}
