# tconv: `make demo` and `make test` set everything up from scratch.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.tconv-installed

.PHONY: demo test bench bench-dask lint clean

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

# 1x1x512^3 float32 -> 4 GiB output through Dask into a Zarr store under /tmp (deleted afterwards)
bench-dask: $(STAMP)
	$(PY) benchmarks/dask_volume.py --markdown benchmarks/results-dask.md

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
