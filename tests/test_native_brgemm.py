"""The compiled core's channels-last batch-reduce GEMMs (the ``brgemm`` algorithm, ``brgemm.c``) against
the float64 ``gemm`` algorithm on every instruction set the host runs: geometries that exercise the
tiles' edges (rows shorter than a tile, output channels across several panels and a partial last
one), the stride phases of conv_transpose (phases without taps, crops, ``output_padding``), strided
and dilated convs, groups, 1 to 3 axes. The registry tests run ``brgemm`` against PyTorch, ONNX
Runtime, the sparse matrix, the dot test and the non-finite cases on their own cases."""

from __future__ import annotations

import numpy as np
import pytest
from native_support import ISA_PARAMS, assert_close_to_reference, native_required  # noqa: F401  (autouse fixture)

import tconv
from tconv.core import _native
from tconv.core.algorithms import ALGORITHMS
from tconv.core.algorithms._kernels import as3, params3
from tconv.errors import TconvError

BR, REF = ALGORITHMS["brgemm"], ALGORITHMS["gemm"]

CASES = [  # (weight shape, input shape of conv_transpose, keyword arguments)
    ((64, 64, 3, 3), (13, 20), dict(padding=2, dilation=2)),  # L9-like: 4 panels of float32 on AVX2
    ((6, 5, 4, 4), (9, 37), dict(stride=2, padding=1)),
    ((4, 3, 3, 5), (11, 45), dict(stride=(1, 3), padding=(2, 1), dilation=(2, 1), output_padding=(0, 2))),
    ((8, 2, 3), (70,), dict(stride=3, padding=4, groups=2)),
    ((3, 4, 2, 2, 2), (5, 6, 9), dict(stride=2)),
    ((5, 40, 1, 16), (3, 40), dict(stride=(1, 8), padding=(0, 4))),  # 40 output channels: a partial panel
    ((4, 4, 3, 3), (20, 33), dict(padding=((3, 0), (0, 2)), dilation=2)),  # asymmetric crop
    ((2, 9, 5), (3,), dict(stride=4, padding=5)),  # fewer positions than a tile
    ((3, 2, 2, 2), (4, 5), dict(stride=5)),  # stride > kernel: phases without taps (zeros)
    ((6, 6, 3, 3, 3), (4, 5, 7), dict(padding=1, groups=3)),
    ((2, 3, 7), (17,), dict(stride=2, padding=9)),  # the crop beyond the kernel's reach
]


@pytest.fixture(params=ISA_PARAMS)
def isa(request):
    with _native.use_isa(request.param):
        yield request.param


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ci", range(len(CASES)))
def test_brgemm_matches_gemm(isa, dtype, ci):
    wshape, inshape, kw = CASES[ci]
    geom = tconv.conv_transpose_geometry(wshape, inshape, **kw)
    rng = np.random.default_rng(ci)
    w = rng.standard_normal(wshape).astype(dtype)
    y = rng.standard_normal((3, geom.y_channels, *geom.y_shape)).astype(dtype)
    x = rng.standard_normal((3, geom.x_channels, *geom.x_shape)).astype(dtype)
    w64, y64, x64 = w.astype(np.float64), y.astype(np.float64), x.astype(np.float64)
    assert_close_to_reference(BR.conv_transpose(y, w, geom), REF.conv_transpose(y64, w64, geom), dtype, geom)
    assert_close_to_reference(BR.conv(x, w, geom), REF.conv(x64, w64, geom), dtype, geom)


