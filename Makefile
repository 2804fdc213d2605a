# Two commands set everything up on a fresh machine (see README.md):
#   make demo   virtualenv + Python and front-end packages, then the demo server
#   make test   the same install, then the whole test suite (embedded, PostgreSQL, Spark)
# Installs are remembered by stamp files, so a second run only does what changed.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.c360-installed
JS_STAMP := frontend/node_modules/.c360-installed

.PHONY: help install chromium graphviz demo serve test test-default test-postgres test-spark lint format bench clean

help:
	@echo "make demo    set up and start the demo server (prints the URL and a login)"
	@echo "make test    set up and run the whole test suite, PostgreSQL leg included"
	@echo "make lint    ruff (lint + format check) and mypy"
	@echo "make format  apply ruff's fixes and formatting"
	@echo "make bench   run the benchmarks in bench/ and print their figures"
	@echo "make clean   remove the virtualenv, front-end packages and caches (not .c360/)"

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "c360 needs $(PYTHON) on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(PY_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

$(JS_STAMP): frontend/package.json frontend/package-lock.json
	npm ci --prefix frontend --no-audit --no-fund --loglevel=error
	@touch $@

# The page tests drive Debian's Chromium (never a browser download); installed when missing.
chromium:
	@command -v chromium >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

# Process-map and model exports (SVG/PNG) are drawn by Graphviz's `dot`; installed when missing.
graphviz:
	@command -v dot >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz)

install: $(PY_STAMP) $(JS_STAMP) graphviz

demo: install
	$(BIN)/c360 demo

serve: install
	$(BIN)/c360 serve

# Three legs: the default, embedded one (DuckDB, SQLite, page tests in Chromium), then every
# `postgres`-marked test on PostgreSQL at 127.0.0.1:5432, then the `spark`-marked tests that
# prove the same stitching on PySpark. Each fails the target on any non-zero pytest exit,
# including 5 (no tests collected).
test: install chromium test-default test-postgres test-spark

test-default: install chromium
	$(BIN)/python -m pytest

test-postgres: install
	$(BIN)/python -m pytest -m postgres

test-spark: install
	$(BIN)/python -m pytest -m spark

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	@shopt -s nullglob; scripts=(bench/bench_*.py); \
	if [ $${#scripts[@]} -eq 0 ]; then echo "no benchmarks in bench/ yet" >&2; exit 1; fi; \
	for script in "$${scripts[@]}"; do echo "== $$script"; $(BIN)/python "$$script"; done

clean:
	rm -rf $(VENV) frontend/node_modules .pytest_cache .mypy_cache .ruff_cache bench/out
	rm -rf src/*.egg-info build dist
	find . -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
