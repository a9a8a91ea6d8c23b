# scoreledger — two commands on a fresh machine: `make demo`, `make test`.
SHELL := /bin/bash
VENV := .venv
PYTHON ?= python3
SL := $(VENV)/bin/scoreledger
PGTAP_FILES ?= tests/pgtap/*.sql

.PHONY: install dev deps lint pgtap pytest test bench bench-smoke demo clean

# What the CLI needs, nothing more; the test and lint tools come with `dev` (make test installs it).
install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e .
	touch $@

dev: $(VENV)/.installed-dev

$(VENV)/.installed-dev: $(VENV)/.installed
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

# Debian packages the tests need (pgTAP, pg_prove, plpgsql_check).
deps:
	@scripts/ensure-debian-packages

lint: dev
	$(VENV)/bin/ruff check shell tests bench
	$(VENV)/bin/ruff format --check shell tests bench
	$(VENV)/bin/squawk --config .squawk.toml migrations/*.sql

pgtap: dev deps
	tests/pgtap/run

pytest: dev deps
	$(VENV)/bin/pytest -q

# A tiny run of the benchmark, so it cannot rot (figures are printed, never asserted).
bench-smoke: install
	$(VENV)/bin/python -m bench --scale 2k --database scoreledger_bench_smoke_$$$$ --no-results

test: lint pgtap pytest bench-smoke

bench: install
	$(VENV)/bin/python -m bench $(BENCH_ARGS)

demo: install
	@dsn=$$(scripts/ensure-server) && \
	  $(SL) --dsn "$$dsn" db migrate && \
	  $(SL) --dsn "$$dsn" demo

clean:
	rm -rf $(VENV) *.egg-info shell/*.egg-info
