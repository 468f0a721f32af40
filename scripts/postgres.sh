#!/usr/bin/env bash
# A throwaway PostgreSQL server on 127.0.0.1 for the tests, from Debian's packages:
#   scripts/postgres.sh start   initialise (once) and start it; prints its URL
#   scripts/postgres.sh stop    stop it
#   scripts/postgres.sh url     print the URL the tests use
# Durability is traded for speed (fsync off): never point it at data you want to keep.
set -euo pipefail

data_dir=${SCRAM_SECRETS_PG_DIR:-/tmp/scram-secrets-postgres}
port=${SCRAM_SECRETS_PG_PORT:-15432}
url="postgres://postgres@127.0.0.1:${port}/postgres"

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$dir" ]; then
    echo "PostgreSQL is not installed: apt-get install -y postgresql" >&2
    exit 1
  fi
  echo "$dir"
}

# PostgreSQL refuses to run as root; the Debian package brings a postgres user for this.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
  start)
    bin=$(pg_bin)
    if [ ! -f "$data_dir/PG_VERSION" ]; then
      mkdir -p "$data_dir"
      if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$data_dir"; fi
      as_owner "$bin/initdb" -D "$data_dir" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    if ! as_owner "$bin/pg_ctl" -D "$data_dir" status >/dev/null 2>&1; then
      as_owner "$bin/pg_ctl" -D "$data_dir" -l "$data_dir/server.log" -w -t 60 start \
        -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" \
        >/dev/null
    fi
    echo "$url"
    ;;
  stop)
    bin=$(pg_bin)
    if [ -f "$data_dir/PG_VERSION" ]; then
      as_owner "$bin/pg_ctl" -D "$data_dir" -m fast -w stop >/dev/null 2>&1 || true
    fi
    ;;
  url)
    echo "$url"
    ;;
  *)
    echo "usage: $0 start|stop|url" >&2
    exit 2
    ;;
esac
