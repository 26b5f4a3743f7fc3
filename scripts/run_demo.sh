#!/usr/bin/env bash
# The live demo street: ingest worker, fast rules and the simulator beside the app; all stop with it.
# Logs go to var/log/. Called by `make demo` after set-up, migration and seeding (as gridpulse_owner).
# Each service runs as its own database role and Redis user, with its own key file (docs/SECURITY.md).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
mkdir -p var/log
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM
OWNER_URL=$GRIDPULSE_DATABASE_URL
# The demo database as a service's role: GRIDPULSE_<SERVICE>_DATABASE_URL when given (a real deployment, with the
# role's password), else the owner's URL with the role's name (the demo machine trusts loopback).
db_as() {
  local role=$1 given=$2
  if [ -n "${!given:-}" ]; then echo "${!given}"; else echo "$OWNER_URL" | sed -E "s#://[^@/]*@#://$role@#"; fi
}
as_service() {  # as_service SERVICE ROLE: the environment one service runs with
  echo "GRIDPULSE_DATABASE_URL=$(db_as "gridpulse_$2" "GRIDPULSE_${1^^}_DATABASE_URL")" \
       "GRIDPULSE_REDIS_URL=$(scripts/bootstrap.sh redis-url "$1")"
}
run() {  # run SERVICE ROLE LOG COMMAND…
  local service=$1 role=$2 log=$3
  shift 3
  env $(as_service "$service" "$role") "$@" >>"var/log/$log.log" 2>&1 &
  pids+=($!)
}
run ingest ingest ingest "$BIN/gridpulse" ingest
run rules rules rules "$BIN/gridpulse" rules watch
run residents residents residents "$BIN/gridpulse" residents-api
faces=()
if [ -d ../shared/faces ]; then faces=(--faces ../shared/faces); fi  # real test photos, read in place
# The simulator plays the gates and the platform (it signs residents' codes): the owner's database, the bridges' Redis user.
env GRIDPULSE_REDIS_URL="$(scripts/bootstrap.sh redis-url bridge)" \
  "$BIN/gridpulse" simulate --speed "${GRIDPULSE_DEMO_SPEED:-10}" "${faces[@]}" >>var/log/simulate.log 2>&1 & pids+=($!)
env GRIDPULSE_REDIS_URL="$(scripts/bootstrap.sh redis-url admin)" \
  "$BIN/gridpulse" retention >>var/log/retention.log 2>&1 || echo "retention failed: see var/log/retention.log" >&2
env $(as_service rules rules) "$BIN/gridpulse" rules run >>var/log/rules.log 2>&1 || echo "rules sweep failed: see var/log/rules.log" >&2
echo "GridPulse demo street: http://${GRIDPULSE_HOST:-127.0.0.1}:${GRIDPULSE_PORT:-8050}  (logs in var/log/)"
echo "Resident services API: http://127.0.0.1:${GRIDPULSE_RESIDENTS_PORT:-8070}/docs  (demo token: gridpulse app-token PERSON_ID)"
env $(as_service app app) "$BIN/python" app.py
