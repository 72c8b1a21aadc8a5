// The official OpenAI SDK, unchanged, against Sluice: one JSON line per case on stdout.
import OpenAI from "openai";

const base = process.env.SLUICE_URL + "/v1";
const key = new OpenAI({ baseURL: base, apiKey: process.env.SLUICE_KEY, maxRetries: 0 });
const master = new OpenAI({ baseURL: base, apiKey: process.env.SLUICE_MASTER, maxRetries: 0 });

async function run(name, f) {
  try {
    const r = await f();
    console.log(JSON.stringify({ case: name, ok: true, result: r }));
  } catch (e) {
    console.log(JSON.stringify({ case: name, ok: false, status: e.status ?? null, type: e.constructor.name,
      message: e.message }));
  }
}

await run("retrieve", () => key.models.retrieve(process.env.MODEL));
// The SDK escapes the id into the path (/models/hosted_vllm%2Fother).
await run("retrieveSlashed", () => master.models.retrieve(process.env.SLASHED_MODEL));
await run("retrieveHidden", () => key.models.retrieve(process.env.SLASHED_MODEL));
await run("retrieveMissing", () => key.models.retrieve("no-such-model"));
await run("list", async () => (await key.models.list()).data.map((m) => m.id));
