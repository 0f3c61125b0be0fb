#!/usr/bin/env bash
# The whole test suite, as the README gives it and `.ci/run` runs it: every Rust test
# (unit, integration, trybuild, doctests) with every feature, the official MCP conformance
# suite against tests/conformance/server.rs, and the interop suite with real third-party
# clients and authorization servers against the billing example (tests/interop/README.md).
# Installs what the suites need (npm packages, a Python venv, Debian's Chromium) on the way.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --all-features --locked
# The criterion microbenchmarks once each, as tests (debug build, no measurement); the load
# benchmark in benches/load is never run here (see BENCHMARKS.md).
cargo test -p mcp-auth-runtime --all-features --locked --bench verify --bench dispatch
bash tests/conformance/run.sh
bash tests/interop/run.sh
