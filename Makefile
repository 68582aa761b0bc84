# tconv: `make demo` and `make test` set everything up from scratch.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.tconv-installed

.PHONY: demo test bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/tconv demo

lint: $(STAMP)
	$(PY) -m ruff check src tests $(wildcard benchmarks examples)

test: $(STAMP) lint
	$(PY) -m pytest -n 2 -p no:cacheprovider

bench: $(STAMP)
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
