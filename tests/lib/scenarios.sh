# Helpers shared by the suites that start servers and run scenarios against them
# (tests/interop/run.sh, tests/cluster/run.sh). Sourced, not run.

# free_port: a free loopback TCP port.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# alive PID: whether PID runs (a zombie, exited but not yet reaped by its parent, does not).
alive() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [[ "${stat%% *}" != Z ]]
}

# wait_for PID LOG SECONDS TEST...: until TEST succeeds, or PID dies, or SECONDS pass.
wait_for() {
  local pid="$1" log="$2" seconds="$3"
  shift 3
  for _ in $(seq $((seconds * 10))); do
    if "$@"; then
      return 0
    fi
    if ! alive "$pid"; then
      echo "process $pid exited before it was ready:"
      tail -20 "$log"
      return 1
    fi
    sleep 0.1
  done
  echo "not ready after $seconds s:"
  tail -20 "$log"
  return 1
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
