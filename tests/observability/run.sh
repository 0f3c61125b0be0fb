#!/usr/bin/env bash
# The observability test with a real Prometheus (see mcp-auth-runtime/docs/observability.md):
#
#   1. billing (dev issuer) with --metrics-addr on loopback; Debian's `prometheus` scraping it
#      every second with a generated configuration, its own data directory and a loopback port
#   2. known traffic with real tokens from `billing token`, in rounds: calls of two tools in
#      the 2026-07-28 era and in a 2025-11-25 session, tools/list, a call refused for scope
#      (403), requests without a token, with a malformed token, a forged signature and another
#      issuer's token (401); every status checked
#   3. Prometheus's HTTP API (/api/v1/query), once it has scraped billing after the traffic:
#      the histogram's count by method and tool, the decisions (allowed by stage, refused by
#      reason), the token cache's hits and misses and the sessions equal what was sent
#   4. the dashboard (mcp-auth-runtime/docs/grafana/mcp-auth.json) drawn from Prometheus's data
#      by render.py (pinned matplotlib), proving the script works; OBSERVABILITY_PNG=PATH keeps
#      the picture there (the committed docs/grafana/dashboard.png is made so)
#   5. billing --otlp-endpoint: a call's server span and the conventions' metric received by
#      otlp_receiver.py (the official protobuf definitions), without the token
#
# Installs what it needs: Debian's prometheus if missing (apt-get, as root; its packaged
# service is stopped), a venv in .venv from otlp-requirements.txt and
# dashboard-requirements.txt (hashes required). Every step is bounded in time; every process
# it starts is stopped on exit. Prints a transcript, then "observability: N passed, N
# failed"; exits non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"

