"""Shared by the tests of the compiled core (tests/test_native_*.py).

When the extension is not built these tests FAIL (CI has a compiler, so a missing extension is a
broken build), unless ``TCONV_NATIVE=0`` says on purpose that the compiled core is off: then
they skip with that reason.
"""

from __future__ import annotations

import os

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


@pytest.fixture(autouse=True)
def native_required():
    """Fails a test loudly when the extension is missing (skips it under TCONV_NATIVE=0)."""
    if not _native.available():
        if DISABLED:
            pytest.skip("the compiled core is off (TCONV_NATIVE=0)")
        pytest.fail(f"the compiled core is unavailable: {_native.info()['reason']}; "
                    "build it with `pip install -e .` (set TCONV_NATIVE=0 to test the fallback on purpose)")
