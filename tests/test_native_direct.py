"""The compiled core's direct convolutions and im2col/col2im, on every instruction set the host
runs, against the NumPy fallback computed in float64 (tap by tap: an independent formulation):
float32 (plain and float64 sums) and float64, 1-3 axes, groups, strides (one phase per stride
residue, blocks longer than the kernels' block), dilation, crops, huge strides, NaN/Inf, bad input,
concurrent callers and determinism of the weight gradient.

Tolerance: each output is a sum of at most ``terms`` products; float32 sums in float32 have error
at most ``terms * u * sum|products|`` (Higham 3.1), float64 sums far less; asserted elementwise
against ``sum|products|`` (the same operation on the absolute values)."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
from native_support import ISA_PARAMS, native_required  # noqa: F401  (autouse fixture)

import tconv
from tconv.core import _native
from tconv.core.algorithms import direct as D
from tconv.core.algorithms._kernels import as3, col2im_into, im2col_into, pad3, params3
from tconv.errors import TconvError, TconvTypeError


@pytest.fixture(params=ISA_PARAMS)
def isa(request):
    with _native.use_isa(request.param):
        yield request.param


def random_geometry(rng, nd, long_axis=False):
    """A random valid geometry (drawn again while the crop leaves no output)."""
    while True:
        try:
            return _draw_geometry(rng, nd, long_axis)
        except TconvError:
            continue


def _draw_geometry(rng, nd, long_axis):
    k = tuple(int(v) for v in rng.integers(1, 5, nd))
    s = tuple(int(v) for v in rng.integers(1, 4, nd))
    d = tuple(int(v) for v in rng.integers(1, 3, nd))
    p = tuple(int(v) for v in rng.integers(0, 3, nd))
    groups = int(rng.choice([1, 2, 3]))
    cyg, cxg = (int(v) for v in rng.integers(1, 4, 2))
    size = [int(v) for v in rng.integers(1, 7, nd)]
    if long_axis:
        size[-1] = 300  # the last axis longer than one accumulator block (256 cells)
    w_shape = (cyg * groups, cxg, *k)
    geom = tconv.conv_transpose_geometry(w_shape, tuple(size), s, p, 0, d, groups)
    return geom, w_shape


def terms_bound(dtype, terms, mag):
    u = np.finfo(dtype).eps / 2
    return (terms + 2) * u * mag + np.finfo(dtype).tiny


def check(got, want, mag, dtype, terms):
    assert got.dtype == dtype
    np.testing.assert_array_less(np.abs(got.astype(np.float64) - want), terms_bound(dtype, terms, mag))


CASES = [(nd, long) for nd in (1, 2, 3) for long in (False, True)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nd,long_axis", CASES)
def test_direct_matches_the_numpy_formulation(isa, dtype, nd, long_axis):
    rng = np.random.default_rng(nd * 10 + long_axis)
    algo = tconv.ALGORITHMS["direct"]
    for _ in range(6):
        geom, w_shape = random_geometry(rng, nd, long_axis)
        n = int(rng.integers(1, 3))
        y = rng.standard_normal((n, geom.y_channels, *geom.y_shape))
        x = rng.standard_normal((n, geom.x_channels, *geom.x_shape))
        w = rng.standard_normal(w_shape)
        ops = {
            "conv_transpose": (D.numpy_conv_transpose, y, w, geom.y_channels // geom.groups),
            "conv": (D.numpy_conv, x, w, geom.x_channels // geom.groups),
            "weight_grad": (D.numpy_weight_grad, y, x, n * math.prod(geom.y_shape)),
        }
        for op, (ref, a, b, per_tap) in ops.items():
            want = ref(a, b, geom)
            mag = ref(np.abs(a), np.abs(b), geom)
            got = algo.run(op, a.astype(dtype), b.astype(dtype), geom)
            terms = per_tap * math.prod(geom.kernel) if op != "weight_grad" else 4  # float64 sums
            check(got, want, mag, dtype, terms)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_im2col_and_col2im_match_numpy(isa, dtype):
    rng = np.random.default_rng(3)
    for nd in (1, 2, 3):
        for _ in range(4):
            geom, _ = random_geometry(rng, nd, long_axis=nd == 1)
            n, b0 = 3, 1
            x3 = as3(rng.standard_normal((n, geom.x_channels, *geom.x_shape)).astype(dtype), nd)
            shape = (geom.x_channels, *pad3(geom.kernel, 1), 2, *pad3(geom.y_shape, 1))
            cols = np.full(shape, np.nan, dtype)
            im2col_into(x3, cols, b0, geom)
            with _native.disabled():
                want = im2col_into(x3, np.full(shape, np.nan, dtype), b0, geom)
            np.testing.assert_array_equal(cols, want)
            c = rng.standard_normal(shape).astype(dtype)
            out = np.full(x3.shape, 7.0, dtype)
            col2im_into(c, out, b0, geom)
            with _native.disabled():
                ref = col2im_into(c.astype(np.float64), np.full(x3.shape, 7.0), b0, geom)
                mag = col2im_into(np.abs(c).astype(np.float64), np.zeros(x3.shape), b0, geom)
            assert (out[0] == 7).all() and np.isfinite(out).all()  # planes outside [b0, b0 + 2) untouched
            check(out, ref, mag, dtype, math.prod(geom.kernel))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_col2im_stride_2_pairs_match_numpy(isa, dtype):
    """col2im with stride 2 and dilation 1 on the last axis adds its taps two by two, interleaved
    into the row (direct.c's pair_row): odd and even kernels, crops wider than a tap, output_padding,
    other axes strided and dilated, rows of one or two cells; against NumPy's tap-by-tap col2im."""
    rng = np.random.default_rng(7)
    for trial in range(60):
        nd = 1 + trial % 3
        k = [int(v) for v in rng.integers(1, 6, nd)]
        s = [int(v) for v in rng.integers(1, 4, nd)]
        d = [int(v) for v in rng.integers(1, 3, nd)]
        s[-1], d[-1] = 2, 1
        spatial = [int(v) for v in rng.integers(1, 7, nd)]
        pads = [int(rng.integers(0, (k[a] - 1) * d[a] + 1)) for a in range(nd)]
        extra = [int(rng.integers(0, s[a])) for a in range(nd)]
        try:
            geom = tconv.conv_transpose_geometry((2, 3, *k), tuple(spatial), tuple(s), tuple(pads), tuple(extra),
                                                 tuple(d), 1)
        except TconvError:
            continue
        if geom.x_shape[-1] < 2:
            continue
        shape = (geom.x_channels, *pad3(geom.kernel, 1), 2, *pad3(geom.y_shape, 1))
        c = rng.standard_normal(shape).astype(dtype)
        x3 = np.full((3, geom.x_channels, *pad3(geom.x_shape, 1)), 7.0, dtype)
        col2im_into(c, x3, 1, geom)
        with _native.disabled():
            ref = col2im_into(c.astype(np.float64), np.full(x3.shape, 7.0), 1, geom)
            mag = col2im_into(np.abs(c).astype(np.float64), np.zeros(x3.shape), 1, geom)
        assert (x3[0] == 7).all(), geom  # the plane before n_first untouched
        check(x3, ref, mag, dtype, math.prod(geom.kernel))


def test_long_float32_sums_are_accurate(isa):
    """The inverse-STFT shape, scaled down: 513 channels x 4 taps per output, offset data."""
    rng = np.random.default_rng(0)
    y = (100 + rng.standard_normal((1, 513, 40))).astype(np.float32)
    w = rng.standard_normal((513, 1, 512)).astype(np.float32)
    geom = tconv.conv_transpose_geometry(w.shape, (40,), 128, 0)
    got = tconv.ALGORITHMS["direct"].conv_transpose(y, w, geom)
    want = D.numpy_conv_transpose(y.astype(np.float64), w.astype(np.float64), geom)
    mag = D.numpy_conv_transpose(np.abs(y).astype(np.float64), np.abs(w).astype(np.float64), geom)
    # float64 sums of float32 groups of 8: error ~ 8u per group, far below 513*4 u
    np.testing.assert_array_less(np.abs(got - want), 16 * np.finfo(np.float32).eps * mag + 1e-30)


@pytest.mark.parametrize("shape", [(1026, 1024, 256, 30, 0), (33, 64, 16, 40, 5), (5, 100, 30, 17, 3),
                                   (1, 48, 12, 50, 0), (7, 37, 9, 70, 11), (3, 40, 16, 3000, 3)], ids=str)
def test_long_strides_in_register_tiles(isa, shape):
    """conv_transpose with a stride above 8 runs blocks of phases as register tiles, their edges
    cell by cell: against the float64 formulation, a non-finite weight included."""
    cin, k, s, t, pad = shape
    rng = np.random.default_rng(k)
    x = rng.standard_normal((2, cin, t)).astype(np.float32)
    w = rng.standard_normal((cin, 2, k)).astype(np.float32)
    w[0, 1, k // 2] = np.inf
    geom = tconv.conv_transpose_geometry(w.shape, (t,), s, pad)
    with np.errstate(invalid="ignore"):
        want = D.numpy_conv_transpose(x.astype(np.float64), w.astype(np.float64), geom)
        mag = D.numpy_conv_transpose(np.abs(x).astype(np.float64), np.abs(w).astype(np.float64), geom)
    got = tconv.ALGORITHMS["direct"].conv_transpose(x, w, geom)
    for test in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(test(got), test(want))
    fin = np.isfinite(want)
    np.testing.assert_array_less(np.abs(got[fin] - want[fin]), 16 * np.finfo(np.float32).eps * mag[fin] + 1e-30)


# stride-1 geometries for direct_rows.c's register tiles (R rows x NQ cells, R <= 4, NQ <= 64): planes
# just under, at and over a tile's multiple (the last row group and tile moved back), kernels wider
# than the plane's margin (every tile a boundary patch), 1-3 axes, dilation, groups, crops and padding
ROWS_CASES = [  # (spatial, kernel, dilation, padding, cin, cout, groups)
    ((70, 130), (15, 15), (1, 1), (7, 7), 1, 1, 1),     # long float32 sums (225 terms: two chunks)
    ((9, 64), (3, 3), (1, 1), (1, 1), 2, 3, 1),
    ((13, 67), (5, 3), (2, 1), (4, 0), 4, 2, 2),
    ((5, 70), (9, 9), (1, 2), (8, 8), 1, 2, 1),         # every tile a patch (the margins overlap)
    ((6, 9, 70), (3, 5, 3), (1, 1, 2), (1, 2, 0), 2, 2, 1),
    ((4, 200), (2, 31), (1, 1), (0, 15), 3, 1, 1),
    ((300,), (15,), (1,), (7,), 1, 1, 1),               # one row: the row drivers
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", range(len(ROWS_CASES)))
def test_stride_1_register_tiles_match_numpy(isa, dtype, case):
    """conv and conv_transpose with stride 1 run as register tiles of rows (direct_rows.c): interior
    tiles in place, boundary tiles on a zero-padded patch; against the float64 formulation (float32:
    case 0's 225-term sums in float32 chunks with float64 totals, the others in float32), with NaN and
    Inf in the input (they land where the reference has them)."""
    spatial, k, d, pad, cin, cout, groups = ROWS_CASES[case]
    rng = np.random.default_rng(case)
    w_shape = (cout, cin // groups, *k)
    geom = tconv.conv_geometry(w_shape, spatial, 1, pad, dilation=d, groups=groups)
    x = rng.standard_normal((2, cin, *geom.x_shape))
    y = rng.standard_normal((2, cout, *geom.y_shape))
    x.reshape(-1)[[7, x.size // 2]] = np.nan, np.inf
    y.reshape(-1)[[3, y.size * 2 // 3]] = -np.inf, np.nan
    w = rng.standard_normal(w_shape)
    for op, ref, a, per_tap in (("conv", D.numpy_conv, x, cin // groups),
                                ("conv_transpose", D.numpy_conv_transpose, y, cout // groups)):
        with np.errstate(invalid="ignore"):
            want = ref(a, w, geom)
            mag = ref(np.abs(a), np.abs(w), geom)
        got = tconv.ALGORITHMS["direct"].run(op, a.astype(dtype), w.astype(dtype), geom)
        for test in (np.isnan, np.isposinf, np.isneginf):
            np.testing.assert_array_equal(test(got), test(want))
        fin = np.isfinite(want)
        bound = terms_bound(dtype, per_tap * math.prod(k), mag)
        np.testing.assert_array_less(np.abs(got[fin].astype(np.float64) - want[fin]), bound[fin])


def test_huge_strides_return_at_once(isa):
    x = np.ones((1, 1, 2), np.float32)
    for method in ("direct", "gemm"):
        y = tconv.conv_transpose(x, np.ones((1, 1, 1), np.float32), stride=10**17, padding=10**17 // 2 - 1,
                                 method=method)
        assert y.shape == (1, 1, 3) and y.tolist() == [[[0.0, 0.0, 0.0]]]
    y = tconv.conv_transpose(np.ones((1, 1, 1)), np.ones((1, 1, 1)), stride=10**18, method="direct")
    assert y.tolist() == [[[1.0]]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_and_inf_propagate_like_the_reference(isa, dtype):
    rng = np.random.default_rng(5)
    y = rng.standard_normal((1, 2, 9, 300)).astype(dtype)
    y[0, 0, 2, 3], y[0, 1, 4, 100], y[0, 1, 5, 299] = np.nan, np.inf, -np.inf
    w = rng.standard_normal((2, 2, 3, 3)).astype(dtype)
    geom = tconv.conv_transpose_geometry(w.shape, (9, 300), 2, 1, 1)
    with np.errstate(invalid="ignore"):
        want = D.numpy_conv_transpose(y.astype(np.float64), w.astype(np.float64), geom)
    got = tconv.ALGORITHMS["direct"].conv_transpose(y, w, geom)
    for test in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(test(got), test(want))


def test_concurrent_callers_and_deterministic_weight_gradient(isa):
    rng = np.random.default_rng(2)
    y = rng.standard_normal((2, 4, 64, 64)).astype(np.float32)
    x = rng.standard_normal((2, 4, 129, 129)).astype(np.float32)
    w = rng.standard_normal((4, 1, 3, 3)).astype(np.float32)
    geom = tconv.conv_transpose_geometry(w.shape, (64, 64), 2, 0, 0, 1, 4)
    algo = tconv.ALGORITHMS["direct"]
    want = {op: algo.run(op, *args, geom) for op, args in
            (("conv_transpose", (y, w)), ("conv", (x, w)), ("weight_grad", (y, x)))}
    diffs = []

    def work():
        for _ in range(5):
            for op, args in (("conv_transpose", (y, w)), ("conv", (x, w)), ("weight_grad", (y, x))):
                diffs.append(float(np.abs(algo.run(op, *args, geom) - want[op]).max()))

    threads = [threading.Thread(target=work) for _ in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(diffs) == 90 and max(diffs) == 0.0  # bit-identical, whoever got the pool


WGRAD_CASES = [  # (weight shape, conv input shape, keyword arguments): the weight gradient's register tiles
    ((1, 1, 15, 15), (64, 70), dict(stride=2, padding=7)),  # a strided PSF: several row tiles, lanes past k2
    ((2, 3, 5, 40), (9, 90), dict(stride=(1, 3), padding=(2, 0))),  # k2 over a tile's lanes: two tiles a row
    ((4, 2, 2, 1), (7, 12), dict(groups=2)),  # k1 < the tile's rows, k2 = 1
    ((3, 1, 3, 4, 5), (6, 9, 11), dict(stride=(2, 1, 2), padding=1, dilation=(2, 1, 1))),  # dilated axis 0
    ((2, 2, 7), (300,), dict(stride=4, padding=3)),  # 1-D
    ((2, 2, 3, 3), (20, 20), dict(padding=1, dilation=(1, 2))),  # dilated axis 2: the row drivers
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", range(len(WGRAD_CASES)))
def test_weight_gradient_tiles_match_numpy(isa, dtype, case):
    """On every ISA against NumPy's float64 tap-by-tap product, and where the tiles run, bit-identical on
    one and two threads (the splits are the shape's)."""
    wshape, size, kw = WGRAD_CASES[case]
    geom = tconv.conv_geometry(wshape, size, **kw)
    rng = np.random.default_rng(case)
    x = rng.standard_normal((2, geom.x_channels, *geom.x_shape))
    y = rng.standard_normal((2, geom.y_channels, *geom.y_shape))
    want = D.numpy_weight_grad(y, x, geom)
    got = tconv.ALGORITHMS["direct"].weight_grad(y.astype(dtype), x.astype(dtype), geom)
    tol = (1e-5 if dtype == np.float32 else 1e-12) * max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=0, atol=tol)
    tiles = D.wgrad_tiles(geom, 2, np.dtype(dtype).itemsize)
    assert (tiles is None) == (geom.dilation[-1] > 1 or (geom.nd > 1 and geom.dilation[-2] > 1) or isa == "avx512")
    if tiles is None:  # the row drivers: the same result for the same thread count only
        return
    gw = np.empty(geom.weight_shape, dtype)
    runs = []
    for threads in (1, 2):
        _native.direct("weight_grad", as3(y.astype(dtype), geom.nd), as3(x.astype(dtype), geom.nd), as3(gw, geom.nd),
                       (geom.groups, *params3(geom)), threads=threads)
        runs.append(gw.copy())
    np.testing.assert_array_equal(runs[0], runs[1])


def test_weight_gradient_of_a_non_finite_y_as_the_row_drivers(isa):
    """A padded zero times an infinite y would be NaN: such a y runs on the row drivers, which form
    only the products that exist (as the NumPy reference)."""
    geom = tconv.conv_geometry((1, 1, 5, 5), (30, 30), stride=2, padding=2)
    rng = np.random.default_rng(9)
    x = rng.standard_normal((1, 1, 30, 30))
    y = rng.standard_normal((1, 1, *geom.y_shape))
    y[0, 0, 0, 0], y[0, 0, 7, 3] = np.inf, np.nan
    with np.errstate(invalid="ignore"):
        want = D.numpy_weight_grad(y, x, geom)
    got = tconv.ALGORITHMS["direct"].weight_grad(y, x, geom)
    for test in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(test(got), test(want))


def _problem():
    y = np.ones((1, 2, 1, 1, 4), np.float32)
    w = np.ones((2, 1, 1, 1, 3), np.float32)
    out = np.empty((1, 2, 1, 1, 6), np.float32)
    return y, w, out, (2, 1, 1, 1, 1, 1, 1, 0, 0, 0)


BAD = [
    (lambda y, w, o, p: _native.direct("convolve", y, w, o, p), TconvError, "op='convolve'"),
    (lambda y, w, o, p: _native.direct("conv_transpose", y.tolist(), w, o, p), TconvTypeError, "numpy.ndarray"),
    (lambda y, w, o, p: _native.direct("conv_transpose", y, w.astype(np.float64), o, p), TconvTypeError, "dtype"),
    (lambda y, w, o, p: _native.direct("conv_transpose", y[..., ::2], w, o, p), TconvError, "C-contiguous"),
    (lambda y, w, o, p: _native.direct("conv_transpose", y, w, o[:, :1], p), TconvError, "channels"),
    (lambda y, w, o, p: _native.direct("conv_transpose", y, w, o, p[:9]), TconvError, "params"),
    (lambda y, w, o, p: _native.direct("conv_transpose", y, w, o, (2, 0, *p[2:])), TconvError, "strides"),
    (lambda y, w, o, p: _native.direct("conv_transpose", y, w, o, (2, 1.5, *p[2:])), TconvTypeError, "int"),
    (lambda y, w, o, p: _native.direct("conv_transpose", y, w, y, p), TconvError, "channels|share"),
    (lambda y, w, o, p: _native.direct("conv_transpose", y, w, o, p, threads=0), TconvError, "threads"),
    (lambda y, w, o, p: _native.im2col(o, np.empty((2, 1, 1, 3, 5, 1, 1, 4), np.float32), 0, p), TconvError,
     "beyond the batch"),
]


@pytest.mark.parametrize("i", range(len(BAD)))
def test_bad_input_is_a_tconv_error(i):
    fn, exc, fragment = BAD[i]
    with pytest.raises(exc, match=fragment):
        fn(*_problem())


def test_the_binding_checks_again_without_the_wrapper():
    """The C entry refuses what the Python wrapper would (no crash when called directly)."""
    ext = _native._ext
    y, w, out, p = _problem()
    with pytest.raises(TconvError, match="channels"):
        ext.direct("t", y, w, np.empty((1, 3, 1, 1, 6), np.float32), p, 0, 1)
    with pytest.raises(TconvError, match="share memory"):
        ext.direct("w", y, y, y, (1, 1, 1, 1, 1, 1, 1, 0, 0, 0), 0, 1)
    with pytest.raises(TconvError, match="2\\*\\*61"):
        ext.direct("t", y, w, out, (2, 1, 1, 2**62, 1, 1, 1, 0, 0, 0), 0, 1)
    with pytest.raises(TconvError, match="acc"):
        ext.direct("t", y, w, out, p, 2, 1)
    with pytest.raises(TconvTypeError, match="C-contiguous"):
        ext.direct("t", y[..., ::2], w, out, p, 0, 1)
    with pytest.raises(TconvError, match="beyond the batch"):
        ext.col2im(np.zeros((2, 1, 1, 3, 2, 1, 1, 4), np.float32), out, 0, p, 1)
    assert out.shape == (1, 2, 1, 1, 6)  # nothing was written out of place


def test_params_are_the_geometry():
    geom = tconv.conv_transpose_geometry((2, 1, 3, 4), (5, 6), (2, 3), (1, 0), 0, (1, 2))
    assert params3(geom) == (1, 2, 3, 1, 1, 2, 0, 1, 0)


def test_a_weight_gradient_with_strides_near_the_index_limit():
    """Strides of 2**59 make the tiles' padded x copy 2**118 cells: its size is checked with overflow-checked
    products and the row drivers take the call (one product, y[0] * x[0]), under the sanitizer build too."""
    s = 2**59
    out = np.full((1, 1, 1, 1, 1), np.nan)
    _native.direct("weight_grad", np.full((1, 1, 1, 2, 2), 3.0), np.full((1, 1, 1, 1, 1), 2.0), out,
                   (1, 1, s, s, 1, 1, 1, 0, 0, 0))
    np.testing.assert_array_equal(out, 6.0)


@pytest.mark.parametrize("op", ["conv", "conv_transpose"])
def test_row_tiles_with_a_dilation_near_the_index_limit(op):
    """A 2x2 kernel dilated by 2**40 on both image axes: the row tiles' patch would span 2**80 cells; its
    size is an overflow-checked product and the row drivers take the call. The one tap that lands is
    checked against NumPy."""
    d = 2**40
    x = np.arange(1.0, 33.0).reshape(1, 1, 1, 4, 8)
    w = np.array([2.0, 3.0, 5.0, 7.0]).reshape(1, 1, 1, 2, 2)
    out = np.full((1, 1, 1, 4, 8), np.nan)
    _native.direct(op, x, w, out, (1, 1, 1, 1, 1, d, d, 0, 0, 0) if op == "conv" else (1, 1, 1, 1, 1, d, d, 0, 0, 0))
    np.testing.assert_array_equal(out, 2.0 * x)  # only tap (0, 0) reads inside the arrays
