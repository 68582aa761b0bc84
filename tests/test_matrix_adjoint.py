"""conv_matrix against conv / conv_transpose, the dot-product test, and the seed numbers."""

import numpy as np
import pytest
from hypothesis import given
from reference import registry_supports
from strategies import cases

import tconv
from tconv.core.sparse import matrix_from_geometry

ALGOS = sorted(tconv.ALGORITHMS)


def _conv_params(case):
    return dict(stride=case.stride, dilation=case.dilation, groups=case.groups)


@pytest.mark.parametrize("method", ALGOS)
@given(case=cases())
def test_matrix_and_dot_test(method, case):
    """conv_transpose == C^T y, conv == C x, and <C x, y> == <x, C^T y> in float64."""
    _, w, _ = case.arrays()
    w = w.astype(np.float64)
    rng = np.random.default_rng(case.seed)
    y = rng.standard_normal((case.cin, *case.in_shape))
    # the conv whose adjoint this is: same weight, the transpose's output shape
    geom = tconv.conv_transpose_geometry(w.shape, case.in_shape, case.stride, case.padding,
                                         case.output_padding, case.dilation, case.groups)
    if not (registry_supports(method, geom, np.float64, "conv_transpose")
            and registry_supports(method, geom, np.float64, "conv")):
        return
    xt = tconv.conv_transpose(y, w, **case.kwargs(), method=method)
    img_shape = xt.shape[1:]
    C = matrix_from_geometry(w, geom)
    np.testing.assert_allclose(xt.ravel(), C.T @ y.ravel(), rtol=1e-11, atol=1e-11)
    x = rng.standard_normal((case.cout, *img_shape))
    yc = tconv.ALGORITHMS[method].conv(x[None], w, geom)[0]
    np.testing.assert_allclose(yc.ravel(), C @ x.ravel(), rtol=1e-11, atol=1e-11)
    lhs, rhs = np.vdot(yc, y), np.vdot(x, xt)
    assert abs(lhs - rhs) <= 1e-12 * max(abs(lhs), abs(rhs), 1.0)


@given(case=cases())
def test_conv_matrix_public(case):
    """The public conv_matrix (conv's own parameters) against conv and conv_transpose."""
    _, w, _ = case.arrays()
    w = w.astype(np.float64)
    rng = np.random.default_rng(case.seed)
    n = tconv.conv_transpose_output_shape(case.in_shape, case.kernel, case.stride, 0, 0, case.dilation)
    pad = case.padding
    C = tconv.conv_matrix(w, n, padding=pad, **_conv_params(case))
    x = rng.standard_normal((case.cout, *n))
    y = tconv.conv(x, w, padding=pad, **_conv_params(case))
    np.testing.assert_allclose(C @ x.ravel(), y.ravel(), rtol=1e-11, atol=1e-11)
    if pad != "same":  # conv_transpose with the same pads and output_size is C^T
        yy = rng.standard_normal(y.shape)
        xt = tconv.conv_transpose(yy, w, padding=pad, output_size=n, **_conv_params(case))
        np.testing.assert_allclose(C.T @ yy.ravel(), xt.ravel(), rtol=1e-11, atol=1e-11)


SEED_C = np.array([
    [1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0, 0, 0, 0, 0],
    [0, 1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0, 0, 0, 0],
    [0, 0, 0, 0, 1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0],
    [0, 0, 0, 0, 0, 1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9],
])
SEED_AB = np.array([[285, 186, 154, 94], [186, 285, 106, 154], [154, 106, 285, 186], [94, 154, 186, 285]])
SEED_BA_ROWS = {  # the rows the article prints
    0: [1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0, 0, 0, 0, 0],
    1: [2, 5, 8, 3, 8, 14, 17, 6, 14, 23, 26, 9, 0, 0, 0, 0],
    2: [3, 8, 13, 6, 12, 23, 28, 12, 21, 38, 43, 18, 0, 0, 0, 0],
    13: [0, 0, 0, 0, 8, 23, 38, 21, 32, 68, 83, 42, 56, 113, 128, 63],
    14: [0, 0, 0, 0, 9, 26, 43, 24, 36, 77, 94, 48, 63, 128, 145, 72],
    15: [0, 0, 0, 0, 0, 9, 18, 27, 0, 36, 45, 54, 0, 63, 72, 81],
}


def test_seed_example_exact():
    from tconv.tools.seed import seed_example

    ex = seed_example()
    np.testing.assert_array_equal(ex.C, SEED_C)
    np.testing.assert_array_equal(ex.CT, SEED_C.T)
    np.testing.assert_array_equal(ex.AB, SEED_AB)
    for i, row in SEED_BA_ROWS.items():
        np.testing.assert_array_equal(ex.BA[i], row)
    assert ex.BA.shape == (16, 16)
    for name, res in ex.by_algorithm.items():
        np.testing.assert_array_equal(res, ex.reference, err_msg=name)


