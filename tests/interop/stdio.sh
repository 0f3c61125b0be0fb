#!/usr/bin/env bash
# The stdio interop scenario: the official Python SDK (`mcp`, pinned in requirements.txt)
# launches the notes example over stdio with `NOTES_SCOPES=notes:read` in its environment,
# lists the tools, calls list_notes, and is refused create_note with the insufficient-scope
# error, in every protocol era it speaks (see stdio_client.py). No network: the server is a
# child process on pipes. Creates the venv of run.sh if missing; exits non-zero on failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"

if [[ ! -x .venv/bin/python ]]; then
  timeout 120 python3 -m venv .venv
fi
timeout 300 .venv/bin/pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
  -r requirements.txt
timeout 1200 cargo build --quiet --manifest-path "$root/Cargo.toml" -p notes
notes="${CARGO_TARGET_DIR:-$root/target}/debug/notes"

PYTHONPATH="$root/tests/lib${PYTHONPATH:+:$PYTHONPATH}" timeout 90 .venv/bin/python stdio_client.py \
  --binary "$notes"
