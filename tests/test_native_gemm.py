"""The compiled core's GEMM against a float64 NumPy reference, on every instruction set the host
runs: float32 and float64, odd sizes, transposed and strided operands, beta 0 and 1, NaN/Inf,
thread counts, and concurrent callers.

Tolerance: a dot product of length k summed in floating point has error at most
``gamma_k * sum_p |a_ip| |b_pj|`` with ``gamma_k = k u / (1 - k u)`` (Higham, Accuracy and
Stability, 3.1), u the unit roundoff; the output's own rounding and the alpha/beta update add a
few u. The tests assert that bound elementwise, so the float32 tolerance grows with k exactly as
the worst case does.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from native_support import ISA_PARAMS, native_required  # noqa: F401  (autouse fixture)

from tconv.core import _native

DTYPES = [np.float32, np.float64]
SHAPES = [(1, 1, 1), (1, 300, 7), (300, 1, 5), (5, 7, 300), (13, 33, 257), (31, 17, 1), (97, 129, 64),
          (300, 299, 298), (12, 32, 256), (6, 16, 513), (250, 37, 3), (64, 45, 300)]


@pytest.fixture(params=ISA_PARAMS)
def isa(request):
    with _native.use_isa(request.param):
        yield request.param


def bound(a, b, c0, alpha, beta, dtype):
    """Elementwise error bound of ``alpha * a @ b + beta * c0`` computed in ``dtype``."""
    u = np.finfo(dtype).eps / 2
    k = a.shape[1]
    gamma = (k + 3) * u / (1 - (k + 3) * u)
    mag = abs(alpha) * (np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64)))
    if beta:
        mag = mag + np.abs(c0.astype(np.float64))
    return gamma * mag + np.finfo(dtype).tiny


def reference(a, b, c0, alpha, beta):
    r = alpha * (a.astype(np.float64) @ b.astype(np.float64))
    return r + c0.astype(np.float64) if beta else r


def operands(rng, m, n, k, dtype, layout):
    """a (m, k), b (k, n), out (m, n) in the memory layout named by ``layout``."""
    def make(rows, cols, how):
        if how == "c":
            return rng.standard_normal((rows, cols)).astype(dtype)
        if how == "t":  # a transposed view: column-major
            return rng.standard_normal((cols, rows)).astype(dtype).T
        if how == "s":  # every other row and column of a bigger array, one axis reversed
            return rng.standard_normal((2 * rows, 3 * cols)).astype(dtype)[::2, ::-3]
        raise AssertionError(how)
    la, lb, lc = layout
    return make(m, k, la), make(k, n, lb), make(m, n, lc)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_gemm_matches_float64_reference(isa, dtype, shape):
    rng = np.random.default_rng(hash(shape) % 2**32)
    m, n, k = shape
    a, b, c = operands(rng, m, n, k, dtype, "ccc")
    c[...] = np.nan  # beta = 0 must not read out
    _native.gemm(a, b, c)
    np.testing.assert_array_less(np.abs(c - reference(a, b, c, 1.0, 0)), bound(a, b, c, 1.0, 0, dtype))


@pytest.mark.parametrize("layout", ["tcc", "ctc", "cct", "ttt", "scs", "css", "sss"])
@pytest.mark.parametrize("beta", [0, 1])
@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_strided_operands_and_beta(isa, dtype, beta, layout):
    rng = np.random.default_rng(7)
    for m, n, k in [(37, 45, 300), (1, 64, 17), (130, 3, 9)]:
        a, b, c = operands(rng, m, n, k, dtype, layout)
        c0 = c.copy()
        alpha = -0.5 if beta else 2.0
        _native.gemm(a, b, c, alpha=alpha, beta=beta)
        err = np.abs(c - reference(a, b, c0, alpha, beta))
        np.testing.assert_array_less(err, bound(a, b, c0, alpha, beta, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_k_zero_and_empty(isa, dtype):
    a, b = np.ones((4, 0), dtype), np.ones((0, 5), dtype)
    c = np.full((4, 5), np.nan, dtype)
    _native.gemm(a, b, c)
    assert (c == 0).all()
    c[...] = 3
    _native.gemm(a, b, c, beta=1)
    assert (c == 3).all()
    assert _native.gemm(np.ones((0, 3), dtype), np.ones((3, 2), dtype)).shape == (0, 2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_and_inf_propagate_like_numpy(isa, dtype):
    rng = np.random.default_rng(3)
    m, n, k = 29, 41, 67
    a = rng.random((m, k)).astype(dtype) + 0.5
    b = rng.random((k, n)).astype(dtype) + 0.5
    a[3, 10] = np.nan
    a[5, 0] = np.inf
    a[6, 1], a[6, 2] = np.inf, -np.inf
    b[20, 7] = np.nan
    b[30, 9] = -np.inf
    c = _native.gemm(a, b)
    with np.errstate(invalid="ignore"):
        ref = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_array_equal(np.isnan(c), np.isnan(ref))
    np.testing.assert_array_equal(np.isposinf(c), np.isposinf(ref))
    np.testing.assert_array_equal(np.isneginf(c), np.isneginf(ref))
    assert np.isnan(c[3]).all() and np.isnan(c[:, 7]).all() and np.isnan(c[6]).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_thread_counts_give_identical_results(isa, dtype):
    """The reduction order of every element is independent of the thread count: bit-identical."""
    rng = np.random.default_rng(11)
    for m, n, k in [(301, 263, 517), (20, 5003, 300)]:  # row and column splits (a short A: columns)
        a = rng.standard_normal((m, k)).astype(dtype)
        b = rng.standard_normal((k, n)).astype(dtype)
        results = [_native.gemm(a, b, threads=t) for t in (1, 2, 3)]
        np.testing.assert_array_less(np.abs(results[0] - reference(a, b, None, 1.0, 0)),
                                     bound(a, b, None, 1.0, 0, dtype))
        for r in results[1:]:
            np.testing.assert_array_equal(r, results[0])


def test_set_num_threads_sizes_the_pool(isa):
    before = _native.get_num_threads()
    rng = np.random.default_rng(5)
    a, b = rng.random((200, 300)), rng.random((300, 250))
    want = _native.gemm(a, b, threads=1)
    try:
        for t in (1, 2, 3):
            _native.set_num_threads(t)
            assert _native.get_num_threads() == _native.info()["threads"] == t
            np.testing.assert_array_equal(_native.gemm(a, b), want)
    finally:
        _native.set_num_threads(before)


def test_eight_python_threads_at_once(isa):
    """Concurrent callers: one takes the pool, the others run on their own threads; all exact."""
    rng = np.random.default_rng(13)
    cases = [(rng.standard_normal((150 + i, 200)).astype(np.float32),
              rng.standard_normal((200, 170 - i)).astype(np.float32)) for i in range(8)]
    want = [_native.gemm(a, b, threads=1) for a, b in cases]
    got: list = [None] * 8
    errors: list = []
    start = threading.Barrier(8)

    def work(i):
        try:
            start.wait()
            for _ in range(5):
                got[i] = _native.gemm(*cases[i])
                np.testing.assert_array_equal(got[i], want[i])
        except Exception as exc:  # reported below, with the thread's index
            errors.append((i, exc))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)
