# Two entry points for a new user: `make run` and `make test`. Everything else is a building block.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: help install run test test-system lint format typecheck pytest env-example db-start db-stop db-status clean

help:
	@echo "make run   - install, start the embedded database, migrate, serve the API (Ctrl-C stops)"
	@echo "make test  - install, start what the tests need, run lint, types and tests"
	@echo "make test-system - the tests of the whole product: containers, browser, Prometheus, faults"

$(STAMP): pyproject.toml scripts/bootstrap.sh
	@PYTHON="$(PYTHON)" VENV="$(VENV)" bash scripts/bootstrap.sh
	@touch $@

install: $(STAMP)

run: install
	@$(BIN)/purpose-agent up

test: install
	@bash scripts/install-test-tools.sh
	@bash scripts/with-test-services.sh bash scripts/check.sh -m "not system"

# The tests that build and run the image, drive the console in Chromium, run a real Prometheus and
# put processes under faults: minutes each, so apart from `make test`'s budget. .ci/run runs both.
test-system: install
	@bash scripts/install-test-tools.sh
	@bash scripts/with-test-services.sh $(BIN)/pytest -m system

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install
	$(BIN)/mypy

pytest: install
	@bash scripts/with-test-services.sh $(BIN)/pytest

# .env.example is written from the settings' docstrings; a test fails when the two differ.
env-example: install
	$(BIN)/python -m purpose_agent.settings.example .env.example

db-start: install
	$(BIN)/purpose-agent db start

db-stop: install
	$(BIN)/purpose-agent db stop

db-status: install
	$(BIN)/purpose-agent db status

clean:
	-$(BIN)/purpose-agent db stop
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .coverage coverage.xml
