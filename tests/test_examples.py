"""The examples run (small) and reach what the README states."""

import numpy as np
import pytest
from reference import load_example

import tconv


def test_superresolution_small(tmp_path):
    from PIL import Image

    sr = load_example("superresolution")
    out = tmp_path / "sr.png"
    r = sr.run(size=96, iters=30, out=str(out))
    assert r["psnr_lsqr"] > r["psnr_adjoint"] + 1.5, r
    im = Image.open(out)
    assert im.size[0] == 4 * (96 + 8) and im.size[1] > 96 + 8  # the panels under a strip of titles
    assert np.isfinite(r["psnr_observed"])  # the observed panel's title states its PSNR too


@pytest.mark.parametrize("argv", [["--size", "64", "--iters", "5"]])
def test_superresolution_cli(tmp_path, argv, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    load_example("superresolution").main(argv)
    assert "PSNR" in capsys.readouterr().out
    assert (tmp_path / "superresolution.png").exists()


def test_learn_upsampler_small(capsys):
    lu = load_example("learn_upsampler")
    w, hist = lu.train(steps=150, n=8, size=8, verbose=True, log_every=50)
    assert hist[-1] < 1e-3 * hist[0]
    assert np.max(np.abs(w - lu.BILINEAR)) < 5e-3
    assert "loss" in capsys.readouterr().out


def test_bilinear_kernel_is_bilinear_upsampling_in_the_interior():
    """The example's target really is bilinear 2x upsampling (peer: torch.nn.functional.interpolate)."""
    import torch

    lu = load_example("learn_upsampler")
    x = np.random.default_rng(0).random((1, 1, 9, 9))
    ours = tconv.conv_transpose(x, lu.BILINEAR, **lu.GEOM)
    ref = torch.nn.functional.interpolate(torch.from_numpy(x), scale_factor=2, mode="bilinear",
                                          align_corners=False).numpy()
    np.testing.assert_allclose(ours[..., 1:-1, 1:-1], ref[..., 1:-1, 1:-1], rtol=1e-12, atol=1e-12)
