# Helpers shared by the suites that start servers and run scenarios against them
# (tests/interop/run.sh, tests/cluster/run.sh). Sourced, not run.

# free_port: a free loopback TCP port.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

passed=0
failed=0
results=()
# scenario NAME COMMAND...: runs one scenario in a subshell with `set -e`; every command in it
# carries its own time limit. Records how it ended and goes on with the next one. When
# SCENARIO_TRANSCRIPT names a file, a failure is noted there too.
scenario() {
  local name="$1" rc why
  shift
  echo
  echo "== scenario $name"
  set +e
  (
    set -e
    "$@"
  )
  rc=$?
  set -e
  if [[ $rc -eq 0 ]]; then
    passed=$((passed + 1))
    results+=("PASS  $name")
    return 0
  fi
  failed=$((failed + 1))
  why="exit $rc"
  if [[ $rc -eq 124 ]]; then
    why="timed out"
  fi
  results+=("FAIL  $name ($why)")
  if [[ -n "${SCENARIO_TRANSCRIPT:-}" ]]; then
    echo "[$name] FAILED ($why)" >>"$SCENARIO_TRANSCRIPT"
  fi
}
