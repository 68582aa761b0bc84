"""ConvOperator: exact adjoint for every boundary mode, sparse/dense forms, SciPy solvers."""

import numpy as np
import pytest
import scipy.sparse.linalg as spla
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from strategies import cases
from tconv.testing import DotTestError, dottest

import tconv

BOUNDARY_TORCH = {"reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def _op_from_case(case, boundary, dtype=np.float64):
    _, w, _ = case.arrays()
    # conv weight (C_out, C_in/g, *k): reuse the transpose weight as conv weight
    n = tconv.conv_transpose_output_shape(case.in_shape, case.kernel, case.stride, 0, 0, case.dilation)
    pad = case.padding
    if boundary != "zeros":
        # boundary padding must stay smaller than the input (reflect's rule)
        k_eff = [d * (k - 1) + 1 for k, d in zip(case.kernel, case.per_axis(case.dilation))]
        n = tuple(max(a, e + 1) for a, e in zip(n, k_eff))
        if pad not in ("same", "valid"):
            pad = tuple(min(p if isinstance(p, int) else max(p), a - 1) for p, a in
                        zip(case.per_axis(pad) if not isinstance(pad, int) else (pad,) * case.nd, n))
    return tconv.ConvOperator(w.astype(dtype), n, stride=case.stride, padding=pad, dilation=case.dilation,
                              groups=case.groups, boundary=boundary, dtype=dtype)


@pytest.mark.parametrize("boundary", tconv.api.operator.BOUNDARIES)
@given(case=cases())
def test_dot_test_float64(boundary, case):
    op = _op_from_case(case, boundary)
    assert dottest(op, rng=case.seed) <= 1e-12


@pytest.mark.parametrize("boundary", tconv.api.operator.BOUNDARIES)
@given(case=cases(dims=(1, 2)))
def test_dot_test_float32(boundary, case):
    op = _op_from_case(case, boundary, np.float32)
    assert op.dtype == np.float32
    assert op.matvec(np.ones(op.shape[1], np.float32)).dtype == np.float32
    dottest(op, rng=case.seed)


@given(case=cases(dims=(1, 2)))
def test_tosparse_equals_conv_matrix(case):
    op = _op_from_case(case, "zeros")
    _, w, _ = case.arrays()
    C = tconv.conv_matrix(w.astype(np.float64), op.input_shape, case.stride, case.padding,
                          case.dilation, case.groups)
    assert (op.tosparse() != C).nnz == 0
    assert op.shape == C.shape


@pytest.mark.parametrize("boundary", ["reflect", "replicate", "circular"])
@given(case=cases(dims=(1, 2), max_size=4), data=st.data())
def test_dense_columns_equal_pad_then_convolve(boundary, case, data):
    """todense() and matvec on unit vectors against torch's pad-then-convolve definition."""
    op = _op_from_case(case, boundary)
    dense = op.todense()
    cols = np.stack([op.matvec(e) for e in np.eye(op.shape[1])], axis=1)
    np.testing.assert_allclose(dense, cols, rtol=1e-12, atol=1e-12)
    j = data.draw(st.integers(0, op.shape[1] - 1))
    x = np.zeros(op.shape[1])
    x[j] = 1.0
    xt = torch.from_numpy(x.reshape(1, op.geometry.x_channels, *op.input_shape))
    pad = []
    for lo, hi in reversed(op.pads):
        pad += [lo, hi]
    padded = F.pad(xt, pad, mode=BOUNDARY_TORCH[boundary]) if any(pad) else xt
    nd = len(op.input_shape)
    conv = {1: F.conv1d, 2: F.conv2d}[nd]
    want = conv(padded, torch.from_numpy(op.weight), stride=op.geometry.stride,
                dilation=op.geometry.dilation, groups=op.geometry.groups).numpy().ravel()
    np.testing.assert_allclose(cols[:, j], want, rtol=1e-12, atol=1e-12)
    # the adjoint is the transpose of that matrix, not "correlate with the same boundary"
    np.testing.assert_allclose(op.T.todense(), dense.T)
    np.testing.assert_allclose(np.stack([op.rmatvec(e) for e in np.eye(op.shape[0])], 1), dense.T,
                               rtol=1e-12, atol=1e-12)


def test_same_padding_even_kernel_is_an_exact_pair():
    for boundary in tconv.api.operator.BOUNDARIES:
        op = tconv.ConvOperator(np.random.default_rng(0).standard_normal((2, 3, 4, 2)), (9, 8),
                                padding="same", boundary=boundary)
        assert op.shape == (2 * 72, 3 * 72)
        assert dottest(op, rng=1) <= 1e-12
        np.testing.assert_allclose(op.H.todense(), op.todense().T)


def test_scipy_protocol():
    rng = np.random.default_rng(0)
    A = tconv.ConvOperator(rng.standard_normal((2, 1, 3, 3)), (6, 7), stride=2, padding=1)
    assert A.shape == (2 * 3 * 4, 42) and A.dtype == np.float64
    x, y = rng.standard_normal(42), rng.standard_normal(24)
    D = A.todense()
    np.testing.assert_allclose(A @ x, D @ x)
    np.testing.assert_allclose(A.T @ y, D.T @ y)
    np.testing.assert_allclose(A.H.matvec(y), D.T @ y)
    np.testing.assert_allclose(A.adjoint().matvec(y), D.T @ y)
    np.testing.assert_allclose(A.rmatvec(y), D.T @ y)
    X = rng.standard_normal((42, 3))
    np.testing.assert_allclose(A.matmat(X), D @ X)
    np.testing.assert_allclose(A.rmatmat(rng.standard_normal((24, 2))).shape, (42, 2))
    np.testing.assert_allclose((A.T @ A).matvec(x), D.T @ D @ x)
    np.testing.assert_allclose((A + A).matvec(x), 2 * D @ x)
    np.testing.assert_allclose((3 * A).matvec(x), 3 * D @ x)
    np.testing.assert_allclose(A.matvec(x[:, None]).shape, (24, 1))


def test_lsqr_and_cg_run_unchanged():
    rng = np.random.default_rng(0)
    A = tconv.ConvOperator(rng.random((1, 1, 3, 3)) + 0.1, (10, 10), padding=1, boundary="reflect")
    x_true = rng.standard_normal(100)
    y = A @ x_true
    sol = spla.lsqr(A, y, atol=1e-12, btol=1e-12, iter_lim=2000)[0]
    assert np.linalg.norm(A @ sol - y) < 1e-6 * np.linalg.norm(y)
    N = A.T @ A
    xc, info = spla.cg(N, A.T @ y, rtol=1e-12, maxiter=2000)
    assert info == 0
    assert np.linalg.norm(N @ xc - A.T @ y) < 1e-8 * np.linalg.norm(A.T @ y)


def test_dottest_reports_both_numbers():
    class Broken(spla.LinearOperator):
        def __init__(self):
            super().__init__(np.float64, (3, 3))

        def _matvec(self, x):
            return 2 * x

        def _rmatvec(self, x):
            return x

    with pytest.raises(DotTestError, match=r"<A u, v> = .* but <u, A\^T v> = "):
        dottest(Broken(), rng=0)


BAD = [
    (lambda: tconv.ConvOperator(np.ones((1, 1, 3)), (8,), boundary="mirror"), "boundary='mirror' must be one of"),
    (lambda: tconv.ConvOperator(np.ones((1, 1, 3)), (8, 8)), "input_shape=(8, 8) has 2 spatial axes but the weight (1, 1, 3) has 1"),
    (lambda: tconv.ConvOperator(np.ones((1, 1, 3)), (3,), padding=3, boundary="reflect"), "smaller than the input size 3"),
    (lambda: tconv.ConvOperator(np.ones((1, 1, 3)), (8,)).matvec(np.ones(7)), "x has shape (7,)"),
    (lambda: tconv.ConvOperator(np.ones((1, 1, 3)), (8,)).rmatvec(np.ones(8)), "y has shape (8,)"),
    (lambda: tconv.ConvOperator(np.ones((1, 1, 3)), (8,), dtype=np.int32), "dtype=int32 must be float32 or float64"),
]


@pytest.mark.parametrize("i", range(len(BAD)))
def test_operator_errors(i):
    fn, frag = BAD[i]
    with pytest.raises(ValueError) as info:
        fn()
    assert frag in str(info.value)
