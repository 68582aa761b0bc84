"""The fold's last step: the interior moved to the front of its own buffer (compiled) or copied (fallback),
against NumPy's slicing."""

import numpy as np
import pytest
from native_support import native_required  # noqa: F401  (fails loudly without the extension)

from tconv import TconvError
from tconv.core import _native
from tconv.core.compact import compact_interior

CASES = [((2, 3, 9, 11), ((1, 2), (3, 0))), ((5,), ((2, 1),)), ((2, 4, 6, 5, 7), ((1, 1), (0, 2), (3, 1))),
         ((1, 1, 4, 4), ((0, 0), (0, 0))), ((3, 1, 2, 8), ((0, 0), (7, 0)))]


@pytest.mark.parametrize("shape,pads", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compact_equals_the_slice_and_shares_memory(shape, pads, dtype):
    v = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    inner = tuple(slice(lo, n - hi) for (lo, hi), n in zip(pads, shape[-len(pads):]))
    want = v[(Ellipsis, *inner)].copy()
    got = compact_interior(v, pads)
    np.testing.assert_array_equal(got, want)
    assert got.flags.c_contiguous and np.shares_memory(got, v)


@pytest.mark.parametrize("shape,pads", CASES[:2])
def test_without_the_compiled_core_it_copies(shape, pads):
    v = np.random.default_rng(1).standard_normal(shape)
    before = v.copy()
    inner = tuple(slice(lo, n - hi) for (lo, hi), n in zip(pads, shape[-len(pads):]))
    with _native.disabled():
        got = compact_interior(v, pads)
    np.testing.assert_array_equal(got, before[(Ellipsis, *inner)])
    np.testing.assert_array_equal(v, before)  # the fallback reads v, it does not move it


def test_bad_buffers_are_refused_before_c():
    with pytest.raises(TconvError, match="exceed the buffer"):
        _native.compact(np.zeros(10), 1, (1, 1, 20), (0, 0, 0), (1, 1, 5))
    with pytest.raises(TconvError, match="does not fit"):
        _native.compact(np.zeros(40), 1, (1, 1, 20), (0, 0, 18), (1, 1, 5))
    with pytest.raises(TypeError, match="writable C-contiguous 1-D"):
        _native.compact(np.zeros((4, 10))[:, ::2].ravel()[::2], 1, (1, 1, 10), (0, 0, 0), (1, 1, 5))
