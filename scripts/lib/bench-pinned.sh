# Sourced by scripts/bench for --pinned and --streams (issue 18): the per-core layout. Uses scripts/bench's helpers
# (say, free_port, wait_http, stop_pid, pids, tmp, bench_jar, sluice_jar, want, REPLICA_KEY, MASTER) and options.
#
# Layout: every proxy pinned to CPU $proxy_cpu (the whole process: the JVM's JIT and GC threads too, nginx's and
# HAProxy's workers), and the load generator and the upstream pinned to CPU $load_cpu. The proxies run one after the
# other in one run, each with the same warm-up.
#   --pinned:  wrk -t1 -c$conns against each proxy; upstream = nginx serving fixed vLLM-shaped bodies (captured from
#              the fake vLLM at start: a 16-token chat completion and a 200-token stream with its usage chunk), so
#              the upstream costs next to nothing. JSON row, then SSE row.
#   --streams: the token-paced case: LoadDriver with $streams concurrent streams of $stream_tokens tokens, one event
#              every $itl_ms ms each, from the bench's fake vLLM (each event its own write and flush); reports
#              delivered events/s, TTFB, inter-event gaps and the proxy's CPU time per million events from /proc.
#   --pinned --open-loop: then each proxy at half nginx's measured JSON req/s, LoadDriver --rate (open loop).
#   --pinned --cold: then Sluice restarted and timed to readiness, its first 10 s of JSON against its steady state.

command -v taskset >/dev/null || { say "taskset (util-linux) is required for --pinned/--streams: apt-get install util-linux"; exit 1; }
if [ "$(nproc)" -lt 2 ]; then say "--pinned/--streams need 2 CPUs (proxy on one, load and upstream on the other)"; exit 1; fi
PIN_P=(taskset -c "$proxy_cpu")
PIN_L=(taskset -c "$load_cpu")
clk_tck=$(getconf CLK_TCK)

