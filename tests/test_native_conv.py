"""The compiled core's implicit GEMMs (the ``native`` algorithm) against the NumPy/BLAS ``gemm``
algorithm on geometries large enough to exercise the packers' fast paths (rows longer than a
register tile, runs crossing rows and images, edges cut by padding and crops) and on every
instruction set the host runs. The registry tests run ``native`` against PyTorch, ONNX and the
sparse matrix on their own (smaller) cases."""

from __future__ import annotations

import numpy as np
import pytest
from native_support import ISA_PARAMS, assert_close_to_reference, native_required  # noqa: F401  (autouse fixture)

import tconv
from tconv.core import _native
from tconv.core.algorithms import ALGORITHMS

CASES = [  # (weight shape, input shape of conv_transpose, keyword arguments)
    ((6, 5, 4, 4), (9, 37), dict(stride=2, padding=1)),
    ((4, 3, 3, 5), (11, 45), dict(stride=(1, 3), padding=(2, 1), dilation=(2, 1), output_padding=(0, 2))),
    ((8, 2, 3), (70,), dict(stride=3, padding=4, groups=2)),
    ((3, 4, 2, 2, 2), (5, 6, 33), dict(stride=2)),
    ((5, 7, 1, 16), (3, 40), dict(stride=(1, 8), padding=(0, 4))),
    ((4, 4, 3, 3), (20, 33), dict(padding=((3, 0), (0, 2)), dilation=2)),
    ((2, 9, 5), (3,), dict(stride=4, padding=5)),
    # the weight packer's row tables: the phases of one part at rows (output channel, phase), their
    # first taps 0, 1, 4, 5 (not consecutive: element by element) and 0..3 (consecutive, 4 rows, fewer
    # than a register tile: one short copy per depth step, the rest of the panel zero)
    ((6, 7, 4, 4), (9, 10), dict(stride=2)),
    ((7, 1, 12), (20,), dict(stride=4)),
    ((3, 5, 16), (2600,), dict(stride=8, padding=4)),  # two parts of 7800 columns: run block by block
    # more taps than the packer keeps on the stack (64): its tables read in place, edges masked
    ((1, 1, 31, 31), (21, 40), dict(stride=2, padding=14)),  # 256 taps a phase, one channel
    ((2, 3, 5, 5, 5), (6, 7, 20), dict(padding=2)),  # 125 taps
    # depth 360 in blocks of 184 (float64: 120) that start inside a channel's taps, edges masked
    ((40, 6, 3, 3), (9, 37), dict(padding=2, dilation=2)),
]


@pytest.fixture(params=ISA_PARAMS)
def isa(request):
    with _native.use_isa(request.param):
        yield request.param


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ci", range(len(CASES)))
def test_native_matches_gemm(isa, dtype, ci):
    wshape, inshape, kw = CASES[ci]
    geom = tconv.conv_transpose_geometry(wshape, inshape, **kw)
    rng = np.random.default_rng(ci)
    w = rng.standard_normal(wshape).astype(dtype)
    y = rng.standard_normal((3, geom.y_channels, *geom.y_shape)).astype(dtype)
    x = rng.standard_normal((3, geom.x_channels, *geom.x_shape)).astype(dtype)
    nat, ref = ALGORITHMS["native"], ALGORITHMS["gemm"]
    w64, y64, x64 = w.astype(np.float64), y.astype(np.float64), x.astype(np.float64)
    for got, want in [(nat.conv_transpose(y, w, geom), ref.conv_transpose(y64, w64, geom)),
                      (nat.conv(x, w, geom), ref.conv(x64, w64, geom)),
                      (nat.weight_grad(y, x, geom), ref.weight_grad(y64, x64, geom))]:
        assert_close_to_reference(got, want, dtype, geom)


def test_every_output_element_is_written():
    """conv_transpose writes each element once, zeros included (phases without taps, cells no
    input reaches): an output buffer full of NaN would show any cell left unwritten."""
    geom = tconv.conv_transpose_geometry((2, 3, 2, 1), (4, 5), stride=(3, 2), output_padding=(2, 1))
    w = np.ones((2, 3, 2, 1))
    y = np.ones((2, 2, 4, 5))
    got = ALGORITHMS["native"].conv_transpose(y, w, geom)
    np.testing.assert_array_equal(got, ALGORITHMS["gemm"].conv_transpose(y, w, geom))
    assert (got == 0).any() and np.isfinite(got).all()


