"""Dask arrays against the NumPy path (itself tested against PyTorch): random geometries from the
parity suite, random chunkings (size-1 chunks, chunks smaller than the halo, uneven last chunks,
one chunk, a chunked channel axis)."""

import dask
import dask.array as da
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import cases

import tconv

TOL = {np.float64: 1e-12, np.float32: 1e-5}



@pytest.fixture(autouse=True)
def one_thread():
    with dask.config.set(scheduler="synchronous"):  # the property tests stay in one thread (2 shared cores)
        yield


def chunking(draw, shape):
    """One random chunking of ``shape``: per axis one chunk, size-1 chunks or random cuts."""
    out = []
    for n in shape:
        kind = draw(st.sampled_from(["one", "ones", "random", "random"]))
        if kind == "one" or n == 1:
            out.append((n,))
        elif kind == "ones":
            out.append((1,) * n)
        else:
            cuts = sorted(draw(st.sets(st.integers(1, n - 1), min_size=1, max_size=n - 1)))
            edges = [0, *cuts, n]
            out.append(tuple(e - a for a, e in zip(edges, edges[1:])))
    return tuple(out)


def close(got, want, dtype, what):
    scale = max(1.0, float(np.max(np.abs(want))) if want.size else 1.0)
    err = float(np.max(np.abs(got - want))) if want.size else 0.0
    assert got.shape == want.shape, (what, got.shape, want.shape)
    assert got.dtype == want.dtype, (what, got.dtype, want.dtype)
    assert err <= TOL[dtype] * scale, f"{what}: max error {err:.3g} (scale {scale:.3g})"


@given(case=cases(), data=st.data())
def test_conv_transpose_dask_matches_numpy(case, data):
    x, w, b = case.arrays()
    want = tconv.conv_transpose(x, w, b, **case.kwargs())
    xd = da.from_array(x, chunks=chunking(data.draw, x.shape))
    y = tconv.conv_transpose(xd, w, b, **case.kwargs())
    assert isinstance(y, da.Array)
    close(y.compute(), want, case.dtype, "conv_transpose")


def conv_case(case):
    """A ``conv`` call from a conv_transpose case: the same weight maps that call's output shape back."""
    x, w, b = case.arrays()
    x_shape = tconv.conv_transpose(x, w, **case.kwargs()).shape
    rng = np.random.default_rng(case.seed + 1)
    xc = rng.standard_normal(x_shape).astype(case.dtype)
    bc = None if b is None else rng.standard_normal(case.cin).astype(case.dtype)
    kw = dict(stride=case.stride, padding=case.padding, dilation=case.dilation, groups=case.groups)
    return xc, w, bc, kw


@given(case=cases(), data=st.data())
def test_conv_dask_matches_numpy(case, data):
    x, w, b, kw = conv_case(case)
    want = tconv.conv(x, w, b, **kw)
    xd = da.from_array(x, chunks=chunking(data.draw, x.shape))
    y = tconv.conv(xd, w, b, **kw)
    close(y.compute(), want, case.dtype, "conv")


@given(case=cases(), data=st.data())
def test_conv_transpose_vjp_dask_matches_numpy(case, data):
    x, w, b = case.arrays()
    out_shape = tconv.conv_transpose(x, w, **case.kwargs()).shape
    go = np.random.default_rng(case.seed + 7).standard_normal(out_shape).astype(case.dtype)
    want = tconv.conv_transpose_vjp(go, x, w, b, **case.kwargs())
    xd = da.from_array(x, chunks=chunking(data.draw, x.shape))
    gd = da.from_array(go, chunks=chunking(data.draw, go.shape))
    gx, gw, gb = tconv.conv_transpose_vjp(gd, xd, w, b, **case.kwargs())
    assert isinstance(gx, da.Array) and gx.chunks == xd.chunks
    assert isinstance(gw, np.ndarray)
    close(gx.compute(), want[0], case.dtype, "grad_x")
    close(gw, want[1], case.dtype, "grad_weight")
    if b is None:
        assert gb is None
    else:
        assert isinstance(gb, np.ndarray)
        close(gb, want[2], case.dtype, "grad_bias")


@given(case=cases(), data=st.data())
def test_conv_vjp_dask_matches_numpy(case, data):
    x, w, b, kw = conv_case(case)
    out_shape = tconv.conv(x, w, **kw).shape
    go = np.random.default_rng(case.seed + 5).standard_normal(out_shape).astype(case.dtype)
    want = tconv.conv_vjp(go, x, w, b, **kw)
    xd = da.from_array(x, chunks=chunking(data.draw, x.shape))
    gd = da.from_array(go, chunks=chunking(data.draw, go.shape))
    gx, gw, gb = tconv.conv_vjp(gd, xd, w, b, **kw)
    assert isinstance(gx, da.Array) and gx.chunks == xd.chunks
    close(gx.compute(), want[0], case.dtype, "grad_x")
    close(gw, want[1], case.dtype, "grad_weight")
    if b is not None:
        close(gb, want[2], case.dtype, "grad_bias")