proc_ticks() { # pid → utime+stime of the process and its children processes (nginx workers), in clock ticks
  local total=0 p
  for p in "$1" $(ps -o pid= --ppid "$1" 2>/dev/null); do
    if [ -r "/proc/$p/stat" ]; then
      total=$(( total + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat") ))
    fi
  done
  echo "$total"
}
thread_ticks() { # pid → "loop jit spend gc other": utime+stime of a JVM's threads by kind, in clock ticks
  local t comm
  for t in /proc/"$1"/task/*; do
    [ -r "$t/stat" ] || continue
    comm=$(cat "$t/comm" 2>/dev/null) || continue
    printf '%s\t%s\n' "$comm" "$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "$t/stat" 2>/dev/null || echo 0)"
  done | awk -F'\t' '
    $1 ~ /^multiThreadIoEv|^epollEventLoop|^ioUringEventLoo|^nioEventLoop|^sluice-loop/ { k["loop"] += $2; next }
    $1 ~ /^C[12] CompilerThre/ { k["jit"] += $2; next }
    $1 ~ /^sluice-spend/ { k["spend"] += $2; next }
    $1 ~ /^VM Thread|^GC Thread|^G1 |^VM Periodic/ { k["gc"] += $2; next }
    { k["other"] += $2 }
    END { printf "%d %d %d %d %d", k["loop"], k["jit"], k["spend"], k["gc"], k["other"] }'
}
sluice_alloc() { # → the event loop's allocated bytes (sluice_event_loop_allocated_bytes_total, all loops summed)
  curl -s -m 5 "http://127.0.0.1:$sluice_port/metrics" -H "Authorization: Bearer $MASTER" 2>/dev/null \
    | awk '/^sluice_event_loop_allocated_bytes_total/ { s += $NF } END { printf "%.0f", s + 0 }'
}

# ---------------------------------------------------------------------------------------------------------------
# Upstream.
fake_port=$(free_port)
"${PIN_L[@]}" java -Xms512m -Xmx512m -XX:+UseParallelGC -cp "$bench_jar" io.sluice.bench.fake.FakeVllm \
  --port "$fake_port" --model bench-model --api-key "$REPLICA_KEY" --tokens 200 --itl-ms 0 --threads 1 \
  > "$tmp/fake.log" 2>&1 &
fake_pid=$!; pids+=("$fake_pid")
wait_http "http://127.0.0.1:$fake_port/health" "$fake_pid" "$tmp/fake.log" 60 || { say "the fake vLLM did not start"; exit 1; }
upstream="127.0.0.1:$fake_port"
if ! $streams_mode; then
  command -v nginx >/dev/null || { say "nginx is required for --pinned (the upstream): apt-get install nginx"; exit 1; }
  command -v wrk >/dev/null || { say "wrk is required for --pinned: apt-get install wrk"; exit 1; }
  mkdir -p "$tmp/www" "$tmp/upstream"
  chmod a+rx "$tmp" "$tmp/www" # nginx workers run as nobody when started as root
  curl -s -m 10 "http://$upstream/v1/chat/completions" -H "Authorization: Bearer $REPLICA_KEY" -H 'x-fake-tokens: 16' \
    -d '{"model":"bench-model","messages":[{"role":"user","content":"write a haiku about gateways"}],"max_tokens":1024}' \
    > "$tmp/www/chat.json"
  curl -sN -m 10 "http://$upstream/v1/chat/completions" -H "Authorization: Bearer $REPLICA_KEY" -H 'x-fake-tokens: 200' \
    -d '{"model":"bench-model","messages":[{"role":"user","content":"write a haiku about gateways"}],"max_tokens":1024,"stream":true,"stream_options":{"include_usage":true}}' \
    > "$tmp/www/sse.txt"
  chmod a+r "$tmp/www/chat.json" "$tmp/www/sse.txt"
  json_bytes=$(wc -c < "$tmp/www/chat.json"); sse_bytes=$(wc -c < "$tmp/www/sse.txt")
  sse_events=$(grep -c '^data: ' "$tmp/www/sse.txt" || true)
  if [ "$json_bytes" -lt 100 ] || ! grep -q '\[DONE\]' "$tmp/www/sse.txt"; then
    say "could not capture the fake vLLM's bodies (chat.json $json_bytes bytes; sse.txt without [DONE])"; exit 1
  fi
  up_port=$(free_port)
  sed -e "s|@PREFIX@|$tmp/upstream|g" -e "s|@PORT@|$up_port|g" -e "s|@ROOT@|$tmp/www|g" \
    bench/nginx/upstream.conf.template > "$tmp/upstream/nginx.conf"
  "${PIN_L[@]}" nginx -p "$tmp/upstream" -e "$tmp/upstream/error.log" -c "$tmp/upstream/nginx.conf" > "$tmp/upstream.log" 2>&1 &
  up_pid=$!; pids+=("$up_pid")
  wait_http "http://127.0.0.1:$up_port/health" "$up_pid" "$tmp/upstream/error.log" 30 || { say "the upstream nginx did not start"; exit 1; }
  got=$(curl -s -m 5 "http://127.0.0.1:$up_port/v1/chat/completions" -d '{}' | wc -c)
  [ "$got" -eq "$json_bytes" ] || { say "the upstream nginx answers a POST with $got bytes, not the $json_bytes of chat.json"; exit 1; }
  upstream="127.0.0.1:$up_port"
fi

# ---------------------------------------------------------------------------------------------------------------
# Proxies, each pinned to the proxy CPU.
declare -A skip=() port_of=() pid_of=() model_of=() auth_of=()
if want nginx; then
  if command -v nginx >/dev/null; then
    nginx_port=$(free_port); mkdir -p "$tmp/nginx"
    sed -e "s|@PREFIX@|$tmp/nginx|g" -e "s|@WORKERS@|1|g" -e "s|@PORT@|$nginx_port|g" -e "s|@UPSTREAM@|$upstream|g" \
      -e "s|@KEY@|$REPLICA_KEY|g" bench/nginx/nginx.conf.template > "$tmp/nginx/nginx.conf"
    "${PIN_P[@]}" nginx -p "$tmp/nginx" -e "$tmp/nginx/error.log" -c "$tmp/nginx/nginx.conf" > "$tmp/nginx.log" 2>&1 &
    pid_of[nginx]=$!; pids+=("$!"); port_of[nginx]=$nginx_port; model_of[nginx]=bench-model; auth_of[nginx]=""
  else skip[nginx]="nginx is not installed"; fi
fi
if want haproxy; then
  if command -v haproxy >/dev/null; then
    haproxy_port=$(free_port)
    sed -e "s|@THREADS@|1|g" -e "s|@MAXCONN@|8000|g" -e "s|@PORT@|$haproxy_port|g" -e "s|@UPSTREAM@|$upstream|g" \
      -e "s|@KEY@|$REPLICA_KEY|g" bench/haproxy/haproxy.cfg.template > "$tmp/haproxy.cfg"
    "${PIN_P[@]}" haproxy -db -f "$tmp/haproxy.cfg" > "$tmp/haproxy.log" 2>&1 &
    pid_of[haproxy]=$!; pids+=("$!"); port_of[haproxy]=$haproxy_port; model_of[haproxy]=bench-model; auth_of[haproxy]=""
  else skip[haproxy]="haproxy is not installed"; fi
fi
sluice_db="embedded PostgreSQL (pinned with Sluice)"
if want sluice; then
  if [ ! -f "$sluice_jar" ]; then
    skip[sluice]="$sluice_jar not built"
  else
    sluice_port=$(free_port)
    cat > "$tmp/sluice.yaml" <<YAML
model_list:
  - model_name: bench
    litellm_params: { model: hosted_vllm/bench-model, api_base: "http://$upstream/v1", api_key: $REPLICA_KEY }
YAML
    # SLUICE_BENCH_SETTINGS: extra sluice_settings for Sluice's row, e.g. "response_model_name: served".
    if [ -n "${SLUICE_BENCH_SETTINGS:-}" ]; then
      printf 'sluice_settings: { %s }\n' "$SLUICE_BENCH_SETTINGS" >> "$tmp/sluice.yaml"
    fi
    db_env=()
    if [ -n "${DATABASE_URL:-}" ]; then
      db_env=(DATABASE_URL="$DATABASE_URL"); sluice_db="DATABASE_URL (unpinned)"
    elif command -v psql >/dev/null && psql -h 127.0.0.1 -U postgres -d postgres -qAtc 'select 1' >/dev/null 2>&1; then
      psql -h 127.0.0.1 -U postgres -d postgres -qc 'DROP DATABASE IF EXISTS sluice_bench' -c 'CREATE DATABASE sluice_bench' >/dev/null
      db_env=(DATABASE_URL="postgresql://postgres@127.0.0.1:5432/sluice_bench"); sluice_db="local PostgreSQL (unpinned)"
    fi
    otel_env=()
    if $otel; then # traces of every request, exported to the upstream nginx (location /v1/traces: read, 200)
      otel_env=(OTEL_EXPORTER_OTLP_ENDPOINT="http://$upstream" OTEL_TRACES_SAMPLER=always_on)
    fi
    # shellcheck disable=SC2086 # the JVM options are words
    env "${db_env[@]}" "${otel_env[@]}" SLUICE_ACCESS_LOG_LEVEL=$access_log SLUICE_MASTER_KEY=$MASTER "${PIN_P[@]}" java $sluice_opts \
      -jar "$sluice_jar" --config "$tmp/sluice.yaml" --host 127.0.0.1 --port "$sluice_port" --threads 1 \
      --data-dir "$tmp/sluice-data" > "$tmp/sluice.log" 2>&1 &
    pid_of[sluice]=$!; pids+=("$!"); port_of[sluice]=$sluice_port; model_of[sluice]=bench
  fi
fi
for t in nginx haproxy; do
  if [ -n "${pid_of[$t]:-}" ] && ! wait_http "http://127.0.0.1:${port_of[$t]}/health" "${pid_of[$t]}" "$tmp/$t.log" 30; then
    skip[$t]="did not start"; stop_pid "${pid_of[$t]}"; unset "pid_of[$t]"
  fi
done
if [ -n "${pid_of[sluice]:-}" ]; then
  if wait_http "http://127.0.0.1:$sluice_port/health/readiness" "${pid_of[sluice]}" "$tmp/sluice.log" 90; then
    VKEY="$(curl -s -m 10 "http://127.0.0.1:$sluice_port/key/generate" -H "Authorization: Bearer $MASTER" \
      -d '{"key_alias":"bench","models":["bench"]}' | sed -n 's/.*"key":"\(sk-[^"]*\)".*/\1/p')"
    if [ -n "$VKEY" ]; then auth_of[sluice]="Bearer $VKEY"; else skip[sluice]="could not issue a virtual key"; fi
  else
    skip[sluice]="did not become ready (see its log)"
  fi
  [ -z "${skip[sluice]:-}" ] || { stop_pid "${pid_of[sluice]}"; unset "pid_of[sluice]"; }
fi
order=()
for t in nginx haproxy sluice; do
  if want "$t"; then
    if [ -n "${skip[$t]:-}" ]; then say "NOTE: $t is not benchmarked: ${skip[$t]}"; else order+=("$t"); fi
  fi
done

# ---------------------------------------------------------------------------------------------------------------
cat > "$tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
if os.getenv("BENCH_STREAM") == "1" then wrk.headers["x-fake-stream"] = "1" end
local auth = os.getenv("BENCH_AUTH")
if auth ~= nil and auth ~= "" then wrk.headers["Authorization"] = auth end
LUA
wrk_run() { # target, stream 0|1, seconds, out file
  local t="$1" stream="$2" body
  body="{\"model\":\"${model_of[$t]}\",\"messages\":[{\"role\":\"user\",\"content\":\"write a haiku about gateways\"}],\"max_tokens\":1024"
  if [ "$stream" = 1 ]; then body+=",\"stream\":true,\"stream_options\":{\"include_usage\":true}}"; else body+=",\"stream\":false}"; fi
  BENCH_BODY="$body" BENCH_AUTH="${auth_of[$t]}" BENCH_STREAM="$stream" "${PIN_L[@]}" \
    wrk -t1 -c"$conns" -d"${3}s" --latency -s "$tmp/post.lua" "http://127.0.0.1:${port_of[$t]}/v1/chat/completions" \
    > "$4" 2>&1 || true
}
wrk_ms() { # wrk latency value (e.g. 812.00us, 2.31ms, 1.02s) → ms
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}
wrk_field() { # out file, field (rps|requests|p50|p99|errors)
  case "$2" in
    rps) awk '/Requests\/sec/ { printf "%.0f", $2 }' "$1" ;;
    requests) awk '/requests in/ { print $1 }' "$1" ;;
    p50) wrk_ms "$(awk '$1 == "50%" { print $2 }' "$1")" ;;
    p99) wrk_ms "$(awk '$1 == "99%" { print $2 }' "$1")" ;;
    errors) awk '/Non-2xx/ { n += $NF } /Socket errors/ { gsub(",", ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$1" ;;
  esac
}

