"""Every convention on Dask arrays: the conventions chain runs above the Dask front end, so
``data_format``, ``weight_format``, ``padding_mode``, complex data, float16/bfloat16 and
``out_dtype`` give lazy results equal to the NumPy path on the same data (itself tested against
PyTorch), for random chunkings including chunks smaller than the halo; and a call enters the
public function once."""

import dask
import dask.array as da
import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_dask_parity import chunking

import tconv
from tconv.api.conventions.layout import weight_spec

MODES = ("zeros", "reflect", "replicate", "circular")
DTYPES = ("float64", "float32", "complex128", "complex64", "float16", "bfloat16")


@pytest.fixture(autouse=True)
def one_thread():
    with dask.config.set(scheduler="synchronous"):  # the property tests stay in one thread (2 shared cores)
        yield


def _data(rng, shape, dtype):
    a = rng.standard_normal(shape)
    if dtype.startswith("complex"):
        a = a + 1j * rng.standard_normal(shape)
    return a.astype(ml_dtypes.bfloat16 if dtype == "bfloat16" else dtype)


def _tol(dtype):
    return {"float64": 1e-10, "complex128": 1e-10, "float32": 1e-4, "complex64": 1e-4}.get(dtype, 2e-2)


@st.composite
def calls(draw):
    nd = draw(st.integers(1, 2))
    op = draw(st.sampled_from(["conv", "conv_transpose"]))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    spatial = tuple(draw(st.integers(3, 7)) for _ in range(nd))
    groups = draw(st.sampled_from([1, 2]))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    mode = draw(st.sampled_from(MODES))
    # reflect needs padding < input; keep every mode's padding below the smallest spatial size
    padding = tuple(draw(st.integers(0, min(2, k - 1 if op == "conv_transpose" else 2))) for k in kernel)
    data_format = draw(st.sampled_from(["channels_first", "channels_last"]))
    weight_format = draw(st.sampled_from(["torch", "keras", "jax"]))
    dtype = draw(st.sampled_from(DTYPES))
    batch = draw(st.integers(1, 2))
    x_shape = (batch, cin, *spatial)
    if op == "conv":  # weight (C_out, C_in/g, *k)
        w_shape = (cout, cin // groups, *kernel)
    else:  # weight (C_in, C_out/g, *k)
        w_shape = (cin, cout // groups, *kernel)
    if data_format == "channels_last":
        x_shape = (batch, *spatial, cin)
    chunks = chunking(draw, x_shape)
    return dict(op=op, nd=nd, kw=dict(stride=stride, padding=padding, groups=groups, padding_mode=mode,
                                      data_format=data_format, weight_format=weight_format),
                x_shape=x_shape, w_shape=w_shape, dtype=dtype, chunks=chunks, seed=draw(st.integers(0, 2**31)))


def _weight(rng, c, dtype):
    w = _data(rng, c["w_shape"], "float64" if dtype.startswith("complex") else dtype)
    if c["kw"]["weight_format"] != "torch":  # the torch-layout draw, permuted into the chosen layout
        spec = weight_spec(c["kw"]["weight_format"], c["op"], c["nd"])
        torch_spec = weight_spec("torch", c["op"], c["nd"])
        w = np.transpose(w, [torch_spec.index(ch) for ch in spec])
    return w


@settings(max_examples=60)
@given(calls())
def test_dask_forward_with_every_convention_equals_numpy(c):
    rng = np.random.default_rng(c["seed"])
    x = _data(rng, c["x_shape"], c["dtype"])
    w = _weight(rng, c, c["dtype"])
    fn = tconv.conv if c["op"] == "conv" else tconv.conv_transpose
    try:
        want = fn(x, w, **c["kw"])
    except tconv.TconvError as e:  # an invalid draw: the Dask call refuses it with the same words, lazily
        with pytest.raises(tconv.TconvError) as info:
            fn(da.from_array(x, chunks=c["chunks"]), w, **c["kw"])
        assert str(info.value) == str(e)
        return
    got = fn(da.from_array(x, chunks=c["chunks"]), w, **c["kw"])
    assert isinstance(got, da.Array)
    assert got.dtype == want.dtype and got.shape == want.shape
    got = got.compute()
    scale = max(1.0, float(np.abs(want.astype(np.complex128)).max()))
    assert np.abs(got.astype(np.complex128) - want.astype(np.complex128)).max() <= _tol(c["dtype"]) * scale


@settings(max_examples=30)
@given(calls())
def test_dask_vjp_with_every_convention_equals_numpy(c):
    rng = np.random.default_rng(c["seed"])
    x = _data(rng, c["x_shape"], c["dtype"])
    w = _weight(rng, c, c["dtype"])
    fn, vjp = (tconv.conv, tconv.conv_vjp) if c["op"] == "conv" else (tconv.conv_transpose, tconv.conv_transpose_vjp)
    try:
        shape = fn(x, w, **c["kw"]).shape
    except tconv.TconvError:  # an invalid draw (the forward test checks its refusal)
        return
    g = _data(rng, shape, c["dtype"])
    want = vjp(g, x, w, None, **c["kw"])
    got = vjp(da.from_array(g), da.from_array(x, chunks=c["chunks"]), w, None, **c["kw"])
    assert isinstance(got[0], da.Array) and got[2] is None
    for a, b in zip((got[0].compute(), got[1]), want[:2]):
        assert a.dtype == b.dtype and a.shape == b.shape
        scale = max(1.0, float(np.abs(b.astype(np.complex128)).max()))
        assert np.abs(a.astype(np.complex128) - b.astype(np.complex128)).max() <= _tol(c["dtype"]) * scale


def test_float16_dask_stays_float16_and_out_dtype_is_honoured():
    x = np.linspace(-1, 1, 20).reshape(1, 2, 10).astype(np.float16)
    w = np.ones((2, 1, 3), np.float16)
    y = tconv.conv_transpose(da.from_array(x, chunks=3), w, stride=2)
    assert y.dtype == np.float16
    np.testing.assert_array_equal(y.compute(), tconv.conv_transpose(x, w, stride=2))
    y32 = tconv.conv(da.from_array(x, chunks=4), w.transpose(1, 0, 2), out_dtype=np.float32)
    assert y32.dtype == np.float32


def test_what_cannot_be_lazy_names_dask_and_the_parameter():
    x = da.ones((1, 1, 8), chunks=3)
    with pytest.raises(tconv.TconvTypeError, match="weight is a Dask array"):
        tconv.conv_transpose(x, da.ones((1, 1, 2)))
    with pytest.raises(tconv.TconvError, match="unknown chunk sizes"):
        tconv.conv(x[x > 0][None, None], np.ones((1, 1, 2)))


def test_a_complex_channels_last_call_enters_the_public_function_once(monkeypatch):
    import tconv.api.functional as functional
    import tconv.core.dispatch as dispatch

    entries = {"public": 0, "core": 0}
    public, core = functional.conv_transpose, dispatch.forward

    def counting_public(*a, **k):
        entries["public"] += 1
        return public(*a, **k)

    def counting_core(*a, **k):
        entries["core"] += 1
        return core(*a, **k)

    monkeypatch.setattr(functional, "conv_transpose", counting_public)
    monkeypatch.setattr(dispatch, "forward", counting_core)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 5, 5, 3)) + 1j * rng.standard_normal((1, 5, 5, 3))
    w = rng.standard_normal((3, 2, 3, 3)) + 1j * rng.standard_normal((3, 2, 3, 3))
    y = counting_public(x, w, stride=2, padding=1, data_format="channels_last")
    assert entries == {"public": 1, "core": 3}  # Gauss's three real products, each one core call
    ref = tconv.conv_transpose(x.transpose(0, 3, 1, 2), w, stride=2, padding=1).transpose(0, 2, 3, 1)
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)


