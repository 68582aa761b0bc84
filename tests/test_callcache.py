"""The per-call cache (tconv.core.callcache): a repeated plain call runs one prepared call.

What it must not change: results (bit-identical to the full path), errors (the same text whether or
not a similar call is cached), the effect of options, environment variables, the instruction set,
the pool size and ``_native.disabled()``; and it must stay bounded, thread-safe and fork-safe.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading

import numpy as np
import pytest

import tconv
from tconv.api import conventions
from tconv.core import _native, callcache
from tconv.core.dispatch import Call
from tconv.errors import TconvError, TconvTypeError

RNG = np.random.default_rng(19)


def _arrays(x_shape, w_shape, bias=False, dtype=np.float32):
    """x, a conv_transpose weight and (with ``bias``) a bias of ``w_shape[1]`` entries (groups 1)."""
    x = RNG.standard_normal(x_shape).astype(dtype)
    w = RNG.standard_normal(w_shape).astype(dtype)
    return x, w, (RNG.standard_normal(w_shape[1]).astype(dtype) if bias else None)


def _full_path(op, x, w, b, **kw):
    """The result of the conventions chain and the core, without the cache."""
    names = ("stride", "padding", "output_padding", "groups", "dilation", "output_size", "method")
    defaults = dict(stride=1, padding=0, output_padding=0, groups=1, dilation=1, output_size=None, method="auto")
    call = Call(op, *(kw.get(n, defaults[n]) for n in names))
    return conventions.forward(call, x, w, b)


@pytest.fixture
def no_chain(monkeypatch):
    """After this is called, a call that is not served by the cache fails the test."""
    def arm():
        def boom(*args, **kwargs):
            raise AssertionError("the call took the full path: no cache hit")
        monkeypatch.setattr(conventions, "forward", boom)
    return arm


@pytest.fixture(autouse=True)
def fresh_cache():
    callcache.clear()
    yield
    callcache.clear()


# (op, x shape, weight shape, with a bias, kwargs)
CASES = [
    ("conv_transpose", (1, 2, 8, 8), (2, 2, 3, 3), None, dict(stride=2, padding=1)),  # T1
    ("conv_transpose", (2, 2, 8, 8), (2, 2, 3, 3), 1, dict(stride=2, padding=1, output_padding=1)),
    ("conv_transpose", (2, 8), (2, 3, 4), 1, dict(stride=3, padding=((1, 2),), method="direct")),  # unbatched 1-D
    ("conv_transpose", (1, 4, 5, 6, 7), (4, 1, 2, 3, 2), 4, dict(stride=(1, 2, 3), groups=4, dilation=(2, 1, 1))),
    ("conv_transpose", (1, 1, 40), (1, 1, 16), 1, dict(stride=12, padding="same")),
    ("conv_transpose", (2, 3, 50), (3, 1, 64), 1, dict(stride=20, padding=2)),  # long stride: register tiles
    ("conv_transpose", (2, 2, 40, 300), (2, 2, 3, 5), 1, dict(stride=(1, 3), padding=1)),  # rows over several tasks
    ("conv_transpose", (1, 6, 9, 9), (6, 4, 3, 3), 2, dict(stride=2, groups=2, output_size=(20, 20))),
    ("conv_transpose", (2, 8, 7, 7), (8, 16, 4, 4), 1, dict(stride=2, padding=1, method="gemm")),
    ("conv_transpose", (2, 8, 7, 7), (8, 16, 4, 4), 1, dict(stride=2, padding=1, method="native")),
    ("conv", (1, 2, 9, 9), (3, 2, 3, 3), 1, dict(stride=2, padding=1)),
    ("conv", (3, 9, 10), (3, 1, 3, 3), 1, dict(padding=((1, 0), (2, 1)), groups=3)),  # unbatched, asymmetric
    ("conv", (1, 1, 4, 5, 6), (2, 1, 3, 2, 3), 1, dict(dilation=(1, 2, 1), padding="same")),
    ("conv", (2, 8, 12, 12), (16, 8, 3, 3), 1, dict(stride=1, padding=1, method="gemm")),
    ("conv", (2, 8, 12, 12), (16, 4, 3, 3), 1, dict(stride=2, padding=1, groups=2, method="native")),  # gathers
    ("conv_transpose", (2, 8, 6, 6), (8, 5, 2, 2), 1, dict(stride=2, method="native")),  # merged phases
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_a_hit_is_bit_identical_to_the_full_path(case, dtype, no_chain):
    op, xs, ws, bias, kw = case
    if kw.get("method") == "native" and not _native.available():
        pytest.skip("the compiled core is off")
    x, w, _ = _arrays(xs, ws, dtype=dtype)
    c_out = ws[0] if op == "conv" else ws[1] * kw.get("groups", 1)
    b = RNG.standard_normal(c_out).astype(dtype) if bias else None
    fn = getattr(tconv, op)
    want = _full_path(op, x, w, b, **kw)
    first = fn(x, w, b, **kw)                     # the full path; the key noted
    assert callcache.size() == 0
    second = fn(x, w, b, **kw)                    # the full path again; its plan stored
    assert callcache.size() == 1
    no_chain()
    hit = fn(x, w, b, **kw)
    for got in (first, second, hit):
        assert got.dtype == want.dtype and got.shape == want.shape
        assert got.tobytes() == want.tobytes()
    x2, w2, _ = _arrays(xs, ws, dtype=dtype)      # new data, same key: computed, not remembered
    assert fn(x2, w2, b, **kw).tobytes() == _full_path_unpatched(op, x2, w2, b, kw).tobytes()


def _full_path_unpatched(op, x, w, b, kw):
    from tconv.core import dispatch

    names = ("stride", "padding", "output_padding", "groups", "dilation", "output_size", "method")
    defaults = dict(stride=1, padding=0, output_padding=0, groups=1, dilation=1, output_size=None, method="auto")
    return dispatch.forward(Call(op, *(kw.get(n, defaults[n]) for n in names)), x, w, b)


def test_non_contiguous_and_read_only_inputs(no_chain):
    x = RNG.standard_normal((1, 2, 16, 16)).astype(np.float32)[:, :, ::2, 1::2]   # strided view
    w = np.asfortranarray(RNG.standard_normal((2, 3, 3, 3)).astype(np.float32))
    w.flags.writeable = False
    want = _full_path("conv_transpose", x, w, None, stride=2, padding=1)
    for _ in range(2):
        tconv.conv_transpose(x, w, stride=2, padding=1)
    no_chain()
    assert tconv.conv_transpose(x, w, stride=2, padding=1).tobytes() == want.tobytes()


def test_conv_with_a_non_finite_weight_on_padding_is_nan_as_on_the_full_path(no_chain):
    x = RNG.standard_normal((1, 1, 6, 6))
    w = RNG.standard_normal((2, 1, 3, 3))
    b = np.array([0.5, -1.0])
    for _ in range(2):
        tconv.conv(x, w, b, padding=1)
    no_chain()
    w_bad = w.copy()
    w_bad[1, 0, 0, 0] = np.inf
    got = tconv.conv(x, w_bad, b, padding=1)
    assert np.isnan(got[0, 1, 0, :]).all() and np.isfinite(got[0, 0]).all()
    np.testing.assert_array_equal(got, _full_path_unpatched("conv", x, w_bad, b, dict(padding=1)))


@pytest.mark.parametrize("args", [
    (np.ones((1, 2, 8, 8), np.float16), np.ones((2, 2, 3, 3), np.float16)),     # half: the chain's first stage
    (np.ones((1, 2, 8, 8), np.complex64), np.ones((2, 2, 3, 3), np.float32)),   # complex
    (np.ones((1, 2, 8, 8), np.float32), np.ones((2, 2, 3, 3), np.float64)),     # mixed dtypes
    (np.ones((1, 2, 8, 8), np.float32).astype(">f4"), np.ones((2, 2, 3, 3), ">f4")),  # byte-swapped
    (np.ones((1, 2, 8, 8), np.int64), np.ones((2, 2, 3, 3), np.int64)),         # integers
    (np.ones((1, 2, 8, 8), np.float32).tolist(), np.ones((2, 2, 3, 3), np.float32)),  # a list
    (np.ma.masked_array(np.ones((1, 2, 8, 8), np.float32)), np.ones((2, 2, 3, 3), np.float32)),  # a subclass
])
def test_calls_outside_the_plain_numpy_lane_are_not_cached(args):
    x, w = args
    a = tconv.conv_transpose(x, w, stride=2)
    b = tconv.conv_transpose(x, w, stride=2)
    assert callcache.size() == 0
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kw", [dict(stride=np.int64(2)), dict(stride=[2, 2]), dict(padding_mode="reflect", padding=1),
                                dict(out_dtype=np.float32), dict(padding=np.array([1, 1]))])
def test_parameters_outside_the_lane_are_not_cached(kw):
    x, w, _ = _arrays((1, 2, 8, 8), (2, 2, 3, 3))
    kw = {"stride": 2, **kw}
    a, b = tconv.conv_transpose(x, w, **kw), tconv.conv_transpose(x, w, **kw)
    assert callcache.size() == 0
    assert a.tobytes() == b.tobytes()


def _message(fn, *args, **kw):
    with pytest.raises((TconvError, TconvTypeError)) as info:
        fn(*args, **kw)
    return type(info.value), str(info.value)


BAD = [
    dict(stride=2.0), dict(stride=True), dict(stride=0), dict(padding=-1), dict(groups=3), dict(groups=2.0),
    dict(output_padding=2), dict(dilation=(1, 0)), dict(padding="full"), dict(method="fast"), dict(padding=(1, 2, 3)),
    dict(output_size=(40, 40)), dict(output_size=(15, 15), output_padding=1), dict(stride=(2,)),
]


@pytest.mark.parametrize("bad", BAD, ids=[str(b) for b in BAD])
def test_errors_are_the_same_with_a_similar_call_cached(bad):
    x, w, _ = _arrays((1, 2, 8, 8), (2, 2, 3, 3))
    cold = _message(tconv.conv_transpose, x, w, **{"stride": 2, **bad})
    callcache.clear()
    tconv.conv_transpose(x, w, stride=2, padding=1)                # the valid neighbour, cached
    tconv.conv_transpose(x, w, stride=2, padding=1)
    assert callcache.size() == 1
    for _ in range(2):
        assert _message(tconv.conv_transpose, x, w, **{"stride": 2, **bad}) == cold
    assert callcache.size() == 1                                  # nothing invalid was stored


def test_shape_errors_are_the_same_with_a_similar_call_cached():
    x, w, b = _arrays((1, 2, 8, 8), (2, 2, 3, 3), bias=True)
    calls = [((x[:, :1], w, b), {}), ((x, w, np.ones(3, np.float32)), {}), ((x[0, 0], w, b), {}),
             ((x, w[:, :, :, :1].squeeze(-1), b), {}), ((x, w, b.astype(np.float64)[:1]), {})]
    cold = [_message(tconv.conv_transpose, *a, stride=2, **k) for a, k in calls]
    tconv.conv_transpose(x, w, b, stride=2)
    tconv.conv_transpose(x, w, b, stride=2)
    assert [_message(tconv.conv_transpose, *a, stride=2, **k) for a, k in calls] == cold


def _counting(monkeypatch):
    """Counts the calls that take the full path."""
    seen = []
    real = conventions.forward

    def counted(*args, **kwargs):
        seen.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(conventions, "forward", counted)
    return seen


class _CoreGuard:
    """Stands in for the extension while it is switched off: its state may be read (the cache keys),
    nothing in it may run."""

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        if name in ("get_isa", "get_num_threads", "isas"):
            return getattr(self._real, name)
        raise AssertionError(f"the compiled core's {name} ran while it was switched off")


def test_options_environment_isa_pool_and_disabled_each_take_effect(monkeypatch):
    x, w, _ = _arrays((1, 2, 8, 8), (2, 2, 3, 3))
    want = _full_path_unpatched("conv_transpose", x, w, None, dict(stride=2, padding=1))
    seen = _counting(monkeypatch)

    def call():
        out = tconv.conv_transpose(x, w, stride=2, padding=1)
        np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)
        return len(seen)

    def fresh():
        """A key met for the first time: two full calls (noted, then stored), then hits."""
        n = len(seen)
        assert (call(), call(), call()) == (n + 1, n + 2, n + 2)

    fresh()
    old = tconv.set_options(threads=1)
    try:
        fresh()
    finally:
        tconv.set_options(**old)
    n = len(seen)
    assert call() == n                                           # back to the first key, still stored
    monkeypatch.setenv("TCONV_NUM_THREADS", "1")
    fresh()
    monkeypatch.delenv("TCONV_NUM_THREADS")
    monkeypatch.setenv("TCONV_MAX_BYTES", str(1 << 40))
    n = len(seen)
    assert (call(), call(), call()) == (n + 1, n + 2, n + 3)     # an explicit limit: never stored
    monkeypatch.delenv("TCONV_MAX_BYTES")
    if _native.available():
        real_ext = _native._ext
        with _native.disabled(), monkeypatch.context() as m:
            m.setattr(_native, "_ext", _CoreGuard(real_ext))
            fresh()                                              # its own key, then hits, none in the core
        n = len(seen)
        assert call() == n                                       # and the compiled kernels' key again after
        before = len(seen)
        for isa in _native.isas():
            with _native.use_isa(isa):
                call()
        assert len(seen) == before + len(_native.isas()) - 1     # every other ISA: a new key
        threads = _native.get_num_threads()
        _native.set_num_threads(threads + 1)
        try:
            before = len(seen)
            call()
            assert len(seen) == before + 1
        finally:
            _native.set_num_threads(threads)


def test_a_memory_limit_set_after_caching_still_refuses():
    x, w, _ = _arrays((1, 2, 8, 8), (2, 2, 3, 3))
    tconv.conv_transpose(x, w, stride=2, padding=1)
    tconv.conv_transpose(x, w, stride=2, padding=1)
    old = tconv.set_options(max_bytes=64)
    try:
        with pytest.raises(TconvError, match="above tconv's memory limit of 64 B"):
            tconv.conv_transpose(x, w, stride=2, padding=1)
    finally:
        tconv.set_options(**old)


def test_calls_whose_memory_guard_reads_the_machine_are_not_stored():
    """Above ALWAYS_FITS the guard compares with the memory available at the call: each call checks."""
    from tconv.core.options import ALWAYS_FITS

    x = np.ones((1, 1, 2048, 2048), np.float32)
    w = np.ones((1, 1, 2, 2), np.float32)
    assert 2049 * 2049 * 4 > ALWAYS_FITS
    for _ in range(2):
        tconv.conv_transpose(x, w)
    x0 = np.ones((0, 2, 8, 8), np.float32)                      # an empty batch: not stored either
    w0 = np.ones((2, 2, 3, 3), np.float32)
    for _ in range(2):
        assert tconv.conv_transpose(x0, w0, stride=2).shape == (0, 2, 17, 17)
    assert callcache.size() == 0


def test_the_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(callcache, "MAX_PLANS", 8)
    w = RNG.standard_normal((1, 1, 3)).astype(np.float32)
    for n in range(4, 40):
        x = RNG.standard_normal((1, 1, n)).astype(np.float32)
        for _ in range(2):
            got = tconv.conv_transpose(x, w, stride=2)
        assert callcache.size() <= 8
        assert got.tobytes() == _full_path_unpatched("conv_transpose", x, w, None, dict(stride=2)).tobytes()
    assert callcache.size() == 8


def test_shapes_met_once_are_noted_not_planned(monkeypatch):
    monkeypatch.setattr(callcache, "MAX_PLANS", 8)
    w = RNG.standard_normal((1, 1, 3)).astype(np.float32)
    for n in range(4, 104):
        x = RNG.standard_normal((1, 1, n)).astype(np.float32)
        assert tconv.conv_transpose(x, w, stride=2).tobytes() == \
            _full_path_unpatched("conv_transpose", x, w, None, dict(stride=2)).tobytes()
        assert len(callcache._SEEN) <= 4 * 8
    assert callcache.size() == 0


def test_many_threads_at_once(monkeypatch):
    """Eight threads call with shapes that hit, miss and evict one another (a cache of 4 for 6
    shapes); every result equals the full path's."""
    monkeypatch.setattr(callcache, "MAX_PLANS", 4)
    cases = []
    for n in range(6):
        x, w, b = _arrays((1 + n % 2, 2, 6 + n, 7), (2, 3, 3, 3), bias=True)
        cases.append((x, w, b, _full_path_unpatched("conv_transpose", x, w, b, dict(stride=2, padding=1)).tobytes()))
    errors, start = [], threading.Barrier(8)

    def worker(i):
        try:
            start.wait()
            for r in range(150):
                x, w, b, want = cases[(i + r) % len(cases)]
                if tconv.conv_transpose(x, w, b, stride=2, padding=1).tobytes() != want:
                    errors.append((i, r))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and callcache.size() <= 4


