#!/usr/bin/env bash
# The whole test suite, as the README gives it and `.ci/run` runs it: every Rust test
# (unit, integration, trybuild, doctests) with every feature, then the official MCP
# conformance suite against tests/conformance/server.rs.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --all-features --locked
bash tests/conformance/run.sh
