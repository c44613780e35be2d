# Credance — `make run` starts everything locally, `make test` runs the whole suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CREDANCE := $(BIN)/credance
PYTEST_ARGS ?=

.PHONY: help deps build run run-postgres bench-indexer test test-fast lint typecheck format ape-compile bench clean slither fuzz test-faults bench-checkout

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-14s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $@

# `npm install` (not `npm ci`): the lock cannot list Anvil's binaries for other platforms (the
# registry here does not serve them), and `npm ci` refuses a lock without them. Scripts stay
# off: every binary we use ships inside its npm package.
node_modules/.installed: package.json package-lock.json
	npm install --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

deps: $(BIN)/.installed node_modules/.installed ## Install Python (venv) and npm dependencies

build: deps ## Compile the contracts offline (solc-js), warnings are errors: Cancun, and Shanghai for Ganache
	$(CREDANCE) build
	CREDANCE_EVM_VERSION=shanghai $(CREDANCE) build

run: build ## Start chain (CREDANCE_NODE=anvil|ganache|hardhat), contracts, database, demo data, API, indexer and sender
	$(CREDANCE) run

bench-indexer: build ## Indexer benchmark: 100k-event backfill into SQLite and PostgreSQL, lag at head
	$(BIN)/python -m bench.indexer

WORKERS ?= 4
run-postgres: build ## The same on PostgreSQL (CREDANCE_DATABASE_URL, or a local server) with WORKERS=4 API workers
	$(CREDANCE) run --postgres --workers $(WORKERS)

test: build ## Lint and run the whole test suite against real Anvil chains
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	# Two test processes (pytest-xdist), each with its own Anvil and PostgreSQL: the suite is CPU-bound
	# and takes about twice as long in one process. A process that runs out of tests takes some of
	# the other's (worksteal): the longest tests do not end the run on one process alone.
	# The 30 slowest tests are listed at the end.
	$(BIN)/pytest -n 2 --dist worksteal --durations=30 $(PYTEST_ARGS)

test-fast: build ## The suite without lint, in parallel
	$(BIN)/pytest -n 2 --dist worksteal $(PYTEST_ARGS)

lint: deps ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: deps ## Format the code
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

slither: build ## Slither + slither-check-erc over contracts/, offline; fails on unexplained findings
	$(BIN)/python scripts/security/analyse_contracts.py

fuzz: build ## Long runs of the invariant, property and API fuzz tests (make test runs short ones)
	CREDANCE_PROOF_LEVEL=long $(BIN)/pytest -m fuzz --timeout=7200 $(PYTEST_ARGS)

bench: build ## Run every benchmark in bench/ and write bench/results.json, RESULTS.md and results.png
	$(BIN)/python bench/report.py

test-faults: build ## Long crash tests: kill API, sender, indexer and the chain under load (make test runs a short storm)
	CREDANCE_PROOF_LEVEL=long $(BIN)/pytest tests/faults -s --timeout=3600 $(PYTEST_ARGS)

ape-compile: build ## Compile with ape (same solc-js front-end)
	SOLCX_BINARY_PATH=$(CURDIR)/.toolchain/solcx $(BIN)/ape compile

BENCH_ARGS ?=
bench-checkout: build ## Only the checkout benchmark, with BENCH_ARGS (make bench runs it too)
	$(BIN)/python bench/checkout.py $(BENCH_ARGS)

clean: ## Remove build output (keeps .credance state)
	rm -rf build .build .toolchain contracts/.cache .pytest_cache .mypy_cache .ruff_cache