def test_seed_file_numbers():
    """Cross-check against the article text itself (a copy of shared/seed lives in tests/data)."""
    import pathlib
    import re

    path = pathlib.Path(__file__).resolve().parent / "data" / "transposed-convolution.txt"
    text = path.read_text()
    ab = re.search(r"AB = \\begin\{bmatrix\}(.*?)\\end\{bmatrix\}", text).group(1)
    rows = [[int(v) for v in r.split("&")] for r in ab.split("\\\\")]
    np.testing.assert_array_equal(np.array(rows), SEED_AB)


def test_conv_matrix_large_is_vectorised():
    rng = np.random.default_rng(9)
    w = rng.standard_normal((1, 1, 5, 5))
    C = tconv.conv_matrix(w, (512, 512))
    assert C.shape == (508 * 508, 512 * 512) and C.nnz == 508 * 508 * 25
    x = rng.standard_normal((1, 512, 512))
    import torch

    want = torch.nn.functional.conv2d(torch.tensor(x[None]), torch.tensor(w)).numpy().ravel()
    np.testing.assert_allclose(C @ x.ravel(), want, rtol=1e-10, atol=1e-10)


def test_conv_matrix_formats_and_errors():
    w = np.ones((2, 1, 3))
    assert tconv.conv_matrix(w, (6,), format="coo").format == "coo"
    with pytest.raises(ValueError, match="format='dense'"):
        tconv.conv_matrix(w, (6,), format="dense")
    with pytest.raises(ValueError, match="input_shape"):
        tconv.conv_matrix(w, (6, 6))


def test_four_spatial_axes_fallbacks():
    """4-D: the NumPy paths of gemm/zero_insertion and the tap-by-tap weight gradient, against the
    sparse matrix, the definition and one-hot weight probes (no framework has 4-D convolutions)."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 2, 3, 2, 3, 2))
    w = rng.standard_normal((2, 3, 2, 1, 2, 2))
    kw = dict(stride=(2, 1, 1, 2), padding=((1, 0), 0, (0, 1), 1), dilation=(1, 1, 2, 1))
    ref = tconv.conv_transpose(x, w, **kw, method="scatter")
    geom = tconv.conv_transpose_geometry(w.shape, x.shape[2:], kw["stride"], kw["padding"], 0, kw["dilation"])
    C = matrix_from_geometry(w, geom)
    np.testing.assert_allclose(ref[0].ravel(), C.T @ x[0].ravel(), rtol=1e-12, atol=1e-12)
    for method in ("gemm", "zero_insertion", "matrix", "auto"):
        np.testing.assert_allclose(tconv.conv_transpose(x, w, **kw, method=method), ref, rtol=1e-12, atol=1e-12)
    go = rng.standard_normal(ref.shape)
    gx, gw, _ = tconv.conv_transpose_vjp(go, x, w, **kw)
    for n in range(2):  # the input gradient of conv_transpose is C (conv) of the output gradient
        np.testing.assert_allclose(gx[n].ravel(), C @ go[n].ravel(), rtol=1e-12, atol=1e-12)
    for idx in [tuple(rng.integers(0, s) for s in w.shape) for _ in range(6)]:
        e = np.zeros_like(w)
        e[idx] = 1.0
        probe = float(np.sum(go * tconv.conv_transpose(x, e, **kw, method="scatter")))
        assert abs(probe - gw[idx]) <= 1e-10 * max(1.0, abs(probe))


@pytest.mark.parametrize("method", ALGOS)
def test_four_spatial_axes_over_the_registry(method):
    """A 4-D geometry: algorithms that support it against the sparse matrix; the others are counted."""
    rng = np.random.default_rng(4)
    w = rng.standard_normal((2, 3, 2, 1, 2, 2))
    geom = tconv.conv_transpose_geometry(w.shape, (3, 2, 3, 2), stride=(2, 1, 1, 2),
                                         padding=((1, 0), (0, 0), (1, 1), (0, 1)))
    C = matrix_from_geometry(w, geom)
    y = rng.standard_normal((2, 2, 3, 2, 3, 2))
    x = rng.standard_normal((2, 3, *geom.x_shape))
    for op, arg, want in (("conv_transpose", y, (C.T @ y.reshape(2, -1).T).T),
                          ("conv", x, (C @ x.reshape(2, -1).T).T)):
        if registry_supports(method, geom, np.float64, op):
            got = tconv.ALGORITHMS[method].run(op, arg, w, geom)
            np.testing.assert_allclose(got.reshape(2, -1), want, rtol=1e-11, atol=1e-11)