def _child_call(args):
    x, w = args
    return tconv.conv_transpose(x, w, stride=2, padding=1).tobytes(), callcache.size()


def test_a_forked_child_uses_the_inherited_cache():
    x, w, _ = _arrays((1, 2, 8, 8), (2, 2, 3, 3))
    want = tconv.conv_transpose(x, w, stride=2, padding=1).tobytes()
    tconv.conv_transpose(x, w, stride=2, padding=1)              # stored: the children inherit it
    with mp.get_context("fork").Pool(1) as pool:
        got, size = pool.map(_child_call, [(x, w)])[0]
    assert got == want and size == 1
    pid = os.fork()
    if pid == 0:  # the child: a hit on the inherited plan, and a new shape stored
        ok = tconv.conv_transpose(x, w, stride=2, padding=1).tobytes() == want
        tconv.conv_transpose(x[:, :, :4], w, stride=2)
        tconv.conv_transpose(x[:, :, :4], w, stride=2)
        os._exit(0 if ok and callcache.size() == 2 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.skipif(not _native.available(), reason="the compiled core is off")
def test_the_compiled_entry_refuses_what_its_plan_does_not_fit():
    ext = _native._ext
    plan = ext.direct_plan("t", (1, 2, 1, 8, 8), (2, 2, 1, 3, 3), (1, 2, 1, 15, 15), (1, 1, 2, 2, 1, 1, 1, 0, 1, 1), 0, False)
    x, w = np.ones((1, 2, 8, 8), np.float32), np.ones((2, 2, 3, 3), np.float32)
    out = np.empty((1, 2, 15, 15), np.float32)
    assert ext.direct_run(plan, x, w, out, None, 1) is False
    np.testing.assert_array_equal(out, tconv.conv_transpose(x, w, stride=2, padding=1, method="direct"))
    bad = [
        ((plan, x[:, :1], w, out, None, 1), TconvError, "the plan needs 512 bytes"),
        ((plan, x.astype(np.float64), w, out, None, 1), TconvError, "of float32"),
        ((plan, x, w, out[:, :, ::2], None, 1), TconvTypeError, "C-contiguous"),
        ((plan, x, w, x, None, 1), TconvError, "bytes"),
        ((plan, x, w, out, np.ones(3, np.float32), 1), TconvError, "bias"),
        ((plan, x, w, out, None, 300), TconvError, "threads=300"),
        (("plan", x, w, out, None, 1), ValueError, "(?i)capsule"),
    ]
    for args, exc, text in bad:
        with pytest.raises(exc, match=text):
            ext.direct_run(*args)
    with pytest.raises(TypeError, match="6 or 7 arguments"):
        ext.direct_run(plan, x, w)
    ro = np.empty_like(out)
    ro.flags.writeable = False
    with pytest.raises(TconvTypeError, match="writable"):
        ext.direct_run(plan, x, w, ro, None, 1)
    for args, text in [(("t", (1, 2, 1, 8), (2, 2, 1, 3, 3), (1, 2, 1, 15, 15)), "5 extents"),
                       (("t", (1, 2, 1, 8, 8), (3, 2, 1, 3, 3), (1, 2, 1, 15, 15)), "channels"),
                       (("w", (1, 2, 1, 8, 8), (2, 2, 1, 3, 3), (1, 2, 1, 15, 15)), "op=w"),
                       (("t", (1, 2, 1, 8, 8), (2, 2, 1, 3, 3), (1, 2, 1, 2**60, 15)), "index range|2\\*\\*61")]:
        with pytest.raises(TconvError, match=text):
            ext.direct_plan(*args, (1, 1, 2, 2, 1, 1, 1, 0, 1, 1), 0, False)
