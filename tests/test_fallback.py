"""The NumPy fallback (no compiled core: ``TCONV_NATIVE=0``, or a build that failed) on a sample
of the parity suite against PyTorch: direct and gemm (and auto) for conv_transpose, conv and the
weight gradient, switched in-process with ``tconv.core._native.disabled()``; ``explain`` says which
core runs, in-process and in a fresh process with ``TCONV_NATIVE=0``."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from reference import close, torch_conv, torch_conv_transpose, torch_ct_grads
from strategies import cases

import tconv
from tconv.core import _native, planner

# the fallback fixture holds for every generated case (that is the point): not a health problem
QUIET = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]


@pytest.fixture()
def fallback():
    planner.plan.cache_clear()  # plans depend on which core runs
    with _native.disabled():
        yield
    planner.plan.cache_clear()


@pytest.mark.parametrize("method", ["direct", "gemm", "auto"])
@settings(max_examples=25, suppress_health_check=QUIET)
@given(case=cases())
def test_fallback_conv_transpose_and_conv_match_torch(fallback, method, case):
    x, w, b = case.arrays()
    got = tconv.conv_transpose(x, w, b, **case.kwargs(), method=method)
    xb = x if case.batch is not None else x[None]
    want = torch_conv_transpose(xb, w, b, case.stride, case.padding, case.output_padding, case.groups,
                                case.dilation)
    close(got, want if case.batch is not None else want[0], case.dtype, f"{method} {case}")
    # conv on the shape whose conv_transpose input this is (as test_parity_torch), the same weight
    out_shape = tconv.conv_transpose_output_shape(case.in_shape, case.kernel, case.stride,
                                                  case.padding if case.padding != "same" else 0, 0, case.dilation)
    shape = (case.cout, *out_shape) if case.batch is None else (case.batch, case.cout, *out_shape)
    img = np.random.default_rng(case.seed + 1).standard_normal(shape).astype(case.dtype)
    c = tconv.conv(img, w, stride=case.stride, padding=case.padding, dilation=case.dilation,
                   groups=case.groups, method=method)
    ib = img if case.batch is not None else img[None]
    cw = torch_conv(ib, w, None, case.stride, case.padding, case.dilation, case.groups)
    close(c, cw if case.batch is not None else cw[0], case.dtype, f"conv {method} {case}")


@pytest.mark.parametrize("method", ["direct", "gemm"])
@settings(max_examples=20, suppress_health_check=QUIET)
@given(case=cases())
def test_fallback_weight_gradient_matches_autograd(fallback, method, case):
    x, w, _ = case.arrays()
    xb = x if case.batch is not None else x[None]
    out = tconv.conv_transpose(xb, w, **case.kwargs())
    go = np.random.default_rng(case.seed + 5).standard_normal(out.shape).astype(case.dtype)
    _, tw, _ = torch_ct_grads(case, x, w, None, go if case.batch is not None else go[0])
    _, gw, _ = tconv.conv_transpose_vjp(go, xb, w, **case.kwargs(), method=method)
    assert gw.dtype == case.dtype
    close(gw, tw, case.dtype, f"{method} {case}")


def test_explain_says_which_core_runs(fallback):
    text = str(tconv.explain((1, 21, 128, 128), (21, 1, 4, 4), stride=2, padding=1, groups=21))
    why = "disabled by TCONV_NATIVE=0" if os.environ.get("TCONV_NATIVE", "").strip() == "0" else "switched off"
    assert f"compiled core: NumPy fallback ({why}" in text


def test_explain_native_and_tconv_native_0():
    if _native.available():
        assert f"compiled core: native {_native.get_isa()}" in str(tconv.explain((1, 1, 8), (1, 1, 3)))
    env = dict(os.environ, TCONV_NATIVE="0")
    code = "import tconv; print(tconv.explain((1, 1, 8), (1, 1, 3)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "compiled core: NumPy fallback (disabled by TCONV_NATIVE=0)" in proc.stdout


def test_fallback_costs_more_than_native():
    """supports()/cost() know which runs: the planner's direct estimate grows without the core."""
    geom = tconv.conv_transpose_geometry((1, 1, 3, 3), (256, 256), 1, 1)
    direct = tconv.ALGORITHMS["direct"]
    with _native.disabled():
        slow = direct.cost(geom, 1, 4, "conv_transpose")
    fast = direct.cost(geom, 1, 4, "conv_transpose")
    assert slow > fast if _native.available() else slow == fast
