# tconv: `make demo` and `make test` set everything up from scratch.
# demo installs the runtime dependencies only; test adds the peers the tests compare against.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
RUNTIME_STAMP := $(VENV)/.tconv-runtime
TEST_STAMP    := $(VENV)/.tconv-test

.PHONY: demo test bench lint clean

$(RUNTIME_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $(RUNTIME_STAMP)

$(TEST_STAMP): $(RUNTIME_STAMP) pyproject.toml
	$(PY) -m pip install -q -e ".[test]"
	touch $(TEST_STAMP)

demo: $(RUNTIME_STAMP)
	$(VENV)/bin/tconv demo

lint: $(TEST_STAMP)
	$(PY) -m ruff check src tests $(wildcard benchmarks examples)

test: $(TEST_STAMP) lint
	$(PY) -m pytest -n 2 -p no:cacheprovider

bench: $(TEST_STAMP)
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
