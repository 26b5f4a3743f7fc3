#!/usr/bin/env bash
# The lock files: every Python package, transitive ones too, pinned with its hashes (uv pip compile).
#   scripts/lock.sh lock    write requirements.lock (runtime), requirements-test.lock (runtime + tests)
#                           and requirements-nodeps.lock from the three requirements*.txt (needs PyPI)
#   scripts/lock.sh check   exit 0 when the locks were written from the requirements*.txt as they are now
# `make venv` installs from the locks with --require-hashes when they are current; `make lock` runs lock.
set -euo pipefail
cd "$(dirname "$0")/.."
INPUTS=(requirements.txt requirements-test.txt requirements-nodeps.txt)
LOCKS=(requirements.lock requirements-test.lock requirements-nodeps.lock)

stamp() { echo "# gridpulse-lock-inputs: $(cat "${INPUTS[@]}" | sha256sum | cut -d' ' -f1)"; }

lock() {
  local uv=${UV:-.venv/bin/uv} want tmp
  command -v "$uv" >/dev/null 2>&1 || uv=$(command -v uv || true)
  [ -n "$uv" ] || { echo "lock: uv not found: make venv installs it (requirements-test.txt)" >&2; exit 1; }
  want=$(stamp)
  tmp=$(mktemp -d)
  local common=(--generate-hashes --python-version 3.11 --custom-compile-command "make lock" --quiet)
  "$uv" pip compile "${common[@]}" requirements.txt -o "$tmp/requirements.lock"
  # the tests run on exactly the runtime's versions: the runtime lock constrains the test lock
  "$uv" pip compile "${common[@]}" --constraint "$tmp/requirements.lock" requirements-test.txt -o "$tmp/requirements-test.lock"
  "$uv" pip compile "${common[@]}" --no-deps requirements-nodeps.txt -o "$tmp/requirements-nodeps.lock"
  for f in "${LOCKS[@]}"; do { echo "$want"; cat "$tmp/$f"; } > "$f"; done
  rm -rf "$tmp"
  echo "lock: wrote ${LOCKS[*]}"
}

check() {
  local want f
  want=$(stamp)
  for f in "${LOCKS[@]}"; do
    [ -f "$f" ] && [ "$(head -1 "$f")" = "$want" ] || { echo "lock: $f is missing or older than requirements*.txt: run make lock" >&2; return 1; }
  done
}

case "${1:-}" in
  lock) lock ;;
  check) check ;;
  *) echo "usage: $0 lock|check" >&2; exit 64 ;;
esac