def test_results_do_not_depend_on_the_thread_count():
    wshape, inshape, kw = CASES[0]
    geom = tconv.conv_transpose_geometry(wshape, inshape, **kw)
    rng = np.random.default_rng(1)
    w = rng.standard_normal(wshape).astype(np.float32)
    y = rng.standard_normal((4, geom.y_channels, *geom.y_shape)).astype(np.float32)
    x = rng.standard_normal((4, geom.x_channels, *geom.x_shape)).astype(np.float32)
    before = _native.get_num_threads()
    try:
        results = []
        for t in (1, 2, 3):
            _native.set_num_threads(t)
            nat = ALGORITHMS["native"]
            results.append((nat.conv_transpose(y, w, geom), nat.conv(x, w, geom), nat.weight_grad(y, x, geom)))
    finally:
        _native.set_num_threads(before)
    for r in results[1:]:
        for a, b in zip(r, results[0]):
            np.testing.assert_array_equal(a, b)


def test_the_extension_checks_the_tables():
    """Tables that reach outside a buffer are refused by the C side, never read."""
    w, src, dst = np.ones(8), np.ones(8), np.zeros(8)
    i64 = lambda *v: np.array(v, np.int64)  # noqa: E731
    ok = dict(m=2, a_qoff=i64(0, 1), a_rs=2, w_base=0, qbase=i64(0, 1), qcoord=i64(0, 1), colbase=i64(0, 2),
              colcoord=i64(0, 2), bounds=i64(8), c_coloff=i64(0, 1), c_rs=2, c_base=0)

    def call(**over):
        a = {**ok, **over}
        _native._ext.conv_gemm(w, src, dst, a["m"], a["a_qoff"], a["a_rs"], a["w_base"], a["qbase"], a["qcoord"],
                               a["colbase"], a["colcoord"], a["bounds"], a["c_coloff"], a["c_rs"], a["c_base"], 0.0, 1)

    call()
    np.testing.assert_array_equal(dst[:4], [2, 2, 2, 2])
    # the last three: sums and products that wrapped in 64 bits past the range check (a write 336 bytes past
    # dst), and a row count whose packed A would wrap; the checks now run in 128 bits and cap the rows at 2**31
    for bad in [dict(w_base=7), dict(a_qoff=i64(0, 9)), dict(c_base=5), dict(c_coloff=i64(0, 100)),
                dict(qcoord=i64(0)), dict(m=-1), dict(bounds=i64()), dict(a_qoff=np.zeros(2)),
                dict(c_rs=2**62, c_base=2**62 + 100), dict(a_rs=2**62, w_base=2**62 + 100),
                dict(m=2**62 + 1, a_rs=0, c_rs=0)]:
        with pytest.raises(tconv.TconvError):
            call(**bad)
    with pytest.raises(tconv.TconvError, match="share memory"):
        _native._ext.conv_gemm(w, src, w, 2, i64(0, 1), 2, 0, i64(0, 1), i64(0, 1), i64(0, 2), i64(0, 2), i64(8),
                               i64(0, 1), 2, 0, 0.0, 1)
    # a gather table pointing outside src reads zeros instead (the packer's last guard); a debug
    # build (make sanitize) aborts there on purpose, TC_CHECK
    if not _native.info()["debug_build"]:
        call(qbase=i64(0, 100))
        np.testing.assert_array_equal(dst[:4], [1, 1, 1, 1])


def test_the_plan_checks_its_tables():
    """conv_plan refuses tables that reach outside buffers of the lengths it is given; conv_run
    then takes only buffers of those lengths and dtype, never sharing memory, on the plan's ISA."""
    i64 = lambda *v: np.array(v, np.int64)  # noqa: E731
    # one part: 2 columns, 1 tap, 1 channel; C[i, j] = dst[i * 2 + j]; A[i, 0] = w[i]
    part = (i64(0, 1), i64(0, 1), i64(0), i64(0), i64(0, 1), i64(0), 1)
    gemm = (0, 2, 1, 0, 0, 2, 2, 0, None, None)

    def plan(parts=(part,), gemms=(gemm,), lens=(2, 2, 4)):
        return _native._ext.conv_plan("d", i64(2), list(parts), list(gemms), *lens)

    p = plan()
    w, src, dst = np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.zeros(4)
    _native._ext.conv_run(p, w, src, dst, 1, None)
    np.testing.assert_array_equal(dst, [3, 4, 6, 8])
    for bad in [dict(lens=(1, 2, 4)), dict(lens=(2, 1, 4)), dict(lens=(2, 2, 3)),
                dict(gemms=[(1, *gemm[1:])]), dict(gemms=[(0, 3, *gemm[2:])]),
                dict(gemms=[(*gemm[:8], i64(0, 5), None)]), dict(gemms=[(*gemm[:8], None, i64(0))]),
                dict(parts=[(i64(0, -5), *part[1:])]), dict(parts=[(*part[:5], i64(0, 1), 1)]),
                dict(gemms=[(0, 2, 1, 0, 0, 2, 2**62, 2**62 + 100, None, None)]),  # wrapped past the check before
                dict(gemms=[(0, 2**62 - 3, 0, 0, 0, 2, 0, 0, None, None)])]:  # its packed A wrapped to 40 elements
        with pytest.raises(tconv.TconvError):
            plan(**bad)
    for args in [(w[:1], src, dst), (w, src[:1], dst), (w, src, dst[:3]), (w.astype(np.float32), src, dst),
                 (w, src, w.copy()[:0])]:
        with pytest.raises((tconv.TconvError, tconv.TconvTypeError)):
            _native._ext.conv_run(p, *args, 1, None)
    shared = np.zeros(4)
    with pytest.raises(tconv.TconvError, match="share memory"):
        _native._ext.conv_run(p, shared[1:3], src, shared, 1, None)
    with pytest.raises(tconv.TconvError, match="packed"):
        _native._ext.conv_run(p, w, src, dst, 1, np.zeros(3))
    others = [i for i in _native.isas() if i != _native.get_isa()]
    if others:
        with _native.use_isa(others[0]), pytest.raises(tconv.TconvError, match="made for"):
            _native._ext.conv_run(p, w, src, dst, 1, None)


