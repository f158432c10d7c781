# Mission Pulse: `make run` starts everything locally, `make test` proves it. Both set themselves up.
SHELL := /bin/bash
SYSTEM_PYTHON := $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# with-broker.sh finds free ports with this interpreter
export PYTHON := $(abspath $(BIN)/python)

# Each step of `make test` has a time limit of its own (seconds), so a hung step fails instead of hanging CI;
# every single test also has one (pytest-timeout, pyproject.toml).
LINT_TIMEOUT ?= 600
UNIT_TIMEOUT ?= 900
INTEGRATION_TIMEOUT ?= 2700

.PHONY: help setup native core ops-tools redis browser run test test-unit test-integration test-faults test-cluster stress chaos test-rules lint bench soak kafka-start kafka-stop clean

help:
	@echo "make run     - the whole system on a local Kafka broker, with a simulator feeding traffic"
	@echo "make test    - lint, then the whole test suite against a throwaway Kafka broker"
	@echo "make lint    - ruff and mypy"
	@echo "make bench   - benchmarks with baselines from the same run (bench/results/)"
	@echo "make clean   - remove the venv, Kafka jars and local data"

$(BIN)/.installed: pyproject.toml
	@echo "==> installing Python dependencies into $(VENV)"
	@test -x $(BIN)/python || $(SYSTEM_PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

.kafka/libs/.fetched: deploy/kafka/pom.xml
	@deploy/kafka/kafka.sh fetch
	@touch $@

# The scorer's pure core compiled with mypyc, beside its sources (services/native.py; MP_NATIVE=0 skips it).
native: $(BIN)/.installed
	@if [ "$${MP_NATIVE:-1}" = 0 ]; then echo "MP_NATIVE=0: the scorer's pure core runs as Python"; \
	else $(BIN)/python services/native.py ensure; fi

# The scorer's fold compiled from Rust (services/fold_core, built by maturin into the venv as
# mission_pulse_core; docs/compiled-core.md). Without cargo, or with MP_CORE=0, the Python model runs.
CORE_SOURCES := $(wildcard services/fold_core/src/*.rs) services/fold_core/Cargo.toml services/fold_core/Cargo.lock services/fold_core/pyproject.toml
core: $(BIN)/.core
$(BIN)/.core: $(CORE_SOURCES) $(BIN)/.installed
	@if [ "$${MP_CORE:-1}" = 0 ]; then echo "MP_CORE=0: the compiled fold is not built; the Python model runs"; \
	elif ! command -v cargo >/dev/null; then echo "no Rust toolchain (cargo): the Python model runs (docs/compiled-core.md)"; \
	else echo "==> building the compiled fold (services/fold_core, Rust via maturin)"; \
	  if (cd services/fold_core && VIRTUAL_ENV=$(abspath $(VENV)) $(abspath $(BIN))/maturin develop --release --quiet); \
	  then touch $@; else echo "WARNING: the compiled fold did not build; the Python model runs" >&2; fi; fi

setup: $(BIN)/.installed .kafka/libs/.fetched native core

# The real Prometheus (promtool) and Alertmanager, from Debian's packages, for the rule tests and the
# scrape / forwarding integration tests.
ops-tools:
	@deploy/tools/apt-ensure.sh "promtool prometheus-alertmanager amtool" "prometheus prometheus-alertmanager"

# Debian's Redis (7.0, BSD licence) for the serving tier's tests (services/serving/), started per test module
redis:
	@deploy/tools/apt-ensure.sh "redis-server redis-sentinel" "redis-server redis-sentinel"

# Debian's chromium, which the console's browser tests drive through Playwright (no browser download).
browser:
	@deploy/tools/apt-ensure.sh chromium chromium

run: setup $(if $(filter redis,$(MP_SERVING)),redis)
	@deploy/kafka/kafka.sh start
	@trap 'deploy/kafka/kafka.sh stop' EXIT; $(BIN)/mission-pulse run

# Three steps, each with its time limit: lint, unit tests (no broker), integration tests (a throwaway broker).
test: setup test-rules browser redis
	@echo "==> step 1/3: lint (at most $(LINT_TIMEOUT) s)"
	@timeout $(LINT_TIMEOUT) $(MAKE) --no-print-directory lint
	@echo "==> step 2/3: unit tests (at most $(UNIT_TIMEOUT) s)"
	@timeout $(UNIT_TIMEOUT) $(BIN)/pytest -q tests/unit
	@echo "==> step 3/3: integration tests on a throwaway Kafka broker (at most $(INTEGRATION_TIMEOUT) s)"
	@timeout $(INTEGRATION_TIMEOUT) deploy/kafka/with-broker.sh $(BIN)/pytest -q tests/integration

test-integration: setup browser redis
	@deploy/kafka/with-broker.sh $(BIN)/pytest -q tests/integration

# Only the fault tests (also part of `make test`): killed workers, rebalancing, a broker outage
test-faults: setup
	@deploy/kafka/with-broker.sh $(BIN)/pytest -q -m faults

# Only the cluster tests (also part of `make test`): they start a three-broker KRaft cluster of their own and
# kills, restarts or cuts off brokers under steady load
test-cluster: setup
	@deploy/kafka/with-broker.sh $(BIN)/pytest -q -m cluster

# The fault tests over and over, not part of `make test`: a worker SIGKILLed before it committed (both
# stores), workers joining and leaving, every replica of every service restarted in turn on a cluster — each
# STRESS_RUNS (20) times; every run counted by event id, the totals in test-artifacts/stress/
# (docs/reliability.md, "Stress"). About 5 minutes a round on two cores.
STRESS_RUNS ?= 20
STRESS_TESTS ?= tests/integration/test_scoring_e2e.py::test_a_scorer_killed_mid_stream_loses_and_doubles_nothing \
	tests/integration/test_scale_out.py \
	tests/integration/test_cluster.py::test_a_rolling_restart_of_two_replicas_of_every_service_fails_no_request_and_misses_no_alert
stress: setup
	@since=$$(date +%s); status=0; \
	deploy/kafka/with-broker.sh $(BIN)/pytest -q -p no:cacheprovider --repeat $(STRESS_RUNS) $(STRESS_TESTS) || status=$$?; \
	$(BIN)/python -m tests.fixtures.stress $$since; exit $$status

# A long soak on a three-broker cluster with two replicas of every service and a seeded random fault
# every few minutes; stops by itself (CHAOS_MINUTES, CHAOS_SEED, CHAOS_RATE; docs/reliability.md)
chaos: setup
	@MP_CHAOS=1 $(BIN)/pytest -q -s -p no:cacheprovider tests/chaos

test-rules: ops-tools
	@promtool check config deploy/prometheus/prometheus.yml >/dev/null
	@promtool check rules deploy/prometheus/rules/*.yml
	@promtool test rules deploy/prometheus/tests/*.yml
	@amtool check-config deploy/alertmanager/alertmanager.yml >/dev/null

test-unit: setup
	@$(BIN)/pytest -q tests/unit

# Benchmarks on a throwaway broker; figures in bench/results/<timestamp>.{json,md}. BENCH_ARGS="--events 200000"
# wrk (Debian) for ingest's closed loops; oha (crates.io, built once into .tools/) for the API's open-model
# latency: each request measured from when it was due, so a service falling behind shows in its p99.
bench: setup redis
	@deploy/tools/apt-ensure.sh wrk wrk
	@deploy/tools/cargo-ensure.sh oha 1.16.0
	@deploy/kafka/with-broker.sh $(BIN)/mission-pulse bench $(BENCH_ARGS)

# Ten minutes of steady load on the whole system; memory, lag and errors in bench/results/soak-<timestamp>.md
soak: setup
	@deploy/kafka/with-broker.sh $(BIN)/mission-pulse soak $(SOAK_ARGS)

lint: setup
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/mypy

kafka-start: setup
	@deploy/kafka/kafka.sh start

kafka-stop:
	@deploy/kafka/kafka.sh stop

clean:
	@test ! -x $(BIN)/python || $(BIN)/python services/native.py clean
	rm -rf $(VENV) .kafka .scorer-data .bench-peers .tools *.egg-info services/fold_core/target
