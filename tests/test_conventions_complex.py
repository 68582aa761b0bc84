"""Complex data (complex64/complex128) in conv_transpose, conv, both VJPs, conv_matrix and ConvOperator,
against PyTorch's complex convolutions and autograd (its conjugate convention), and the sparse matrix."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from reference import spec_pairs_transpose
from strategies import cases

import tconv

torch.set_num_threads(1)
TORCH_CT = {1: torch.nn.functional.conv_transpose1d, 2: torch.nn.functional.conv_transpose2d,
            3: torch.nn.functional.conv_transpose3d}
CDT = {np.float32: np.complex64, np.float64: np.complex128}
TOL = {np.complex64: 2e-4, np.complex128: 1e-10, np.float32: 2e-4, np.float64: 1e-10}


def _complexify(a, seed, which):
    if a is None or not which:
        return a
    rng = np.random.default_rng(seed)
    return (a + 1j * rng.standard_normal(a.shape)).astype(CDT[a.dtype.type])


def torch_conv_transpose(xt, wt, bt, stride, padding, output_padding, groups, dilation):
    """PyTorch's transposed convolution on tensors (differentiable), tconv's padding forms mapped by
    cropping / zero-extending the uncropped output (as tests/reference.py, kept in torch)."""
    nd = wt.ndim - 2
    s, d, op = (tuple(v) if not isinstance(v, int) else (v,) * nd for v in (stride, dilation, output_padding))
    pairs = spec_pairs_transpose(padding, nd, tuple(wt.shape[2:]), s, d, op)
    full = TORCH_CT[nd](xt if xt.ndim == nd + 2 else xt[None], wt, None, stride=s, padding=0, groups=groups,
                        dilation=d)
    pad_arg = []
    for (lo, hi), a in reversed(list(zip(pairs, op))):
        pad_arg += [-lo, a - hi]
    out = torch.nn.functional.pad(full, pad_arg)
    if bt is not None:
        out = out + bt.reshape((1, -1) + (1,) * nd)
    return out if xt.ndim == nd + 2 else out[0]


def _torch_ct(case, x, w, b):
    def t(a):
        return None if a is None else torch.from_numpy(np.ascontiguousarray(a))

    dt = np.result_type(x, w, *([] if b is None else [b]))
    x, w = x.astype(dt), w.astype(dt)
    b = None if b is None else b.astype(dt)
    return torch_conv_transpose(t(x), t(w), t(b), case.stride, case.padding, case.output_padding, case.groups,
                                case.dilation)


@given(cases(), st.sampled_from(["xw", "x", "w", "b"]))
def test_conv_transpose_matches_torch_complex(case, which):
    x, w, b = case.arrays()
    x = _complexify(x, case.seed, "x" in which)
    w = _complexify(w, case.seed + 1, "w" in which)
    b = _complexify(b, case.seed + 2, which == "b")
    got = tconv.conv_transpose(x, w, b, **case.kwargs())
    want = _torch_ct(case, x, w, b).numpy()
    assert got.dtype == want.dtype and got.shape == want.shape
    scale = 1 + np.abs(want).max()
    np.testing.assert_allclose(got, want, rtol=TOL[got.dtype.type], atol=TOL[got.dtype.type] * scale)


@given(cases(dims=(1, 2)))
def test_vjps_match_torch_complex_autograd(case):
    x, w, b = case.arrays()
    x, w = _complexify(x, case.seed, True), _complexify(w, case.seed + 1, True)
    b = _complexify(b, case.seed + 2, True)
    xt, wt = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(w).requires_grad_(True)
    bt = None if b is None else torch.from_numpy(b).requires_grad_(True)
    y = torch_conv_transpose(xt, wt, bt, case.stride, case.padding, case.output_padding, case.groups, case.dilation)
    g = _complexify(np.random.default_rng(case.seed + 3).standard_normal(tuple(y.shape)).astype(x.real.dtype),
                    case.seed + 4, True)
    want = torch.autograd.grad(y, [a for a in (xt, wt, bt) if a is not None], torch.from_numpy(g))
    got = tconv.conv_transpose_vjp(g, x, w, b, **case.kwargs())
    tol = TOL[x.dtype.type]
    for a, e in zip(got, want):
        np.testing.assert_allclose(a, e.numpy(), rtol=tol, atol=tol * (1 + np.abs(e.numpy()).max()))
    # conv's VJP: grad_x of conv is conv_transpose with conj(w) (A^H), checked on the same data
    if case.padding != "same":
        kw = {k: v for k, v in case.kwargs().items() if k != "output_padding"}
        z = tconv.conv_transpose(x, w, **case.kwargs())
        if tconv.conv(z, w, **kw).shape != x.shape:  # output_padding >= stride: conv reads fewer positions
            return
        gz, _, _ = tconv.conv_vjp(x, z, w, **kw)
        want_gz = tconv.conv_transpose(x, np.conj(w), **case.kwargs())
        np.testing.assert_allclose(gz, want_gz, rtol=tol, atol=tol * (1 + np.abs(want_gz).max()))


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_conv_matches_torch_and_the_sparse_matrix(dtype):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((2, 4, 7, 6)) + 1j * rng.standard_normal((2, 4, 7, 6))).astype(dtype)
    w = (rng.standard_normal((6, 2, 3, 2)) + 1j * rng.standard_normal((6, 2, 3, 2))).astype(dtype)
    kw = dict(stride=(2, 1), padding=((1, 0), (2, 1)), dilation=(1, 2), groups=2)
    got = tconv.conv(x, w, **kw)
    xp = torch.nn.functional.pad(torch.from_numpy(x), (2, 1, 1, 0))
    want = torch.nn.functional.conv2d(xp, torch.from_numpy(w), None, (2, 1), 0, (1, 2), 2).numpy()
    tol = TOL[dtype]
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())
    C = tconv.conv_matrix(w, (7, 6), **kw)
    assert C.dtype == dtype
    np.testing.assert_allclose((C @ x[0].ravel()).reshape(got[0].shape), got[0], rtol=tol, atol=tol * 10)
    y = got[0]
    back = tconv.conv_transpose(y, w, stride=(2, 1), padding=((1, 0), (2, 1)), dilation=(1, 2), groups=2,
                                output_size=(7, 6))
    np.testing.assert_allclose(back.ravel(), C.T @ y.ravel(), rtol=tol, atol=tol * np.abs(back).max())


@pytest.mark.parametrize("boundary", ["zeros", "reflect", "circular"])
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_operator_complex_adjoint_is_the_conjugate_transpose(boundary, dtype):
    rng = np.random.default_rng(1)
    w = (rng.standard_normal((2, 1, 3, 3)) + 1j * rng.standard_normal((2, 1, 3, 3))).astype(dtype)
    A = tconv.ConvOperator(w, (6, 5), stride=2, padding=1, boundary=boundary)
    assert A.dtype == dtype
    assert tconv.testing.dottest(A, rng=2) < (1e-5 if dtype == np.complex64 else 1e-12)
    M = A.todense()
    v = (rng.standard_normal(A.shape[0]) + 1j * rng.standard_normal(A.shape[0])).astype(dtype)
    tol = TOL[dtype]
    np.testing.assert_allclose(A.H.matvec(v), M.conj().T @ v, rtol=tol, atol=tol * 10)
    np.testing.assert_allclose(A.T.matvec(v), M.T @ v, rtol=tol, atol=tol * 10)
    np.testing.assert_allclose(A.H.todense(), M.conj().T)
    np.testing.assert_allclose(A.T.todense(), M.T)
    x = (rng.standard_normal(A.shape[1]) + 1j * rng.standard_normal(A.shape[1])).astype(dtype)
    np.testing.assert_allclose(A.matvec(x), M @ x, rtol=tol, atol=tol * 10)
    y = tconv.conv(x.reshape(1, 6, 5), w, stride=2, padding=1, padding_mode=boundary)
    np.testing.assert_allclose(A.matvec(x), y.ravel(), rtol=tol, atol=tol * 10)


def test_complex_composes_with_layouts_and_padding_mode():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 5, 6, 2)) + 1j * rng.standard_normal((1, 5, 6, 2))
    k = rng.standard_normal((3, 3, 2, 3)) + 1j * rng.standard_normal((3, 3, 2, 3))   # keras conv kernel
    got = tconv.conv(x, k, padding=1, padding_mode="reflect", data_format="channels_last", weight_format="keras")
    xt = torch.nn.functional.pad(torch.from_numpy(np.moveaxis(x, -1, 1)), (1, 1, 1, 1), mode="reflect")
    want = torch.nn.functional.conv2d(xt, torch.from_numpy(np.transpose(k, (3, 2, 0, 1)).copy())).numpy()
    np.testing.assert_allclose(got, np.moveaxis(want, 1, -1), rtol=1e-10, atol=1e-10)


def test_complex_rejected_where_it_cannot_go():
    with pytest.raises(tconv.TconvError, match="dtype=float64 must be float32 or float64 \\(or complex64/complex128; "
                                               "complex for a complex weight\\)"):
        tconv.ConvOperator(np.ones((1, 1, 3)) * 1j, (8,), dtype=np.float64)


def test_explain_says_how_complex_is_computed():
    text = str(tconv.explain((2, 4, 8, 8), (4, 2, 3, 3), stride=2, dtype="complex64"))
    assert "complex64 is computed with real arithmetic in float32" in text and "Gauss" in text
