#!/usr/bin/env bash
# The second command: prepares this machine (packages, build, models) and
# runs the whole test suite in the release profile, so the heavy crates
# (whisper.cpp, candle) are compiled once and run at full speed.
#
# Every test binary runs (--no-fail-fast): one failure never hides the state
# of the others. The run ends with the list of failed test targets and the
# exit code is non-zero if there is any; the whole output is kept in
# target/test-suite.log.
#
# PARLA_MAX_KERNELS=avx2 runs the suite as an AVX2-only CPU would (the
# language model's kernels never take their AVX-512 path; every other
# compiled part already targets x86-64-v3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PARLA_BUILD="cargo test --release --locked --workspace --no-run"
source scripts/prepare.sh
# A throwaway PostgreSQL for the CRM conformance tests (PARLA_TEST_POSTGRES_URL).
source scripts/postgres.sh

say "running the test suite"
log="${CARGO_TARGET_DIR:-target}/test-suite.log"
status=0
cargo test --release --locked --workspace --no-fail-fast 2>&1 | tee "$log" || status=$?

# cargo names each failed target as "error: test failed, to rerun pass `...`".
# The evaluation sets' tables (tests/eval.rs): the shared set must meet every target; the sealed
# sets are printed as measured.
for figures in "${CARGO_TARGET_DIR:-target}"/tmp/figures/*.md; do
    [[ -f $figures ]] || continue
    say "figures: $(basename "$figures" .md)"
    sed -n '1,/^$/p' "$figures"
done

mapfile -t failed < <(sed -n 's/.*test failed, to rerun pass `\(.*\)`.*/\1/p' "$log" | sort -u)
passed=$(grep -c '^test result: ok' "$log" || true)
if ((status != 0 || ${#failed[@]})); then
    say "test suite FAILED: ${#failed[@]} of $((passed + ${#failed[@]})) test targets failed (log: $log)"
    for target in "${failed[@]}"; do
        echo "    cargo test --release $target"
    done
    exit 1
fi
say "test suite passed: $passed test targets, none failed"
