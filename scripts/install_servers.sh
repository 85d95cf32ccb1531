#!/usr/bin/env bash
# Installs the servers of the multi-machine test (axion_pipeline_tests/defs/test_celery_cluster.py):
# Debian's PostgreSQL (initdb, pg_ctl, postgres under /usr/lib/postgresql/<version>/bin) for the
# Dagster instance, and redis-server as the Celery broker. Idempotent: does nothing when both are
# there. The test starts its own throwaway servers on free loopback ports and stops them; the
# packages' own services are not used (no systemd here; on a machine with one, they may run or not).
set -euo pipefail

# the newest PostgreSQL installed (Debian 12 ships 15), else where Debian 12 puts it
PG_BIN=${AXION_POSTGRES_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
REDIS=${AXION_REDIS_SERVER:-/usr/bin/redis-server}

missing=()
[ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] || missing+=(postgresql)
[ -x "$REDIS" ] || missing+=(redis-server)

if [ ${#missing[@]} -eq 0 ]; then
    echo "install_servers: postgres at $PG_BIN and $REDIS already installed"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_servers: ${missing[*]} missing and apt-get is not available on this machine." >&2
    echo "install_servers: install them so that $PG_BIN/initdb and $REDIS exist (or set AXION_POSTGRES_BIN," >&2
    echo "install_servers: AXION_REDIS_SERVER), then rerun." >&2
    exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install_servers: ${missing[*]} missing and installing needs root." >&2
    echo "install_servers: run 'sudo apt-get update && sudo apt-get install -y ${missing[*]}', then rerun." >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "install_servers: installing Debian's ${missing[*]}"
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

PG_BIN=${AXION_POSTGRES_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
if [ ! -x "$PG_BIN/initdb" ] || [ ! -x "$REDIS" ]; then
    echo "install_servers: apt-get finished but $PG_BIN/initdb or $REDIS is still missing" >&2
    echo "install_servers: (another PostgreSQL major version? set AXION_POSTGRES_BIN to its bin folder)." >&2
    exit 1
fi
echo "install_servers: installed ${missing[*]}"
