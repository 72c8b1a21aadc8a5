// The official OpenAI SDK, unchanged, against two Sluice nodes in front of two replicas: stored responses and
// previous_response_id (issue 15 §2). One JSON line per case on stdout.
import OpenAI from "openai";

const nodes = [process.env.SLUICE_A, process.env.SLUICE_B].map(
  (u) => new OpenAI({ baseURL: u + "/v1", apiKey: process.env.SLUICE_KEY, maxRetries: 0 }));
const model = process.env.MODEL;

async function run(name, f) {
  try {
    const r = await f();
    console.log(JSON.stringify({ case: name, ok: true, result: r }));
  } catch (e) {
    console.log(JSON.stringify({ case: name, ok: false, status: e.status ?? null, type: e.constructor.name,
      message: e.message }));
  }
}

// Conversations of three turns, each turn sent to the other node, then read back from both.
for (let c = 0; c < 6; c++) {
  await run("conversation" + c, async () => {
    const turns = [];
    let previous = undefined;
    for (let t = 0; t < 3; t++) {
      const client = nodes[(c + t) % 2];
      const r = await client.responses.create({ model, input: "turn " + t + " of conversation " + c,
        previous_response_id: previous });
      turns.push({ id: r.id, inputTokens: r.usage.input_tokens, outputTokens: r.usage.output_tokens,
        previous: r.previous_response_id ?? null, text: r.output_text });
      previous = r.id;
    }
    const readBack = [];
    for (const client of nodes) {
      readBack.push((await client.responses.retrieve(previous)).id);
    }
    return { turns, readBack };
  });
}

await run("stream", async () => {
  const s = await nodes[0].responses.create({ model, input: "stream this", stream: true });
  const types = [];
  let id = null, usage = null;
  for await (const ev of s) {
    types.push(ev.type);
    if (ev.type === "response.completed") {
      id = ev.response.id;
      usage = ev.response.usage;
    }
  }
  // A follow-up on the other node continues the streamed one.
  const next = await nodes[1].responses.create({ model, input: "and then", previous_response_id: id });
  return { types, id, usage, next: next.id, nextInput: next.usage.input_tokens };
});

await run("retrieveForeign", () => nodes[1].responses.retrieve("resp_made_elsewhere"));
