"""The half-sample symmetric boundary (``"symmetric"``: NumPy ``symmetric``, SciPy ndimage ``reflect``)
against NumPy's pad + PyTorch's valid conv and against ``scipy.ndimage.correlate``; its adjoint by
the dot test and column by column against the explicit matrix built from NumPy's pad."""

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
import torch.nn.functional as F

import tconv
from tconv.core.padding import Boundary

TORCH_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def _np_pad_conv(x, w, pads, stride=1, dilation=1, groups=1):
    """NumPy ``np.pad(mode="symmetric")``, then PyTorch's valid convolution (batched x)."""
    xp = np.pad(x, [(0, 0), (0, 0), *pads], mode="symmetric")
    return TORCH_CONV[w.ndim - 2](torch.tensor(xp), torch.tensor(w), stride=stride, dilation=dilation,
                                  groups=groups).numpy()


CASES = [((13,), (5,), ((2, 3),), 1, 1), ((9, 11), (3, 4), ((2, 1), (3, 0)), (2, 1), 1),
         ((6, 7, 5), (3, 2, 3), ((1, 2), (1, 0), (3, 2)), 1, (1, 2, 1)), ((8, 8), (3, 3), ((8, 8), (1, 1)), 1, 1)]


@pytest.mark.parametrize("shape,k,pads,stride,dilation", CASES)
def test_conv_matches_numpy_pad_then_torch(shape, k, pads, stride, dilation):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, *shape))
    w = rng.standard_normal((3, 2, *k))
    got = tconv.conv(x, w, stride=stride, padding=pads, dilation=dilation, padding_mode="symmetric")
    np.testing.assert_allclose(got, _np_pad_conv(x, w, pads, stride, dilation), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", ["auto", "direct", "fft"])
def test_same_conv_matches_ndimage_reflect(method):
    rng = np.random.default_rng(1)
    img = rng.standard_normal((40, 33))
    psf = rng.standard_normal((7, 5))
    want = ndi.correlate(img, psf, mode="reflect")  # SciPy's "reflect" is the half-sample symmetric mode
    got = tconv.conv(img[None], psf[None, None], padding="same", padding_mode="symmetric", method=method)[0]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    A = tconv.ConvOperator(psf, img.shape, padding="same", boundary="symmetric", method=method)  # a bare PSF
    np.testing.assert_allclose((A @ img.ravel()).reshape(img.shape), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stride", [1, 2])
def test_operator_adjoint_column_by_column(stride):
    rng = np.random.default_rng(2)
    psf = rng.standard_normal((1, 1, 4, 3))
    shape, pads = (7, 6), ((3, 2), (1, 2))
    A = tconv.ConvOperator(psf, shape, stride=stride, padding=pads, boundary="symmetric")
    assert tconv.testing.dottest(A, rng=3) < 1e-12
    # the explicit matrix from NumPy's pad: one column per unit image
    cols = []
    for i in range(A.shape[1]):
        e = np.zeros(A.shape[1])
        e[i] = 1
        cols.append(_np_pad_conv(e.reshape(1, 1, *shape), psf, pads, stride).ravel())
    M = np.stack(cols, axis=1)
    np.testing.assert_allclose(A.todense(), M, rtol=0, atol=1e-14)
    for j in range(A.shape[0]):  # rmatvec of every unit vector is a row of M
        e = np.zeros(A.shape[0])
        e[j] = 1
        np.testing.assert_allclose(A.rmatvec(e), M[j], rtol=0, atol=1e-14)


def test_conv_transpose_and_vjps():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 1, 9, 8))
    w = rng.standard_normal((2, 1, 3, 5))
    pads = ((1, 1), (2, 2))
    out = tconv.conv(x, w, padding=pads, padding_mode="symmetric")
    go = rng.standard_normal(out.shape)
    gx, gw, _ = tconv.conv_vjp(go, x, w, padding=pads, padding_mode="symmetric")
    # grad_x = P^T C^T go with P from NumPy's pad (its matrix, column by column)
    P = np.stack([np.pad(e.reshape(9, 8), pads, mode="symmetric").ravel() for e in np.eye(72)], axis=1)
    xp = torch.tensor(np.pad(x, [(0, 0), (0, 0), *pads], mode="symmetric"), requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    F.conv2d(xp, wt).backward(torch.tensor(go))
    np.testing.assert_allclose(gx.ravel(), P.T @ xp.grad.numpy().ravel(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gw, wt.grad.numpy(), rtol=1e-12, atol=1e-12)
    # conv_transpose with the boundary is that same adjoint
    ct = tconv.conv_transpose(go, w, padding=pads, padding_mode="symmetric")
    np.testing.assert_allclose(ct, gx, rtol=1e-12, atol=1e-12)


def test_boundary_operator_and_errors():
    b = Boundary("symmetric", ((3, 4),), (4,))
    np.testing.assert_array_equal(b.pad(np.arange(4.0)), np.pad(np.arange(4.0), (3, 4), mode="symmetric"))
    v = np.random.default_rng(5).standard_normal(11)
    np.testing.assert_allclose(b.fold(v), b.matrix().T @ v, rtol=1e-14)
    with pytest.raises(tconv.TconvError, match=r"padding \(5, 0\) on axis 0 must be at most the input size 4"):
        Boundary("symmetric", ((5, 0),), (4,))
    with pytest.raises(tconv.TconvError, match="must be one of zeros, reflect, replicate, circular, symmetric"):
        tconv.ConvOperator(np.ones((3, 3)), (8, 8), boundary="mirror")


def test_bare_psf_equals_the_batched_weight():
    psf = np.random.default_rng(6).standard_normal((5, 5))
    A = tconv.ConvOperator(psf, (16, 16), padding=2, boundary="symmetric")
    B = tconv.ConvOperator(psf[None, None], (16, 16), padding=2, boundary="symmetric")
    v = np.arange(256.0)
    np.testing.assert_array_equal(A @ v, B @ v)
    assert A.weight.shape == (1, 1, 5, 5)
