#!/usr/bin/env bash
# Builds every fuzz target and runs each for a bounded time (FUZZ_SECONDS, default 10), on
# the seeds in seeds/<target> and a scratch corpus in corpus/<target>. Exits non-zero if any
# target crashes, panics, hangs past 10 s on one input, or exceeds 2 GiB of memory; the input
# that did it is left in artifacts/<target>/. See README.md.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${FUZZ_SECONDS:-10}"
toolchain="${FUZZ_TOOLCHAIN:-nightly}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
    echo "smoke.sh: the $toolchain toolchain is required (libFuzzer needs -Zsanitizer)" >&2
    exit 2
fi

# `--fuzz-dir` goes before the `--` that starts libFuzzer's own options.
fuzz() {
    local command="$1"
    shift
    cargo "+$toolchain" fuzz "$command" --fuzz-dir . "$@"
}

fuzz build -O
failed=()
for target in $(fuzz list); do
    mkdir -p "corpus/$target" "seeds/$target"
    log="$(mktemp)"
    echo "== $target: ${seconds}s"
    if fuzz run -O "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -dict=json.dict \
        -print_final_stats=1 >"$log" 2>&1; then
        grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)|DONE ' "$log" || true
    else
        grep -E 'panicked|^==[0-9]+==|ERROR|SUMMARY|Test unit written|Failing input|^Output of' -A4 "$log" |
            head -n 80 || tail -n 80 "$log"
        failed+=("$target")
    fi
    rm -f "$log"
done
if ((${#failed[@]})); then
    echo "fuzz targets that failed: ${failed[*]} (inputs in artifacts/)" >&2
    exit 1
fi
echo "every fuzz target ran ${seconds}s without a finding"
