#!/usr/bin/env bash
# The live demo street: ingest worker, fast rules and the simulator beside the app; all stop with it.
# Logs go to var/log/. Called by `make demo` after set-up, migration and seeding.
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
"$BIN/gridpulse" ingest >>var/log/ingest.log 2>&1 & pids+=($!)
"$BIN/gridpulse" rules watch >>var/log/rules.log 2>&1 & pids+=($!)
"$BIN/gridpulse" residents-api >>var/log/residents.log 2>&1 & pids+=($!)
faces=()
if [ -d ../shared/faces ]; then faces=(--faces ../shared/faces); fi  # real test photos, read in place
"$BIN/gridpulse" simulate --speed "${GRIDPULSE_DEMO_SPEED:-10}" "${faces[@]}" >>var/log/simulate.log 2>&1 & pids+=($!)
"$BIN/gridpulse" retention >>var/log/retention.log 2>&1 || echo "retention failed: see var/log/retention.log" >&2
"$BIN/gridpulse" rules run >>var/log/rules.log 2>&1 || echo "rules sweep failed: see var/log/rules.log" >&2
echo "GridPulse demo street: http://${GRIDPULSE_HOST:-127.0.0.1}:${GRIDPULSE_PORT:-8050}  (logs in var/log/)"
echo "Resident services API: http://127.0.0.1:${GRIDPULSE_RESIDENTS_PORT:-8070}/docs  (demo token: gridpulse app-token PERSON_ID)"
"$BIN/python" app.py
