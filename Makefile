# CampusLab: one command per job. `make demo` and `make test` do all the set-up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
# Debian packages of the real servers the tests run against.
SERVER_PACKAGES := mosquitto mosquitto-clients influxdb victoria-metrics docker-compose chromium

.PHONY: demo test lint format bench servers clean help

help:
	@echo "make demo    set up .venv and run 'campuslab demo' (simulated campus, overview page)"
	@echo "make test    set up .venv with test extras, install the test servers, run pytest"
	@echo "make lint    ruff check and format check"
	@echo "make format  ruff format and safe fixes"
	@echo "make bench   run the benchmarks in bench/ (ingest, scale-out, InfluxDB writer, analytics, history import)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

# The tests also compare against the benchmarks' pandas reference, so they take [bench] too.
$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,bench]'
	@touch $@ $(STAMP)

demo: $(STAMP)
	$(BIN)/campuslab demo $(DEMO_ARGS)

# Installs the Debian server packages when it can (root with apt-get), otherwise
# says what is missing; the tests themselves fail on CI when a server is absent.
servers:
	@missing=""; for b in mosquitto mosquitto_sub influxd victoria-metrics docker-compose chromium; do \
	  command -v $$b >/dev/null || [ -x /usr/sbin/$$b ] || [ -x /usr/bin/$$b ] || \
	    missing="$$missing $$b"; done; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages: $(SERVER_PACKAGES)"; \
	    (apt-get update -qq || true) && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      $(SERVER_PACKAGES) >/dev/null; \
	  else \
	    echo "MISSING:$$missing. Install the Debian/Ubuntu packages: $(SERVER_PACKAGES)" \
	         "(e.g. sudo apt-get install $(SERVER_PACKAGES)); tests that need them will skip" \
	         "(or fail on CI)." >&2; \
	  fi; \
	fi

test: $(TEST_STAMP) servers
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(TEST_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(TEST_STAMP) servers
	$(BIN)/python bench/ingest.py $(BENCH_ARGS)
	$(BIN)/python bench/shared.py
	$(BIN)/python bench/influx_write.py
	$(BIN)/python bench/analytics.py
	$(BIN)/python bench/history_import.py

clean:
	rm -rf $(VENV) build *.egg-info demo-data .pytest_cache .ruff_cache
