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

// A small generated WAV (16-bit mono PCM, 0.1 s of a 440 Hz tone), through the SDK's multipart upload.
function wav() {
  const rate = 8000, n = 800, data = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) data.writeInt16LE(Math.round(8000 * Math.sin(2 * Math.PI * 440 * i / rate)), i * 2);
  const h = Buffer.alloc(44);
  h.write("RIFF", 0); h.writeUInt32LE(36 + data.length, 4); h.write("WAVE", 8); h.write("fmt ", 12);
  h.writeUInt32LE(16, 16); h.writeUInt16LE(1, 20); h.writeUInt16LE(1, 22); h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28); h.writeUInt16LE(2, 32); h.writeUInt16LE(16, 34); h.write("data", 36);
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}
const audio = wav();
await run("transcribe", async () => {
  const t = await key.audio.transcriptions.create({ file: await OpenAI.toFile(audio, "tone.wav"), model: process.env.MODEL });
  return { text: t.text, size: audio.length };
});
