"""``ConvOperator`` with ``method="fft"`` on every boundary; the kernel transforms kept per operator;
the VJPs and Dask blocks through the same algorithm."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import tconv
from tconv.core.padding import BOUNDARIES

TORCH_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def _torch_forward(img, psf, pads, mode, stride):
    """PyTorch: ``F.pad`` with the boundary mode, then a valid conv (the operator's definition)."""
    t = torch.tensor(img[None])
    arg = [p for lo_hi in reversed(pads) for p in lo_hi]
    if mode == "symmetric":  # not in F.pad: NumPy's symmetric pad, then the conv
        t = torch.tensor(np.pad(img[None], [(0, 0), (0, 0), *pads], mode="symmetric"))
    else:
        t = F.pad(t, arg, mode=TORCH_MODE[mode])
    return F.conv2d(t, torch.tensor(psf), stride=stride).numpy()[0]


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("stride", [1, 2])
def test_fft_operator_every_boundary(boundary, stride):
    rng = np.random.default_rng(0)
    psf = rng.standard_normal((1, 1, 7, 5))
    A = tconv.ConvOperator(psf, (24, 21), stride=stride, padding=((3, 3), (1, 3)), boundary=boundary, method="fft")
    x = rng.standard_normal(A.shape[1])
    want = _torch_forward(x.reshape(1, 24, 21), psf, ((3, 3), (1, 3)), boundary, stride).ravel()
    np.testing.assert_allclose(A @ x, want, rtol=0, atol=1e-10 * np.abs(want).max())
    assert tconv.testing.dottest(A, rng=1) < 1e-12
    M = A.tosparse()
    y = rng.standard_normal(A.shape[0])
    np.testing.assert_allclose(A.rmatvec(y), M.T @ y, rtol=0, atol=1e-10 * np.abs(M.T @ y).max())
    D = tconv.ConvOperator(psf, (24, 21), stride=stride, padding=((3, 3), (1, 3)), boundary=boundary,
                           method="direct")
    np.testing.assert_allclose(A.rmatvec(y), D.rmatvec(y), rtol=0, atol=1e-10 * np.abs(D.rmatvec(y)).max())


def test_operator_keeps_the_kernel_transform():
    rng = np.random.default_rng(1)
    A = tconv.ConvOperator(rng.standard_normal((1, 1, 31, 31)), (200, 200), padding="same", method="fft")
    assert A._spectra == {}
    x = rng.standard_normal(A.shape[1])
    y1 = A @ x
    kept = dict(A._spectra)
    assert kept, "the first matvec computes and keeps the transform"
    y2 = A @ x
    assert A._spectra.keys() == kept.keys() and all(A._spectra[k] is kept[k] for k in kept)  # reused
    np.testing.assert_array_equal(y1, y2)
    A.rmatvec(y1)
    assert len(A._spectra) >= len(kept)
    want = F.conv2d(torch.tensor(x.reshape(1, 1, 200, 200)), torch.tensor(A.weight), padding=15).numpy().ravel()
    np.testing.assert_allclose(y1, want, rtol=0, atol=1e-10 * np.abs(want).max())


def test_auto_picks_fft_for_a_large_psf():
    p = tconv.explain((1, 1, 512, 512), (1, 1, 31, 31), padding="same", op="conv", dtype="float64")
    assert p.choice == "fft"


@pytest.mark.parametrize("op", ["conv", "conv_transpose"])
def test_vjp_with_method_fft_against_autograd(op):
    rng = np.random.default_rng(2)
    w = rng.standard_normal((2, 1, 9, 9))
    if op == "conv":
        x = rng.standard_normal((1, 1, 40, 36))
        out = tconv.conv(x, w, padding=4, method="fft")
        go = rng.standard_normal(out.shape)
        gx, gw, _ = tconv.conv_vjp(go, x, w, padding=4, method="fft")
        xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
        F.conv2d(xt, wt, padding=4).backward(torch.tensor(go))
    else:
        x = rng.standard_normal((1, 2, 20, 18))
        out = tconv.conv_transpose(x, w, stride=2, padding=3, method="fft")
        go = rng.standard_normal(out.shape)
        gx, gw, _ = tconv.conv_transpose_vjp(go, x, w, stride=2, padding=3, method="fft")
        xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
        F.conv_transpose2d(xt, wt, stride=2, padding=3).backward(torch.tensor(go))
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=0, atol=1e-10 * np.abs(xt.grad.numpy()).max())
    np.testing.assert_allclose(gw, wt.grad.numpy(), rtol=0, atol=1e-10 * np.abs(wt.grad.numpy()).max())


def test_dask_blocks_run_fft():
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(3)
    img = rng.standard_normal((1, 1, 300, 280))
    psf = rng.standard_normal((1, 1, 61, 61))
    lazy = tconv.conv(da.from_array(img, chunks=(1, 1, 150, 140)), psf, padding="same", method="fft")
    want = F.conv2d(torch.tensor(img), torch.tensor(psf), padding=30).numpy()
    np.testing.assert_allclose(lazy.compute(), want, rtol=0, atol=1e-10 * np.abs(want).max())
    # the per-block plan (auto on a block's shape with its halo) is fft for this PSF (a 25x25 one on these
    # blocks runs faster on direct's row tiles)
    block = tconv.explain((1, 1, 150 + 60, 140 + 60), psf.shape, op="conv", dtype="float64")
    assert block.choice == "fft"
