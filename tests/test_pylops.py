"""PyLops on ``ConvOperator``, for real: PyLops' dot test, its operators as the peer (``Convolve2D``,
``ConvolveND``), and a PyLops solver deconvolving an image with both, to the same result."""

import numpy as np
import pytest
from reference import load_example

import tconv

pylops = pytest.importorskip("pylops")
from pylops.optimization.basic import cgls  # noqa: E402
from pylops.utils import dottest  # noqa: E402


@pytest.mark.parametrize("boundary", ["zeros", "symmetric", "reflect"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pylops_dottest(boundary, dtype):
    psf = np.random.default_rng(0).standard_normal((9, 7)).astype(dtype)
    A = tconv.ConvOperator(psf, (40, 36), padding="same", boundary=boundary, dtype=dtype)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    assert dottest(A, *A.shape, rtol=tol, raiseerror=True)


def _flipped(psf):
    return np.ascontiguousarray(psf[(slice(None, None, -1),) * psf.ndim])


def _pads(psf):
    """PyLops' ``offset=k // 2`` of a convolution: the flipped kernel's padding ``(k - 1 - k // 2, k // 2)``."""
    return tuple((k - 1 - k // 2, k // 2) for k in psf.shape)


@pytest.mark.parametrize("shape,k", [((64, 60), (31, 31)), ((50, 47), (8, 5))])
@pytest.mark.parametrize("method", ["auto", "fft", "direct"])
def test_same_matrix_as_convolve2d(shape, k, method):
    rng = np.random.default_rng(1)
    psf = rng.standard_normal(k)
    theirs = pylops.signalprocessing.Convolve2D(shape, h=psf, offset=tuple(n // 2 for n in k), dtype="float64")
    ours = tconv.ConvOperator(_flipped(psf), shape, padding=_pads(psf), method=method)
    x, y = rng.standard_normal(ours.shape[1]), rng.standard_normal(ours.shape[0])
    np.testing.assert_allclose(ours @ x, theirs @ x, rtol=0, atol=1e-10 * np.abs(theirs @ x).max())
    np.testing.assert_allclose(ours.rmatvec(y), theirs.rmatvec(y), rtol=0, atol=1e-10 * np.abs(theirs.rmatvec(y)).max())


def test_same_matrix_as_convolvend_3d():
    rng = np.random.default_rng(2)
    shape, psf = (20, 18, 16), rng.standard_normal((7, 5, 9))
    theirs = pylops.signalprocessing.ConvolveND(shape, h=psf, offset=tuple(n // 2 for n in psf.shape),
                                                axes=(0, 1, 2), dtype="float64")
    ours = tconv.ConvOperator(_flipped(psf), shape, padding=_pads(psf), method="fft")
    x = rng.standard_normal(ours.shape[1])
    np.testing.assert_allclose(ours @ x, theirs @ x, rtol=0, atol=1e-10 * np.abs(theirs @ x).max())
    np.testing.assert_allclose(ours.rmatvec(x), theirs.rmatvec(x), rtol=0, atol=1e-10 * np.abs(theirs.rmatvec(x)).max())


def test_cgls_deconvolution_same_as_with_convolve2d():
    rng = np.random.default_rng(3)
    n, k = 64, 15
    img = np.zeros((n, n))
    img[16:40, 20:30], img[30:50, 35:55] = 1.0, 0.5
    t = np.arange(k) - k // 2
    psf = np.exp(-(t[:, None] ** 2 + t[None] ** 2) / 8.0)
    psf /= psf.sum()
    theirs = pylops.signalprocessing.Convolve2D((n, n), h=psf, offset=(k // 2, k // 2), dtype="float64")
    ours = tconv.ConvOperator(_flipped(psf), (n, n), padding=_pads(psf))
    y = theirs @ img.ravel() + 0.01 * rng.standard_normal(n * n)
    x_ours = cgls(ours, y, x0=np.zeros(n * n), niter=40, damp=0.01, tol=0)[0]
    x_theirs = cgls(theirs, y, x0=np.zeros(n * n), niter=40, damp=0.01, tol=0)[0]
    np.testing.assert_allclose(x_ours, x_theirs, rtol=0, atol=1e-8)
    err_blurred = np.linalg.norm(y - img.ravel())
    assert np.linalg.norm(x_ours - img.ravel()) < 0.95 * err_blurred  # it deblurs


def test_deblur_example_small():
    r = load_example("deblur").run(size=64, k=15, sigma=2.0, iters=10)
    assert r["psnr_tconv"] > r["psnr_observed"] + 1.0, r
    assert abs(r["psnr_tconv"] - r["psnr_pylops"]) < 1e-6
    assert r["max_difference"] < 1e-8
    assert r["seconds_per_iter_tconv"] > 0 and r["seconds_per_iter_pylops"] > 0
