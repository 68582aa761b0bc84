"""``padding_mode`` in ``conv``, ``conv_transpose`` and both VJPs, against PyTorch: ``conv`` is
``F.pad(x, mode) + conv``; ``conv_transpose`` is its exact adjoint, checked against PyTorch's
autograd of that padded convolution (and by the dot test); the VJPs against autograd too."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import tconv

torch.set_num_threads(1)
MODES = ["reflect", "replicate", "circular"]
TORCH_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


@st.composite
def padded_cases(draw):
    nd = draw(st.integers(1, 3))
    g = draw(st.integers(1, 2))
    cin, cout = g * draw(st.integers(1, 2)), g * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    shape = tuple(draw(st.integers(2, {1: 8, 2: 5, 3: 4}[nd])) for _ in range(nd))
    pads = [(draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))) for n in shape]
    form = draw(st.sampled_from(["pairs", "int", "same"]))
    padding = {"pairs": tuple(pads), "int": min(min(p) for p in pads), "same": "same"}[form]
    if form == "same":
        stride = (1,) * nd
    pairs = tconv.core.geometry.conv_padding_pairs(padding, shape, kernel, stride, dilation)
    assume(all(n + lo + hi >= d * (k - 1) + 1 and max(lo, hi) < n
               for n, (lo, hi), k, d in zip(shape, pairs, kernel, dilation)))
    return dict(nd=nd, groups=g, cin=cin, cout=cout, kernel=kernel, stride=stride, dilation=dilation,
                shape=shape, padding=padding, mode=draw(st.sampled_from(MODES)), bias=draw(st.booleans()),
                batch=draw(st.sampled_from([None, 2])), seed=draw(st.integers(0, 2**31)))


def _pairs(c):
    return tconv.core.geometry.conv_padding_pairs(c["padding"], c["shape"], c["kernel"], c["stride"], c["dilation"])


def _arrays(c):
    rng = np.random.default_rng(c["seed"])
    lead = () if c["batch"] is None else (c["batch"],)
    x = rng.standard_normal((*lead, c["cin"], *c["shape"]))
    w = rng.standard_normal((c["cout"], c["cin"] // c["groups"], *c["kernel"]))
    b = rng.standard_normal(c["cout"]) if c["bias"] else None
    return x, w, b


def _torch_conv(c, x, w, b):
    """PyTorch: F.pad(mode) then a valid convolution (torch tensors in, out)."""
    flat = [v for lo, hi in reversed(_pairs(c)) for v in (lo, hi)]
    xb = x if c["batch"] is not None else x[None]
    mode = {"reflect": "reflect", "replicate": "replicate", "circular": "circular"}[c["mode"]]
    xp = F.pad(xb, flat, mode=mode) if any(flat) else xb
    y = TORCH_CONV[c["nd"]](xp, w, b, c["stride"], 0, c["dilation"], c["groups"])
    return y if c["batch"] is not None else y[0]


def _kw(c):
    return dict(stride=c["stride"], padding=c["padding"], dilation=c["dilation"], groups=c["groups"],
                padding_mode=c["mode"])


def _usable(c):
    return not (c["nd"] > 1 and c["mode"] == "reflect" and c["batch"] is None)  # torch: reflect needs batch for 3-D


@given(padded_cases())
def test_conv_matches_torch_pad_then_conv(c):
    x, w, b = _arrays(c)
    want = _torch_conv(c, *(None if a is None else torch.from_numpy(a) for a in (x, w, b))).numpy()
    got = tconv.conv(x, w, b, **_kw(c))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@given(padded_cases())
def test_conv_transpose_is_the_adjoint_and_vjps_match_autograd(c):
    x, w, b = _arrays(c)
    xt = torch.from_numpy(x).requires_grad_(True)
    wt = torch.from_numpy(w).requires_grad_(True)
    bt = None if b is None else torch.from_numpy(b).requires_grad_(True)
    y = _torch_conv(c, xt, wt, bt)
    rng = np.random.default_rng(c["seed"] + 1)
    g = rng.standard_normal(tuple(y.shape))
    grads = torch.autograd.grad(y, [t for t in (xt, wt, bt) if t is not None], torch.from_numpy(g))
    # conv_transpose(padding_mode) is the adjoint: PyTorch's input gradient of the padded conv
    ct = tconv.conv_transpose(g, w, None, c["stride"], c["padding"], 0, c["groups"], c["dilation"],
                              output_size=c["shape"], padding_mode=c["mode"])
    np.testing.assert_allclose(ct, grads[0].numpy(), rtol=1e-10, atol=1e-10)
    assert abs(np.vdot(tconv.conv(x, w, **_kw(c)), g) - np.vdot(x, ct)) < 1e-9 * (1 + abs(np.vdot(x, ct)))
    gx, gw, gb = tconv.conv_vjp(g, x, w, b, **_kw(c))
    np.testing.assert_allclose(gx, grads[0].numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gw, grads[1].numpy(), rtol=1e-10, atol=1e-10)
    if b is not None:
        np.testing.assert_allclose(gb, grads[2].numpy(), rtol=1e-10, atol=1e-10)


@settings(max_examples=60)
@given(padded_cases())
def test_conv_transpose_vjp_matches_double_backward(c):
    """x = conv_transpose(y, padding_mode) written in PyTorch as the input gradient of the padded conv."""
    x0, w, b = _arrays(c)
    b = None if b is None else np.random.default_rng(c["seed"] + 3).standard_normal(c["cin"])  # x-side bias
    wt = torch.from_numpy(w).requires_grad_(True)
    probe = torch.zeros(x0.shape, dtype=torch.float64, requires_grad=True)
    y_shape = tuple(_torch_conv(c, probe, wt, None).shape)
    rng = np.random.default_rng(c["seed"] + 2)
    y = rng.standard_normal(y_shape)
    yt = torch.from_numpy(y).requires_grad_(True)
    out = torch.autograd.grad(_torch_conv(c, probe, wt, None), probe, yt, create_graph=True)[0]
    if b is not None:
        out = out + torch.from_numpy(b).reshape((-1,) + (1,) * c["nd"])
    g = rng.standard_normal(tuple(out.shape))
    gy_t, gw_t = torch.autograd.grad(out, [yt, wt], torch.from_numpy(g))
    kw = dict(stride=c["stride"], padding=c["padding"], groups=c["groups"], dilation=c["dilation"],
              output_size=c["shape"], padding_mode=c["mode"])
    np.testing.assert_allclose(tconv.conv_transpose(y, w, b, **kw), out.detach().numpy(), rtol=1e-10, atol=1e-10)
    gy, gw, gb = tconv.conv_transpose_vjp(g, y, w, b, **kw)
    np.testing.assert_allclose(gy, gy_t.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gw, gw_t.numpy(), rtol=1e-10, atol=1e-10)
    if b is not None:
        np.testing.assert_allclose(gb, g.sum(axis=(0, *range(2, g.ndim))) if c["batch"] else
                                   g.sum(axis=tuple(range(1, g.ndim))), rtol=1e-10)


def test_operator_uses_the_same_boundary():
    A = tconv.ConvOperator(np.ones((2, 1, 3, 3)), (6, 5), stride=2, padding=2, boundary="circular")
    x = np.random.default_rng(0).standard_normal((1, 6, 5))
    y = tconv.conv(x, np.ones((2, 1, 3, 3)), stride=2, padding=2, padding_mode="circular")
    np.testing.assert_allclose(A.matvec(x.ravel()), y.ravel(), atol=1e-12)
    v = np.random.default_rng(1).standard_normal(y.shape)
    xt = tconv.conv_transpose(v, np.ones((2, 1, 3, 3)), stride=2, padding=2, output_size=(6, 5), padding_mode="circular")
    np.testing.assert_allclose(A.rmatvec(v.ravel()), xt.ravel(), atol=1e-12)


@pytest.mark.parametrize("fn, kwargs, match", [
    (tconv.conv, dict(padding_mode="mirror"), "padding_mode='mirror' must be one of zeros, reflect, replicate, circular"),
    (tconv.conv_transpose, dict(padding_mode="edge"), "padding_mode='edge' must be one of"),
    (tconv.conv, dict(padding=4, padding_mode="reflect"), r"padding \(4, 4\) on axis 0 must be smaller than the input"),
    (tconv.conv, dict(padding_mode=0), "padding_mode=0 must be a string"),
])
def test_bad_padding_mode(fn, kwargs, match):
    with pytest.raises((tconv.TconvError, tconv.TconvTypeError), match=match):
        fn(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), **kwargs)