def test_dask_circular_margins_wider_than_the_input():
    """A circular margin wider than its axis wraps more than once (``da.pad``'s ``wrap`` reaches one
    period; the VJP of a circular ``conv_transpose`` of 3 cells padded by 2 was refused as the wrong
    shape): the lazy pad, the forward and the VJP equal NumPy's."""
    from tconv.core.padding import Boundary

    rng = np.random.default_rng(3)
    for mode, shape, pads in (("circular", (1,), ((2, 3),)), ("circular", (3, 2), ((4, 0), (3, 5))),
                              ("replicate", (2,), ((3, 4),)), ("reflect", (5,), ((4, 4),)),
                              ("symmetric", (3, 3), ((3, 1), (2, 3)))):
        x = rng.standard_normal((2, *shape))
        b = Boundary(mode, pads, shape)
        np.testing.assert_array_equal(b.pad(da.from_array(x, chunks=1)).compute(), b.pad(x))
    x, w = rng.standard_normal((1, 1, 3)), rng.standard_normal((1, 1, 3))
    kw = dict(padding=2, padding_mode="circular")
    y = tconv.conv_transpose(x, w, **kw)
    np.testing.assert_allclose(tconv.conv_transpose(da.from_array(x), w, **kw).compute(), y, rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(y.shape)
    want = tconv.conv_transpose_vjp(g, x, w, None, **kw)
    got = tconv.conv_transpose_vjp(da.from_array(g), da.from_array(x, chunks=(1, 1, 2)), w, None, **kw)
    np.testing.assert_allclose(got[0].compute(), want[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-12, atol=1e-12)