rows=(); thread_rows=(); declare -A rps_of=()
measure_wrk() { # target, scenario name, stream 0|1
  local t="$1" name="$2" stream="$3" out="$tmp/$2-$1.wrk" c0 c1 a0=0 a1=0 cpu alloc="—"
  [ "${pid_of[$t]:-}" ] || return 0
  local k0="" k1=""
  c0=$(proc_ticks "${pid_of[$t]}"); [ "$t" = sluice ] && a0=$(sluice_alloc) && k0=$(thread_ticks "${pid_of[$t]}")
  wrk_run "$t" "$stream" "$duration" "$out"
  c1=$(proc_ticks "${pid_of[$t]}"); [ "$t" = sluice ] && a1=$(sluice_alloc) && k1=$(thread_ticks "${pid_of[$t]}")
  local rps req p50 p99 err
  rps=$(wrk_field "$out" rps); req=$(wrk_field "$out" requests); p50=$(wrk_field "$out" p50); p99=$(wrk_field "$out" p99)
  err=$(wrk_field "$out" errors)
  cpu=$(awk -v d=$(( c1 - c0 )) -v hz="$clk_tck" -v s="$duration" 'BEGIN { printf "%.0f%%", 100 * d / hz / s }')
  local us="—"
  [ "${req:-0}" -gt 0 ] && us=$(awk -v d=$(( c1 - c0 )) -v hz="$clk_tck" -v r="$req" 'BEGIN { printf "%.1f", d / hz / r * 1e6 }')
  if [ "$t" = sluice ] && [ "${req:-0}" -gt 0 ] && [ "$a1" -gt 0 ]; then
    alloc=$(awk -v a=$(( a1 - a0 )) -v r="$req" 'BEGIN { printf "%.0f", a / r }')
  fi
  if [ -n "$k0" ] && [ -n "$k1" ] && [ "${req:-0}" -gt 0 ]; then # where Sluice's CPU went, by thread kind
    thread_rows+=("$name|$(awk -v a="$k0" -v b="$k1" -v hz="$clk_tck" -v r="$req" 'BEGIN {
      split(a, x, " "); split(b, y, " ")
      for (i = 1; i <= 5; i++) printf "%s%.1f", (i > 1 ? "|" : ""), (y[i] - x[i]) / hz / r * 1e6 }')")
  fi
  rps_of[$name-$t]=${rps:-0}
  rps_of[us-$name-$t]=$us
  rows+=("$name|$t|${rps:--}|${p50:--}|${p99:--}|$cpu|$us|$alloc|$err")
  say "  $name $t: ${rps:-?} req/s, p50 $p50 ms, p99 $p99 ms, proxy CPU $cpu ($us µs/req), alloc/req $alloc, errors $err"
}

