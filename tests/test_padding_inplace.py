"""The padding operator's buffer paths (``pad(out=)``, ``fold(overwrite=True)``, used by
``ConvOperator`` every call) against ``np.pad`` and the sparse ``P^T``, in every mode and rank."""

import numpy as np
import pytest

from tconv.core.padding import BOUNDARIES, NUMPY_PAD_MODES, Boundary

CASES = [(((2, 3),), (5,)), (((2, 3), (1, 1)), (5, 6)), (((7, 9), (0, 4)), (4, 5)),
         (((1, 2), (2, 1), (0, 3)), (3, 4, 4))]


def _fits(mode, pads, shape) -> bool:
    """reflect needs padding below the size, symmetric at most the size (tested apart, as errors)."""
    limit = {"reflect": lambda p, n: max(p) < n, "symmetric": lambda p, n: max(p) <= n}.get(mode)
    return limit is None or all(limit(p, n) for p, n in zip(pads, shape))


@pytest.mark.parametrize("mode,pads,shape", [(m, p, s) for m in BOUNDARIES for p, s in CASES if _fits(m, p, s)])
def test_pad_into_and_fold_in_place(mode, pads, shape):
    rng = np.random.default_rng(0)
    b = Boundary(mode, pads, shape)
    x = rng.standard_normal((2, 3, *shape))
    want = np.pad(x, [(0, 0), (0, 0), *pads], mode=NUMPY_PAD_MODES[mode])
    out = np.full((2, 3, *b.padded_shape), np.nan)
    assert b.pad(x, out=out) is out
    np.testing.assert_array_equal(out, want)
    v = rng.standard_normal((2, 3, *b.padded_shape))
    folded = b.fold(v.copy(), overwrite=True)
    assert folded.flags.c_contiguous and folded.shape == x.shape
    M = b.matrix(channels=3)
    np.testing.assert_allclose(folded.reshape(2, -1), (M.T @ v.reshape(2, -1).T).T, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("mode,pads,shape", [(m, p, s) for m in BOUNDARIES for p, s in CASES if not _fits(m, p, s)])
def test_padding_too_wide_for_the_mode_is_refused(mode, pads, shape):
    with pytest.raises(ValueError, match=f"padding_mode='{mode}'"):
        Boundary(mode, pads, shape)
