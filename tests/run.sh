#!/usr/bin/env bash
# The whole test suite, as the README gives it and `.ci/run` runs it: every Rust test
# (unit, integration, trybuild, doctests) with every feature, the official MCP conformance
# suite against tests/conformance/server.rs, and the interop suite with real third-party
# clients and authorization servers against the billing example (tests/interop/README.md), the
# official Python SDK launching the notes example over stdio (tests/interop/stdio.sh), and
# the cluster test: two billing replicas behind nginx sharing Redis (tests/cluster/README.md),
# and the observability test: Debian's Prometheus scraping billing (tests/observability/run.sh).
# Installs what the suites need (Debian's redis-server, nginx and prometheus, npm packages,
# Python venvs, Debian's Chromium) on the way.
set -euo pipefail
cd "$(dirname "$0")/.."

# redis-server for the shared-session tests (mcp-auth-runtime/tests/redis.rs) and the cluster
# test, nginx for the cluster test, prometheus for the observability test and its `promtool`
# for the metrics test (mcp-auth-runtime/tests/metrics.rs checks every scrape with it); Debian
# starts the packaged services on install, which the tests do not use: they run their own
# instances on free loopback ports.
if ! command -v redis-server >/dev/null || ! command -v nginx >/dev/null \
  || ! command -v promtool >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq
  timeout 900 apt-get install -y -qq redis-server nginx-light prometheus >/dev/null
  (timeout 30 service redis-server stop; timeout 30 service nginx stop
    timeout 30 service prometheus stop; timeout 30 service prometheus-node-exporter stop) \
    >/dev/null 2>&1 || true
fi
# A missing redis-server fails the Redis tests instead of skipping them.
export MCP_AUTH_REQUIRE_REDIS=1

cargo test --workspace --all-features --locked
# The criterion microbenchmarks once each, as tests (debug build, no measurement); the load
# benchmark in benches/load is never run here (see BENCHMARKS.md).
cargo test -p mcp-auth-runtime --all-features --locked --bench verify --bench dispatch --bench paths
bash tests/conformance/run.sh
bash tests/interop/run.sh
bash tests/interop/stdio.sh
bash tests/cluster/run.sh
bash tests/observability/run.sh
