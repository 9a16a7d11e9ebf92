#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for the CRM tests and exports
# PARLA_TEST_POSTGRES_URL. Sourced by test.sh (after prepare.sh, whose
# PACKAGES installs Debian's `postgresql`). The cluster lives in a temp
# directory owned by the `postgres` user when run as root (PostgreSQL
# refuses to run as root), listens on a Unix socket and 127.0.0.1 on a
# free port, and is stopped when the sourcing shell exits.
#
# Skipped when PARLA_TEST_POSTGRES_URL is already set (an existing server).
set -euo pipefail

if [ -n "${PARLA_TEST_POSTGRES_URL:-}" ]; then
    echo "==> using the PostgreSQL server at PARLA_TEST_POSTGRES_URL"
    return 0 2>/dev/null || exit 0
fi

pg_bin=""
for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && pg_bin="$dir"
done
if [ -z "$pg_bin" ]; then
    echo "PostgreSQL is not installed: apt-get install -y postgresql (scripts/prepare.sh does it as root)" >&2
    return 1 2>/dev/null || exit 1
fi

pg_dir=$(mktemp -d /tmp/parla-pg.XXXXXX)
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$pg_dir"
    chmod 700 "$pg_dir"
    as_pg() { su postgres -s /bin/sh -c "$*"; }
    pg_user=postgres
else
    as_pg() { sh -c "$*"; }
    pg_user=$(id -un)
fi

echo "==> starting a throwaway PostgreSQL on port $pg_port ($pg_dir)"
as_pg "'$pg_bin/initdb' -D '$pg_dir/data' -U '$pg_user' --auth=trust --no-sync -E UTF8 >'$pg_dir/initdb.log' 2>&1" \
    || { cat "$pg_dir/initdb.log" >&2; return 1 2>/dev/null || exit 1; }
# fsync off: a test cluster need not survive a power cut; it only has to
# be fast and real.
as_pg "'$pg_bin/pg_ctl' -D '$pg_dir/data' -l '$pg_dir/server.log' -w -t 60 \
    -o \"-p $pg_port -k '$pg_dir' -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200\" start >/dev/null" \
    || { cat "$pg_dir/server.log" >&2; return 1 2>/dev/null || exit 1; }

parla_pg_stop() {
    as_pg "'$pg_bin/pg_ctl' -D '$pg_dir/data' -m immediate stop >/dev/null 2>&1" || true
    rm -rf "$pg_dir"
}
trap parla_pg_stop EXIT

export PARLA_TEST_POSTGRES_URL="postgres://$pg_user@127.0.0.1:$pg_port/postgres"
echo "==> PARLA_TEST_POSTGRES_URL=$PARLA_TEST_POSTGRES_URL"
