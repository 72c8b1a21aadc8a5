// Claude Code, unchanged and headless (`claude -p … --output-format json`), once per case of CC_CASES (a JSON list of
// {name, env}); each run in a fresh HOME. One JSON line per case on stdout: its exit code and Claude Code's result.
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const cli = join(require.resolve("@anthropic-ai/claude-code/package.json"), "..", "cli.js");
for (const c of JSON.parse(process.env.CC_CASES)) {
  const home = mkdtempSync(join(tmpdir(), "sluice-cc-"));
  const env = { PATH: process.env.PATH, HOME: home, ...c.env };
  const r = spawnSync(process.execPath, [cli, "-p", c.prompt ?? "say hi", "--output-format", "json"],
    { env, encoding: "utf8", timeout: 90000 });
  let result = null;
  try {
    result = JSON.parse(r.stdout);
  } catch (e) {
    result = null;
  }
  console.log(JSON.stringify({ case: c.name, rc: r.status, signal: r.signal, result,
    stdout: result ? undefined : (r.stdout ?? "").slice(0, 2000), stderr: (r.stderr ?? "").slice(0, 2000) }));
}
