// Drives Sluice's Anthropic routes with the official Anthropic TypeScript SDK; run by AnthropicMessagesTest.
// Env: SLUICE_URL (Sluice's base URL, no /v1), SLUICE_KEY (a virtual key), MODEL (a model group).
// Prints one JSON object per line: {"case": …, …}; any unexpected throw is printed as {"case": …, "thrown": …}.
import Anthropic from '@anthropic-ai/sdk';

const baseURL = process.env.SLUICE_URL;
const key = process.env.SLUICE_KEY;
const model = process.env.MODEL;
const out = (o) => console.log(JSON.stringify(o));
const messages = [{ role: 'user', content: 'one two three' }];

async function run(name, fn) {
  try {
    out({ case: name, ...(await fn()) });
  } catch (e) {
    out({ case: name, thrown: e?.constructor?.name, status: e?.status, type: e?.error?.error?.type,
      message: e?.error?.error?.message ?? String(e?.message) });
  }
}

const client = new Anthropic({ baseURL, apiKey: key, maxRetries: 0 });
// What ANTHROPIC_CUSTOM_HEADERS adds, with no SDK credential at all.
const viaApiKeyHeader = new Anthropic({ baseURL, apiKey: null, authToken: null, maxRetries: 0,
  defaultHeaders: { 'x-api-key': key } });

await run('create', async () => {
  const m = await client.messages.create({ model, max_tokens: 64, system: 'be brief', messages });
  return { type: m.type, role: m.role, text: m.content[0]?.text, stop_reason: m.stop_reason, usage: m.usage };
});
await run('create-x-api-key', async () => {
  const m = await viaApiKeyHeader.messages.create({ model, max_tokens: 64, messages });
  return { text: m.content[0]?.text };
});
await run('stream', async () => {
  const s = await client.messages.create({ model, max_tokens: 64, messages, stream: true });
  const types = [];
  let text = '';
  let usage;
  for await (const ev of s) {
    types.push(ev.type);
    if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') text += ev.delta.text;
    if (ev.type === 'message_delta') usage = ev.usage;
  }
  return { types, text, usage };
});
await run('stream-helper', async () => {
  const final = await client.messages.stream({ model, max_tokens: 64, messages }).finalMessage();
  return { text: final.content[0]?.text, usage: final.usage, stop_reason: final.stop_reason };
});
const tools = [{ name: 'get_weather', description: 'Weather of a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }];
await run('tool-use', async () => {
  const m = await client.messages.create({ model, max_tokens: 64, messages, tools });
  const use = m.content.find((b) => b.type === 'tool_use');
  // The second turn: the tool's result goes back, the model answers with text.
  const answer = await client.messages.create({ model, max_tokens: 64, tools, messages: [...messages,
    { role: 'assistant', content: m.content },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'sunny' }] }] });
  return { stop_reason: m.stop_reason, name: use.name, input: use.input, answer: answer.content[0]?.text };
});
await run('tool-use-stream', async () => {
  const final = await client.messages.stream({ model, max_tokens: 64, messages, tools }).finalMessage();
  const use = final.content.find((b) => b.type === 'tool_use');
  return { stop_reason: final.stop_reason, name: use?.name, input: use?.input };
});
await run('count', async () => {
  const c = await client.messages.countTokens({ model, messages });
  return { input_tokens: c.input_tokens };
});
await run('wrong-key', async () => {
  const bad = new Anthropic({ baseURL, apiKey: 'sk-not-a-sluice-key', maxRetries: 0 });
  await bad.messages.create({ model, max_tokens: 8, messages });
  return { unexpected: 'no error' };
});
await run('unknown-model', async () => {
  await client.messages.create({ model: 'no-such-model', max_tokens: 8, messages });
  return { unexpected: 'no error' };
});
