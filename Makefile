# make help lists the targets. Everything runs from a clean clone: the virtualenv, its packages and
# (when root on Debian/Ubuntu) PostgreSQL and nginx are installed on first use.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
# The uv installed when there is none (the images pin the same minor: ghcr.io/astral-sh/uv:0.13).
UV_VERSION := 0.13.9
PYTHON := $(VENV)/bin/python
COMPOSE := docker compose
# The compose test stack gets its own project and port, so it never touches a stack you run.
TEST_PROJECT ?= async-web-stack-test
TEST_HTTP_PORT ?= 18080
TEST_LOCUST_PORT ?= 18089
# The test stack serves HTTPS too (compose.tls.yaml) beside its HTTP port.
TEST_HTTPS_PORT ?= $(shell echo $$(( $(TEST_HTTP_PORT) + 3 )))
# The test stack's load network (the addresses the limits exempt): one /24 per stack that runs
# side by side, given as its first three numbers. FRONT_SUBNET, if set, names it instead (the
# /24 the front network used to take). Outside Docker's default pools (172.17-31.0.0/16,
# 192.168.0.0/16): an engine that has made many networks hands out 172.30.0.0/16 to the stack's own
# front or back network, and a fixed subnet inside it then cannot be created.
TEST_LOAD_NET ?= $(or $(patsubst %.0/24,%,$(FRONT_SUBNET)),10.230.90)
TEST_PROMETHEUS_PORT ?= 18090
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
# Where make loadtest asks for the services' own view of the run (compose's Prometheus, profile
# observability); empty to skip. Unreachable: a note on stderr, nothing else changes.
PROMETHEUS_URL ?= http://127.0.0.1:9090

BENCH_ARGS ?=

# make stack-deploy (README "Beyond one machine"): the registry every node pulls from (host:port),
# the tag the images get, the stack's name, and the swarm manager's Docker endpoint (empty: the one
# the docker CLI points at; e.g. ssh://admin@manager1). PUSH_REGISTRY: where this machine reaches
# that registry, when not by the same name (make test-swarm pushes through a loopback port).
REGISTRY ?=
PUSH_REGISTRY ?= $(REGISTRY)
TAG ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo latest)
STACK_NAME ?= async-web-stack
SWARM_HOST ?=
LOADTEST ?=
OBSERVABILITY ?=
SWARM_DOCKER := docker $(if $(SWARM_HOST),-H $(SWARM_HOST))
# Built with compose from its Dockerfiles; locust-master's image is the workers' too.
STACK_IMAGES := api legacy counter nginx locust-master
# The public images of Prometheus and its exporters (compose's observability profile), pushed as
# REGISTRY/<name without its registry host> when OBSERVABILITY is set: the nodes pull from REGISTRY only.
OBSERVABILITY_IMAGES := prom/prometheus:v3.5.0 nginx/nginx-prometheus-exporter:1.5.0 \
	quay.io/prometheuscommunity/postgres-exporter:v0.19.0

