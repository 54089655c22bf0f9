# Jood Notifications: `make run` starts everything on a laptop, `make test` runs the suite.
# Needs Python 3.11 (override with `make PYTHON=/path/to/python3.11 ...`) and make.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Touched after a successful install: requirements are installed again only when they change.
INSTALLED := $(VENV)/.requirements-installed
PORT ?= 8000
# Settings derive PUBLIC_BASE_URL's default (the webhook URLs shown) from it.
export PORT
# `make run` with REDIS_URL: one worker for every queue (deploy/ runs one per queue).
LAPTOP_QUEUES := dispatch.0,dispatch.1,dispatch.2,dispatch.3,retries,sweeper,webhooks,callbacks,maintenance,celery

.PHONY: run test lint install bench bench-quick

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(INSTALLED): requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(INSTALLED)

install: $(INSTALLED)

run: install
	@$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	# Background processes are stopped when the web server stops (Ctrl-C included).
	pids=()
	stop_background() { for pid in "$${pids[@]}"; do kill "$$pid" 2>/dev/null || true; done; wait || true; }
	trap stop_background EXIT
	trap 'exit 130' INT TERM
	if [[ -n "$${REDIS_URL:-}" ]]; then
		echo "REDIS_URL is set: starting a Celery worker and celery-beat."
		$(BIN)/celery -A jood worker --loglevel INFO -Q $(LAPTOP_QUEUES) & pids+=($$!)
		$(BIN)/celery -A jood beat --loglevel INFO & pids+=($$!)
	elif $(BIN)/python manage.py help run_embedded_scheduler >/dev/null 2>&1; then
		echo "Embedded mode: tasks run in the web process; starting the embedded scheduler."
		$(BIN)/python manage.py run_embedded_scheduler & pids+=($$!)
	else
		echo "Embedded mode: tasks run in the web process (no embedded scheduler installed)."
	fi
	echo
	echo "  Portal:    http://localhost:$(PORT)/portal/"
	echo "  Admin:     http://localhost:$(PORT)/admin/"
	echo "  API docs:  http://localhost:$(PORT)/api/docs/"
	echo
	$(BIN)/python manage.py runserver 0.0.0.0:$(PORT)

test: install
	$(BIN)/pytest -q -n 2 --dist worksteal

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Benchmarks (BENCHMARKS.md): gunicorn, a Celery worker and beat, a mock provider and wrk (or
# bench/loadgen.py) on PostgreSQL and Redis from DATABASE_URL/REDIS_URL, else the local ones, in a
# database and a Redis db of the bench's own (jood_bench, db 1). BENCH_ARGS="--only 1,3" for some.
bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

bench-quick: install
	$(BIN)/python bench/run.py --quick $(BENCH_ARGS)
