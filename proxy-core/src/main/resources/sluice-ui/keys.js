import { h, api, table, field, input, values, money, when, list, csvList, optNum, readOnly, confirmDialog, showSecret,
  toast, errorBox } from './lib.js';

export async function keysPage() {
  const root = h('section', { 'aria-labelledby': 'keys-title' });
  let page = 1;
  const search = h('input', { type: 'search', id: 'key-search', placeholder: 'alias, key name, user or team' });
  const listBox = h('div', { id: 'keys-list' });
  const msg = h('div', {});

  async function load() {
    msg.replaceChildren();
    let res;
    try { res = await api('/key/list?return_full_object=true&size=100&page=' + page); }
    catch (e) { listBox.replaceChildren(errorBox(e)); return; }
    const q = search.value.trim().toLowerCase();
    const rows = res.keys.filter(k => !q || [k.key_alias, k.key_name, k.user_id, k.team_id, k.token]
      .some(v => v && String(v).toLowerCase().includes(q)));
    const cols = [
      { label: 'Alias', render: k => k.key_alias || h('span', { class: 'muted' }, '—') },
      { label: 'Key', render: k => h('span', { class: 'mono' }, k.key_name) },
      { label: 'User', key: 'user_id' }, { label: 'Team', key: 'team_id' },
      { label: 'Models', render: k => list(k.models) || 'all' },
      { label: 'Spend / budget', render: k => money(k.spend) + (k.max_budget != null ? ' / ' + money(k.max_budget) : '') },
      { label: 'Limits', render: k => [k.rpm_limit != null ? k.rpm_limit + ' rpm' : '', k.tpm_limit != null ? k.tpm_limit + ' tpm' : ''].filter(Boolean).join(', ') },
      { label: 'Expires', render: k => when(k.expires) || 'never' },
      { label: 'Status', render: k => k.blocked ? h('span', { class: 'badge bad' }, 'blocked') : h('span', { class: 'badge ok' }, 'active') },
    ];
    if (!readOnly()) cols.push({ label: 'Actions', class: 'actions', render: k => actions(k) });
    listBox.replaceChildren(table(cols, rows, q ? 'No key matches.' : 'No keys yet.'),
      h('div', { class: 'row', style: null },
        h('span', { class: 'muted' }, `Page ${res.current_page} of ${Math.max(1, res.total_pages)} · ${res.total_count} keys`),
        page > 1 ? h('button', { type: 'button', class: 'secondary small', onclick: () => { page--; load(); } }, 'Previous') : '',
        page < res.total_pages ? h('button', { type: 'button', class: 'secondary small', onclick: () => { page++; load(); } }, 'Next') : ''));
  }

  function label(k) { return k.key_alias || k.key_name; }

  function actions(k) {
    const name = label(k);
    return [
      h('button', { type: 'button', class: 'secondary small', 'aria-label': (k.blocked ? 'Unblock ' : 'Block ') + name,
        'data-action': k.blocked ? 'unblock' : 'block', 'data-key': k.key_alias || k.token, onclick: async () => {
          try { await api(k.blocked ? '/key/unblock' : '/key/block', { method: 'POST', body: { key: k.token } });
            toast((k.blocked ? 'Unblocked ' : 'Blocked ') + name); load(); } catch (e) { msg.replaceChildren(errorBox(e)); }
        } }, k.blocked ? 'Unblock' : 'Block'),
      h('button', { type: 'button', class: 'secondary small', 'aria-label': 'Regenerate ' + name, 'data-action': 'regenerate',
        'data-key': k.key_alias || k.token, onclick: async () => {
          if (!await confirmDialog('Regenerate ' + name + '?', 'The current key stops working at once; a new one is shown once.', true, 'Regenerate')) return;
          try { const r = await api('/key/regenerate', { method: 'POST', body: { key: k.token } });
            showSecret('New key for ' + name, r.key); load(); } catch (e) { msg.replaceChildren(errorBox(e)); }
        } }, 'Regenerate'),
      h('button', { type: 'button', class: 'danger small', 'aria-label': 'Delete ' + name, 'data-action': 'delete',
        'data-key': k.key_alias || k.token, onclick: async () => {
          if (!await confirmDialog('Delete ' + name + '?', 'Requests with this key fail from now on. Its spend history stays.', true, 'Delete')) return;
          try { await api('/key/delete', { method: 'POST', body: { keys: [k.token] } }); toast('Deleted ' + name); load(); }
          catch (e) { msg.replaceChildren(errorBox(e)); }
        } }, 'Delete'),
    ];
  }

  search.addEventListener('input', () => load());
  root.append(h('h1', { id: 'keys-title' }, 'Keys'));
  if (!readOnly()) root.append(generateForm(load));
  root.append(h('div', { class: 'row' }, field('Search keys', search)), msg, h('h2', {}, 'All keys'), listBox);
  await load();
  return root;
}

function generateForm(reload) {
  const err = h('div', {});
  const form = h('form', { class: 'card', id: 'generate-form', onsubmit: async ev => {
    ev.preventDefault();
    err.replaceChildren();
    const v = values(form);
    const body = { key_alias: v.key_alias, user_id: v.user_id, team_id: v.team_id, duration: v.duration,
      budget_duration: v.budget_duration, models: v.models ? csvList(v.models) : undefined,
      max_budget: optNum(v.max_budget), rpm_limit: optNum(v.rpm_limit), tpm_limit: optNum(v.tpm_limit) };
    try {
      const r = await api('/key/generate', { method: 'POST', body });
      form.reset();
      showSecret('New key' + (r.key_alias ? ' ' + r.key_alias : ''), r.key);
      reload();
    } catch (e) { err.replaceChildren(errorBox(e)); }
  } },
    h('h2', {}, 'Generate a key'),
    h('div', { class: 'row' },
      field('Alias', input('key_alias', { placeholder: 'ci-pipeline' })),
      field('Models (comma-separated, empty = all)', input('models', { placeholder: 'llama-3-8b' })),
      field('User id', input('user_id')), field('Team id', input('team_id'))),
    h('div', { class: 'row' },
      field('Max budget (USD)', input('max_budget', { type: 'number', min: '0', step: 'any' })),
      field('Budget period', input('budget_duration', { placeholder: '30d' })),
      field('Requests per minute', input('rpm_limit', { type: 'number', min: '0' })),
      field('Tokens per minute', input('tpm_limit', { type: 'number', min: '0' })),
      field('Expires after', input('duration', { placeholder: '30d (empty = never)' }))),
    err,
    h('div', { class: 'row' }, h('button', { type: 'submit', id: 'generate-submit' }, 'Generate key')));
  return form;
}
