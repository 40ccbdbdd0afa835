# Two commands do all the set-up on a fresh machine: `make demo`, `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The folders that install as licwiz.<folder>.
PACKAGES := core app screens styles cli center server service
MYPY_SRC := $(VENV)/mypy-src/licwiz

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

# mypy cannot follow setuptools' editable finder (licwiz.core -> core/): it reads
# the same files through links named as they install.
$(MYPY_SRC): $(STAMP)
	mkdir -p $(MYPY_SRC)
	for d in $(PACKAGES); do ln -sfn "$(CURDIR)/$$d" "$(MYPY_SRC)/$$d"; done

demo: $(STAMP)
	$(BIN)/licwiz demo

lint: $(STAMP) $(MYPY_SRC)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

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
