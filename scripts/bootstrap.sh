#!/usr/bin/env bash
# Set-up shared by `make demo` and `make test`; safe to run again and again (idempotent).
#   scripts/bootstrap.sh system    apt-get what is missing (PostgreSQL 15 + PostGIS, Redis, Chromium)
#   scripts/bootstrap.sh services  start PostgreSQL and Redis when they are not answering
#   scripts/bootstrap.sh database NAME   create database NAME if missing (migrations run from Python)
#   scripts/bootstrap.sh node      npm ci: deck.gl from the committed package-lock.json into node_modules/
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
PGHOST_ADDR=127.0.0.1
PGPORT_NUM=5432

need_apt=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

system() {
  for pkg in postgresql postgresql-contrib redis-server chromium fonts-noto-cjk; do
    have_pkg "$pkg" || need_apt+=("$pkg")
  done
  # Node.js + npm install the map's JavaScript (deck.gl) from the npm registry; any node ≥ 18 will do.
  command -v node >/dev/null 2>&1 || have_pkg nodejs || need_apt+=(nodejs)
  command -v npm >/dev/null 2>&1 || have_pkg npm || need_apt+=(npm)
  # PostGIS for whichever PostgreSQL major version is (or will be) installed.
  local pgver
  pgver=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1 || true)
  if [ -z "$pgver" ]; then pgver=$(apt-cache depends postgresql 2>/dev/null | sed -n 's/.*postgresql-\([0-9][0-9]*\)$/\1/p' | head -1 || true); fi
  [ -n "$pgver" ] || pgver=15
  have_pkg "postgresql-$pgver-postgis-3" || need_apt+=("postgresql-$pgver-postgis-3")
  if [ ${#need_apt[@]} -gt 0 ]; then
    echo "bootstrap: installing ${need_apt[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
  fi
}

pg_ready() { pg_isready -q -h "$PGHOST_ADDR" -p "$PGPORT_NUM"; }
pg_trusts_us() { psql -h "$PGHOST_ADDR" -p "$PGPORT_NUM" -U postgres -d postgres -Atqc "select 1" >/dev/null 2>&1 </dev/null; }

services() {
  if ! pg_ready; then
    local ver
    ver=$(ls /etc/postgresql | sort -n | tail -1)
    echo "bootstrap: starting PostgreSQL $ver"
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" main start || $SUDO pg_ctlcluster "$ver" main start
    for _ in $(seq 1 30); do pg_ready && break; sleep 1; done
  fi
  if ! pg_trusts_us; then
    # A fresh Debian cluster asks for a password on 127.0.0.1; this demo machine trusts loopback.
    local ver hba
    ver=$(ls /etc/postgresql | sort -n | tail -1)
    hba=/etc/postgresql/$ver/main/pg_hba.conf
    echo "bootstrap: trusting loopback connections in $hba (a local demo machine)"
    $SUDO sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" main reload || $SUDO pg_ctlcluster "$ver" main reload
    sleep 1
  fi
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "bootstrap: starting Redis"
    $SUDO mkdir -p /var/lib/redis /var/log/redis
    # The shipped configuration: AOF persistence (fsync everysec), so events waiting for ingest survive a
    # restart of Redis (deploy/redis/gridpulse.conf, docs/BENCHMARKS.md for the fsync choice).
    $SUDO redis-server "$(dirname "$0")/../deploy/redis/gridpulse.conf" --daemonize yes --port 6379 \
      --dir /var/lib/redis --logfile /var/log/redis/gridpulse.log
    for _ in $(seq 1 20); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.5; done
  fi
}

database() {
  local name=$1
  if [ "$(psql -h "$PGHOST_ADDR" -U postgres -d postgres -Atqc "select 1 from pg_database where datname='$name'" </dev/null)" != 1 ]; then
    echo "bootstrap: creating database $name"
    psql -h "$PGHOST_ADDR" -U postgres -d postgres -qc "create database \"$name\"" </dev/null
  fi
}

node() {
  cd "$(dirname "$0")/.."
  # The dashboard serves deck.gl from node_modules (dashboard/vendor.py); reinstall only when the lockfile changed.
  local stamp=node_modules/.gridpulse-lock.sha256 want
  want=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f node_modules/@deck.gl/core/dist.min.js ]; then return 0; fi
  echo "bootstrap: npm ci (@deck.gl/core, layers, json for the map)"
  npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
  echo "$want" > "$stamp"
}

case "${1:-}" in
  system) system ;;
  services) services ;;
  database) database "$2" ;;
  node) node ;;
  *) echo "usage: $0 system|services|node|database NAME" >&2; exit 64 ;;
esac