work="$(mktemp -d "${TMPDIR:-/tmp}/mcp-auth-observability.XXXXXX")"
pids=()
# Processes started inside a scenario (a subshell) are listed in $work/pids as well.
cleanup() {
  local pid
  if [[ -f "$work/pids" ]]; then
    while read -r pid; do pids+=("$pid"); done <"$work/pids"
  fi
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() { echo "== $*"; }

# --- installs --------------------------------------------------------------------------------
say "installing (Debian's prometheus if missing, Python venv, billing)"
if ! command -v prometheus >/dev/null; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "prometheus is missing: run as root, or apt-get install -y prometheus" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq
  timeout 900 apt-get install -y -qq prometheus >/dev/null
  # The package starts a system instance on :9090 (and its node exporter on :9100) where an
  # init system runs; this test runs its own on a free loopback port.
  (timeout 30 service prometheus stop; timeout 30 service prometheus-node-exporter stop) \
    >/dev/null 2>&1 || true
fi
if [[ ! -x .venv/bin/python ]]; then
  timeout 120 python3 -m venv .venv
fi
timeout 300 .venv/bin/pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
  -r otlp-requirements.txt -r dashboard-requirements.txt
timeout 1200 cargo build --quiet --manifest-path "$root/Cargo.toml" -p billing
billing="${CARGO_TARGET_DIR:-$root/target}/debug/billing"
echo "$(prometheus --version 2>&1 | head -1), $(.venv/bin/python --version), matplotlib $(.venv/bin/python -c 'import matplotlib; print(matplotlib.__version__)')"

# --- helpers ---------------------------------------------------------------------------------
# free_port, wait_for and scenario.
# shellcheck source=../lib/scenarios.sh
source "$root/tests/lib/scenarios.sh"
# answers URL: whether GET URL succeeds (2 s at most).
answers() { curl -fs -o /dev/null --max-time 2 "$1"; }

# --- billing and prometheus ------------------------------------------------------------------
say "starting billing and prometheus"
port="$(free_port)"
metrics_port="$(free_port)"
prometheus_port="$(free_port)"
other_port="$(free_port)"
mcp_url="http://127.0.0.1:$port/mcp"
prometheus_url="http://127.0.0.1:$prometheus_port"
RUST_LOG=info "$billing" serve --port "$port" --data-dir "$work/data" --db "$work/billing.db" \
  --metrics-addr "127.0.0.1:$metrics_port" >"$work/billing.out" 2>"$work/billing.log" &
pids+=("$!")
wait_for "$!" "$work/billing.log" 30 answers "http://127.0.0.1:$metrics_port/metrics"
echo "billing: MCP $mcp_url, metrics http://127.0.0.1:$metrics_port/metrics"

cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: billing
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:$metrics_port"]
EOF
timeout 10 promtool check config "$work/prometheus.yml" >/dev/null
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prometheus" \
  --web.listen-address="127.0.0.1:$prometheus_port" --log.level=warn \
  >"$work/prometheus.log" 2>&1 &
pids+=("$!")
wait_for "$!" "$work/prometheus.log" 30 answers "$prometheus_url/-/ready"
echo "prometheus: $prometheus_url, scraping job billing every 1s"

# --- the scenarios ---------------------------------------------------------------------------
py=(.venv/bin/python scenario.py)
# Tokens of the dev issuer (its key is in the data directory): one for billing, read only, and
# one of another server's dev issuer (another port).
read_token="$(timeout 30 "$billing" token --port "$port" --data-dir "$work/data" --scope invoices:read)"
other_token="$(timeout 30 "$billing" token --port "$other_port" --data-dir "$work/data" --scope invoices:read)"

traffic_start="$(date +%s)"
scenario traffic timeout 120 "${py[@]}" traffic --url "$mcp_url" --read-token "$read_token" \
  --other-issuer-token "$other_token" --sent "$work/sent.json"
scenario prometheus-counts timeout 60 "${py[@]}" check --prometheus "$prometheus_url" \
  --sent "$work/sent.json"

dashboard() {
  local out="${OBSERVABILITY_PNG:-$work/dashboard.png}"
  timeout 120 .venv/bin/python "$root/mcp-auth-runtime/docs/grafana/render.py" \
    --prometheus "$prometheus_url" --job billing --start "$((traffic_start - 2))" --out "$out" \
    --require-data 1,2,3,4,5,7
  # A PNG that is not blank: its size and its signature.
  [[ "$(head -c 8 "$out" | od -An -tx1 | tr -d ' \n')" == 89504e470d0a1a0a ]]
  [[ $(stat -c %s "$out") -gt 20000 ]]
  echo "[dashboard] drew $out ($(stat -c %s "$out") bytes)"
}
scenario dashboard dashboard

# billing --otlp-endpoint: the same server's spans and metrics through OTLP/HTTP, received by
# otlp_receiver.py (the official protobuf definitions); billing stopped with SIGTERM, which
# sends what is left.
otlp() {
  local receiver_pid bill_pid otlp_port port token
  .venv/bin/python otlp_receiver.py "$work/otlp.jsonl" >"$work/otlp.out" 2>"$work/otlp.log" &
  receiver_pid=$!
  echo "$receiver_pid" >>"$work/pids"
  wait_for "$receiver_pid" "$work/otlp.log" 10 test -s "$work/otlp.out"
  otlp_port="$(head -1 "$work/otlp.out")"
  port="$(free_port)"
  OTEL_METRIC_EXPORT_INTERVAL=500 RUST_LOG=info "$billing" serve --port "$port" \
    --data-dir "$work/data-otlp" --db "$work/billing-otlp.db" \
    --otlp-endpoint "http://127.0.0.1:$otlp_port" >"$work/billing-otlp.out" 2>"$work/billing-otlp.log" &
  bill_pid=$!
  echo "$bill_pid" >>"$work/pids"
  wait_for "$bill_pid" "$work/billing-otlp.log" 30 answers "http://127.0.0.1:$port/healthz"
  token="$(timeout 30 "$billing" token --port "$port" --data-dir "$work/data-otlp" --scope invoices:read)"
  timeout 30 "${py[@]}" call --url "http://127.0.0.1:$port/mcp" --token "$token"
  # The periodic reader exports every 500 ms; SIGTERM then flushes the spans.
  sleep 1
  kill -TERM "$bill_pid"
  for _ in $(seq 100); do alive "$bill_pid" || break; sleep 0.1; done
  timeout 30 "${py[@]}" otlp --received "$work/otlp.jsonl" --token "$token"
}
scenario otlp otlp

# --- summary ---------------------------------------------------------------------------------
echo
say "results"
printf '%s\n' "${results[@]}"
if [[ $failed -ne 0 ]]; then
  for log in "$work"/billing.log "$work"/prometheus.log; do
    echo "--- ${log#"$work/"}: last 20 lines"
    tail -20 "$log"
  done
fi
echo "observability: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
