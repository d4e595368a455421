# Neuronsite: `make run` (install, migrate, demo, serve on :3000) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 3000
HOST ?= 127.0.0.1
# Load (issue 10): web processes of make run (each has its own connection pool and loads models itself)
WEB_WORKERS ?= 2
STAMP := $(VENV)/.installed
FASTSCAN := $(VENV)/.fastscan
PYTEST_ARGS ?=

.PHONY: install run test bench lint migrate demo browser clean-db redis

install: $(STAMP) $(FASTSCAN)

# Idempotent: re-runs only when the requirement files change. torch is pinned to the CPU
# wheel through constraints.txt; eai-delphi goes in with --no-deps (see requirements-nodeps.txt).
$(STAMP): requirements.txt constraints.txt requirements-nodeps.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

# The optional C scanner that speeds up import_saedashboard; without a compiler the pure-Python
# path (same rows) is used.
$(FASTSCAN): features/importers/_fastscan.c $(STAMP)
	-$(BIN)/python -m features.importers.build_fastscan
	@touch $(FASTSCAN)

migrate: install
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	@if $(BIN)/python manage.py help seed_demo >/dev/null 2>&1; then $(BIN)/python manage.py seed_demo; fi

# Serves at once: the demo is queued as a job (progress on the home page) that the worker started
# beside the web server builds. Ctrl-C stops both. More workers: `manage.py run_jobs_worker` (README).
# The demo is queued beside the web server's start (not before it), so the site answers sooner.
run: migrate
	@echo "Neuronsite on http://$(HOST):$(PORT)/ (with one job worker)"
	@( $(BIN)/python manage.py seed_demo --enqueue; exec $(BIN)/python manage.py run_jobs_worker ) & worker=$$!; \
	  trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	  $(BIN)/uvicorn neuronsite.asgi:application --host $(HOST) --port $(PORT) --workers $(WEB_WORKERS) \
	    --lifespan off --loop uvloop --http httptools --ws websockets --no-access-log

# Chromium for the browser tests (Debian's package; Playwright cannot download its own here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi; }

# redis-server (Debian's package, like `make browser`) for the Redis rate-limit cache and scale-out tests.
redis:
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; fi; }

test: install browser redis
	$(BIN)/python -m pytest -q -n 2 $(PYTEST_ARGS)

bench: install
	@for b in bench/*/run.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# hardening (issue 10): the long schemathesis run over every API operation (live server + API key,
# all phases, FUZZ_MAX_TIME seconds; > 10,000 requests), in its own test database. Report: var/fuzz.txt.
# 1800 s gave 5,259 test cases on the shared 2-core machine (load ~10, 2026-11-28): ~2.9 a second,
# so 3900 s for 10,000 and more.
.PHONY: fuzz
FUZZ_EXAMPLES ?= 100
FUZZ_MAX_TIME ?= 3900
fuzz: install
	mkdir -p var
	EMBEDDED_TEST_DB_NAME=test_neuronsite_fuzz FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_MAX_TIME=$(FUZZ_MAX_TIME) \
	FUZZ_PHASES=examples,coverage,fuzzing,stateful FUZZ_TIMEOUT=7200 FUZZ_REPORT=var/fuzz.txt FUZZ_REQUEST_TIMEOUT=120 \
	$(BIN)/python -m pytest -q -p no:randomly neuronsite/tests/test_schemathesis.py; \
	status=$$?; tail -40 var/fuzz.txt; exit $$status
