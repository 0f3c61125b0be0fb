#!/usr/bin/env bash
# Where the compile time of the generated crates goes (after run.sh, which builds their
# dependencies): rustc's passes (`-Ztime-passes`), the size of the macro expansion
# (`-Zunpretty=expanded`) and of the LLVM IR handed to codegen (`--emit=llvm-ir`), per crate.
#
#   benches/compile/profile.sh
#
# The `-Z` flags go to the generated crate's rustc only (`cargo rustc`), with
# RUSTC_BOOTSTRAP=1 on the stable toolchain the dependencies were built with, so they are not
# rebuilt. OUT as for run.sh; the reports land in OUT/profile/.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
OUT=${OUT:-${CARGO_TARGET_DIR:-$root/target}/compile-bench}
src=$OUT/src
prof=$OUT/profile
mkdir -p "$prof"

rustc_crate() {
    local crate=$1
    shift
    (cd "$src/gen-$crate" &&
        CARGO_TARGET_DIR="$OUT/gen-$crate" RUSTC_BOOTSTRAP=1 \
            cargo rustc --offline -q --bin "gen-$crate" -- "$@")
}

python3 "$here/gen.py" "$src" "$root/mcp-auth-runtime"
for crate in ours rmcp; do
    # The expansion: every macro and derive of the crate, pretty-printed.
    rustc_crate "$crate" -Zunpretty=expanded >"$prof/expanded-$crate.rs"
    # The passes of a cold build of the crate (no incremental state to reuse).
    rm -rf "$OUT/gen-$crate/debug/incremental/gen_$crate-"*
    touch "$src/gen-$crate/src/main.rs"
    rustc_crate "$crate" -Ztime-passes -Cincremental="$prof/inc-$crate" 2>"$prof/passes-$crate.txt"
    rm -rf "$prof/inc-$crate"
    # The IR of every function codegen receives, monomorphised generics included.
    touch "$src/gen-$crate/src/main.rs"
    rm -f "$OUT/gen-$crate/debug/deps/gen_$crate-"*.ll
    rustc_crate "$crate" --emit=llvm-ir
    mv "$OUT/gen-$crate/debug/deps/gen_$crate-"*.ll "$prof/gen-$crate.ll"
done

for crate in ours rmcp; do
    ll=$prof/gen-$crate.ll
    echo "== $crate"
    echo "expanded: $(wc -l <"$prof/expanded-$crate.rs") lines, $(wc -c <"$prof/expanded-$crate.rs") bytes"
    echo "LLVM IR: $(wc -l <"$ll") lines, $(grep -c '^define' "$ll") functions, by the crate that"
    echo "defines them (the first crate named in the symbol):"
    grep '^define' "$ll" | grep -oE '@_R[A-Za-z0-9_]+' | python3 -c '
import collections, re, sys
count = collections.Counter()
for symbol in sys.stdin:
    m = re.search(r"Cs[A-Za-z0-9]+_(\d+)", symbol)
    count[symbol[m.end():m.end() + int(m.group(1))] if m else "?"] += 1
for name, n in count.most_common(8):
    print(f"  {n:6} {name}")'
    # The heaviest passes, as `time: <wall>; rss: ..  <pass>`.
    grep -E '^time:' "$prof/passes-$crate.txt" | sort -t: -k2 -g -r | head -12 || true
done
