# PyTake: `make run` to try it, `make test` to check it. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# The real-services pass of `make test` (override to use other servers or databases).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/pytake
TEST_REDIS_URL ?= redis://127.0.0.1:6379/1
PYTEST_ARGS ?= --durations=10
# The demo (migrate, seed, run) serves the WhatsApp Cloud API simulator and its phone page; it
# is never on elsewhere unless asked for (README, "Configuration").
PYTAKE_SIMULATOR ?= 1
DEMO_ENV := DJANGO_DEBUG=1 PYTAKE_SIMULATOR=$(PYTAKE_SIMULATOR)

.PHONY: help install install-dev run migrate seed lint format test test-system-deps test-services test-sqlite soak screenshots clean

help:
	@echo "make run      set up and serve the demo on http://$(HOST):$(PORT)"
	@echo "make test     lint, then the whole suite on PostgreSQL+Redis and on the SQLite default"
	@echo "              (installs Debian's chromium and nginx if missing, as root or with sudo)"
	@echo "make lint     ruff, the import layers (lint-imports) and mypy"
	@echo "make bench   every bench scenario (docs/benchmarks.md); make bench-fanout: the fan-out vs the peers only"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(DEMO_ENV) $(BIN)/python manage.py migrate --noinput

seed: migrate
	$(DEMO_ENV) $(BIN)/python manage.py seed_demo

