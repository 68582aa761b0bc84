"""The compiled core's build, dispatch and errors: the extension is built (or off on purpose),
TCONV_NATIVE=0 and TCONV_ISA work in fresh processes, the ISA can be switched in-process, and bad
input raises TconvError / TconvTypeError, never a crash."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from native_support import ISA_PARAMS, native_required  # noqa: F401  (autouse fixture)

from tconv.core import _native
from tconv.errors import TconvError, TconvTypeError


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    full = dict(os.environ)
    for key in ("TCONV_NATIVE", "TCONV_ISA"):
        full.pop(key, None)
    full.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=full)


def test_extension_is_built_and_reports_itself():
    info = _native.info()
    assert info["available"] and info["reason"] is None
    assert info["isa"] == info["isas"][0] or "TCONV_ISA" in os.environ
    assert info["isas"][-1] == "generic" and set(info["isas"]) <= set(_native.ISAS)
    assert info["threads"] >= 1
    for dt in ("float32", "float64"):
        k = info["kernels"][dt]
        assert k["mc"] % k["mr"] == 0 and k["kc"] > 0 and k["nc"] % k["nr"] == 0


def test_tconv_native_0_turns_it_off():
    proc = run_python("from tconv.core import _native as n; i = n.info(); "
                      "print(n.available(), i['isa'], 'TCONV_NATIVE=0' in i['reason'])", TCONV_NATIVE="0")
    assert proc.stdout.split() == ["False", "None", "True"], proc.stdout + proc.stderr


def test_tconv_isa_generic_forces_the_portable_path():
    code = ("import numpy as np; from tconv.core import _native as n; a = np.arange(12.).reshape(3, 4); "
            "print(n.get_isa(), np.array_equal(n.gemm(a, a.T), a @ a.T))")
    proc = run_python(code, TCONV_ISA="generic")
    assert proc.stdout.split() == ["generic", "True"], proc.stdout + proc.stderr


def test_tconv_isa_refuses_unknown_and_missing_sets():
    proc = run_python("from tconv.core import _native", TCONV_ISA="sse9")
    assert proc.returncode != 0 and "TconvError" in proc.stderr and "TCONV_ISA='sse9'" in proc.stderr
    missing = [i for i in _native.ISAS if i not in _native.isas()]
    if missing:
        proc = run_python("from tconv.core import _native", TCONV_ISA=missing[0])
        assert proc.returncode != 0 and "this CPU lacks it" in proc.stderr, proc.stderr


@pytest.mark.parametrize("isa", ISA_PARAMS)
def test_use_isa_switches_and_restores(isa):
    before = _native.get_isa()
    with _native.use_isa(isa):
        assert _native.get_isa() == _native.info()["isa"] == isa
    assert _native.get_isa() == before


def test_set_isa_refuses_bad_names():
    with pytest.raises(TconvError, match="not an instruction set"):
        _native.set_isa("avx1024")
    with pytest.raises(TconvError, match="not an instruction set"):
        _native.set_isa(3)


def test_fma_peak_is_positive():
    assert _native.fma_peak(np.float32, threads=1, seconds=0.01) > 0
    with pytest.raises(TconvTypeError, match="dtype"):
        _native.fma_peak(np.int32)


F32 = np.ones((3, 4), np.float32)


@pytest.mark.parametrize("args, kwargs, error, match", [
    ((F32.astype(np.int32), F32.T), {}, TconvTypeError, "a: dtype int32"),
    ((F32.astype(np.float16), F32.T), {}, TconvTypeError, "float16"),
    ((F32, F32.T.astype(np.float64)), {}, TconvTypeError, "differ"),
    (([[1.0]], F32), {}, TconvTypeError, "a: expected a numpy.ndarray"),
    ((F32.ravel(), F32), {}, TconvError, "a: expected a 2-D array"),
    ((F32, F32), {}, TconvError, r"do not chain"),
    ((F32, F32.T), {"out": np.empty((3, 4), np.float32)}, TconvError, r"out: shape \(3, 4\)"),
    ((F32, F32.T), {"out": np.empty((3, 3), np.float64)}, TconvTypeError, "out: dtype float64"),
    ((F32, F32.T), {"beta": 0.5}, TconvError, "beta=0.5"),
    ((F32, F32.T), {"beta": 1}, TconvError, "needs out="),
    ((F32, F32.T), {"threads": 0}, TconvError, "threads=0"),
    ((F32, F32.T), {"alpha": "2"}, TconvTypeError, "alpha='2'"),
])
def test_bad_input_raises_tconv_errors(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        _native.gemm(*args, **kwargs)


def test_bad_out_buffers():
    a = np.ones((4, 4))
    ro = np.empty((4, 4))
    ro.flags.writeable = False
    with pytest.raises(TconvError, match="read-only"):
        _native.gemm(a, a.copy(), out=ro)
    with pytest.raises(TconvError, match="share memory"):
        _native.gemm(a, a.copy(), out=a)
    with pytest.raises(TconvError, match="threads"):
        _native.set_num_threads(0)
    with pytest.raises(TconvTypeError, match="threads"):
        _native.set_num_threads(2.0)


def test_the_extension_checks_its_own_input():
    """Called directly (bypassing the wrapper's checks), the C code refuses bad buffers itself."""
    ext = _native._ext
    a = np.ones((3, 4))
    c = np.empty((3, 3))
    bad = [
        ((b"abc", a.T, c, 1.0, 0.0, 1), TconvTypeError),               # bytes: format 'B'
        ((a, a.T, b"x" * 72, 1.0, 0.0, 1), TconvTypeError),            # read-only output
        ((a.ravel(), a.T, c, 1.0, 0.0, 1), TconvError),                # 1-D
        ((a, a, c, 1.0, 0.0, 1), TconvError),                          # shapes do not chain
        ((a, a.T, np.empty((3, 3), np.float32), 1.0, 0.0, 1), TconvTypeError),  # dtypes differ
        ((a, a.T, c, 1.0, 2.0, 1), TconvError),                        # beta
        ((a, a.T, a[:, :3], 1.0, 0.0, 1), TconvError),                 # out overlaps a
        ((a, a.T, np.lib.stride_tricks.as_strided(c, strides=(0, 8)), 1.0, 0.0, 1), TconvError),
        ((memoryview(np.ones(12, np.uint8)).cast("B", (3, 4)), a.T, c, 1.0, 0.0, 1), TconvTypeError),
        ((a, a.T, c, 1.0, 0.0), TypeError),                            # wrong arity
    ]
    for args, error in bad:
        with pytest.raises(error):
            ext.gemm(*args)
    with pytest.raises(TconvError):
        ext.set_num_threads(0)
    with pytest.raises(TconvError):
        ext.fma_chain("f", -1, 1)
