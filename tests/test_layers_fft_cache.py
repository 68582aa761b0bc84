"""``tconv.ConvTranspose`` / ``tconv.Conv`` keep their weight's ``fft`` transforms between calls: the same
results as the public functions, each kernel transform computed once, and a new or modified weight
(reassigned, or changed in place) empties the cache."""

import numpy as np
import pytest
import scipy.fft

import tconv


@pytest.fixture
def kernel_transforms(monkeypatch):
    """Counts ``scipy.fft.rfftn`` calls with ``s=`` (only the kernel transforms pass it; the data's are
    zero-padded into their buffers)."""
    count = {"n": 0}
    real = scipy.fft.rfftn

    def counting(a, s=None, *args, **kw):
        if s is not None:
            count["n"] += 1
        return real(a, s, *args, **kw)

    monkeypatch.setattr(scipy.fft, "rfftn", counting)
    return count


def _data(rng, *shape):
    return rng.standard_normal(shape)


@pytest.mark.parametrize("kind", ["ConvTranspose", "Conv"])
def test_layer_reuses_the_kernel_transform(kind, kernel_transforms):
    rng = np.random.default_rng(0)
    w = _data(rng, 1, 1, 9, 9)
    if kind == "ConvTranspose":
        layer = tconv.ConvTranspose(w, np.array([0.5]), padding=4, method="fft")
        ref = lambda x: tconv.conv_transpose(x, w, np.array([0.5]), padding=4, method="direct")  # noqa: E731
    else:
        layer = tconv.Conv(w, np.array([0.5]), padding=4, method="fft")
        ref = lambda x: tconv.conv(x, w, np.array([0.5]), padding=4, method="direct")  # noqa: E731
    x1, x2 = _data(rng, 2, 1, 40, 40), _data(rng, 2, 1, 40, 40)
    np.testing.assert_allclose(layer(x1), ref(x1), rtol=1e-10, atol=1e-10)
    first = kernel_transforms["n"]
    assert first >= 1 and layer._spectra
    np.testing.assert_allclose(layer(x2), ref(x2), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(layer(x1), ref(x1), rtol=1e-10, atol=1e-10)
    assert kernel_transforms["n"] == first  # the second and third calls reused the transform


def test_vjp_shares_the_cached_transform(kernel_transforms):
    """conv's input gradient is conv_transpose with the same weight: the same spectrum (unconjugated),
    computed once for both the forward (conjugated from it) and the VJP."""
    rng = np.random.default_rng(1)
    w = _data(rng, 1, 1, 7, 7)
    layer = tconv.Conv(w, padding=3, method="fft")
    x = _data(rng, 1, 1, 32, 32)
    y = layer(x)
    n = kernel_transforms["n"]
    g = _data(rng, *y.shape)
    gx, gw, gb = layer.vjp(g, x)
    want = tconv.conv_vjp(g, x, w, padding=3, method="direct")
    np.testing.assert_allclose(gx, want[0], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gw, want[1], rtol=1e-9, atol=1e-10)
    assert gb is None
    layer.vjp(g, x)
    assert kernel_transforms["n"] == n  # input-gradient transforms came from the cache


def test_a_changed_weight_empties_the_cache(kernel_transforms):
    rng = np.random.default_rng(2)
    w = _data(rng, 1, 1, 9, 9)
    layer = tconv.ConvTranspose(w, padding=4, method="fft")
    x = _data(rng, 1, 1, 30, 30)
    layer(x)
    n = kernel_transforms["n"]
    # in place (an optimiser step)
    layer.weight *= 2.0
    np.testing.assert_allclose(layer(x), tconv.conv_transpose(x, layer.weight, padding=4, method="direct"),
                               rtol=1e-10, atol=1e-10)
    assert kernel_transforms["n"] > n
    n = kernel_transforms["n"]
    # reassigned
    layer.weight = _data(rng, 1, 1, 9, 9)
    np.testing.assert_allclose(layer(x), tconv.conv_transpose(x, layer.weight, padding=4, method="direct"),
                               rtol=1e-10, atol=1e-10)
    assert kernel_transforms["n"] > n
    n = kernel_transforms["n"]
    # the same values in a new array: the transforms stay valid
    layer.weight = layer.weight.copy()
    layer(x)
    assert kernel_transforms["n"] == n


def test_layers_that_never_run_fft_hold_nothing():
    layer = tconv.ConvTranspose(np.ones((4, 4, 3, 3)), stride=2, method="direct")
    layer(np.ones((1, 4, 5, 5)))
    assert layer._spectra == {} and layer._spectra_of is None


def test_complex_input_keeps_the_real_weight_cache_and_its_vjp_does_not_use_it(kernel_transforms):
    """A complex input against the layer's real weight: both real products use the weight itself, so the
    cache serves them; the complex VJP convolves with sums and differences of the weight's parts, so it
    runs without the cache (and stays exact)."""
    rng = np.random.default_rng(3)
    w = _data(rng, 1, 1, 5, 5)
    layer = tconv.ConvTranspose(w, padding=2, method="fft")
    x = _data(rng, 1, 1, 20, 20) + 1j * _data(rng, 1, 1, 20, 20)
    want = tconv.conv_transpose(x, w, padding=2, method="direct")
    np.testing.assert_allclose(layer(x), want, rtol=1e-10, atol=1e-10)
    n = kernel_transforms["n"]
    np.testing.assert_allclose(layer(x), want, rtol=1e-10, atol=1e-10)
    assert kernel_transforms["n"] == n and layer._spectra
    kept = dict(layer._spectra)
    g = _data(rng, 1, 1, 20, 20) + 1j * _data(rng, 1, 1, 20, 20)
    got, wantg = layer.vjp(g, x), tconv.conv_transpose_vjp(g, x, w, padding=2, method="direct")
    for a, b in zip(got[:2], wantg[:2]):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    assert layer._spectra.keys() == kept.keys()  # the VJP's other weights left the cache alone


def test_padding_mode_layers_cache_too(kernel_transforms):
    rng = np.random.default_rng(4)
    w = _data(rng, 1, 1, 7, 7)
    for layer, ref in [
        (tconv.Conv(w, padding=3, padding_mode="reflect", method="fft"),
         lambda x: tconv.conv(x, w, padding=3, padding_mode="reflect", method="direct")),
        (tconv.ConvTranspose(w, padding=3, padding_mode="circular", method="fft"),
         lambda x: tconv.conv_transpose(x, w, padding=3, padding_mode="circular", method="direct")),
    ]:
        x = _data(rng, 1, 1, 24, 24)
        np.testing.assert_allclose(layer(x), ref(x), rtol=1e-10, atol=1e-10)
        n = kernel_transforms["n"]
        np.testing.assert_allclose(layer(x), ref(x), rtol=1e-10, atol=1e-10)
        assert kernel_transforms["n"] == n and layer._spectra
