#!/usr/bin/env bash
# Set-up shared by `make demo` and `make test`; safe to run again and again (idempotent).
#   scripts/bootstrap.sh system    apt-get what is missing (PostgreSQL 15 + PostGIS, Redis, Chromium; nginx, not started)
#   scripts/bootstrap.sh services  start PostgreSQL and Redis when they are not answering
#   scripts/bootstrap.sh database NAME   create database NAME if missing (migrations run from Python)
#   scripts/bootstrap.sh node      npm ci: deck.gl from the committed package-lock.json into node_modules/
#   scripts/bootstrap.sh roles     the database roles: gridpulse_owner (runs migrations, owns the tables) and one per
#                                  service (gridpulse_app, _bridge, _ingest, _rules, _residents); grants come from migration 0006
#   scripts/bootstrap.sh owner NAME   database NAME and everything in it owned by gridpulse_owner (PostGIS made by the superuser)
#   scripts/bootstrap.sh redis-acl FILE   write a Redis ACL file with a user per service (passwords in var/redis/; docs/SECURITY.md)
#   scripts/bootstrap.sh redis-url SERVICE   the Redis URL a service connects with (its ACL user where Redis has them)
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
PGHOST_ADDR=127.0.0.1
PGPORT_NUM=${GRIDPULSE_PGPORT:-5432}  # another local cluster for a run of its own

need_apt=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

system() {
  # poppler-utils: pdftoppm renders the weekly report's PDF in its test
  for pkg in postgresql postgresql-contrib redis-server chromium fonts-noto-cjk poppler-utils; do
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
  have_pkg nginx || install_nginx
}

