#!/usr/bin/env bash
# Makes sure this machine can build and run Parla: installs missing Debian
# packages (as root; otherwise prints the exact command and stops), checks
# the Rust toolchain and pip, builds the release binary and provisions the
# default models into the model cache (PARLA_CACHE, else ~/.cache/parla).
#
# Sourced by demo.sh and test.sh; safe to run again (it skips what is done).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '==> %s\n' "$*"; }

# Debian packages Parla builds or tests with:
#   cmake, pkg-config      build whisper.cpp (whisper-rs)
#   libespeak-ng-dev       the embedded eSpeak NG voice (its C library)
#   espeak-ng, sox         synthesize and convert speech for the tests
#   python3-pip            only when `python3 -m pip` is missing: models are wheels
#   postgresql             the CRM tests run against a real PostgreSQL (scripts/postgres.sh)
#   baresip-core           the SIP test calls Parla with baresip (a real SIP phone)
#   chromium               the chat widget and agent console browser test (playwright-core drives it)
#   festival, festvox-itapc16k, festvox-italp16k
#                          Italian test speech (male and female diphone voices; whisper hears
#                          them far better than eSpeak NG's Italian)
PACKAGES=(cmake pkg-config libespeak-ng-dev espeak-ng sox postgresql baresip-core chromium
    festival festvox-itapc16k festvox-italp16k)
if ! python3 -m pip --version >/dev/null 2>&1; then
    PACKAGES+=(python3-pip)
fi
#   npm                    only when missing: the ASR tests fetch jfk.wav with `npm pack`
if ! command -v npm >/dev/null 2>&1; then
    PACKAGES+=(npm)
fi
missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    if [ "$(id -u)" = 0 ]; then
        say "installing Debian packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
    else
        echo "Parla needs these Debian packages: ${missing[*]}" >&2
        echo "Install them with:" >&2
        echo "    sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi

command -v cargo >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs) first" >&2; exit 1; }
python3 -m pip --version >/dev/null 2>&1 || { echo "pip is not available: apt-get install python3-pip" >&2; exit 1; }

# test.sh builds the whole test suite here instead (PARLA_BUILD): the binary
# it makes is the one the tests run, and the dependencies compile once, with
# the features the tests need, rather than once for the binary and again for
# the tests.
say "building parla (release)"
${PARLA_BUILD:-cargo build --release --locked --bin parla}
# The built binary, wherever cargo put it (CARGO_TARGET_DIR is honoured).
PARLA_BIN="${CARGO_TARGET_DIR:-target}/release/parla"

say "provisioning models"
"$PARLA_BIN" models fetch