@pytest.mark.parametrize("op", ["conv", "conv_transpose"])
def test_packed_weights_are_kept_by_the_weight_owner(isa, op):
    """With a weight owner's cache (ConvOperator, the layers) the weights are packed once per ISA
    and dtype, and the result is the same as packing them per call."""
    from tconv.core.dispatch import run

    wshape, inshape, kw = CASES[0]
    geom = tconv.conv_transpose_geometry(wshape, inshape, **kw)
    rng = np.random.default_rng(3)
    w = rng.standard_normal(wshape)
    a = rng.standard_normal((2, geom.y_channels, *geom.y_shape) if op == "conv_transpose"
                            else (2, geom.x_channels, *geom.x_shape))
    cache: dict = {}
    first = run("native", op, a, w, geom, cache=cache)
    packed = [v for k, v in cache.items() if k[0] == "native"]
    assert len(packed) == 1
    again = run("native", op, a, w, geom, cache=cache)
    assert [v for k, v in cache.items() if k[0] == "native"][0] is packed[0]
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, run("native", op, a, w, geom))


def test_batches_are_split_below_the_index_limit(monkeypatch):
    """The indirection tables are int32: a batch whose source passes 2**31 elements runs in chunks
    (here the limit is lowered to a few samples), with the same result."""
    from tconv.core.algorithms import native

    wshape, inshape, kw = CASES[2]
    geom = tconv.conv_transpose_geometry(wshape, inshape, **kw)
    rng = np.random.default_rng(4)
    w = rng.standard_normal(wshape)
    y = rng.standard_normal((7, geom.y_channels, *geom.y_shape))
    whole = ALGORITHMS["native"].conv_transpose(y, w, geom)
    monkeypatch.setattr(native, "_INDEX_LIMIT", 2 * geom.y_channels * int(np.prod(geom.y_shape)) + 1)
    np.testing.assert_array_equal(ALGORITHMS["native"].conv_transpose(y, w, geom), whole)


def test_a_sample_past_the_index_limit_is_refused_by_supports():
    """One sample whose input passes 2**31 elements cannot be split: native says why, and auto
    plans another algorithm (no table is built, no memory taken)."""
    geom = tconv.conv_transpose_geometry((1, 1, 3, 3), (50000, 50000), 1, 1)
    for op in ("conv", "conv_transpose"):
        assert "2**31" in ALGORITHMS["native"].supports(geom, np.dtype(np.float32), op)
    assert ALGORITHMS["native"].supports(geom, np.dtype(np.float32), "weight_grad") is None


def test_a_layer_keeps_packed_weights_and_drops_them_when_the_weight_changes():
    """A layer running native keeps the packed weights in its cache; an in-place edit of the weight
    (or a new array) is seen before they are reused: the result is the new weight's."""
    rng = np.random.default_rng(5)
    w = rng.standard_normal((8, 6, 4, 4))
    x = rng.standard_normal((2, 8, 5, 5))
    layer = tconv.ConvTranspose(w.copy(), stride=2, padding=1, method="native")
    first = layer(x)
    assert any(k[0] == "native" for k in layer._spectra)
    np.testing.assert_array_equal(layer(x), first)
    layer.weight[0, 0, 0, 0] += 1.0
    np.testing.assert_allclose(layer(x), tconv.conv_transpose(x, layer.weight, stride=2, padding=1), rtol=1e-12)
    layer.weight = 2 * layer.weight
    np.testing.assert_allclose(layer(x), tconv.conv_transpose(x, layer.weight, stride=2, padding=1), rtol=1e-12)


