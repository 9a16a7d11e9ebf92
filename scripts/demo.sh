#!/usr/bin/env bash
# The first command: prepares this machine (packages, build, models), starts
# `parla serve` on embedded defaults (127.0.0.1:50051 unless PARLA_LISTEN or
# parla.toml says otherwise) and shows a short demo against it through the
# public API: a scripted phone call (a caller returning a jacket) printed
# with per-turn timings, the agent's audio written to parla-demo-call.wav.
# The server keeps running until Ctrl-C.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/prepare.sh

say "seeding the demo customer record (parla crm seed)"
"$PARLA_BIN" crm seed

out=$(mktemp)
"$PARLA_BIN" serve >"$out" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server; rm -f "$out"; exit 0' INT TERM
for _ in $(seq 1 300); do
    grep -q '^listening on ' "$out" && break
    kill -0 $server 2>/dev/null || { echo "parla serve did not start (see the log above)" >&2; exit 1; }
    sleep 0.1
done
url=$(sed -n 's/^listening on //p' "$out" | head -n 1)
[ -n "$url" ] || { echo "parla serve did not report its address" >&2; exit 1; }
say "parla is serving at $url"
"$PARLA_BIN" demo --server "$url"
say "the server keeps running at $url; press Ctrl-C to stop it"
wait $server
