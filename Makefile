# tconv: `make demo` and `make test` set everything up from scratch.
# demo installs the runtime dependencies only; test adds the peers the tests compare against.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
RUNTIME_STAMP := $(VENV)/.tconv-runtime
TEST_STAMP    := $(VENV)/.tconv-test

.PHONY: demo test bench bench-inverse bench-dask lint clean chromium

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

test: $(TEST_STAMP) chromium lint
	$(PY) -m pytest -n 2 -p no:cacheprovider

# the explorer's browser tests drive Debian's Chromium (Playwright cannot download browsers here);
# CI is root on Debian, so install it there; elsewhere the browser tests say why they skip
chromium:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; \
	fi

bench: $(TEST_STAMP)
	$(PY) benchmarks/run.py

# issue 20's inverse-problem rows against SciPy, PyTorch and PyLops (ratios with their spread)
bench-inverse: $(TEST_STAMP)
	$(PY) benchmarks/inverse.py --markdown benchmarks/results-inverse.md

# 1x1x512^3 float32 -> 4 GiB output through Dask into a Zarr store under /tmp (deleted afterwards)
bench-dask: $(STAMP)
	$(PY) benchmarks/dask_volume.py --markdown benchmarks/results-dask.md

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
