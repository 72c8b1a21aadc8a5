import { h, api, table, field, input, values, money, list, csvList, optNum, readOnly, confirmDialog, toast,
  errorBox, showSecret } from './lib.js';

/** A dialog editing budget and limits (and, for users, the role) through /team/update or /user/update. */
function editLimits(kind, row, reload) {
  const err = h('div', {});
  const role = kind === 'user' ? h('select', { name: 'user_role', id: 'edit-user_role' },
    ['internal_user', 'internal_user_viewer', 'proxy_admin_viewer', 'proxy_admin'].map(r =>
      h('option', { value: r, selected: r === row.user_role }, r))) : null;
  const form = h('form', { onsubmit: async ev => {
    ev.preventDefault();
    const v = values(form);
    const body = kind === 'team' ? { team_id: row.team_id } : { user_id: row.user_id, user_role: v.user_role };
    body.max_budget = optNum(v.max_budget);
    body.budget_duration = v.budget_duration;
    body.rpm_limit = optNum(v.rpm_limit);
    body.tpm_limit = optNum(v.tpm_limit);
    try { await api('/' + kind + '/update', { method: 'POST', body }); d.close(); toast('Saved'); reload(); }
    catch (e) { err.replaceChildren(errorBox(e)); }
  } }, h('h2', { id: 'limits-title' }, 'Budget and limits of ' + (row.team_id || row.user_id)),
    h('div', { class: 'row' },
      field('Max budget (USD)', input('max_budget', { type: 'number', min: '0', step: 'any', value: row.max_budget ?? '', id: 'edit-max_budget' })),
      field('Budget period', input('budget_duration', { value: row.budget_duration ?? '', placeholder: '30d', id: 'edit-budget_duration' })),
      field('Requests per minute', input('rpm_limit', { type: 'number', min: '0', value: row.rpm_limit ?? '', id: 'edit-rpm_limit' })),
      field('Tokens per minute', input('tpm_limit', { type: 'number', min: '0', value: row.tpm_limit ?? '', id: 'edit-tpm_limit' })),
      role ? field('Role', role) : ''),
    err, h('div', { class: 'row' }, h('button', { type: 'submit', id: 'limits-save' }, 'Save'),
      h('button', { type: 'button', class: 'secondary', onclick: () => d.close() }, 'Cancel')));
  const d = h('dialog', { 'aria-labelledby': 'limits-title' }, form);
  d.addEventListener('close', () => d.remove());
  document.body.append(d);
  d.showModal();
}

export async function teamsPage() {
  const root = h('section', { 'aria-labelledby': 'teams-title' }, h('h1', { id: 'teams-title' }, 'Teams'));
  const box = h('div', {});
  const msg = h('div', {});
  async function load() {
    const teams = await api('/team/list');
    const cols = [
      { label: 'Team', render: t => t.team_alias ? t.team_alias + ' (' + t.team_id + ')' : t.team_id },
      { label: 'Members', render: t => (t.members_with_roles || []).map(m => m.user_id + (m.role === 'admin' ? ' (admin)' : '')).join(', ') },
      { label: 'Models', render: t => list(t.models) || 'all' },
      { label: 'Spend / budget', render: t => money(t.spend) + (t.max_budget != null ? ' / ' + money(t.max_budget) : '') },
      { label: 'Limits', render: t => [t.rpm_limit != null ? t.rpm_limit + ' rpm' : '', t.tpm_limit != null ? t.tpm_limit + ' tpm' : ''].filter(Boolean).join(', ') },
      { label: 'Status', render: t => t.blocked ? h('span', { class: 'badge bad' }, 'blocked') : h('span', { class: 'badge ok' }, 'active') },
    ];
    if (!readOnly()) cols.push({ label: 'Actions', class: 'actions', render: t => [
      h('button', { type: 'button', class: 'secondary small', 'aria-label': 'Add a member to ' + t.team_id, onclick: () => addMember(t) }, 'Add member'),
      h('button', { type: 'button', class: 'secondary small', 'aria-label': 'Edit budget and limits of ' + t.team_id,
        'data-edit': t.team_id, onclick: () => editLimits('team', t, load) }, 'Limits'),
      h('button', { type: 'button', class: 'danger small', 'aria-label': 'Delete team ' + t.team_id, onclick: async () => {
        if (!await confirmDialog('Delete team ' + t.team_id + '?', 'Its keys are deleted too.', true, 'Delete')) return;
        try { await api('/team/delete', { method: 'POST', body: { team_ids: [t.team_id] } }); toast('Deleted'); load(); }
        catch (e) { msg.replaceChildren(errorBox(e)); }
      } }, 'Delete')] });
    box.replaceChildren(table(cols, teams, 'No teams yet.'));
  }
  function addMember(t) {
    const uid = h('input', { id: 'member-user', required: true });
    const role = h('select', { id: 'member-role' }, h('option', { value: 'user' }, 'user'), h('option', { value: 'admin' }, 'admin'));
    const err = h('div', {});
    const d = h('dialog', { 'aria-labelledby': 'member-title' }, h('form', { onsubmit: async ev => {
      ev.preventDefault();
      try { await api('/team/member_add', { method: 'POST', body: { team_id: t.team_id, member: { user_id: uid.value, role: role.value } } });
        d.close(); load(); } catch (e) { err.replaceChildren(errorBox(e)); }
    } }, h('h2', { id: 'member-title' }, 'Add a member to ' + t.team_id),
      h('div', { class: 'row' }, field('User id', uid), field('Role', role)), err,
      h('div', { class: 'row' }, h('button', { type: 'submit' }, 'Add'),
        h('button', { type: 'button', class: 'secondary', onclick: () => d.close() }, 'Cancel'))));
    d.addEventListener('close', () => d.remove());
    document.body.append(d);
    d.showModal();
  }
  if (!readOnly()) {
    const err = h('div', {});
    const form = h('form', { class: 'card', id: 'team-form', onsubmit: async ev => {
      ev.preventDefault();
      const v = values(form);
      try {
        await api('/team/new', { method: 'POST', body: { team_id: v.team_id, team_alias: v.team_alias,
          models: v.models ? csvList(v.models) : undefined, max_budget: optNum(v.max_budget),
          rpm_limit: optNum(v.rpm_limit), tpm_limit: optNum(v.tpm_limit) } });
        form.reset(); err.replaceChildren(); load();
      } catch (e) { err.replaceChildren(errorBox(e)); }
    } }, h('h2', {}, 'Create a team'),
      h('div', { class: 'row' }, field('Team id', input('team_id', { placeholder: 'ml' })), field('Alias', input('team_alias')),
        field('Models (comma-separated)', input('models')), field('Max budget (USD)', input('max_budget', { type: 'number', min: '0', step: 'any' })),
        field('Requests per minute', input('rpm_limit', { type: 'number', min: '0' })), field('Tokens per minute', input('tpm_limit', { type: 'number', min: '0' }))),
      err, h('div', { class: 'row' }, h('button', { type: 'submit' }, 'Create team')));
    root.append(form);
  }
  root.append(msg, box);
  await load();
  return root;
}

