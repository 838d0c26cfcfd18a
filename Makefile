# Two commands set everything up: `make run` and `make test`.
# Each creates .venv when missing and re-installs only when pyproject.toml changed.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export KEDRO_DISABLE_TELEMETRY := true
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: install run test viz mlflow-ui dag-screenshot

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

# Runs the whole job; with no competition data in data/01_raw, first writes the built-in
# synthetic TGS-like dataset there in the competition's layout.
run: $(STAMP)
	@if [ ! -f data/01_raw/train.csv ]; then \
	  echo "No competition data in data/01_raw: generating the built-in synthetic dataset."; \
	  $(BIN)/kedro run --pipeline synthetic_data; \
	fi
	$(BIN)/kedro run $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

viz: $(STAMP)
	$(BIN)/kedro viz run

mlflow-ui: $(STAMP)
	$(BIN)/kedro mlflow ui

# Screenshot of the kedro-viz DAG into docs/images (needs Debian's chromium: apt-get install chromium).
dag-screenshot: $(STAMP)
	bash docs/dag_screenshot.sh
