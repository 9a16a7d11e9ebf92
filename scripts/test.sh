#!/usr/bin/env bash
# The second command: prepares this machine (packages, build, models) and
# runs the whole test suite in the release profile, so the heavy crates
# (whisper.cpp, candle) are compiled once and run at full speed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PARLA_BUILD="cargo test --release --locked --workspace --no-run"
source scripts/prepare.sh
# A throwaway PostgreSQL for the CRM conformance tests (PARLA_TEST_POSTGRES_URL).
source scripts/postgres.sh

say "running the test suite"
cargo test --release --locked --workspace
