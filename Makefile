# Two commands set everything up: `make run` and `make test`.
# Each creates .venv when missing and re-installs only when pyproject.toml changed.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export KEDRO_DISABLE_TELEMETRY := true
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: install run test browser viz mlflow-ui dag-screenshot docs-figure explorer-screenshot

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

# Runs the whole job. With data/01_raw empty, first writes the built-in synthetic TGS-like
# dataset there (a folder with only some competition files stops the run, naming what is missing); on that dataset (marked by synthetic_data.json) the run uses
# the named configuration `synthetic`, sized to take minutes. ARGS come last and win.
run: $(STAMP)
	@state=$$($(BIN)/python -m explainable_salt.tgs.raw_layout data/01_raw) || exit 1; \
	if [ "$$state" = empty ]; then \
	  echo "No competition data in data/01_raw: generating the built-in synthetic dataset."; \
	  $(BIN)/kedro run --pipeline synthetic_data; \
	fi
	@if [ -f data/01_raw/synthetic_data.json ]; then env="--env synthetic"; \
	  echo "data/01_raw holds the built-in synthetic dataset: kedro run --env synthetic"; fi; \
	$(BIN)/kedro run $$env $(ARGS)

test: $(STAMP) browser
	$(BIN)/python -m pytest $(ARGS)

# The explorer's browser test drives Debian's chromium (Playwright uses the system browser, never
# downloads its own). Installed here when missing, as root with apt-get; elsewhere the test is
# skipped with its reason (and fails under CI=true).
browser:
	@if command -v chromium >/dev/null || [ -x /usr/lib/chromium/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Debian's chromium for the explorer's browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium is missing and cannot be installed here (not root, or no apt-get): the browser test will be skipped"; fi

viz: $(STAMP)
	$(BIN)/kedro viz run

mlflow-ui: $(STAMP)
	$(BIN)/kedro mlflow ui

# Screenshot of the kedro-viz DAG into docs/images (needs Debian's chromium: apt-get install chromium).
dag-screenshot: $(STAMP)
	bash docs/dag_screenshot.sh

# The README's figure: the channel-contribution panel of the last run (run on the competition
# data), halved in size so that it stays small in git.
docs-figure: $(STAMP)
	$(BIN)/python -c "from PIL import Image; im = Image.open('data/08_reporting/channel_contributions.png'); \
	  im.reduce(2).convert('RGB').save('docs/images/channel_contributions.png', optimize=True)"
	@echo "wrote docs/images/channel_contributions.png"

# The README's explorer picture: the explorer of the last run, opened in headless chromium with a
# pixel pinned, into docs/images/explorer.png.
explorer-screenshot: $(STAMP) browser
	$(BIN)/python -m explainable_salt.figures.explorer_browser data/08_reporting/explorer.html docs/images/explorer.png