ratio() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "—" }'; }

# --profile: after Sluice's measured JSON row, and again after its SSE row, two more windows of the same scenario
# and length with async-profiler attached (CPU of every thread, then the event loop's allocations);
# bench/profile/stages.py turns them into the per-stage cost of one request, scaled by the row's measured CPU µs/req
# and alloc B/req. The profiler comes from Maven Central (tools.profiler:async-profiler 3.0, linux-x64) into
# ~/.cache/sluice-bench.
stage_table=""; stage_table_sse=""
profiler_lib() {
  local dir="$HOME/.cache/sluice-bench/async-profiler-3.0"
  if [ ! -f "$dir/linux-x64/libasyncProfiler.so" ]; then
    mkdir -p "$dir"
    curl -fsS -o "$dir/ap.jar" https://repo.maven.apache.org/maven2/tools/profiler/async-profiler/3.0/async-profiler-3.0-linux-x64.jar \
      && (cd "$dir" && unzip -q -o ap.jar 'linux-x64/*') || { say "could not fetch async-profiler from Maven Central"; return 1; }
  fi
  echo "$dir/linux-x64/libasyncProfiler.so"
}
profile_sluice() { # scenario (json|sse), stream 0|1 → per-stage table into $stage_table or $stage_table_sse
  local name="${1:-json}" stream="${2:-0}" lib pid="${pid_of[sluice]}" us alloc table
  lib="$(profiler_lib)" || return 0
  command -v jcmd >/dev/null || { say "jcmd (JDK) is needed for --profile"; return 0; }
  for ev in cpu alloc; do
    local opts="start,event=$ev,interval=499us"
    [ "$ev" = alloc ] && opts="start,event=alloc,threads"
    jcmd "$pid" JVMTI.agent_load "$lib" "\"$opts\"" >/dev/null
    wrk_run sluice "$stream" "$duration" "$tmp/profile-$name-$ev.wrk"
    jcmd "$pid" JVMTI.agent_load "$lib" "\"stop,file=$profile_dir/sluice-$name-$ev.collapsed,collapsed,total\"" >/dev/null
  done
  IFS='|' read -r _ _ _ _ _ _ us alloc _ <<< "${rows[${#rows[@]}-1]}"
  table="$(python3 bench/profile/stages.py "$profile_dir/sluice-$name-cpu.collapsed" \
    "$profile_dir/sluice-$name-alloc.collapsed" --cpu-us-per-req "$us" --alloc-per-req "${alloc/—/0}")" \
    || say "stages.py failed"
  if [ "$name" = sse ]; then stage_table_sse="$table"; else stage_table="$table"; fi
}

# --syscalls: one more window per proxy and scenario under `perf stat` on the syscall tracepoints of the proxy's
# processes (every thread of the JVM; nginx's master and workers), counted for as long as wrk runs; ÷ wrk's requests.
sys_kinds=(read write readv writev recvfrom sendto recvmsg sendmsg epoll_wait epoll_pwait epoll_ctl futex io_uring_enter)
sys_rows=(); sys_note=""
measure_syscalls() { # target, scenario name, stream 0|1
  local t="$1" name="$2" stream="$3" out="$tmp/sys-$2-$1" pids ev="raw_syscalls:sys_enter" k req body
  [ "${pid_of[$t]:-}" ] || return 0
  pids="$( { ps -o pid= --ppid "${pid_of[$t]}" 2>/dev/null || true; } | tr -d ' ' | paste -sd, -)"
  pids="${pid_of[$t]}${pids:+,$pids}"
  for k in "${sys_kinds[@]}"; do ev+=",syscalls:sys_enter_$k"; done
  body="{\"model\":\"${model_of[$t]}\",\"messages\":[{\"role\":\"user\",\"content\":\"write a haiku about gateways\"}],\"max_tokens\":1024"
  if [ "$stream" = 1 ]; then body+=",\"stream\":true,\"stream_options\":{\"include_usage\":true}}"; else body+=",\"stream\":false}"; fi
  BENCH_BODY="$body" BENCH_AUTH="${auth_of[$t]}" BENCH_STREAM="$stream" perf stat -x, -o "$out.perf" -e "$ev" -p "$pids" \
    -- "${PIN_L[@]}" wrk -t1 -c"$conns" -d"${duration}s" --latency -s "$tmp/post.lua" \
    "http://127.0.0.1:${port_of[$t]}/v1/chat/completions" > "$out.wrk" 2>&1 || true
  req=$(wrk_field "$out.wrk" requests)
  if [ "${req:-0}" -le 0 ] || [ ! -s "$out.perf" ]; then say "  syscalls $name $t: no data (perf: $(tail -n1 "$out.perf" 2>/dev/null))"; return 0; fi
  local line
  line="$(awk -F, -v r="$req" '
    $3 ~ /^raw_syscalls:sys_enter$/ { total = $1 }
    $3 ~ /^syscalls:sys_enter_/ { k = $3; sub(/^syscalls:sys_enter_/, "", k); if ($1 + 0 > 0) { v[k] = $1 } }
    END {
      printf "%.2f|", total / r
      n = 0; for (k in v) { if (v[k] / r >= 0.005) { s = s (n++ ? ", " : "") sprintf("%s %.2f", k, v[k] / r) } }
      print s
    }' "$out.perf")"
  sys_rows+=("$name|$t|$(wrk_field "$out.wrk" rps)|$line")
  say "  syscalls $name $t: ${line%%|*} per request (${line#*|})"
}

