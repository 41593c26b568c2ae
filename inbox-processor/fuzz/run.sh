#!/usr/bin/env bash
# Runs each fuzz target briefly (default 60 s each; pass another number of seconds as $1), seeded
# with the test fixtures, when cargo-fuzz and a nightly toolchain are available; otherwise says
# so and exits 0. New inputs go to fuzz/corpus/<target>, crashes to fuzz/artifacts/<target>.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is not installed (cargo install cargo-fuzz): skipping the fuzz run"
    exit 0
fi
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "no nightly toolchain (rustup toolchain install nightly): skipping the fuzz run"
    exit 0
fi
for target in csv xml xls xlsx ods ttm; do
    mkdir -p "corpus/$target"
    echo "== fuzzing $target for ${seconds}s"
    # The fixtures seed the corpus; -rss_limit_mb turns runaway allocations into findings.
    cargo +nightly fuzz run "$target" "corpus/$target" "../tests/fixtures/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048
done
