"""The ``fft`` algorithm: tiles, float32 accuracy, non-finite data and the planner's choice, against
PyTorch (the registry tests run it on the random grid too)."""

import numpy as np
import pytest
import torch
from reference import torch_conv, torch_conv_transpose

import tconv
from tconv.core.algorithms import ALGORITHMS
from tconv.core.algorithms import fft as fftmod

FFT = ALGORITHMS["fft"]


def _small_tiles(geom, batch, itemsize, op):
    """A plan with several tiles on every axis (a transform of at most twice the kernel extent)."""
    sizes, blocks, tiles = [], [], []
    for m, s, e in zip(geom.y_shape, geom.stride, fftmod._extent(geom)):
        n = fftmod.fast_len(max(2 * e, s + e))
        b = (n - e) // s + 1
        sizes.append(n), blocks.append(b), tiles.append(-(-m // b))
    return fftmod.FftPlan(tuple(sizes), tuple(blocks), tuple(tiles))


def _torch_weight_grad(x, w, go, stride, pads, dilation, groups):
    nd = w.ndim - 2
    xt = torch.nn.functional.pad(torch.tensor(x), [p for lo_hi in reversed(pads) for p in lo_hi])
    wt = torch.tensor(w, requires_grad=True)
    out = {1: torch.nn.functional.conv1d, 2: torch.nn.functional.conv2d, 3: torch.nn.functional.conv3d}[nd](
        xt, wt, stride=stride, dilation=dilation, groups=groups)
    out.backward(torch.tensor(go))
    return wt.grad.numpy()


CASES = [  # (x spatial, kernel, stride, dilation, pads (lo, hi), groups, channels in, out)
    ((37,), (5,), (1,), (1,), ((2, 3),), 1, 1, 1),
    ((41,), (4,), (3,), (2,), ((0, 1),), 2, 2, 4),
    ((19, 23), (3, 4), (2, 1), (1, 2), ((1, 0), (2, 2)), 1, 2, 3),
    ((15, 17), (5, 3), (1, 3), (2, 1), ((4, 1), (0, 0)), 3, 3, 3),
    ((9, 10, 11), (3, 2, 3), (1, 2, 1), (1, 1, 2), ((1, 1), (0, 2), (2, 0)), 1, 1, 2),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("tiled", [False, True])
@pytest.mark.parametrize("phases", [False, True])
def test_three_operations_against_torch(case, tiled, phases, monkeypatch):
    """Every path: one transform or tiles, the full correlation or the polyphase split (forced)."""
    shape, k, s, d, pads, g, cin, cout = case
    if tiled:
        monkeypatch.setattr(fftmod, "fft_plan", _small_tiles)
    monkeypatch.setattr(fftmod, "use_polyphase", lambda geom, *a: phases and fftmod.polyphase(geom) is not None)
    geom = tconv.conv_geometry((cout, cin // g, *k), shape, s, pads, d, g)
    if tiled:
        assert np.prod(_small_tiles(geom, 2, 8, "conv").tiles) > 1
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal((2, cin, *shape))
    w = rng.standard_normal(geom.weight_shape)
    y = rng.standard_normal((2, cout, *geom.y_shape))
    want = torch_conv(x, w, None, s, pads, d, g)
    np.testing.assert_allclose(FFT.run("conv", x, w, geom), want, rtol=0, atol=1e-10 * np.abs(want).max())
    # conv_transpose is conv's adjoint: PyTorch's VJP of the same conv
    xt = torch.tensor(x, requires_grad=True)
    padded = torch.nn.functional.pad(xt, [p for lo_hi in reversed(pads) for p in lo_hi])
    conv = {1: torch.nn.functional.conv1d, 2: torch.nn.functional.conv2d, 3: torch.nn.functional.conv3d}[len(shape)]
    conv(padded, torch.tensor(w), stride=s, dilation=d, groups=g).backward(torch.tensor(y))
    want_t = xt.grad.numpy()
    np.testing.assert_allclose(FFT.run("conv_transpose", y, w, geom), want_t, rtol=0,
                               atol=1e-10 * np.abs(want_t).max())
    want_w = _torch_weight_grad(x, w, y, s, pads, d, g)
    np.testing.assert_allclose(FFT.run("weight_grad", y, x, geom), want_w, rtol=0, atol=1e-10 * np.abs(want_w).max())


@pytest.mark.parametrize("phases", [False, True])
def test_transpose_crop_and_output_padding_against_torch(phases, monkeypatch):
    monkeypatch.setattr(fftmod, "use_polyphase", lambda geom, *a: phases and fftmod.polyphase(geom) is not None)
    rng = np.random.default_rng(5)
    y = rng.standard_normal((1, 2, 13, 11))
    w = rng.standard_normal((2, 3, 5, 4))
    got = tconv.conv_transpose(y, w, stride=(3, 2), padding=(2, 1), output_padding=(2, 1), dilation=(1, 2),
                               method="fft")
    want = torch_conv_transpose(y, w, None, (3, 2), (2, 1), (2, 1), 1, (1, 2))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10 * np.abs(want).max())


@pytest.mark.parametrize("shape,k", [((1024,), 65), ((256, 256), 31), ((48, 48, 48), 9)])
@pytest.mark.parametrize("op", ["conv", "conv_transpose"])
def test_float32_within_torch_float32_error(shape, k, op):
    """float32 fft against float64, no worse than PyTorch's own float32 against float64 (x2)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 1, *shape))
    w = rng.standard_normal((1, 1, *(k,) * len(shape))) / k ** (len(shape) / 2)
    if op == "conv":
        def peer(a, b):
            return torch_conv(a, b, None, 1, "same", 1, 1)

        def ours_fn(a, b):
            return tconv.conv(a, b, padding="same", method="fft")
    else:
        def peer(a, b):
            return torch_conv_transpose(a, b, None, 1, k // 2, 0, 1, 1)

        def ours_fn(a, b):
            return tconv.conv_transpose(a, b, padding=k // 2, method="fft")
    exact = peer(x, w)
    scale = np.abs(exact).max()
    ours = ours_fn(x.astype(np.float32), w.astype(np.float32))
    theirs = peer(x.astype(np.float32), w.astype(np.float32))
    assert ours.dtype == np.float32
    e_ours = np.abs(ours - exact).max() / scale
    e_torch = np.abs(theirs - exact).max() / scale
    assert e_ours <= 2 * e_torch + 1e-7, (e_ours, e_torch)


def test_float64_within_1e10_of_direct():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 1, 300, 300))
    w = rng.standard_normal((1, 1, 31, 31))
    a = tconv.conv(x, w, padding="same", method="fft")
    b = tconv.conv(x, w, padding="same", method="direct")
    assert np.abs(a - b).max() <= 1e-10 * np.abs(b).max()


@pytest.mark.parametrize("where", ["input", "weight"])
@pytest.mark.parametrize("method", ["fft", "auto"])
def test_non_finite_data_runs_direct_like_torch(where, method):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 1, 256, 256))
    w = rng.standard_normal((1, 1, 63, 63))  # a PSF where fft wins clearly (31x31 on 200^2: direct's row tiles)
    assert tconv.explain(x.shape, w.shape, op="conv", dtype="float64").choice == "fft"
    if where == "input":
        x[0, 0, 50, 60], x[0, 0, 150, 20] = np.nan, np.inf
    else:
        w[0, 0, 3, 4] = np.inf
    for op in ("conv", "conv_transpose"):
        got = (tconv.conv(x, w, padding=3, method=method) if op == "conv"
               else tconv.conv_transpose(x, w, padding=3, method=method))
        want = (torch_conv(x, w, None, 1, 3, 1, 1) if op == "conv"
                else torch_conv_transpose(x, w, None, 1, 3, 0, 1, 1))
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=op)
        np.testing.assert_array_equal(np.isinf(got), np.isinf(want), err_msg=op)
        fin = np.isfinite(want)
        assert fin.any() or where == "weight"
        np.testing.assert_allclose(got[fin], want[fin], rtol=1e-10, atol=1e-10)


def test_all_finite():
    assert fftmod.all_finite(np.ones((3, 3), np.float32))
    assert not fftmod.all_finite(np.array([1.0, np.nan]))
    assert not fftmod.all_finite(np.array([np.inf, -np.inf]))


def test_planner_chooses_fft_for_large_kernels_only():
    # (since direct's stride-1 row tiles, 31x31 on 1024^2 and 9^3 on 128^3 are near ties: the clear cases)
    assert tconv.explain((1, 1, 1024, 1024), (1, 1, 63, 63), op="conv", dtype="float64").choice == "fft"
    assert tconv.explain((1, 1, 128, 128, 128), (1, 1, 15, 15, 15), op="conv").choice == "fft"
    assert tconv.explain((1, 1, 512, 512), (1, 1, 63, 63), op="conv_transpose").choice == "fft"
    assert tconv.explain((1, 1, 1024, 1024), (1, 1, 3, 3), op="conv").choice == "direct"
    assert tconv.explain((16, 512, 8, 8), (512, 256, 4, 4), stride=2, padding=1).choice in ("native", "gemm")


def test_polyphase_is_chosen_by_the_cost_model_and_explained():
    g = tconv.conv_geometry((1, 1, 9, 9, 9), (128, 128, 128), 2, "same")
    assert fftmod.use_polyphase(g, 1, 8, "conv")
    assert "polyphase, 8 phases" in FFT.describe(g, 1, 8, "conv")
    assert not fftmod.use_polyphase(tconv.conv_geometry((1, 1, 5), (64,), 1), 1, 4, "conv")  # stride 1


def test_explain_shows_the_transform_sizes():
    text = str(tconv.explain((1, 1, 2048, 2048), (1, 1, 15, 15), op="conv", padding="same"))
    line = next(ln for ln in text.splitlines() if ln.startswith("fft"))
    assert "FFT " in line and "tiles of" in line  # shown whether chosen or not (here a near tie with direct)
    text = str(tconv.explain((1, 1, 1024, 1024), (1, 1, 31, 31), op="conv", dtype="float64"))
    line = next(ln for ln in text.splitlines() if ln.startswith("fft"))
    assert "<- chosen" in line and "FFT " in line and "tiles of" in line


def test_complex_is_not_supported_in_the_core():
    g = tconv.conv_geometry((1, 1, 3), (8,))
    assert "real" in FFT.supports(g, np.dtype(np.complex128), "conv")
    # complex data reaches it as real products above the core
    x = np.arange(8.0) + 1j * np.arange(8.0)[::-1]
    w = np.array([1.0, 2.0 - 1j, 0.5])
    got = tconv.conv(x[None], w[None, None], method="fft")
    want = np.array([np.dot(w, x[j:j + 3]) for j in range(6)])
    np.testing.assert_allclose(got[0], want, atol=1e-12)


@pytest.mark.parametrize("shape,k,c,n", [((256, 256), 31, 1, 1), ((96, 96), 9, 8, 2), ((40, 40, 40), 9, 1, 1)])
def test_scratch_bytes_is_the_measured_peak(shape, k, c, n, monkeypatch):
    """``scratch_bytes`` (the planner's memory guard) against NumPy's traced peak beyond the output: within
    0.6-2x with the tiles run one after the other; with tile threads, whose buffers overlap more or less
    in time, the model is the bound (the peak is never above it by more than 1/0.6)."""
    import tracemalloc

    from tconv.core.planner import output_bytes

    g = tconv.conv_geometry((c, c, *(k,) * len(shape)), shape, 1, "same")
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((n, c, *shape)), rng.standard_normal(g.weight_shape)
    y = rng.standard_normal((n, c, *g.y_shape))
    for serial in (True, False):
        if serial:
            monkeypatch.setattr(fftmod, "TILE_PARALLEL_POINTS", 1 << 62)
        else:
            monkeypatch.undo()
        for op, a, b in (("conv", x, w), ("conv_transpose", y, w), ("weight_grad", y, x)):
            tracemalloc.start()
            FFT.run(op, a, b, g)
            peak = tracemalloc.get_traced_memory()[1] - output_bytes(g, n, 8, op)
            tracemalloc.stop()
            model = FFT.scratch_bytes(g, n, 8, op)
            assert 0.6 * peak <= model, (serial, op, peak, model)
            assert not serial or model <= 2.0 * peak, (op, peak, model)
