import { h, api, table, field, input, values, num, optNum, readOnly, confirmDialog, toast, errorBox } from './lib.js';

export async function modelsPage() {
  const root = h('section', { 'aria-labelledby': 'models-title' }, h('h1', { id: 'models-title' }, 'Models'));
  const box = h('div', { id: 'models-list' });
  const msg = h('div', {});
  async function load() {
    const [info, live] = await Promise.all([api('/v1/model/info'), api('/ui/api/deployments')]);
    const byId = new Map(live.data.map(d => [d.model_id, d]));
    const rows = info.data.map(m => ({ ...m, live: byId.get(m.model_info.id) }));
    const cols = [
      { label: 'Model', key: 'model_name' },
      { label: 'Id', render: m => h('span', { class: 'mono' }, m.model_info.id) },
      { label: 'Upstream', render: m => m.litellm_params.model },
      { label: 'api_base', render: m => h('span', { class: 'mono' }, m.litellm_params.api_base) },
      { label: 'Source', render: m => m.model_info.db_model ? 'database' : 'config.yaml' },
      { label: 'State', render: m => !m.live ? h('span', { class: 'badge warn' }, 'not routed')
        : m.live.state === 'healthy' ? h('span', { class: 'badge ok' }, 'healthy')
        : h('span', { class: 'badge bad' }, 'cooling down (' + m.live.cooldown_remaining_s + ' s)') },
      { label: 'In flight', render: m => m.live ? num(m.live.in_flight) : '' },
      { label: 'vLLM running / waiting / KV cache', render: m => m.live && m.live.vllm
        ? `${num(m.live.vllm.running)} / ${num(m.live.vllm.waiting)} / ${(m.live.vllm.kv_cache_usage * 100).toFixed(0)}%`
        : h('span', { class: 'muted' }, 'not read') },
    ];
    if (!readOnly()) cols.push({ label: 'Actions', class: 'actions', render: m => m.model_info.db_model ? [
      h('button', { type: 'button', class: 'secondary small', 'aria-label': 'Edit ' + m.model_info.id, onclick: () => edit(m) }, 'Edit'),
      h('button', { type: 'button', class: 'danger small', 'aria-label': 'Delete ' + m.model_info.id, onclick: async () => {
        if (!await confirmDialog('Delete deployment ' + m.model_info.id + '?', 'It leaves routing at once.', true, 'Delete')) return;
        try { await api('/model/delete', { method: 'POST', body: { id: m.model_info.id } }); toast('Deleted'); load(); }
        catch (e) { msg.replaceChildren(errorBox(e)); }
      } }, 'Delete')] : h('span', { class: 'muted' }, 'edit config.yaml') });
    box.replaceChildren(table(cols, rows, 'No deployments.'),
      h('p', { class: 'muted' }, 'Live state of this node. vLLM load is read from each replica\'s /metrics with routing_strategy: vllm-load.'));
  }
  function edit(m) {
    const p = m.litellm_params;
    const err = h('div', {});
    const form = h('form', { onsubmit: async ev => {
      ev.preventDefault();
      const v = values(form);
      const lp = { api_base: v.api_base, rpm: optNum(v.rpm), tpm: optNum(v.tpm), weight: optNum(v.weight) };
      try { await api('/model/update', { method: 'POST', body: { model_info: { id: m.model_info.id }, litellm_params: lp } });
        d.close(); toast('Saved'); load(); } catch (e) { err.replaceChildren(errorBox(e)); }
    } }, h('h2', { id: 'edit-title' }, 'Edit ' + m.model_info.id),
      h('div', { class: 'row' }, field('api_base', input('api_base', { value: p.api_base || '' })),
        field('rpm', input('rpm', { type: 'number', min: '0', value: p.rpm ?? '' })),
        field('tpm', input('tpm', { type: 'number', min: '0', value: p.tpm ?? '' })),
        field('weight', input('weight', { type: 'number', min: '0', step: 'any', value: p.weight ?? '' }))),
      err, h('div', { class: 'row' }, h('button', { type: 'submit' }, 'Save'),
        h('button', { type: 'button', class: 'secondary', onclick: () => d.close() }, 'Cancel')));
    const d = h('dialog', { 'aria-labelledby': 'edit-title' }, form);
    d.addEventListener('close', () => d.remove());
    document.body.append(d);
    d.showModal();
  }
  if (!readOnly()) {
    const err = h('div', {});
    const form = h('form', { class: 'card', id: 'model-form', onsubmit: async ev => {
      ev.preventDefault();
      const v = values(form);
      const body = { model_name: v.model_name, litellm_params: { model: v.model, api_base: v.api_base, api_key: v.api_key,
        rpm: optNum(v.rpm) }, model_info: { id: v.id, input_cost_per_token: optNum(v.input_cost_per_token),
        output_cost_per_token: optNum(v.output_cost_per_token) } };
      try { await api('/model/new', { method: 'POST', body }); form.reset(); err.replaceChildren(); toast('Added ' + v.model_name); load(); }
      catch (e) { err.replaceChildren(errorBox(e)); }
    } }, h('h2', {}, 'Add a deployment'),
      h('div', { class: 'row' }, field('Model name (group)', input('model_name', { required: true, placeholder: 'qwen' })),
        field('Upstream model', input('model', { required: true, placeholder: 'hosted_vllm/Qwen/Qwen2.5-7B-Instruct' })),
        field('api_base', input('api_base', { required: true, placeholder: 'http://vllm-c:8000/v1' }))),
      h('div', { class: 'row' }, field('api_key (or os.environ/NAME)', input('api_key', { type: 'password', autocomplete: 'off' })),
        field('Id', input('id', { placeholder: 'vllm-c' })), field('rpm', input('rpm', { type: 'number', min: '0' })),
        field('Input cost / token', input('input_cost_per_token', { type: 'number', min: '0', step: 'any' })),
        field('Output cost / token', input('output_cost_per_token', { type: 'number', min: '0', step: 'any' }))),
      err, h('div', { class: 'row' }, h('button', { type: 'submit', id: 'model-submit' }, 'Add deployment')));
    root.append(form);
  }
  root.append(msg, box);
  await load();
  return root;
}
