# Two commands do all the set-up on a fresh machine: `make demo`, `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The folders that install as licwiz.<folder>.
PACKAGES := core app screens styles cli center server service
MYPY_SRC := $(VENV)/mypy-src/licwiz
LOWEST := .venv-lowest

.PHONY: demo test lint bench clean wheel-check test-lowest catalogs

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

# The Russian (and any other) catalog: core/locale/<lang>/*.po -> LC_MESSAGES/licwiz.mo.
catalogs: $(STAMP)
	$(BIN)/python packaging/compile_catalogs.py

demo: $(STAMP) catalogs
	$(BIN)/licwiz demo

lint: $(STAMP) $(MYPY_SRC)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/mypy --strict packaging/lowest-constraints.py packaging/compile_catalogs.py
	$(BIN)/lint-imports

test: lint catalogs
	$(BIN)/pytest -q

# The wheel builds without a warning and works installed outside the checkout.
wheel-check:
	bash packaging/wheel-check.sh

# Every direct dependency at its floor (pyproject.toml): core, CLI and center API tests.
test-lowest:
	rm -rf $(LOWEST)
	$(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/pip install -q --upgrade pip
	$(PYTHON) packaging/lowest-constraints.py --extras center,server -o $(LOWEST)/constraints.txt
	$(LOWEST)/bin/pip install -q -c $(LOWEST)/constraints.txt -e '.[center,server,test]'
	$(LOWEST)/bin/python packaging/compile_catalogs.py
	$(LOWEST)/bin/pytest -q -p no:cacheprovider tests/core tests/acquire tests/center/test_center_api.py

# Each prints its figures next to a baseline measured in the same run.
bench: $(STAMP)
	$(BIN)/python bench/core.py
	$(BIN)/python bench/wizard.py
	$(BIN)/python bench/offline.py
	$(BIN)/python bench/seats.py
	$(BIN)/python bench/center.py

clean:
	rm -rf $(VENV) $(LOWEST) .pytest_cache .mypy_cache .ruff_cache
