# crm-events: `make run` starts everything with embedded defaults; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
BRIDGE_API_KEYS ?= dev-local-key
export BRIDGE_API_KEYS

# the modules setup.py compiles (Cython, in place): rebuilt when a source changes
COMPILED_SOURCES := $(shell find domain projections app -name '*.py' -not -name '__init__.py')

.PHONY: install run test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	CRM_EVENTS_COMPILE=0 $(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(VENV)/.compiled: $(VENV)/.installed setup.py $(COMPILED_SOURCES)
	CFLAGS=-w $(BIN)/python setup.py --quiet build_ext --inplace --parallel 2
	touch $@

install: $(VENV)/.compiled

run: install
	@echo "crm-events dev API key (X-API-Key): $(BRIDGE_API_KEYS)"
	$(BIN)/crm-events run

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check app domain projections tests bench setup.py

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf .run build *.egg-info $(VENV)/.compiled
	find app domain projections \( -name '*.so' -o -name '*.c' \) -delete