run: seed
	@echo "PyTake on http://$(HOST):$(PORT)/  (inbox: /, WhatsApp phone simulator: /simulator/phone/, web chat: /chat/demo/, admin: /admin/, API docs: /api/docs/)"
	$(DEMO_ENV) PYTAKE_PUBLIC_URL=$${PYTAKE_PUBLIC_URL:-http://$(HOST):$(PORT)} $(BIN)/python manage.py runserver $(HOST):$(PORT)

# mypy's cache outside the checkout, so a fresh clone (CI) does not check django-stubs and the
# other dependencies again (36 s of CPU here, 2 s with the cache): one per set of requirements, in
# SQLite (safe when several checkouts lint at once).
MYPY_CACHE_DIR ?= $(HOME)/.cache/pytake/mypy-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	@mkdir -p "$(MYPY_CACHE_DIR)"
	DJANGO_SECRET_KEY=lint-only-secret-key-0123456789abcdef $(BIN)/mypy --sqlite-cache --cache-dir "$(MYPY_CACHE_DIR)" .

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# What the browser tests (Debian's Chromium) and the stack test (nginx) need from the system:
# installed from Debian's packages when missing, as root or with sudo; otherwise make test stops
# and says what to install (the tests would only skip).
test-system-deps:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	[ -z "$$missing" ] && exit 0; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null 2>&1; then sudo=sudo; \
	else \
		echo "make test needs Debian's$$missing for the browser and stack tests. As root:"; \
		echo "    apt-get update && apt-get install -y$$missing"; \
		exit 1; \
	fi; \
	echo "installing$$missing (apt-get)"; \
	$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends$$missing

# pytest, where exit status 5 ("no tests collected": a selection that matched nothing) fails loudly.
define pytest
	status=0; $(1) || status=$$?; \
	if [ $$status = 5 ]; then echo "*** pytest ran no tests (exit status 5): the selection matched nothing" >&2; fi; \
	exit $$status
endef

# The suite runs twice: against real PostgreSQL and Redis (when reachable; required when
# PYTAKE_REQUIRE_SERVICES=1), and on the embedded SQLite default. Tests marked ``once`` (the same
# whatever the pass: their own processes and settings, or neither database nor channel layer) run
# in the first pass only. The two passes use different databases and run at the same time: the
# PostgreSQL+Redis pass spends most of its time waiting on the servers, browsers and workers its
# tests start, so it runs in TEST_WORKERS processes (pytest-xdist; each with its own test database,
# and Redis database TEST_REDIS_URL's + 0, 1, 2...: tests/workers.py; an idle process takes tests
# queued on a busy one, as they last from milliseconds to minutes), while the SQLite pass runs in
# one process beside it at a lower priority (TEST_SQLITE_NICE: the machine is CPU-bound throughout
# and the PostgreSQL pass is the longer one, so the SQLite pass takes what the other leaves; at
# equal priority make test took about a minute longer, and a second SQLite process starved its
# migration tests past their timeout); its report follows the first one's, and either pass failing
# fails make test. TEST_WORKERS=0 runs the PostgreSQL pass in this process (about twice as long).
TEST_WORKERS ?= 4
TEST_SQLITE_NICE ?= 10
TEST_SQLITE_LOG ?= var/test-sqlite.log
test: lint test-system-deps
	@if $(BIN)/python -m tests.check_services "$(TEST_DATABASE_URL)" "$(TEST_REDIS_URL)"; then \
		mkdir -p "$(dir $(TEST_SQLITE_LOG))"; \
		echo "=== pytest on the embedded default runs alongside; its report follows ($(TEST_SQLITE_LOG)) ==="; \
		nice -n $(TEST_SQLITE_NICE) $(MAKE) --no-print-directory test-sqlite TEST_SQLITE_AFTER_SERVICES=1 TEST_SQLITE_WORKERS=0 >"$(TEST_SQLITE_LOG)" 2>&1 & sqlite=$$!; \
		services=0; $(MAKE) --no-print-directory test-services || services=$$?; \
		embedded=0; wait $$sqlite || embedded=$$?; \
		cat "$(TEST_SQLITE_LOG)"; \
		if [ $$services != 0 ] || [ $$embedded != 0 ]; then \
			echo "*** make test failed: PostgreSQL+Redis pass status $$services, SQLite pass status $$embedded" >&2; exit 1; \
		fi; \
	elif [ "$$PYTAKE_REQUIRE_SERVICES" = "1" ]; then \
		echo "PYTAKE_REQUIRE_SERVICES=1 and PostgreSQL/Redis are not reachable"; exit 1; \
	else \
		echo "Skipping the PostgreSQL+Redis pass (services not reachable)."; \
		$(MAKE) --no-print-directory test-sqlite; \
	fi

test-services: install-dev
	@echo "=== pytest on PostgreSQL + Redis (TEST_WORKERS=$(TEST_WORKERS): 0 is this process) ==="
	@$(call pytest,DATABASE_URL="$(TEST_DATABASE_URL)" REDIS_URL="$(TEST_REDIS_URL)" $(BIN)/pytest \
		--numprocesses=$(TEST_WORKERS) --dist=worksteal -m "not slow" $(PYTEST_ARGS))

# On its own, the SQLite pass runs in TEST_SQLITE_WORKERS processes (each with its own SQLite file
# and in-memory layer): its tests mostly wait (sockets, timers, threads), so two halve its time.
TEST_SQLITE_WORKERS ?= 2
TEST_SQLITE_AFTER_SERVICES ?=
test-sqlite: install-dev
	@echo "=== pytest on the embedded default (SQLite, in-memory layer, eager Celery; TEST_SQLITE_WORKERS=$(TEST_SQLITE_WORKERS)) ==="
	@$(call pytest,env -u DATABASE_URL -u REDIS_URL $(BIN)/pytest --numprocesses=$(TEST_SQLITE_WORKERS) --dist=worksteal \
		-m "not postgres and not redis and not slow$(if $(TEST_SQLITE_AFTER_SERVICES), and not once)" $(PYTEST_ARGS))

# Long soak variants of the fault tests (minutes each; not part of make test).
soak: install-dev
	DATABASE_URL="$(TEST_DATABASE_URL)" REDIS_URL="$(TEST_REDIS_URL)" PYTAKE_REQUIRE_SERVICES=1 $(BIN)/pytest -s -m slow $(PYTEST_ARGS)

# Refresh docs/screenshots/ from the browser tests (needs PostgreSQL, Redis and /usr/bin/chromium).
screenshots: install-dev
	DATABASE_URL="$(TEST_DATABASE_URL)" REDIS_URL="$(TEST_REDIS_URL)" PYTAKE_SCREENSHOTS_DIR=docs/screenshots \
		$(BIN)/pytest tests/e2e/test_browser_inbox.py tests/e2e/test_browser_webchat.py tests/e2e/test_browser_toolbox.py \
		tests/e2e/test_browser_templates.py tests/e2e/test_browser_replies.py tests/e2e/test_browser_account_alerts.py \
		tests/e2e/test_browser_media.py \
		$(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache

# --- The production topology on this machine (see README, "Running in production") -----------
# nginx on 127.0.0.1:$(STACK_PORT) in front of two ASGI servers, a Celery worker and Celery beat,
# on the local PostgreSQL and Redis; pid files and logs under $(STACK_DIR).
STACK_DIR ?= var/stack
STACK_PORT ?= 8080
STACK_WEB_PORTS ?= 8001,8002
STACK_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/pytake_stack
STACK_REDIS_URL ?= redis://127.0.0.1:6379/0
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: stack stack-down stack-status nginx

# nginx from Debian packages, installed only if missing (policy-rc.d permitting, Debian's package
# also starts a system nginx on port 80; the stack never uses or stops that one).
nginx:
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { \
		echo "installing nginx (apt-get)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends nginx; }

stack: install nginx
	$(BIN)/python deploy/stack.py up --dir $(STACK_DIR) --port $(STACK_PORT) --web-ports $(STACK_WEB_PORTS) \
		--database-url "$(STACK_DATABASE_URL)" --redis-url "$(STACK_REDIS_URL)"

stack-down:
	@$(PYTHON) deploy/stack.py down --dir $(STACK_DIR)

stack-status:
	@$(PYTHON) deploy/stack.py status --dir $(STACK_DIR)

# --- bench (issue 7): not part of `make test`. `make bench BENCH_ARGS=--quick` runs in under 5 minutes.
# Needs PostgreSQL and Redis (BENCH_DATABASE_URL, BENCH_REDIS_URL), node/npm for the Node peer, taskset.
# Writes to var/bench/ (git-ignored); docs/benchmarks.md says how a figure is kept in docs/bench/.
BENCH_ARGS ?=
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/pytake_bench
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/6

.PHONY: bench bench-fanout bench-quick
$(VENV)/.installed-bench: requirements.txt bench/requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r bench/requirements.txt
	touch $@

bench/peers/node/node_modules/.package-lock.json: bench/peers/node/package-lock.json
	cd bench/peers/node && npm ci --no-audit --no-fund --silent

bench: $(VENV)/.installed-bench bench/peers/node/node_modules/.package-lock.json
	BENCH_DATABASE_URL="$(BENCH_DATABASE_URL)" BENCH_REDIS_URL="$(BENCH_REDIS_URL)" \
		$(BIN)/python -m bench.run --scenario all $(BENCH_ARGS)

bench-fanout: $(VENV)/.installed-bench bench/peers/node/node_modules/.package-lock.json
	BENCH_DATABASE_URL="$(BENCH_DATABASE_URL)" BENCH_REDIS_URL="$(BENCH_REDIS_URL)" \
		$(BIN)/python -m bench.run $(BENCH_ARGS)

bench-quick:
	$(MAKE) --no-print-directory bench BENCH_ARGS=--quick
