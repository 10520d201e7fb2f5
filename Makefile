# Two entry points for a fresh machine: `make quickstart` and `make test`.
# Both create .venv with python3 -m venv and install the project when it is missing or stale.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.automl-installed
# two test processes (pytest-xdist): most tests wait on a subprocess's TensorFlow import or a store;
# `--dist loadgroup`: the tests sharing a module- or package-scoped fixture (a real study, a PostgreSQL cluster) run
# in one of them, which makes it once (tests/conftest.py groups them);
# `make test PYTEST_ARGS=--durations=40` runs them one at a time
PYTEST_ARGS ?= --durations=40 -n 2 --dist loadgroup

.PHONY: install quickstart test test-slow lint clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

quickstart: $(STAMP)
	$(BIN)/automl run pipelines/quickstart.yaml

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check automl tests benchmarks
	$(BIN)/mypy automl

clean:
	rm -rf mlruns .pytest_cache .mypy_cache .ruff_cache
