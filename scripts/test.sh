#!/usr/bin/env bash
# The second command: prepares this machine (packages, build, models) and
# runs the whole test suite in the release profile, so the heavy crates
# (whisper.cpp, candle) are compiled once and run at full speed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/prepare.sh

say "running the test suite"
cargo test --release --locked --workspace