# --open-loop: each proxy at a fixed arrival rate of half nginx's measured JSON req/s (its closed-loop peak here), the
# LoadDriver pinned with the upstream on the load CPU; latency from each request's due time (no coordinated
# omission). The proxy's CPU over the measured window as in streams mode (sampled from the script's clock, so the
# window is offset by the driver's JVM start, a fraction of a second, at a constant rate).
open_rows=(); open_rate=""; open_note=""
jfield() { printf '%s' "$2" | sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" | tr -d '"'; }
us_ms() { awk -v v="${1:-0}" 'BEGIN { printf "%.3f", v / 1000 }'; }
open_loop_run() {
  local peak="${rps_of[json-nginx]:-0}" t out args dp c0 c1 j cpu
  if [ "${peak:-0}" -le 0 ]; then open_note="not run: needs nginx's JSON row (nginx in --targets)"; say "--open-loop: $open_note"; return 0; fi
  open_rate=$(( peak / 2 ))
  for t in "${order[@]}"; do
    [ "${pid_of[$t]:-}" ] || continue
    out="$tmp/open-$t.json"
    args=(--url "http://127.0.0.1:${port_of[$t]}/v1/chat/completions" --connections "$conns" --threads 1
          --duration "$duration" --warmup "$warmup" --rate "$open_rate" --model "${model_of[$t]}")
    [ -n "${auth_of[$t]:-}" ] && args+=(--header "Authorization: ${auth_of[$t]}")
    say "$t: open loop at $open_rate req/s (½ × nginx's $peak; ${warmup} s warm-up + ${duration} s)"
    "${PIN_L[@]}" java -Xms512m -Xmx512m -XX:+UseParallelGC -cp "$bench_jar" io.sluice.bench.load.LoadDriver "${args[@]}" \
      --json > "$out" 2>> "$tmp/driver.log" &
    dp=$!; pids+=("$dp")
    sleep "$warmup"; c0=$(proc_ticks "${pid_of[$t]}")
    sleep "$duration"; c1=$(proc_ticks "${pid_of[$t]}")
    wait "$dp" || say "the load driver exited with status $?"
    forget_pid "$dp"
    j="$(grep -m1 '^{' "$out" || true)"
    [ -n "$j" ] || { open_rows+=("$t|load driver failed (see driver.log)|||||||"); continue; }
    cpu=$(awk -v d=$(( c1 - c0 )) -v hz="$clk_tck" -v s="$duration" 'BEGIN { printf "%.0f%%", 100 * d / hz / s }')
    rps_of[open-p99-$t]=$(jfield latencyP99Us "$j")
    open_rows+=("$t|$(awk -v v="$(jfield rps "$j")" 'BEGIN { printf "%.0f", v }')|$(us_ms "$(jfield latencyP50Us "$j")")|$(us_ms "$(jfield latencyP99Us "$j")")|$(us_ms "$(jfield latencyP999Us "$j")")|$(us_ms "$(jfield latencyMaxUs "$j")")|$(jfield late "$j")|$(us_ms "$(jfield sendLagP99Us "$j")")|$cpu|$(jfield errors "$j")")
    say "  $t: $(jfield rps "$j") req/s achieved, p50 $(us_ms "$(jfield latencyP50Us "$j")") p99 $(us_ms "$(jfield latencyP99Us "$j")") p99.9 $(us_ms "$(jfield latencyP999Us "$j")") ms, late $(jfield late "$j"), proxy CPU $cpu"
  done
}

# --cold: Sluice restarted as a deployment restarts (same config, same database, so the virtual key is found there;
# the main instance stopped first), the time from exec to liveness and to readiness 200 polled every 50 ms from the
# load CPU, then at once wrk for 10 s (the JSON row's closed loop), then the usual warm-up and a steady window of
# $duration s. Twice: the default start-up warm-up, and --warmup-seconds 0.
cold_rows=(); cold_note=""
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
cold_one() { # label, extra Sluice options...
  local label="$1"; shift
  local port log t0 t_live="" t_ready="" pid warm first steady ratio
  port=$(free_port); log="$tmp/sluice-cold-$label.log"
  t0=$(now_ms)
  # shellcheck disable=SC2086 # the JVM options are words
  env "${db_env[@]}" SLUICE_ACCESS_LOG_LEVEL=$access_log SLUICE_MASTER_KEY=$MASTER "${PIN_P[@]}" java $sluice_opts \
    -jar "$sluice_jar" --config "$tmp/sluice.yaml" --host 127.0.0.1 --port "$port" --threads 1 \
    --data-dir "$tmp/sluice-data$cold_data" "$@" > "$log" 2>&1 &
  pid=$!; pids+=("$pid")
  while [ $(( $(now_ms) - t0 )) -lt 120000 ] && kill -0 "$pid" 2>/dev/null; do
    if [ -z "$t_live" ] && "${PIN_L[@]}" curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/health/liveliness" 2>/dev/null; then
      t_live=$(( $(now_ms) - t0 ))
    fi
    if [ -n "$t_live" ] && "${PIN_L[@]}" curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/health/readiness" 2>/dev/null; then
      t_ready=$(( $(now_ms) - t0 )); break
    fi
    sleep 0.05
  done
  if [ -z "$t_ready" ]; then
    cold_rows+=("$label|did not become ready in 120 s (see $log)||||||||"); stop_pid "$pid"; forget_pid "$pid"; return 0
  fi
  pid_of[sluice]=$pid; port_of[sluice]=$port
  if [ -z "${db_env[*]}" ]; then # a fresh embedded database: the key has to be issued (a few ms, counted apart)
    VKEY="$(curl -s -m 10 "http://127.0.0.1:$port/key/generate" -H "Authorization: Bearer $MASTER" \
      -d '{"key_alias":"bench","models":["bench"]}' | sed -n 's/.*"key":"\(sk-[^"]*\)".*/\1/p')"
    auth_of[sluice]="Bearer $VKEY"
  fi
  say "sluice ($label): live after $t_live ms, ready after $t_ready ms; 10 s of JSON at once"
  wrk_run sluice 0 10 "$tmp/cold-first-$label.wrk"
  say "sluice ($label): ${warmup} s warm-up, then ${duration} s steady"
  wrk_run sluice 0 "$warmup" "$tmp/cold-warm-$label.wrk"
  wrk_run sluice 0 "$duration" "$tmp/cold-steady-$label.wrk"
  warm="$(sed -n 's/.*Warm-up done in \([0-9]*\) ms: \([0-9]*\) requests.*/\1 ms, \2 requests/p' "$log" | head -n1)"
  first=$(wrk_field "$tmp/cold-first-$label.wrk" rps); steady=$(wrk_field "$tmp/cold-steady-$label.wrk" rps)
  ratio=$(awk -v a="${first:-0}" -v b="${steady:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "—" }')
  cold_rows+=("$label|$(awk -v v="$t_live" 'BEGIN { printf "%.1f", v / 1000 }')|$(awk -v v="$t_ready" 'BEGIN { printf "%.1f", v / 1000 }')|${warm:-—}|${first:--}|$(wrk_field "$tmp/cold-first-$label.wrk" p99)|${steady:--}|$(wrk_field "$tmp/cold-steady-$label.wrk" p99)|$ratio|$(( $(wrk_field "$tmp/cold-first-$label.wrk" errors) + $(wrk_field "$tmp/cold-steady-$label.wrk" errors) ))")
  say "  sluice ($label): first 10 s ${first:-?} req/s, steady ${steady:-?} req/s, ratio $ratio"
  stop_pid "$pid"; forget_pid "$pid"; unset "pid_of[sluice]"
}
cold_run() {
  if [ -z "${auth_of[sluice]:-}" ]; then cold_note="not run: Sluice is not in --targets or did not start"; say "--cold: $cold_note"; return 0; fi
  stop_pid "${pid_of[sluice]}"; forget_pid "${pid_of[sluice]}"; unset "pid_of[sluice]"
  cold_data=""
  # The embedded database of the main instance may still be stopping; the cold ones get their own data dirs.
  if [ -z "${db_env[*]}" ]; then cold_data="-cold-default"; fi
  cold_one "default warm-up"
  if [ -z "${db_env[*]}" ]; then cold_data="-cold-off"; fi
  cold_one "--warmup-seconds 0" --warmup-seconds 0
}

if ! $streams_mode; then
  for t in "${order[@]}"; do
    say "$t: ${warmup} s warm-up (JSON, discarded)"
    wrk_run "$t" 0 "$warmup" "$tmp/warm-json-$t.wrk"
    measure_wrk "$t" json 0
    if [ "$t" = sluice ] && [ -n "$profile_dir" ]; then
      mkdir -p "$profile_dir"; say "sluice: profiling two more JSON windows (CPU, then allocations)"; profile_sluice json 0
    fi
    sse_warm=$(awk -v w="$warmup" 'BEGIN { print (w < 10 ? w : 10) }')
    say "$t: ${sse_warm} s warm-up (SSE, discarded)"
    wrk_run "$t" 1 "$sse_warm" "$tmp/warm-sse-$t.wrk"
    measure_wrk "$t" sse 1
    if [ "$t" = sluice ] && [ -n "$profile_dir" ]; then
      say "sluice: profiling two more SSE windows (CPU, then allocations)"; profile_sluice sse 1
    fi
    if $syscalls; then
      command -v perf >/dev/null || { sys_note="not measured: perf is missing (apt-get install linux-perf)"; say "--syscalls: $sys_note"; }
      if [ -z "$sys_note" ]; then
        say "$t: one more JSON and SSE window under perf stat (syscalls)"; measure_syscalls "$t" json 0; measure_syscalls "$t" sse 1
      fi
    fi
  done
  if $open_loop; then open_loop_run; fi
  if $cold; then cold_run; fi
else
  drows=()
  for t in "${order[@]}"; do
    out="$tmp/streams-$t.json"
    args=(--url "http://127.0.0.1:${port_of[$t]}/v1/chat/completions" --connections "$streams" --threads 1
          --duration "$duration" --warmup "$warmup" --tokens "$stream_tokens" --model "${model_of[$t]}" --stream
          --header "x-fake-itl-ms: $itl_ms" --timeout 60)
    [ -n "${auth_of[$t]:-}" ] && args+=(--header "Authorization: ${auth_of[$t]}")
    say "$t: $streams streams × 1 event / $itl_ms ms (${warmup} s warm-up + ${duration} s)"
    "${PIN_L[@]}" java -Xms1g -Xmx1g -XX:+UseParallelGC -cp "$bench_jar" io.sluice.bench.load.LoadDriver "${args[@]}" --json \
      > "$out" 2>> "$tmp/driver.log" &
    dp=$!; pids+=("$dp")
    sleep "$warmup"
    c0=$(proc_ticks "${pid_of[$t]}"); a0=0; [ "$t" = sluice ] && a0=$(sluice_alloc)
    sleep "$duration"
    c1=$(proc_ticks "${pid_of[$t]}"); a1=0; [ "$t" = sluice ] && a1=$(sluice_alloc)
    wait "$dp" || say "the load driver exited with status $?"
    j="$(grep -m1 '^{' "$out" || true)"
    [ -n "$j" ] || { drows+=("$t|load driver failed|||||||"); continue; }
    jv() { printf '%s' "$j" | sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" | tr -d '"'; }
    evs=$(jv eventsPerSec); ev=$(awk -v e="$evs" -v d="$duration" 'BEGIN { printf "%.0f", e * d }')
    cpu_per_m=$(awk -v d=$(( c1 - c0 )) -v hz="$clk_tck" -v e="$ev" 'BEGIN { if (e > 0) printf "%.1f", d / hz / e * 1e6; else print "—" }')
    alloc="—"
    if [ "$t" = sluice ] && [ "$ev" -gt 0 ] && [ "$a1" -gt 0 ]; then
      alloc=$(awk -v a=$(( a1 - a0 )) -v e="$ev" 'BEGIN { printf "%.0f", a / e }')
    fi
    ms() { awk -v v="${1:-0}" 'BEGIN { printf "%.2f", v / 1000 }'; }
    drows+=("$t|$(awk -v e="$evs" 'BEGIN { printf "%.0f", e }')|$cpu_per_m|$(ms "$(jv ttfbP50Us)")|$(ms "$(jv ttfbP99Us)")|$(ms "$(jv gapP50Us)")|$(ms "$(jv gapP99Us)")|$(jv sameReadEvents)|$alloc|$(jv errors)")
    say "  $t: $evs events/s, CPU ${cpu_per_m} s per 1M events, TTFB p50 $(ms "$(jv ttfbP50Us)") ms, alloc/event $alloc"
    rps_of[cpu-$t]=$cpu_per_m
  done
fi

# ---------------------------------------------------------------------------------------------------------------
mkdir -p bench-results
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
file="bench-results/$stamp-$($streams_mode && echo streams || echo pinned).md"
cpu_model="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
{
  echo "# Sluice per-core benchmark $stamp"
  echo
  echo "- Machine: $(nproc) CPUs (${cpu_model:-unknown}), Linux $(uname -r). Each proxy pinned to CPU $proxy_cpu (taskset, the whole process); load generator and upstream pinned to CPU $load_cpu. One proxy at a time, in one run."
  echo "- nginx $(nginx -v 2>&1 | sed 's|.*nginx/||') (1 worker), HAProxy $(haproxy -v 2>/dev/null | head -n1 | awk '{print $3}') (nbthread 1), Sluice 1 event loop, transport ${SLUICE_TRANSPORT:-auto}, JVM options \`$sluice_opts\`, virtual key (model list checked), model rewrite, usage tap, spend rows to $sluice_db."
  if $otel; then
    echo "- Traces ON: Sluice samples every request (OTEL_TRACES_SAMPLER=always_on) and exports its spans over OTLP/HTTP (protobuf, the SDK's batch processor) to the upstream nginx's /v1/traces (reads the body, answers 200)."
  fi
  if ! $streams_mode; then
    echo "- Upstream: nginx (1 worker) serving fixed bodies captured from the fake vLLM: JSON $json_bytes bytes (16 tokens), SSE $sse_bytes bytes ($sse_events data events, usage chunk and [DONE]) — written by nginx with Content-Length in as few writes as it likes."
    echo "- Load: wrk -t1 -c$conns, ${warmup} s JSON warm-up and $(awk -v w="$warmup" 'BEGIN { print (w < 10 ? w : 10) }') s SSE warm-up per proxy (discarded), then ${duration} s measured. Proxy CPU = utime+stime of the proxy's processes over the measured window (/proc). alloc/req = Sluice's event-loop thread heap allocation ÷ requests (sluice_event_loop_allocated_bytes_total)."
    echo
    echo "The load side (wrk and the upstream on one CPU) can saturate before a fast proxy does: then req/s compares the"
    echo "load side, and **CPU µs per request** (the proxy's CPU time over the window ÷ requests) is the per-core cost."
    echo
    echo "| scenario | target | req/s | × nginx | × HAProxy | p50 ms | p99 ms | proxy CPU | CPU µs/req | µs × nginx | alloc B/req | errors |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for r in "${rows[@]}"; do
      IFS='|' read -r sc t rps p50 p99 cpu us alloc err <<< "$r"
      echo "| $sc | $t | $rps | $(ratio "$rps" "${rps_of[$sc-nginx]:-}") | $(ratio "$rps" "${rps_of[$sc-haproxy]:-}") | $p50 | $p99 | $cpu | $us | $(ratio "$us" "${rps_of[us-$sc-nginx]:-}") | $alloc | $err |"
    done
    if [ "${#thread_rows[@]}" -gt 0 ]; then
      echo
      echo "Sluice's CPU µs per request by thread (/proc/<pid>/task, same windows): the event loop(s), the JIT compiler threads (a non-zero figure means it was still compiling in the window), the spend writer, GC and VM threads, everything else."
      echo
      echo "| scenario | event loop | JIT | spend writer | GC/VM | other |"
      echo "|---|---:|---:|---:|---:|---:|"
      for r in "${thread_rows[@]}"; do
        IFS='|' read -r sc lp jit sp gc ot <<< "$r"
        echo "| $sc | $lp | $jit | $sp | $gc | $ot |"
      done
    fi
    if [ -n "$stage_table" ]; then
      echo
      echo "Per-stage cost of one Sluice JSON request (async-profiler, two extra ${duration} s windows; CPU of all threads, allocation of the event loop; see bench/profile/stages.py):"
      echo
      echo "$stage_table"
    fi
    if [ -n "$stage_table_sse" ]; then
      echo
      echo "Per-stage cost of one Sluice SSE response (the same, two extra ${duration} s SSE windows):"
      echo
      echo "$stage_table_sse"
    fi
    if $syscalls; then
      echo
      echo "## System calls per request"
      echo
      if [ -n "$sys_note" ]; then
        echo "$sys_note"
      else
        echo "One more ${duration} s window per proxy and scenario, the proxy's processes (every thread) counted with \`perf stat\` on the syscall tracepoints while wrk ran; ÷ wrk's requests (req/s of that window, perf attached). Kinds below 0.005 per request are left out."
        echo
        echo "| scenario | target | req/s | syscalls/req | by kind, per request |"
        echo "|---|---|---:|---:|---|"
        for r in "${sys_rows[@]}"; do
          IFS='|' read -r sc t rps tot kinds <<< "$r"
          echo "| $sc | $t | $rps | $tot | $kinds |"
        done
      fi
    fi
    if $open_loop; then
      echo
      echo "## Open loop at ½ × nginx's JSON peak"
      echo
      if [ -n "$open_note" ]; then
        echo "$open_note"
      else
        echo "JSON, LoadDriver (1 event loop, pinned to CPU $load_cpu with the upstream) at a fixed **$open_rate req/s** (½ × nginx's $(( open_rate * 2 )) req/s above), requests evenly spaced over $conns connections, a due request sent at once on an idle connection else on the first to free up; latency = due time → last byte (no coordinated omission). ${warmup} s warm-up, ${duration} s measured. Late = sent > 1 ms after its due time (the client side was the bottleneck: connections all busy or the driver behind)."
        echo
        echo "| target | offered req/s | achieved req/s | p50 ms | p99 ms | p99.9 ms | max ms | sent > 1 ms late | due → sent p99 ms | proxy CPU | errors |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        for r in "${open_rows[@]}"; do
          IFS='|' read -r t ach p50 p99 p999 mx late lag cpu err <<< "$r"
          echo "| $t | $open_rate | $ach | $p50 | $p99 | $p999 | $mx | $late | $lag | $cpu | $err |"
        done
        if [ -n "${rps_of[open-p99-sluice]:-}" ] && [ -n "${rps_of[open-p99-nginx]:-}" ]; then
          d=$(awk -v a="${rps_of[open-p99-sluice]}" -v b="${rps_of[open-p99-nginx]}" 'BEGIN { printf "%+.3f", (a - b) / 1000 }')
          echo
          echo "Sluice's p99 − nginx's p99: **$d ms** (issue 18's goal: ≤ +0.2 ms: $(awk -v x="$d" 'BEGIN { print (x + 0 <= 0.2 ? "met" : "not met") }'))."
        fi
      fi
    fi
    if $cold; then
      echo
      echo "## Cold start: Sluice's first 10 s after readiness"
      echo
      if [ -n "$cold_note" ]; then
        echo "$cold_note"
      else
        echo "Sluice restarted (same config and $sluice_db, the main instance stopped; JVM \`$sluice_opts\`, pinned to CPU $proxy_cpu), /health/liveliness and /health/readiness polled every 50 ms from CPU $load_cpu; the moment readiness answers 200, wrk -t1 -c$conns JSON for 10 s (as the JSON row), then ${warmup} s warm-up (discarded) and ${duration} s steady. Start-up = exec → 200. Warm-up = Sluice's own log line (synthetic requests before readiness)."
        echo
        echo "| start-up warm-up | exec → live s | exec → ready s | warm-up (log) | first 10 s req/s | first 10 s p99 ms | steady req/s | steady p99 ms | first ÷ steady | errors |"
        echo "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|"
        for r in "${cold_rows[@]}"; do
          IFS='|' read -r label live ready warm first fp99 steady sp99 ratio err <<< "$r"
          echo "| $label | $live | $ready | $warm | $first | $fp99 | $steady | $sp99 | **$ratio** | $err |"
        done
        echo
        echo "Issue 18's goal: first ÷ steady ≥ 0.80."
      fi
    fi
  else
    echo "- Upstream: the bench's fake vLLM (Netty, 1 event loop), $stream_tokens tokens per stream, one event every $itl_ms ms, each its own write and flush (vLLM's token pacing). Offered: $streams streams ≈ $(( streams * 1000 / itl_ms )) events/s."
    echo "- Load: LoadDriver, $streams connections (one stream each, back to back), ${warmup} s warm-up then ${duration} s measured. CPU per 1M events = the proxy's utime+stime over the window ÷ events delivered in it × 10⁶. Gap = time between consecutive events of one stream at the client (0 = two events in one read: coalesced)."
    echo
    echo "| target | events/s | CPU s per 1M events | × nginx | TTFB p50 ms | TTFB p99 ms | gap p50 ms | gap p99 ms | same-read events | alloc B/event | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for r in "${drows[@]}"; do
      IFS='|' read -r t evs cpu t50 t99 g50 g99 same alloc err <<< "$r"
      echo "| $t | $evs | $cpu | $(ratio "$cpu" "${rps_of[cpu-nginx]:-}") | $t50 | $t99 | $g50 | $g99 | $same | $alloc | $err |"
    done
  fi
} > "$file"
cp "$file" "bench-results/latest-$($streams_mode && echo streams || echo pinned).md"
cat "$file"
say "wrote $file"
exit 0
