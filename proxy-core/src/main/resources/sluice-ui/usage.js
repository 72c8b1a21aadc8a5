import { h, api, table, field, money, num, isoDay, errorBox } from './lib.js';
import { stackedBars, COLORS } from './chart.js';

const METRICS = { spend: ['Spend', v => money(v)], total_tokens: ['Tokens', v => num(Math.round(v))],
  api_requests: ['Requests', v => num(Math.round(v))], failed_requests: ['Failures', v => num(Math.round(v))] };
const GROUPS = { models: 'model', api_keys: 'key', teams: 'team' };

export async function usagePage() {
  const today = new Date();
  const from = h('input', { type: 'date', id: 'usage-from', value: isoDay(new Date(today.getTime() - 29 * 864e5)) });
  const to = h('input', { type: 'date', id: 'usage-to', value: isoDay(today) });
  const group = h('select', { id: 'usage-group' }, Object.entries(GROUPS).map(([k, v]) => h('option', { value: k }, 'per ' + v)));
  const metric = h('select', { id: 'usage-metric' }, Object.entries(METRICS).map(([k, v]) => h('option', { value: k }, v[0])));
  const out = h('div', { id: 'usage-out' });
  let data = null;
  const root = h('section', { 'aria-labelledby': 'usage-title' }, h('h1', { id: 'usage-title' }, 'Usage'),
    h('form', { class: 'card', id: 'usage-form', onsubmit: ev => { ev.preventDefault(); load(); } },
      h('div', { class: 'row' }, field('From', from), field('To', to), field('Chart', group), field('Metric', metric),
        h('button', { type: 'submit', id: 'usage-apply' }, 'Apply'),
        h('button', { type: 'button', class: 'secondary', id: 'usage-csv', onclick: () => csv() }, 'Export CSV'))),
    out);
  group.addEventListener('change', () => render());
  metric.addEventListener('change', () => render());

  async function load() {
    const range = `start_date=${from.value}&end_date=${to.value}`;
    try {
      const [activity, keys, models, teams] = await Promise.all([api('/user/daily/activity?' + range),
        api('/global/spend/keys?limit=10&' + range), api('/global/spend/models?limit=10&' + range), api('/global/spend/teams?' + range)]);
      data = { activity, keys, models, teams };
      render();
    } catch (e) { out.replaceChildren(errorBox(e)); }
  }

  function allDays() {
    const days = [];
    for (let d = new Date(from.value + 'T00:00:00Z'); isoDay(d) <= to.value; d = new Date(d.getTime() + 864e5)) days.push(isoDay(d));
    return days;
  }

  function label(groupKey, name, meta) {
    if (groupKey === 'api_keys') return (meta && (meta.key_alias || meta.key_name)) || (name.length > 20 ? name.slice(0, 10) + '…' : name);
    if (groupKey === 'teams') return (meta && meta.team_alias) || name;
    return name;
  }

  function render() {
    if (!data) return;
    const g = group.value, m = metric.value, [mName, fmt] = METRICS[m];
    const days = allDays();
    const byDay = new Map(data.activity.results.map(r => [r.date, r]));
    const totals = new Map(), labels = new Map();
    for (const r of data.activity.results) for (const [name, e] of Object.entries(r.breakdown[g])) {
      totals.set(name, (totals.get(name) || 0) + e.metrics[m]);
      labels.set(name, label(g, name, e.metadata));
    }
    const ranked = [...totals.entries()].sort((a, b) => b[1] - a[1]).map(e => e[0]);
    const top = ranked.slice(0, 6), rest = ranked.slice(6);
    const series = top.map(name => ({ name: labels.get(name), values: days.map(d => {
      const e = byDay.get(d) && byDay.get(d).breakdown[g][name]; return e ? e.metrics[m] : 0; }) }));
    if (rest.length) series.push({ name: 'other', values: days.map(d => rest.reduce((s, name) => {
      const e = byDay.get(d) && byDay.get(d).breakdown[g][name]; return s + (e ? e.metrics[m] : 0); }, 0)) });
    const md = data.activity.metadata;
    out.replaceChildren(
      h('div', { class: 'kpis', id: 'usage-kpis' },
        h('div', { class: 'kpi' }, 'Spend', h('b', { id: 'kpi-spend' }, money(md.total_spend))),
        h('div', { class: 'kpi' }, 'Requests', h('b', { id: 'kpi-requests' }, num(md.total_api_requests))),
        h('div', { class: 'kpi' }, 'Failures', h('b', {}, num(md.total_failed_requests))),
        h('div', { class: 'kpi' }, 'Prompt tokens', h('b', {}, num(md.total_prompt_tokens))),
        h('div', { class: 'kpi' }, 'Completion tokens', h('b', {}, num(md.total_completion_tokens)))),
      h('div', { class: 'card chart' }, h('h2', {}, `${mName} per day, per ${GROUPS[g]}`),
        series.length ? stackedBars(`${mName} per day per ${GROUPS[g]}, ${from.value} to ${to.value}`, days, series, fmt)
          : h('p', { class: 'muted' }, 'No usage in this range.'),
        h('div', { class: 'legend' }, series.map((s, i) => h('span', {}, h('i', { style: null, class: 'sw' + i }), s.name)))),
      h('div', { class: 'grid2' },
        h('div', { class: 'card' }, h('h2', {}, 'Top keys by spend'), table([
          { label: 'Key', render: k => k.key_alias || k.key_name || k.api_key.slice(0, 10) + '…' },
          { label: 'Spend', render: k => money(k.total_spend) }], data.keys, 'No spend.')),
        h('div', { class: 'card' }, h('h2', {}, 'Top models by spend'), table([
          { label: 'Model', key: 'model' }, { label: 'Spend', render: r => money(r.total_spend) },
          { label: 'Tokens', render: r => num(r.total_tokens) }], data.models, 'No spend.')),
        h('div', { class: 'card' }, h('h2', {}, 'Top teams by spend'), table([
          { label: 'Team', key: 'team_id' }, { label: 'Spend', render: r => money(r.total_spend) }],
          data.teams.total_spend_per_team, 'No spend.'))));
    out.querySelectorAll('.legend i').forEach((e, i) => { e.style.background = COLORS[i % COLORS.length]; });
  }

  function csv() {
    if (!data) return;
    const lines = [['date', 'group', 'name', 'api_requests', 'successful_requests', 'failed_requests', 'prompt_tokens',
      'completion_tokens', 'total_tokens', 'spend']];
    for (const r of data.activity.results) for (const g of Object.keys(GROUPS)) for (const [name, e] of Object.entries(r.breakdown[g])) {
      const x = e.metrics;
      lines.push([r.date, GROUPS[g], name, x.api_requests, x.successful_requests, x.failed_requests, x.prompt_tokens,
        x.completion_tokens, x.total_tokens, x.spend]);
    }
    const text = lines.map(l => l.map(v => /[",\n]/.test(String(v)) ? '"' + String(v).replace(/"/g, '""') + '"' : v).join(',')).join('\n') + '\n';
    const a = h('a', { href: URL.createObjectURL(new Blob([text], { type: 'text/csv' })), download: `sluice-usage-${from.value}-${to.value}.csv` });
    document.body.append(a); a.click(); a.remove();
  }

  await load();
  return root;
}
