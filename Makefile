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
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: help up down dev test test-compose secrets clean bench bench-quick

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# uv comes from PyPI when it is missing; it then builds the venv from uv.lock.
$(VENV)/.synced: pyproject.toml uv.lock services/*/pyproject.toml
	@command -v uv >/dev/null || python3 -m pip install -q uv || python3 -m pip install -q --user --break-system-packages uv
	uv sync --frozen
	@touch $@

venv: $(VENV)/.synced ## Create or update the virtualenv (.venv)

secrets: ## Create random database passwords in .secrets/ (once)
	@scripts/make-secrets.sh .secrets

up: secrets ## Start the stack with Docker Compose (docker compose up --build)
	$(COMPOSE) up --build

down: ## Stop the compose stack (keeps the database volume; add -v by hand to drop it)
	$(COMPOSE) down

dev: $(VENV)/.synced ## Run the same stack as native processes, in the foreground (Ctrl-C stops it)
	$(PYTHON) dev/stack.py

test: $(VENV)/.synced ## Run every test against a native stack it starts itself
	$(PYTHON) -m pytest $(PYTEST_ARGS)

test-compose: $(VENV)/.synced secrets ## Build and start the compose stack, run the same suite against it, remove it
	@trap '$(COMPOSE) -p $(TEST_PROJECT) down -v --remove-orphans >/dev/null 2>&1' EXIT; \
	HTTP_PORT=$(TEST_HTTP_PORT) $(COMPOSE) -p $(TEST_PROJECT) up -d --build --wait --wait-timeout 300 && \
	STACK_URL=http://127.0.0.1:$(TEST_HTTP_PORT) $(PYTHON) -m pytest -m "not native" $(PYTEST_ARGS) || \
	{ status=$$?; $(COMPOSE) -p $(TEST_PROJECT) logs --tail 80; exit $$status; }

clean: ## Remove the virtualenv and native-run state
	rm -rf $(VENV) .state

bench: $(VENV)/.synced ## The framework comparison (issue 7): every target, wrk -t1 -c200 -d30s each (~8 min)
	$(PYTHON) -m bench.run $(BENCH_ARGS)

bench-quick: $(VENV)/.synced ## The same comparison, a few seconds per target (proves it works; not a measurement)
	$(PYTHON) -m bench.run --quick $(BENCH_ARGS)
