# Endometrial immune profiling suite: set-up, report, tests.
# `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
KERNEL := endoimmune
RUN    ?= reports/synthetic
JOBS   ?= 2

.DEFAULT_GOAL := help

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (endoimmune)" >/dev/null
	@touch $(STAMP)

## setup: create .venv, install the pinned dependencies and the package, register the Jupyter kernel
setup: $(STAMP)

## report: set up if needed, then run the whole suite on the shipped synthetic cohort into $(RUN) ($(JOBS) notebooks at a time)
report: $(STAMP)
	$(BIN)/python -m analysis run --data data/synthetic --out $(RUN) --force --jobs $(JOBS)

# The report test opens report.html in Debian's headless Chromium; install it when missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
/usr/bin/chromedriver:
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver >/dev/null

# The database tests start a throw-away PostgreSQL server from Debian's binaries; install them when missing.
postgresql:
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql >/dev/null; }

## lint: ruff (lint rules and formatting, pyproject.toml) and the import-linter layer and cycle contracts
lint: $(STAMP)
	$(BIN)/ruff check analysis tests benchmarks docs notebooks examples
	$(BIN)/ruff format --check analysis tests benchmarks docs notebooks examples
	$(BIN)/lint-imports --no-logo

## test: set up if needed (venv, package, kernel, Chromium, PostgreSQL), lint, then run the test suite (what CI runs)
test: $(STAMP) /usr/bin/chromedriver postgresql lint
	$(BIN)/python -m pytest -q

## test-slow: the on-demand checks (coverage study over many seeds)
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

## lab: JupyterLab on notebooks/ with the project's kernel
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

## synth: regenerate the shipped synthetic cohort from its seed
synth: $(STAMP)
	$(BIN)/python -m analysis synth --patients 1500 --seed 20261124 --out data/synthetic

# R and the packages the benchmark times beside ours (benchmarks/r_fits.R), from Debian's packages.
r-packages:
	@Rscript -e 'library(survival); library(geepack)' >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq r-base-core r-cran-survival r-cran-geepack >/dev/null; }

## bench: benchmarks (not part of the tests): shipped cohort, 1k-1M transfers, verdicts into docs/performance.md
bench: $(STAMP) r-packages
	$(BIN)/python -m benchmarks.run --write-docs

## bench-max-cohort: the biggest cohort whose suite (--jobs 2) stays within 8 GiB (after make bench; tens of minutes)
bench-max-cohort: $(STAMP)
	$(BIN)/python -m benchmarks.run --max-cohort --suite-timeout 7200 --write-docs

## clean: remove the virtual environment and run folders
clean:
	rm -rf $(VENV) reports

## help: list the targets
help:
	@grep -E '^## ' $(MAKEFILE_LIST) | sed 's/^## /  make /'

.PHONY: setup report postgresql r-packages lint test test-slow lab synth bench bench-max-cohort clean help
