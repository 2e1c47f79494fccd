# crm-events: `make run` starts everything with embedded defaults; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
BRIDGE_API_KEYS ?= dev-local-key
export BRIDGE_API_KEYS

.PHONY: install run test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	@echo "crm-events dev API key (X-API-Key): $(BRIDGE_API_KEYS)"
	$(BIN)/crm-events run

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check app domain projections tests bench

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf .run build *.egg-info