export async function usersPage() {
  const root = h('section', { 'aria-labelledby': 'users-title' }, h('h1', { id: 'users-title' }, 'Users'));
  const box = h('div', {});
  const msg = h('div', {});
  async function load() {
    const res = await api('/user/list?page=1&page_size=100');
    const cols = [
      { label: 'User', key: 'user_id' }, { label: 'Email', key: 'user_email' }, { label: 'Role', key: 'user_role' },
      { label: 'Teams', render: u => list(u.teams) },
      { label: 'Spend / budget', render: u => money(u.spend) + (u.max_budget != null ? ' / ' + money(u.max_budget) : '') },
      { label: 'Limits', render: u => [u.rpm_limit != null ? u.rpm_limit + ' rpm' : '', u.tpm_limit != null ? u.tpm_limit + ' tpm' : ''].filter(Boolean).join(', ') },
    ];
    if (!readOnly()) cols.push({ label: 'Actions', class: 'actions', render: u => [h('button', { type: 'button',
      class: 'secondary small', 'aria-label': 'Edit budget, limits and role of ' + u.user_id, 'data-edit': u.user_id,
      onclick: () => editLimits('user', u, load) }, 'Edit'), h('button', { type: 'button', class: 'danger small',
      'aria-label': 'Delete user ' + u.user_id, onclick: async () => {
        if (!await confirmDialog('Delete user ' + u.user_id + '?', 'Their keys are deleted too.', true, 'Delete')) return;
        try { await api('/user/delete', { method: 'POST', body: { user_ids: [u.user_id] } }); toast('Deleted'); load(); }
        catch (e) { msg.replaceChildren(errorBox(e)); }
      } }, 'Delete')] });
    box.replaceChildren(table(cols, res.users || [], 'No users yet.'));
  }
  if (!readOnly()) {
    const err = h('div', {});
    const role = h('select', { name: 'user_role', id: 'f-user_role' },
      ['internal_user', 'internal_user_viewer', 'proxy_admin_viewer', 'proxy_admin'].map(r => h('option', { value: r }, r)));
    const form = h('form', { class: 'card', id: 'user-form', onsubmit: async ev => {
      ev.preventDefault();
      const v = values(form);
      try {
        const r = await api('/user/new', { method: 'POST', body: { user_id: v.user_id, user_email: v.user_email,
          user_role: v.user_role, max_budget: optNum(v.max_budget), teams: v.teams ? csvList(v.teams) : undefined } });
        form.reset(); err.replaceChildren(); load();
        if (r.key) showSecret('First key of ' + r.user_id, r.key);
      } catch (e) { err.replaceChildren(errorBox(e)); }
    } }, h('h2', {}, 'Create a user'),
      h('div', { class: 'row' }, field('User id', input('user_id')), field('Email', input('user_email', { type: 'email' })),
        field('Role', role), field('Teams (comma-separated)', input('teams')),
        field('Max budget (USD)', input('max_budget', { type: 'number', min: '0', step: 'any' }))),
      err, h('div', { class: 'row' }, h('button', { type: 'submit' }, 'Create user')));
    root.append(form);
  }
  root.append(msg, box);
  await load();
  return root;
}
