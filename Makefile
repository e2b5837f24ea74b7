# make help lists the targets. Everything runs from a clean clone: the virtualenv, its packages and
# (when root on Debian/Ubuntu) PostgreSQL and nginx are installed on first use.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PYTHON := $(VENV)/bin/python
COMPOSE := docker compose
# The compose test stack gets its own project and port, so it never touches a stack you run.
TEST_PROJECT ?= async-web-stack-test
TEST_HTTP_PORT ?= 18080
TEST_LOCUST_PORT ?= 18089
PYTEST_ARGS ?=
# make loadtest: the target (nginx of `make dev` or of the compose stack) and the load; thresholds
# and ALLOWED_HOSTS are passed on only when set (defaults and meaning: loadtest/README.md).
HOST ?= http://127.0.0.1:8080
USERS ?= 50
SPAWN_RATE ?= 10
RUN_TIME ?= 1m
RESULTS_DIR ?=
# The writers' bearer token: make dev's while it runs, else the compose stack's (make secrets).
WRITE_TOKEN_FILE ?= $(if $(wildcard .state/dev.env),.state/secrets/api_write_tokens,.secrets/api_write_tokens)
LOADTEST_SETTINGS := ALLOWED_HOSTS MAX_FAIL_RATIO P95_API_READ_MS P95_API_WRITE_MS P95_LEGACY_MS P95_COUNTER_MS \
	WRITE_TOKEN_FILE

BENCH_ARGS ?=

.PHONY: help up down dev test test-compose loadtest bench bench-quick bench-counter secrets clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# uv comes from PyPI when it is missing; it then builds the venv from uv.lock.
$(VENV)/.synced: pyproject.toml uv.lock services/*/pyproject.toml
	@command -v uv >/dev/null || python3 -m pip install -q uv || python3 -m pip install -q --user --break-system-packages uv
	uv sync --frozen
	@touch $@

venv: $(VENV)/.synced ## Create or update the virtualenv (.venv)

secrets: ## Create random database passwords and the api's write token in .secrets/ (once)
	@scripts/make-secrets.sh .secrets

up: secrets ## Start the stack with Docker Compose (docker compose up --build)
	$(COMPOSE) up --build

down: ## Stop the compose stack (keeps the database volume; add -v by hand to drop it)
	$(COMPOSE) down

dev: $(VENV)/.synced ## Run the same stack as native processes, in the foreground (Ctrl-C stops it)
	$(PYTHON) dev/stack.py

test: $(VENV)/.synced ## Run every test against a native stack it starts itself
	$(PYTHON) -m pytest -m "not compose" $(PYTEST_ARGS)

test-compose: $(VENV)/.synced secrets ## Build and start the compose stack, run the same suite against it, remove it
	@trap '$(COMPOSE) -p $(TEST_PROJECT) down -v --remove-orphans >/dev/null 2>&1' EXIT; \
	export COMPOSE_PROFILES=loadtest HTTP_PORT=$(TEST_HTTP_PORT) LOCUST_PORT=$(TEST_LOCUST_PORT); \
	$(COMPOSE) -p $(TEST_PROJECT) up -d --build --wait --wait-timeout 300 && \
	STACK_URL=http://127.0.0.1:$(TEST_HTTP_PORT) STACK_COMPOSE_PROJECT=$(TEST_PROJECT) $(PYTHON) -m pytest -m "not native" $(PYTEST_ARGS) || \
	{ status=$$?; $(COMPOSE) -p $(TEST_PROJECT) logs --tail 80; exit $$status; }

loadtest: $(VENV)/.synced ## Headless Locust run against HOST; reports in loadtest/results/, fails on broken thresholds
	@dir="$(or $(RESULTS_DIR),loadtest/results/$$(date +%Y%m%d-%H%M%S))"; mkdir -p "$$dir"; \
	$(foreach name,$(LOADTEST_SETTINGS),$(if $($(name)),LOCUST_$(name)=$($(name)))) \
	$(VENV)/bin/locust -f loadtest/locustfile.py --headless --only-summary --host "$(HOST)" \
		--users $(USERS) --spawn-rate $(SPAWN_RATE) --run-time $(RUN_TIME) \
		--csv "$$dir/stats" --html "$$dir/report.html"; \
	status=$$?; echo "reports: $$dir/"; exit $$status

clean: ## Remove the virtualenv and native-run state
	rm -rf $(VENV) .state

bench: $(VENV)/.synced ## The framework comparison: every target, wrk -t1 -c200 -d30s each (~8 min)
	$(PYTHON) -m bench.run $(BENCH_ARGS)

bench-quick: $(VENV)/.synced ## The same comparison, a few seconds per target (proves it works; not a measurement)
	$(PYTHON) -m bench.run --quick $(BENCH_ARGS)

bench-counter: $(VENV)/.synced ## The counter's fan-out: 5,000 sockets, p50/p99 from a connect until all have the count
	$(PYTHON) bench/counter_fanout.py $(BENCH_ARGS)
