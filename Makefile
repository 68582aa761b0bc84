# tconv: `make demo` and `make test` set everything up from scratch.
# demo installs the runtime dependencies only; test adds the peers the tests compare against.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
RUNTIME_STAMP := $(VENV)/.tconv-runtime
TEST_STAMP    := $(VENV)/.tconv-test

.PHONY: demo test bench bench-inverse bench-dask bench-kernel sanitize test-avx512-emulated lint clean chromium

NATIVE_SOURCES := setup.py $(wildcard src/tconv/core/_native/src/*)

# the compiled extension builds in pip install: a changed C source reinstalls
$(RUNTIME_STAMP): pyproject.toml $(NATIVE_SOURCES)
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

# the layer suite (benchmarks/results.md), then the inverse-problem rows (benchmarks/results-inverse.md)
bench: $(TEST_STAMP)
	$(PY) benchmarks/run.py
	$(PY) benchmarks/inverse.py --markdown benchmarks/results-inverse.md

# issue 20's inverse-problem rows against SciPy, PyTorch and PyLops (ratios with their spread)
bench-inverse: $(TEST_STAMP)
	$(PY) benchmarks/inverse.py --markdown benchmarks/results-inverse.md

# 1x1x512^3 float32 -> 4 GiB output through Dask into a Zarr store under /tmp (deleted afterwards)
bench-dask: $(TEST_STAMP)
	$(PY) benchmarks/dask_volume.py --markdown benchmarks/results-dask.md

# the compiled core's GEMM against NumPy and the FMA peak (1 and 2 threads)
bench-kernel: $(TEST_STAMP)
	$(PY) benchmarks/kernel.py

# the compiled core built with bounds checks (TC_DEBUG) and AddressSanitizer + UBSan into a copy of
# the sources under build-sanitize/, then its tests run against that copy
SANITIZE_DIR := build-sanitize
sanitize: $(TEST_STAMP)
	rm -rf $(SANITIZE_DIR) && mkdir -p $(SANITIZE_DIR)
	cp -r src setup.py pyproject.toml README.md $(SANITIZE_DIR)/
	find $(SANITIZE_DIR)/src -name '*.so' -delete
	cd $(SANITIZE_DIR) && TCONV_DEBUG_BUILD=1 TCONV_SANITIZE=1 ../$(PY) setup.py -q build_ext --inplace
	env PYTHONPATH=$(SANITIZE_DIR)/src LD_PRELOAD=$$(gcc -print-file-name=libasan.so) \
		ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		sh -c '$(PY) -c "import tconv.core._native as n; assert n.info()[\"debug_build\"], n.__file__; \
		print(\"sanitizer build:\", n.__file__)" && $(PY) -m pytest -p no:cacheprovider -q \
		tests/test_native_build.py tests/test_native_gemm.py tests/test_native_pool.py tests/test_native_conv.py \
		tests/test_native_direct.py tests/test_native_brgemm.py tests/test_compact.py tests/test_callcache.py'

# the compiled core's AVX-512 tests on an emulated Skylake-X (Bochs), for a host without AVX-512:
# root and apt needed, 15-25 minutes, not part of make test (dev/emulate-avx512.sh says how)
test-avx512-emulated: $(TEST_STAMP)
	dev/emulate-avx512.sh

clean:
	rm -rf $(VENV) build $(SANITIZE_DIR) build-emulate *.egg-info src/*.egg-info
