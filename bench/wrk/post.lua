-- wrk request script: one POST per request, body and headers from the environment (set by scripts/bench).
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-fake-tokens"] = os.getenv("BENCH_TOKENS")
local auth = os.getenv("BENCH_AUTH")
if auth ~= nil and auth ~= "" then
  wrk.headers["Authorization"] = auth
end