# nginx: tests/ops/test_deploy.py runs the shipped site (deploy/nginx/gridpulse.conf) in an nginx of its own, on
# free ports under a temporary prefix. Debian's package would start the system nginx at once (its default site on
# port 80, and enabled at boot): where port 80 is taken that start fails and leaves the package half-configured;
# where it is free, a web server nobody asked for listens on the demo machine. So it is installed without starting
# any service (a policy-rc.d that says "no" for the duration, unless the machine has its own), and kept from
# starting at boot. A real server enables it on purpose (docs/DEPLOY.md).
install_nginx() {
  local policy=/usr/sbin/policy-rc.d ours=""
  echo "bootstrap: installing nginx (not started: the tests run their own)"
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# scripts/bootstrap.sh: no service starts while nginx is installed\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    ours=1
  fi
  local rc=0
  [ ${#need_apt[@]} -gt 0 ] || $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nginx >/dev/null || rc=$?
  [ -z "$ours" ] || $SUDO rm -f "$policy"
  [ "$rc" = 0 ] || return "$rc"
  if [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --quiet nginx 2>/dev/null || true
  else
    $SUDO update-rc.d nginx disable >/dev/null 2>&1 || true
  fi
}

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>&1 | grep -qE 'PONG|NOAUTH'; }

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
  if ! redis_up; then
    # A Redis we start asks every client for a password: a user per service, only the bridges may write the
    # event streams (core/redis_acl.py; passwords in var/redis/passwords.env). A Redis already running is
    # left as it is (see docs/SECURITY.md to give it the same ACL file).
    echo "bootstrap: starting Redis with the services' ACL (var/redis/users.acl)"
    redis_acl "$PWD/var/redis/users.acl" >/dev/null
    $SUDO mkdir -p /var/lib/redis /var/log/redis
    # The shipped configuration: AOF persistence (fsync everysec), so events waiting for ingest survive a
    # restart of Redis (deploy/redis/gridpulse.conf, docs/BENCHMARKS.md for the fsync choice), and the
    # services' ACL file (a user per service, no anonymous access; docs/SECURITY.md).
    $SUDO redis-server "$(dirname "$0")/../deploy/redis/gridpulse.conf" --daemonize yes --port 6379 \
      --aclfile "$PWD/var/redis/users.acl" --dir /var/lib/redis --logfile /var/log/redis/gridpulse.log
    for _ in $(seq 1 20); do redis_up && break; sleep 0.5; done
  fi
}

database() {
  local name=$1
  if [ "$(psql -h "$PGHOST_ADDR" -U postgres -d postgres -Atqc "select 1 from pg_database where datname='$name'" </dev/null)" != 1 ]; then
    echo "bootstrap: creating database $name"
    psql -h "$PGHOST_ADDR" -U postgres -d postgres -qc "create database \"$name\"" </dev/null
  fi
}

psql_super() { psql -h "$PGHOST_ADDR" -p "$PGPORT_NUM" -U postgres -v ON_ERROR_STOP=1 -Atq "$@" </dev/null; }

# Roles are cluster-wide: made once by the superuser, never dropped by a migration. No passwords here: the demo
# machine trusts loopback; a real deployment sets one per role (ALTER ROLE … PASSWORD) and scram in pg_hba.conf.
roles() {
  local r
  for r in gridpulse_owner gridpulse_app gridpulse_bridge gridpulse_ingest gridpulse_rules gridpulse_residents; do
    psql_super -d postgres -c "DO \$\$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$r') THEN
        CREATE ROLE $r LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
      END IF;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END \$\$"
  done
}

# The database owned by gridpulse_owner, with PostGIS (which only the superuser may create); a database the
# superuser's migrations built before is handed over object by object, so `gridpulse migrate` runs as the owner.
owner() {
  local name=$1
  roles
  database "$name"
  psql_super -d postgres -c "ALTER DATABASE \"$name\" OWNER TO gridpulse_owner"
  psql_super -d "$name" -c "CREATE EXTENSION IF NOT EXISTS postgis"
  psql_super -d "$name" -c "DO \$\$
    DECLARE o record;
    BEGIN
      FOR o IN SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname IN ('public', 'truth') AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
                 AND pg_get_userbyid(c.relowner) <> 'gridpulse_owner'
                 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
                 AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')))
      LOOP
        EXECUTE format('ALTER %s %I.%I OWNER TO gridpulse_owner',
                       CASE o.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                                      WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, o.nspname, o.relname);
      END LOOP;
      FOR o IN SELECT p.oid::regprocedure AS sig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
               WHERE n.nspname = 'public' AND p.proname LIKE 'gp\\_%' AND pg_get_userbyid(p.proowner) <> 'gridpulse_owner'
                 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
      LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO gridpulse_owner', o.sig);
      END LOOP;
      FOR o IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
               WHERE n.nspname = 'public' AND t.typtype = 'e' AND pg_get_userbyid(t.typowner) <> 'gridpulse_owner'
      LOOP
        EXECUTE format('ALTER TYPE public.%I OWNER TO gridpulse_owner', o.typname);
      END LOOP;
      IF to_regnamespace('truth') IS NOT NULL THEN ALTER SCHEMA truth OWNER TO gridpulse_owner; END IF;
    END \$\$"
}

# A Redis ACL file: no default user; one user per service with only the commands and keys it needs.
redis_acl() {
  ( cd "$(dirname "$0")/.."
    local out=$1 prefix=${GRIDPULSE_REDIS_PREFIX:-gp:} dir=var/redis
    mkdir -p "$dir"
    chmod 700 "$dir"
    python3 -m core.redis_acl "$out" --prefix "$prefix" --passwords "$dir/passwords.env" )  # stdlib only: no venv needed
}

# The Redis URL a service connects with: its ACL user and password when var/redis/passwords.env holds them and
# the running Redis accepts them; else GRIDPULSE_REDIS_URL as given (a Redis without ACL, like a shared dev one).
redis_url() {
  local service=$1 base=${GRIDPULSE_REDIS_URL:-redis://127.0.0.1:6379/0} pw url
  local env_file
  env_file="$(dirname "$0")/../var/redis/passwords.env"
  if [ -f "$env_file" ]; then
    pw=$(sed -n "s/^GRIDPULSE_REDIS_PASSWORD_${service^^}=//p" "$env_file")
    url="redis://gridpulse-$service:$pw@${base#*://}"
    if [ -n "$pw" ] && redis-cli -u "$url" ping 2>/dev/null | grep -q PONG; then echo "$url"; return; fi
  fi
  echo "$base"
}

node() {
  cd "$(dirname "$0")/.."
  # The dashboard serves deck.gl from node_modules (dashboard/vendor.py); reinstall only when the lockfile changed.
  local stamp=node_modules/.gridpulse-lock.sha256 want
  want=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f node_modules/@deck.gl/core/dist.min.js ]; then return 0; fi
  echo "bootstrap: npm ci (@deck.gl/core, layers, json for the map)"
  # A tarball cut short by the network fails the whole install (npm: "seems to be corrupted"): try again.
  local try
  for try in 1 2 3; do
    npm ci --no-audit --no-fund --ignore-scripts --loglevel=error && break
    [ "$try" = 3 ] && return 1
    echo "bootstrap: npm ci failed (try $try of 3); trying again" >&2
    sleep 5
  done
  echo "$want" > "$stamp"
}

case "${1:-}" in
  system) system ;;
  services) services ;;
  database) database "$2" ;;
  node) node ;;
  roles) roles ;;
  owner) owner "$2" ;;
  redis-acl) redis_acl "$2" ;;
  redis-url) redis_url "$2" ;;
  *) echo "usage: $0 system|services|node|roles|database NAME|owner NAME|redis-acl FILE|redis-url SERVICE" >&2; exit 64 ;;
esac
