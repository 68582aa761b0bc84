"""Shared by the tests of the compiled core (tests/test_native_*.py).

When the extension is not built these tests FAIL (CI has a compiler, so a missing extension is a
broken build), unless ``TCONV_NATIVE=0`` says on purpose that the compiled core is off: then
they skip with that reason.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from tconv.core import _native

DISABLED = os.environ.get("TCONV_NATIVE", "").strip() == "0"

#: one pytest.param per instruction set; the ones this CPU lacks are skipped with the reason
ISA_PARAMS = [
    pytest.param(isa, id=isa, marks=pytest.mark.skipif(
        isa not in _native.isas(),
        reason=f"this CPU lacks {isa} (it runs {', '.join(_native.isas()) or 'no native code'})"))
    for isa in _native.ISAS
]


def assert_close_to_reference(got, want, dtype, geom):
    """``got`` (``dtype``) against a float64 reference ``want``: same dtype and shape, and within 8 x depth
    ulps of the largest reference value (depth: the longer side's channels times the kernel's taps)."""
    assert got.dtype == dtype and got.shape == want.shape
    depth = max(geom.x_channels, geom.y_channels) * int(np.prod(geom.kernel))
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=0, atol=8 * depth * np.finfo(dtype).eps * scale)


@pytest.fixture(autouse=True)
def native_required():
    """Fails a test loudly when the extension is missing (skips it under TCONV_NATIVE=0)."""
    if not _native.available():
        if DISABLED:
            pytest.skip("the compiled core is off (TCONV_NATIVE=0)")
        pytest.fail(f"the compiled core is unavailable: {_native.info()['reason']}; "
                    "build it with `pip install -e .` (set TCONV_NATIVE=0 to test the fallback on purpose)")
