# The two set-up commands of the README. Both are idempotent: run them as often as you like.
#   make demo   set up everything, seed the demo street if empty, serve http://127.0.0.1:8050
#   make test   set up everything, run the whole test suite against gridpulse_test / gptest:
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_DB := gridpulse
# The demo database as its owner (migrations, seed); each service connects as its own role (scripts/run_demo.sh).
DEMO_URL := postgresql+psycopg://gridpulse_owner@127.0.0.1:5432/$(DEMO_DB)
TEST_DB ?= gridpulse_test
TEST_REDIS_PREFIX ?= gptest:

.PHONY: demo test setup system services venv node demo-db lock

demo: setup demo-db
	GRIDPULSE_DATABASE_URL=$${GRIDPULSE_DATABASE_URL:-$(DEMO_URL)} \
	  scripts/run_demo.sh

test: setup
	@scripts/bootstrap.sh roles
	@scripts/bootstrap.sh database $(TEST_DB)
	GRIDPULSE_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/$(TEST_DB) \
	GRIDPULSE_REDIS_URL=$${GRIDPULSE_REDIS_URL:-$$(scripts/bootstrap.sh redis-url admin)} \
	GRIDPULSE_REDIS_PREFIX=$(TEST_REDIS_PREFIX) \
	  $(BIN)/python -m pytest $(PYTEST_ARGS)

setup: system services venv node

system:
	@scripts/bootstrap.sh system

services:
	@scripts/bootstrap.sh services

# deck.gl for the map, from the committed package-lock.json (npm ci); skipped while the lockfile is unchanged.
node:
	@scripts/bootstrap.sh node

# The venv is rebuilt only when a requirements or lock file or pyproject.toml changes. It installs the
# lock files (every package with its hashes, --require-hashes) while they match requirements*.txt; a
# requirements file changed since the last `make lock` is installed as pinned, without hashes, with a
# warning (and tests/ops/test_lock.py fails until `make lock` is run and committed).
venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-test.txt requirements-nodeps.txt $(wildcard requirements*.lock) pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	@if scripts/lock.sh check; then \
	  $(BIN)/pip install -q --require-hashes -r requirements-test.lock && \
	  $(BIN)/pip install -q --require-hashes --no-deps -r requirements-nodeps.lock; \
	else \
	  echo "WARNING: requirements*.txt changed since the lock files: installing without hashes; run make lock" >&2; \
	  $(BIN)/pip install -q -r requirements-test.txt && $(BIN)/pip install -q --no-deps -r requirements-nodeps.txt; \
	fi
	$(BIN)/pip install -q --no-deps -e .
	@touch $@

# Rewrite the lock files from requirements*.txt (needs PyPI); commit them with the requirements change.
lock: venv
	scripts/lock.sh lock

demo-db:
	@scripts/bootstrap.sh owner $(DEMO_DB)
	GRIDPULSE_DATABASE_URL=$${GRIDPULSE_DATABASE_URL:-$(DEMO_URL)} sh -c '\
	  $(BIN)/gridpulse keys split && \
	  $(BIN)/gridpulse migrate && \
	  $(BIN)/gridpulse partitions && \
	  $(BIN)/gridpulse seed --preset $${GRIDPULSE_DEMO_PRESET:-street} --if-empty'