UNION_CASES = [  # few output channels and a stride: the phases as one GEMM over the union of their taps
    ((64, 3, 4, 4), (8, 8), dict(stride=2, padding=1)),                   # a generator's last layer
    ((6, 3, 4, 5), (9, 7), dict(stride=(3, 2), padding=(2, 1), output_padding=(1, 0))),  # two cell counts
    ((4, 1, 5, 5), (6, 5), dict(stride=2, padding=2, output_padding=1, groups=2)),
    ((3, 2, 3, 3, 3), (3, 4, 5), dict(stride=2, padding=1, output_padding=1)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ci", range(len(UNION_CASES)))
def test_few_output_channels_run_as_one_gemm_over_the_union_of_taps(isa, dtype, ci):
    """The stride phases of one cell count are one GEMM whose rows are (output channel, phase) and
    whose depth is the union of the phases' taps (a missing tap's weight is zero, in a re-laid copy
    of the weight); the result against the float64 ``gemm`` algorithm, with and without a weight
    owner's cache of the packed copy."""
    from tconv.core.algorithms import native
    from tconv.core.dispatch import run

    wshape, inshape, kw = UNION_CASES[ci]
    geom = tconv.conv_transpose_geometry(wshape, inshape, **kw)
    assert native._union(geom)
    counts = {c for c, _, _ in native._phase_parts(geom)}
    assert len(native.gemm_shapes(geom, 2, "conv_transpose")) == len(counts) * geom.groups
    rng = np.random.default_rng(ci)
    w = rng.standard_normal(wshape).astype(dtype)
    y = rng.standard_normal((2, geom.y_channels, *geom.y_shape)).astype(dtype)
    want = ALGORITHMS["gemm"].conv_transpose(y.astype(np.float64), w.astype(np.float64), geom)
    cache: dict = {}
    for got in (ALGORITHMS["native"].conv_transpose(y, w, geom), run("native", "conv_transpose", y, w, geom, cache=cache),
                run("native", "conv_transpose", y, w, geom, cache=cache)):
        assert_close_to_reference(got, want, dtype, geom)
    assert len([k for k in cache if k[0] == "native"]) == 1


_IN_PLACE_SCRIPT = """
import sys, numpy as np, tconv
from tconv.core import _native
from tconv.core.algorithms import ALGORITHMS
out = {}
for i, (wshape, inshape, kw) in enumerate(CASES):
    geom = tconv.conv_transpose_geometry(wshape, inshape, **kw)
    rng = np.random.default_rng(i)
    w = rng.standard_normal(wshape).astype(np.float32)
    y = rng.standard_normal((2, geom.y_channels, *geom.y_shape)).astype(np.float32)
    x = rng.standard_normal((2, geom.x_channels, *geom.x_shape)).astype(np.float32)
    out[f"t{i}"] = ALGORITHMS["native"].conv_transpose(y, w, geom)
    out[f"c{i}"] = ALGORITHMS["native"].conv(x, w, geom)
out["tiles"] = np.array(_native.info()["kernels"]["float32"]["taps_tiles"])
out["avx512"] = np.array(_native.get_isa() == "avx512")
np.savez(sys.argv[1], **out)
"""


def test_b_read_in_place_gives_the_packed_results(tmp_path):
    """On an ISA whose micro-kernel reads B where it lies (AVX-512's masked loads: gemm.c's taps
    mode), a run with every implicit GEMM read in place (TC_TAPS_TILES=1000) and one with none
    (TC_TAPS_TILES=0) agree to rounding on every case; elsewhere the kernels report no in-place
    reading at all."""
    import os
    import subprocess
    import sys

    script = "CASES = " + repr(CASES + UNION_CASES) + "\n" + _IN_PLACE_SCRIPT
    runs = {}
    for tiles in ("0", "1000"):
        path = tmp_path / f"r{tiles}.npz"
        env = dict(os.environ, TC_TAPS_TILES=tiles)
        subprocess.run([sys.executable, "-c", script, str(path)], check=True, env=env)
        runs[tiles] = np.load(path)
    if not bool(runs["1000"]["avx512"]):  # the ISA in use (TCONV_ISA may force another) reads B packed only
        assert int(runs["1000"]["tiles"]) == 0
        return
    assert int(runs["0"]["tiles"]) == 0 and int(runs["1000"]["tiles"]) == 1000
    for key in (k for k in runs["0"].files if k not in ("tiles", "avx512")):
        np.testing.assert_allclose(runs["1000"][key], runs["0"][key], rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(runs["0"][key]).max())))
