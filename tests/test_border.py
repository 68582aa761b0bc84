"""``ConvOperator``'s boundary modes as the zero-padded call plus its border (``tconv.core.border``)
against the pad-then-convolve path and its fold, and the dot test: every mode, 1-3 axes, strides,
dilation, groups, channels, asymmetric pads, float32 and float64, several columns at once."""

from __future__ import annotations

import numpy as np
import pytest
from tconv.testing import dottest

import tconv
from tconv.core import border
from tconv.core.border import BorderPlan
from tconv.core.geometry import conv_geometry
from tconv.core.padding import Boundary

CASES = [  # (psf shape, image, keyword arguments)
    ((5, 5), (64, 48), dict(padding="same")),
    ((3,), (40,), dict(padding="same", stride=2)),
    ((1, 2, 3, 3), (20, 21), dict(padding=2, dilation=2)),
    ((3, 3, 3), (12, 13, 11), dict(padding="same")),
    ((4, 2, 5, 5), (30, 30), dict(padding=(2, 3), stride=(2, 1))),
    ((2, 2, 3, 3), (16, 16), dict(padding=1, groups=2)),
    ((5, 5), (40, 40), dict(padding=((2, 0), (1, 3)))),
]


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular", "symmetric"])
@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_border_plan_equals_pad_then_convolve(mode, case, dtype, monkeypatch):
    psf_shape, image, kw = CASES[case]
    monkeypatch.setattr(border, "MAX_BORDER_SHARE", 1.0)  # the sliced path even where the border is wide
    monkeypatch.setattr(BorderPlan, "cheaper", lambda self, method, dtype: True)  # and where padding is cheaper
    rng = np.random.default_rng(case)
    psf = rng.standard_normal(psf_shape)
    op = tconv.ConvOperator(psf, image, boundary=mode, dtype=dtype, **kw)
    assert op._border is not None
    ref = tconv.ConvOperator(psf, image, boundary=mode, dtype=dtype, **kw)
    ref._border = None  # the pad-then-convolve path and its fold
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for k in (1, 3):
        x = rng.standard_normal((op.shape[1], k)).astype(dtype)
        y = rng.standard_normal((op.shape[0], k)).astype(dtype)
        for got, want in ((op.matmat(x), ref.matmat(x)), (op.rmatmat(y), ref.rmatmat(y))):
            assert got.dtype == want.dtype and got.shape == want.shape
            assert np.abs(got - want).max() <= tol * np.abs(want).max()
    if dtype == np.float64:
        dottest(op, rtol=1e-12)


def test_the_cheaper_path_is_chosen():
    """Small kernels on large images: the border path; a 31x31 PSF (its convolution on the FFT, the slabs'
    direct ones dearer than a pad): the padded path (measured: 1024^2 k31 reflect matvec 14.1 sliced against
    11.5 ms padded; 2048^2 k5 8.1 against 12.7)."""
    rng = np.random.default_rng(0)
    assert tconv.ConvOperator(rng.standard_normal((5, 5)), (2048, 2048), padding="same", boundary="reflect")._border
    assert tconv.ConvOperator(rng.standard_normal((31, 31)), (1024, 1024), padding="same",
                              boundary="reflect")._border is None


def test_a_wide_border_keeps_the_padded_path():
    g = conv_geometry((1, 1, 7), (9,), 1, 3)
    assert not BorderPlan(g, Boundary("reflect", g.pads, g.x_shape)).usable
    op = tconv.ConvOperator(np.ones(7), (9,), padding=3, boundary="reflect")
    assert op._border is None
    np.testing.assert_allclose(op.matvec(np.arange(9.0)), tconv.conv(
        np.arange(9.0)[None], np.ones((1, 1, 7)), padding=3, padding_mode="reflect")[0], rtol=1e-12)


def test_a_plan_too_large_is_not_built_and_says_so():
    g = conv_geometry((1, 1, 5, 5, 5), (512, 512, 512), 1, "same")
    plan = BorderPlan(g, Boundary("reflect", g.pads, g.x_shape))
    assert not plan.built and not plan.usable
    with pytest.raises(tconv.TconvError, match="would hold more than"):
        plan.forward(np.zeros((1, 1, 2, 2, 2)), np.ones((1, 1, 5, 5, 5)), "direct")