.PHONY: help up down dev test test-compose test-swarm stack-images stack-deploy stack-rm loadtest bench bench-quick bench-counter secrets certs clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# uv comes from PyPI when it is missing; it then builds the venv from uv.lock.
$(VENV)/.synced: pyproject.toml uv.lock services/*/pyproject.toml
	@command -v uv >/dev/null || python3 -m pip install -q uv==$(UV_VERSION) || \
		python3 -m pip install -q --user --break-system-packages uv==$(UV_VERSION)
	uv sync --frozen
	@touch $@

venv: $(VENV)/.synced ## Create or update the virtualenv (.venv)

secrets: ## Create random database passwords and the api's write token in .secrets/ (once)
	@scripts/make-secrets.sh .secrets

certs: ## Create a self-signed CA and a certificate for localhost in .certs/ (once), for trying HTTPS
	@scripts/make-certs.sh .certs

# With a certificate and key in .certs/ (make certs, or your own), compose serves HTTPS too.
COMPOSE_TLS := $(if $(wildcard .certs/server.crt),-f compose.yaml -f compose.tls.yaml)

up: secrets ## Start the stack with Docker Compose (docker compose up --build; HTTPS too if .certs/ has a pair)
	$(COMPOSE) $(COMPOSE_TLS) up --build

down: ## Stop the compose stack (keeps the database volume; add -v by hand to drop it)
	$(COMPOSE) $(COMPOSE_TLS) down

dev: $(VENV)/.synced ## Run the same stack as native processes, in the foreground (Ctrl-C stops it)
	$(PYTHON) dev/stack.py

test: $(VENV)/.synced ## Run every test against a native stack it starts itself
	$(PYTHON) -m pytest -m "not compose and not swarm" $(PYTEST_ARGS)

test-compose: $(VENV)/.synced secrets certs ## Build and start the compose stack (with HTTPS), run the same suite against it, remove it
	@trap '$(COMPOSE) -p $(TEST_PROJECT) down -v --remove-orphans >/dev/null 2>&1' EXIT; \
	export COMPOSE_FILE=compose.yaml:compose.tls.yaml COMPOSE_PROFILES=loadtest,observability HTTP_PORT=$(TEST_HTTP_PORT) \
		HTTPS_PORT=$(TEST_HTTPS_PORT) LOCUST_PORT=$(TEST_LOCUST_PORT) \
		LOAD_SUBNET=$(TEST_LOAD_NET).0/24 LOAD_GENERATORS=$(TEST_LOAD_NET).128/25 \
		LOAD_GATEWAY=$(TEST_LOAD_NET).1 \
		PROMETHEUS_PORT=$(TEST_PROMETHEUS_PORT) STACK_PROMETHEUS_URL=http://127.0.0.1:$(TEST_PROMETHEUS_PORT); \
	$(COMPOSE) -p $(TEST_PROJECT) up -d --build --wait --wait-timeout 300 && \
	STACK_URL=http://127.0.0.1:$(TEST_HTTP_PORT) STACK_HTTPS_URL=https://localhost:$(TEST_HTTPS_PORT) \
	STACK_TLS_CA=.certs/ca.crt STACK_COMPOSE_PROJECT=$(TEST_PROJECT) $(PYTHON) -m pytest -m "not native and not swarm" $(PYTEST_ARGS) || \
	{ status=$$?; $(COMPOSE) -p $(TEST_PROJECT) logs --tail 80; exit $$status; }

test-swarm: $(VENV)/.synced secrets ## Start a three-node swarm (docker:dind) and a registry, deploy the stack, run the suite and the swarm tests, remove it all
	$(PYTHON) -m tests.swarm.run --prefix $(TEST_PROJECT) --http-port $(TEST_HTTP_PORT) --subnet $${FRONT_SUBNET:-10.230.70.0/24} $(PYTEST_ARGS)

stack-images: ## Build the images (compose's Dockerfiles), tag them REGISTRY/…:TAG, push them
	@test -n "$(REGISTRY)" || { echo "set REGISTRY=<host:port of a registry every node pulls from>" >&2; exit 1; }
	$(COMPOSE) -p $(STACK_NAME) --profile loadtest build $(STACK_IMAGES)
	@set -e; for image in $(STACK_IMAGES); do \
	  target=$(PUSH_REGISTRY)/async-web-stack-$${image%-master}:$(TAG); \
	  docker tag $(STACK_NAME)-$$image $$target; docker push -q $$target; \
	done
	@set -e; for image in $(if $(OBSERVABILITY),$(OBSERVABILITY_IMAGES)); do \
	  docker image inspect $$image >/dev/null 2>&1 || docker pull -q $$image; \
	  case $${image%%/*} in *.*) name=$${image#*/};; *) name=$$image;; esac; \
	  docker tag $$image $(PUSH_REGISTRY)/$$name; docker push -q $(PUSH_REGISTRY)/$$name; \
	done

stack-deploy: secrets stack-images ## Build and push the images, deploy the stack to the swarm (REGISTRY, TAG, STACK_NAME, SWARM_HOST, LOADTEST=1, OBSERVABILITY=1)
	REGISTRY=$(REGISTRY) TAG=$(TAG) $(SWARM_DOCKER) stack deploy --detach=true --prune \
		-c deploy/swarm/stack.yaml $(if $(LOADTEST),-c deploy/swarm/loadtest.yaml) \
		$(if $(OBSERVABILITY),-c deploy/swarm/observability.yaml) $(STACK_NAME)

stack-rm: ## Remove the stack from the swarm (its database volume stays on its node)
	$(SWARM_DOCKER) stack rm $(STACK_NAME)

loadtest: $(VENV)/.synced ## Headless Locust run against HOST, fails on broken thresholds; reports (with the services' view from PROMETHEUS_URL) in loadtest/results/
	@dir="$(or $(RESULTS_DIR),loadtest/results/$$(date +%Y%m%d-%H%M%S))"; mkdir -p "$$dir"; since=$$(date +%s); \
	$(foreach name,$(LOADTEST_SETTINGS),$(if $($(name)),LOCUST_$(name)=$($(name)))) \
	$(VENV)/bin/locust -f loadtest/locustfile.py --headless --only-summary --host "$(HOST)" \
		--users $(USERS) --spawn-rate $(SPAWN_RATE) --run-time $(RUN_TIME) \
		--csv "$$dir/stats" --html "$$dir/report.html"; \
	status=$$?; \
	$(if $(PROMETHEUS_URL),$(PYTHON) -m loadtest.server_view --prometheus "$(PROMETHEUS_URL)" --since $$since \
		--stats "$$dir/stats_stats.csv" --out "$$dir";) \
	echo "reports: $$dir/"; exit $$status

clean: ## Remove the virtualenv and native-run state
	rm -rf $(VENV) .state

bench: $(VENV)/.synced ## The framework comparison: every target, wrk -t1 -c200 -d30s each (~8 min)
	$(PYTHON) -m bench.run $(BENCH_ARGS)

bench-quick: $(VENV)/.synced ## The same comparison, a few seconds per target (proves it works; not a measurement)
	$(PYTHON) -m bench.run --quick $(BENCH_ARGS)

bench-counter: $(VENV)/.synced ## The counter's fan-out via nginx: 20,000 sockets, then 5,000 beside the load test's mix
	$(PYTHON) bench/counter_fanout.py --only nginx --clients 20000 $(BENCH_ARGS)
	$(PYTHON) bench/counter_fanout.py --only nginx --clients 5000 --mix-seconds 75 --target mix $(BENCH_ARGS)
