"""FFT tiles and Dask blocks: a block's ``fft`` plan tiles that block (one transform for the block, or
tiles that divide it exactly), every block of one size plans the same tiles, and the chunked result
equals the NumPy path's."""

import numpy as np
import pytest

import tconv
from tconv.core.algorithms import fft as fft_module

da = pytest.importorskip("dask.array")


@pytest.fixture
def recorded_plans(monkeypatch):
    """Every ``(geometry, op, plan)`` the fft algorithm runs with."""
    seen = []
    real = fft_module.fft_plan

    def recording(geom, batch, itemsize, op):
        p = real(geom, batch, itemsize, op)
        seen.append((geom, op, p))
        return p

    monkeypatch.setattr(fft_module, "fft_plan", recording)
    return seen


def _tiles_divide(p, cells):
    """Per axis: one transform, or equal tiles that divide the axis's ``cells`` exactly."""
    return all(t == 1 or (b * t == m) for b, t, m in zip(p.blocks, p.tiles, cells))


def _tiles_even(p, cells):
    """Per axis: one transform, or ``t`` tiles of ``ceil(cells / t)`` (the last one shorter by less than ``t``)."""
    return all(t == 1 or b == -(-m // t) for b, t, m in zip(p.blocks, p.tiles, cells))


@pytest.mark.parametrize("chunk", [256, 240])
def test_conv_blocks_plan_tiles_that_divide_the_block(recorded_plans, chunk):
    """A valid conv whose input is 3 chunks + the kernel's halo: three output blocks of ``chunk`` per axis."""
    rng = np.random.default_rng(0)
    n = 3 * chunk + 14
    x = rng.standard_normal((1, 1, n, n))
    w = rng.standard_normal((1, 1, 15, 15))
    want = tconv.conv(x, w, method="direct")
    lazy = tconv.conv(da.from_array(x, chunks=(1, 1, chunk, chunk)), w, method="fft")
    assert lazy.chunks[2:] == ((chunk,) * 3,) * 2
    recorded_plans.clear()
    np.testing.assert_allclose(lazy.compute(scheduler="synchronous"), want, rtol=1e-10, atol=1e-10)
    assert recorded_plans
    for geom, op, p in recorded_plans:
        assert op == "conv" and geom.y_shape == (chunk, chunk)  # each task plans its own block
        assert _tiles_divide(p, geom.y_shape), (geom.y_shape, p)
    assert len({str(p) for _, _, p in recorded_plans}) == 1  # every block plans the same tiles
    assert max(recorded_plans[0][2].tiles) > 1  # tiles within the block (not one transform per block)


def test_uneven_blocks_get_even_tiles(recorded_plans):
    """'same' padding shifts the output blocks (247, 240, 233 for chunks of 240): every block's tiles
    are even over the block, and divide it where its size allows (247 = 13 * 19; 233 is prime)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 1, 720, 720))
    w = rng.standard_normal((1, 1, 15, 15))
    lazy = tconv.conv(da.from_array(x, chunks=(1, 1, 240, 240)), w, padding=7, method="fft")
    recorded_plans.clear()
    np.testing.assert_allclose(lazy.compute(scheduler="synchronous"), tconv.conv(x, w, padding=7, method="direct"),
                               rtol=1e-10, atol=1e-10)
    sizes = set(lazy.chunks[2])
    for geom, _, p in recorded_plans:
        assert set(geom.y_shape) <= sizes
        assert _tiles_even(p, geom.y_shape), (geom.y_shape, p)


def test_conv_transpose_blocks_tile_their_input_region(recorded_plans):
    """conv_transpose: an output block's tiles are even over the input region it reads (overlap-add
    within it), and the result equals the NumPy path's."""
    rng = np.random.default_rng(1)
    y = rng.standard_normal((1, 1, 600, 600))
    w = rng.standard_normal((1, 1, 31, 31))
    want = tconv.conv_transpose(y, w, padding=15, method="direct")
    got = tconv.conv_transpose(da.from_array(y, chunks=(1, 1, 300, 300)), w, padding=15, method="fft").compute(
        scheduler="synchronous")
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    assert recorded_plans
    for geom, op, p in recorded_plans:
        assert op == "conv_transpose"
        assert _tiles_even(p, geom.y_shape), (geom.y_shape, p)
    assert any(max(p.tiles) > 1 for _, _, p in recorded_plans)  # the blocks are tiled


def test_plans_of_a_whole_image_divide_it_too():
    """The same rule outside Dask: the tiles of 1024^2 with a 15^2 kernel divide the image."""
    g = tconv.conv_geometry((1, 1, 15, 15), (1024, 1024), 1, 7)
    p = fft_module.fft_plan(g, 1, 8, "conv")
    assert max(p.tiles) > 1 and _tiles_divide(p, g.y_shape), p