def random_geometry(rng):
    """A random geometry (1-3 axes, strides, dilations, groups; a conv's pads, or a conv_transpose's
    crops and output_padding) and its batch."""
    nd = int(rng.integers(1, 4))
    g = int(rng.choice([1, 1, 2, 3]))
    k = tuple(int(v) for v in rng.integers(1, 5, nd))
    s = tuple(int(v) for v in rng.integers(1, 4, nd))
    d = tuple(int(v) for v in rng.integers(1, 3, nd))
    wshape = (g * int(rng.integers(1, 20)), int(rng.integers(1, 20)), *k)
    size = tuple(int(v) for v in rng.integers(1, 12, nd))
    if rng.integers(2):
        pad = tuple((int(a), int(b)) for a, b in rng.integers(0, 4, (nd, 2)))
        size = tuple(max(n, dd * (kk - 1) + 1 - lo - hi) for n, dd, kk, (lo, hi) in zip(size, d, k, pad))
        return tconv.conv_geometry(wshape, size, s, pad, d, g), int(rng.integers(1, 3))
    crop = tuple(int(v) for v in rng.integers(0, 3, nd))
    size = tuple(max(n, -(-(2 * c + 1 - dd * (kk - 1)) // ss) + 1) for n, c, dd, kk, ss in zip(size, crop, d, k, s))
    opad = tuple(int(rng.integers(0, max(ss, dd))) for ss, dd in zip(s, d))
    wshape = (wshape[0], wshape[1], *k)
    return tconv.conv_transpose_geometry(wshape, size, s, crop, opad, d, g), int(rng.integers(1, 3))


@pytest.mark.parametrize("seed", range(4))
def test_brgemm_on_random_geometries(isa, seed):
    """60 random geometries per seed, both operations, float32 and float64 alternating."""
    rng = np.random.default_rng(100 + seed)
    for i in range(60):
        geom, n = random_geometry(rng)
        dtype = (np.float32, np.float64)[i % 2]
        w = rng.standard_normal(geom.weight_shape)
        x = rng.standard_normal((n, geom.x_channels, *geom.x_shape))
        y = rng.standard_normal((n, geom.y_channels, *geom.y_shape))
        assert_close_to_reference(BR.conv(x.astype(dtype), w.astype(dtype), geom), REF.conv(x, w, geom), dtype, geom)
        assert_close_to_reference(BR.conv_transpose(y.astype(dtype), w.astype(dtype), geom),
                                  REF.conv_transpose(y, w, geom), dtype, geom)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("width", [25, 56, 57, 62, 64, 71, 7])
def test_short_tiles_at_the_end_of_a_row(isa, dtype, width):
    """A long row's last cells in the short register tile (``full_tiles``): widths that split into full
    and short tiles on every ISA (AVX2 6 + 4 rows, AVX-512 14 + 8, generic 4 + 2), rows short enough to be
    tiled across in full tiles (7), and a sum long enough for the depth chunks (460 channels x 9 taps); a full
    panel of output channels (the ISA's transposed store, AVX2) and a partial one; every cell against the
    float64 reference, the output's cells each written (a NaN-filled buffer comes back as the plain call's)."""
    rng = np.random.default_rng(width)
    for cin in (8, 460):
        geom = tconv.conv_geometry((21, cin, 3, 3), (3, width), padding=1)  # a full panel of 16 and 5
        x = rng.standard_normal((2, cin, 3, width))
        w = rng.standard_normal((21, cin, 3, 3))
        got = BR.conv(x.astype(dtype), w.astype(dtype), geom)
        assert_close_to_reference(got, REF.conv(x, w, geom), dtype, geom)
        out = np.full((2, 21, *geom.y_shape), np.nan, dtype)
        _native.brgemm("conv", as3(x.astype(dtype), 2), as3(w.astype(dtype), 2), as3(out, 2), (1, *params3(geom)),
                       threads=2)
        np.testing.assert_array_equal(out, got)


def test_the_split_of_a_row_computes_the_fewest_rows():
    """``split_tiles`` (the cost model's copy of ``brgemm.c``'s ``full_tiles``) against every way of
    covering a run with full tiles and then short ones: the fewest rows computed, then the fewest tiles."""
    from tconv.core.algorithms.brgemm import split_tiles

    for mr, ms in [(6, 4), (14, 8), (4, 2), (6, 0)]:
        for cells in range(0, 120):
            best = min((nf * mr + ns * ms, nf + ns) for nf in range(cells // mr + 2) for ns in range(9 if ms else 1)
                       if nf * mr + ns * ms >= cells and (ns == 0 or nf * mr < cells))
            assert split_tiles(cells, mr, ms) == (best[1], best[0]), (mr, ms, cells)
    assert split_tiles(56, 6, 4) == (10, 56)  # R1's rows: 8 x 6 + 2 x 4


def test_every_cell_written_and_thread_count_free(isa):
    """The output is fully overwritten (a NaN-filled buffer comes back finite, stride-5 phases without
    taps as zeros) and the result is bit-identical on one and two threads."""
    geom = tconv.conv_transpose_geometry((3, 17, 2, 2), (9, 11), stride=5, padding=1)
    rng = np.random.default_rng(7)
    y = rng.standard_normal((2, 3, 9, 11)).astype(np.float32)
    w = rng.standard_normal((3, 17, 2, 2)).astype(np.float32)
    out = np.full((2, 17, *geom.x_shape), np.nan, np.float32)
    _native.brgemm("conv_transpose", as3(y, 2), as3(w, 2), as3(out, 2), (1, *params3(geom)), threads=1)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[:, :, 2::5, :], 0)  # phase 2 of axis 0 receives no tap
    two = np.full_like(out, np.nan)
    _native.brgemm("conv_transpose", as3(y, 2), as3(w, 2), as3(two, 2), (1, *params3(geom)), threads=2)
    np.testing.assert_array_equal(out, two)


def test_bad_input_says_what_and_why():
    with pytest.raises(TconvError, match="op="):
        _native.brgemm("weight_grad", np.ones((1, 1, 1, 1, 2)), np.ones((1, 1, 1, 1, 2)), np.ones((1, 1, 1, 1, 1)),
                       (1, 1, 1, 1, 1, 1, 1, 0, 0, 0))
    with pytest.raises(TconvError, match="channels"):
        _native.brgemm("conv", np.ones((1, 2, 1, 1, 4)), np.ones((3, 1, 1, 1, 2)), np.empty((1, 3, 1, 1, 3)),
                       (1, 1, 1, 1, 1, 1, 1, 0, 0, 0))
    geom = tconv.conv_transpose_geometry((1, 1, 2, 2, 2), (102, 102, 102), stride=(102, 102, 102))
    assert "output phases" in BR.supports(geom, np.dtype(np.float32), "conv_transpose")  # 102**3 > 2**20
    assert "does not implement" in BR.supports(geom, np.dtype(np.float32), "weight_grad")
    with pytest.raises(TconvError, match="output phases"):  # the C entry checks on its own
        _native.brgemm("conv_transpose", np.ones((1, 1, 1, 1, 1)), np.ones((1, 1, 1, 1, 1)),
                       np.empty((1, 1, 1025, 1025, 1)), (1, 1025, 1025, 1, 1, 1, 1, 0, 0, 0))
    # one output cell of a 2x2x2 kernel dilated by 2**30 over pads of 2**29: the copy would span 2**90 cells
    d, lo = 2**30, 2**29
    params = (1, 1, 1, 1, d, d, d, lo, lo, lo)
    with pytest.raises(TconvError, match="2\\*\\*61 bytes"):
        _native.brgemm("conv", np.ones((1, 1, 1, 1, 1)), np.ones((1, 1, 2, 2, 2)), np.empty((1, 1, 1, 1, 1)), params)
    with pytest.raises(TconvError, match="2\\*\\*61 bytes"):
        _native._ext.direct_plan("c", (1, 1, 1, 1, 1), (1, 1, 2, 2, 2), (1, 1, 1, 1, 1), params, 2, False, True)
    huge = tconv.conv_geometry((1, 1, 2, 2, 2), (1, 1, 1), padding=lo, dilation=d)
    assert "2**60 bytes" in BR.supports(huge, np.dtype(np.float64), "conv")


def test_a_huge_stride_costs_its_output_cells():
    """Phases past the output have no cell: a stride of 10**9 over 3 output cells is 3 phases."""
    got = tconv.conv_transpose(np.ones((1, 1, 2)), np.ones((1, 1, 1)), stride=10**9, padding=499999999, method="brgemm")
    np.testing.assert_array_equal(got, np.zeros((1, 1, 3)))


def test_explain_names_the_tiles():
    p = tconv.explain((4, 64, 64, 64), (64, 64, 3, 3), padding=2, dilation=2)
    row = next(c for c in p.candidates if c.name == "brgemm")
    assert row.reason is None and "channels-last copy" in row.detail and _native.get_isa() in row.detail


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ci", [0, 1, 4, 5, 8])
def test_prepared_and_packed_calls_equal_the_plain_call(isa, dtype, ci):
    """A repeated call runs a prepared plan (``direct_plan(..., brgemm=True)``), a weight owner's call takes
    the packed weights from its cache (packed once): both bit-identical to the plain C call, the bias
    added as NumPy adds it, every output cell overwritten."""
    from tconv.core.dispatch import run

    wshape, inshape, kw = CASES[ci]
    geom = tconv.conv_transpose_geometry(wshape, inshape, **kw)
    rng = np.random.default_rng(10 + ci)
    w = rng.standard_normal(wshape).astype(dtype)
    for op, shape in (("conv_transpose", (2, geom.y_channels, *geom.y_shape)), ("conv", (2, geom.x_channels, *geom.x_shape))):
        a = rng.standard_normal(shape).astype(dtype)
        out_ch = geom.x_channels if op == "conv_transpose" else geom.y_channels
        plain = np.full((2, out_ch, *(geom.x_shape if op == "conv_transpose" else geom.y_shape)), np.nan, dtype)
        _native.brgemm(op, as3(a, geom.nd), as3(w, geom.nd), as3(plain, geom.nd), (geom.groups, *params3(geom)))
        prepared = BR.prepare(op, geom, 2, np.dtype(dtype))
        bias = rng.standard_normal(out_ch).astype(dtype)
        cache: dict = {}
        got = [prepared(a, w, None), prepared(a, w, None, cache), prepared(a, w, None, cache),
               run("brgemm", op, a, w, geom, cache=cache)]
        assert len(cache) == 1 and next(iter(cache))[:2] == ("brgemm", op)
        for g in got:
            np.testing.assert_array_equal(g, plain)
        np.testing.assert_array_equal(prepared(a, w, bias, cache), plain + bias.reshape((1, -1) + (1,) * geom.nd))


def test_a_layer_keeps_the_packed_weights_until_the_weight_changes():
    """A layer running brgemm keeps the packed weights in its cache; an in-place edit of the weight or a
    new array is seen before they are reused."""
    rng = np.random.default_rng(11)
    w = rng.standard_normal((8, 6, 4, 4))
    x = rng.standard_normal((2, 8, 5, 5))
    layer = tconv.ConvTranspose(w.copy(), stride=2, padding=1, method="brgemm")
    first = layer(x)
    kept = [v for k, v in layer._spectra.items() if k[0] == "brgemm"]
    assert len(kept) == 1
    np.testing.assert_array_equal(layer(x), first)
    assert [v for k, v in layer._spectra.items() if k[0] == "brgemm"][0] is kept[0]
    layer.weight[0, 0, 0, 0] += 1.0
    np.testing.assert_allclose(layer(x), tconv.conv_transpose(x, layer.weight, stride=2, padding=1), rtol=1e-12)
    layer.weight = 2 * layer.weight
    np.testing.assert_allclose(layer(x), tconv.conv_transpose(x, layer.weight, stride=2, padding=1), rtol=1e-12)


def test_one_packed_copy_for_every_input_size_and_no_plan_without_the_core():
    """The packed weights' key is what fixes their layout (not the input's extents): a layer fed two image
    sizes keeps one copy; a plan kept while the core ran is not used once it is switched off."""
    rng = np.random.default_rng(12)
    w = rng.standard_normal((8, 6, 3, 3))
    layer = tconv.ConvTranspose(w, padding=1, method="brgemm")
    for shape in ((2, 8, 5, 5), (1, 8, 9, 7)):
        x = rng.standard_normal(shape)
        np.testing.assert_allclose(layer(x), tconv.conv_transpose(x, w, padding=1), rtol=1e-12, atol=1e-12)
    assert len([k for k in layer._spectra if k[0] == "brgemm"]) == 1
    geom = tconv.conv_transpose_geometry(w.shape, (5, 5), padding=1)
    y = rng.standard_normal((2, 8, 5, 5))
    BR.conv_transpose(y, w, geom)  # a plan is kept
    with _native.disabled(), pytest.raises(TconvError, match="compiled core is unavailable"):
        BR.conv_transpose(y, w, geom)


def test_no_input_channel_gives_zeros_and_a_huge_copy_is_refused_whatever_the_channels():
    """No input channel: every sum is empty, the output zeros at once. The copy's cells are checked apart
    from its channels: with dilations of 2**59 and no channel its rows were 2**60 memsets of nothing (a hang)."""
    out = np.full((2, 3, 1, 4, 5), np.nan)
    _native.brgemm("conv", np.ones((2, 0, 1, 5, 6)), np.ones((3, 0, 1, 2, 2)), out, (1, 1, 1, 1, 1, 1, 1, 0, 0, 0))
    np.testing.assert_array_equal(out, 0.0)
    with pytest.raises(TconvError, match="2\\*\\*61 bytes"):
        _native.brgemm("conv", np.ones((1, 0, 1, 1, 1)), np.ones((1, 0, 2, 2, 1)), np.empty((1, 1, 1, 1, 1)),
                       (1, 1, 1, 1, 2**59, 2**59, 1, 0, 0, 0))


def test_compact_checks_without_a_sum_that_wraps():
    """compact's interior check compared lo + n with the padded extent: 2**62 + 250 + 2**62 + 1000 wrapped
    negative and a 4000-byte row was moved inside a 4-byte buffer; now refused."""
    with pytest.raises(TconvError, match="does not fit"):
        _native._ext.compact(bytearray(4), 1, 1, 1, 1, 0, 0, 2**62 + 250, 1, 1, 2**62 + 1000, 4)


def test_a_plan_checks_what_it_is_given():
    """The prepared entry points refuse what does not fit the plan, naming the argument: packed weights
    of the wrong size or given to a direct plan, a direct plan asked to pack, a float32-wide brgemm plan."""
    ext = _native._ext
    shapes = ((1, 2, 1, 1, 6), (2, 3, 1, 1, 3), (1, 3, 1, 1, 8))
    plan = ext.direct_plan("t", *shapes, (1, 1, 1, 1, 1, 1, 1, 0, 0, 0), 2, False, True)
    direct_plan = ext.direct_plan("t", *shapes, (1, 1, 1, 1, 1, 1, 1, 0, 0, 0), 2, False)
    a, w, out = np.ones(shapes[0]), np.ones(shapes[1]), np.empty(shapes[2])
    n = ext.brgemm_packed_len(plan)
    with pytest.raises(TconvError, match="packed: .* the plan needs"):
        ext.direct_run(plan, a, w, out, None, 1, np.empty(n + 1))
    with pytest.raises(TconvError, match="only a brgemm plan"):
        ext.direct_run(direct_plan, a, w, out, None, 1, np.empty(n))
    with pytest.raises(TconvError, match="not a brgemm plan"):
        ext.brgemm_pack(direct_plan, w, np.empty(n), 1)
    with pytest.raises(TconvError, match="w: .* the plan needs"):
        ext.brgemm_pack(plan, np.ones((3, 3)), np.empty(n), 1)
    with pytest.raises(TconvError, match="acc=1"):
        ext.direct_plan("t", *shapes, (1, 1, 1, 1, 1, 1, 1, 0, 0, 0), 1, False, True)
    packed = np.empty(n)
    ext.brgemm_pack(plan, w, packed, 1)
    ext.direct_run(plan, a, w, out, None, 1, packed)
    np.testing.assert_array_equal(out, np.full(shapes[2], 2.0)[:, :, :, :, :8] * [1, 2, 3, 3, 3, 3, 2, 1])
