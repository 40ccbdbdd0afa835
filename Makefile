# Two commands do all the set-up on a fresh machine: `make demo`, `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/licwiz demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy --strict core

test: lint
	$(BIN)/pytest -q

# Each prints its figures next to a baseline measured in the same run.
bench: $(STAMP)
	$(BIN)/python bench/core.py
	$(BIN)/python bench/wizard.py
	$(BIN)/python bench/offline.py
	$(BIN)/python bench/seats.py --pg
	$(BIN)/python bench/center.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
