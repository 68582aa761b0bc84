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
from reference import close, long_float32_reduction_errors, torch_conv, torch_conv_transpose, torch_ct_grads
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


@pytest.mark.parametrize("method", ["gemm", "zero_insertion", "direct"])
def test_fallback_long_float32_reductions_within_twice_torch_error(fallback, method):
    """Without the core, a 18432-term float32 reduction (2048 channels x 3x3: OpenBLAS's SGEMM for
    gemm and zero_insertion, in depth chunks summed in float64) stays within twice PyTorch's own
    float32 error against float64 (tests/test_reliability.py holds the core's algorithms to it)."""
    for name, err, torch_err in long_float32_reduction_errors(method):
        assert err <= 2 * torch_err, (name, err, torch_err)


@pytest.mark.parametrize("transa", [False, True])
@pytest.mark.parametrize("transb", [False, True])
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_blas_long_float32_depth_chunks(monkeypatch, transa, transb, beta):
    """Without the core, a deep float32 GEMM runs in depth chunks summed in float64 (over column
    blocks of C): every operand layout, offsets, leading dimensions wider than the matrix, both
    betas, against the float64 product (one SGEMM over the whole depth alongside, as a check of the test)."""
    from tconv.core import blas

    monkeypatch.setattr(blas, "BLAS_BLOCK_ELEMENTS", 7 * 5)  # several column blocks of C
    rng = np.random.default_rng(1)
    m, n, k = 7, 11, 5 * blas.BLAS_DEPTH_CHUNK + 37
    lda = (k if transa else m) + 3
    ldb = (n if transb else k) + 2
    ldc = m + 4
    a_off, b_off, c_off = 5, 3, 2
    a = (1e3 + rng.standard_normal(a_off + lda * (m if transa else k))).astype(np.float32)
    b = rng.standard_normal(b_off + ldb * (k if transb else n)).astype(np.float32)
    c0 = rng.standard_normal(c_off + ldc * n).astype(np.float32)

    def col_major(buf, off, ld, rows, cols):  # the (rows, cols) column-major matrix at off
        return np.lib.stride_tricks.as_strided(buf[off:], (rows, cols), (buf.itemsize, ld * buf.itemsize))

    opa = col_major(a, a_off, lda, k, m).T if transa else col_major(a, a_off, lda, m, k)
    opb = col_major(b, b_off, ldb, n, k).T if transb else col_major(b, b_off, ldb, k, n)
    want = opa.astype(np.float64) @ opb.astype(np.float64) + beta * col_major(c0, c_off, ldc, m, n)
    outs = {}
    for name, fn in (("chunks", blas._blas_long_f32), ("one sgemm", blas._blas)):
        c = c0.copy()
        fn(transa, transb, m, n, k, a, a_off, lda, b, b_off, ldb, c, c_off, ldc, beta)
        got = col_major(c, c_off, ldc, m, n)
        outs[name] = float(np.abs(got - want).max() / np.abs(want).max())
        untouched = np.ones(c.size, bool)
        untouched[[c_off + i + j * ldc for i in range(m) for j in range(n)]] = False
        assert np.array_equal(c[untouched], c0[untouched]), name  # only C's cells are written
    assert outs["chunks"] < 1e-6 and outs["one sgemm"] < 1e-6, outs
