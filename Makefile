# On a fresh machine: `make demo` (install, then the API with demo data on SQLite), `make test`
# (install, then lint, type-check and the test suite) and `make season` (a simulated season and its
# report in var/season/report.html).
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
SEASON_ARGS ?= --customers 10000 --days 120 --seed 7

.PHONY: demo test lint bench season

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

demo: $(BIN)/.installed
	$(BIN)/bnpl serve --demo

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test: lint
	$(BIN)/pytest

season: $(BIN)/.installed
	$(BIN)/bnpl simulate $(SEASON_ARGS) --out var/season

bench: $(BIN)/.installed
	$(BIN)/python bench/authorize.py
