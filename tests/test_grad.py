"""Gradients against torch.autograd, the adjoint identities, and finite differences."""

import numpy as np
import pytest
import torch
from hypothesis import given
from reference import TORCH_CONV, close, registry_supports, spec_pairs_conv
from reference import torch_ct_grads as _torch_ct_grads
from strategies import cases

import tconv


@given(case=cases())
def test_conv_transpose_vjp_matches_autograd(case):
    x, w, b = case.arrays()
    out = tconv.conv_transpose(x, w, b, **case.kwargs())
    go = np.random.default_rng(case.seed + 7).standard_normal(out.shape).astype(case.dtype)
    gx, gw, gb = tconv.conv_transpose_vjp(go, x, w, b, **case.kwargs())
    tx, tw, tb = _torch_ct_grads(case, x, w, b, go)
    tol = np.float64 if case.dtype == np.float64 else np.float32
    assert gx.dtype == gw.dtype == case.dtype
    close(gx, tx, tol, "grad_x")
    close(gw, tw, tol, "grad_weight")
    if b is None:
        assert gb is None
    else:
        close(gb, tb, tol, "grad_bias")
    # identity: the input gradient of conv_transpose is conv of the output gradient
    geom = tconv.conv_transpose_geometry(w.shape, case.in_shape, case.stride, case.padding,
                                         case.output_padding, case.dilation, case.groups)
    gob = go if case.batch is not None else go[None]
    via_conv = tconv.ALGORITHMS["gemm"].conv(gob, w, geom)
    close(gx if case.batch is not None else gx[None], via_conv, case.dtype, "identity")


@given(case=cases())
def test_conv_vjp_matches_autograd(case):
    _, w, _ = case.arrays()
    rng = np.random.default_rng(case.seed + 3)
    n = tconv.conv_transpose_output_shape(case.in_shape, case.kernel, case.stride, 0, 0, case.dilation)
    shape = (case.cout, *n) if case.batch is None else (case.batch, case.cout, *n)
    x = rng.standard_normal(shape).astype(case.dtype)
    b = rng.standard_normal(case.cin).astype(case.dtype) if case.bias else None
    kw = dict(stride=case.stride, padding=case.padding, dilation=case.dilation, groups=case.groups)
    out = tconv.conv(x, w, b, **kw)
    go = rng.standard_normal(out.shape).astype(case.dtype)
    gx, gw, gb = tconv.conv_vjp(go, x, w, b, **kw)
    nd = case.nd
    s, d = case.per_axis(case.stride), case.per_axis(case.dilation)
    xt = torch.tensor(x if case.batch is not None else x[None], requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = None if b is None else torch.tensor(b, requires_grad=True)
    pad_arg = []
    for lo, hi in reversed(spec_pairs_conv(case.padding, nd, n, case.kernel, s, d)):
        pad_arg += [lo, hi]
    o = TORCH_CONV[nd](torch.nn.functional.pad(xt, pad_arg), wt, bt, stride=s, dilation=d, groups=case.groups)
    o.backward(torch.tensor(go if case.batch is not None else go[None]))
    tx = xt.grad.numpy() if case.batch is not None else xt.grad.numpy()[0]
    close(gx, tx, case.dtype, "grad_x")
    close(gw, wt.grad.numpy(), case.dtype, "grad_weight")
    if b is not None:
        close(gb, bt.grad.numpy(), case.dtype, "grad_bias")
    # identity: the input gradient of conv is conv_transpose of the output gradient
    geom = tconv.conv_geometry(w.shape, n, case.stride, case.padding, case.dilation, case.groups)
    gob = go if case.batch is not None else go[None]
    close(gx if case.batch is not None else gx[None], tconv.ALGORITHMS["scatter"].conv_transpose(gob, w, geom),
          case.dtype, "identity")


def _loss_ct(x, w, b, go, **kw):
    return float(np.sum(tconv.conv_transpose(x, w, b, **kw) * go))


@pytest.mark.parametrize("kw", [dict(stride=2, padding=1, output_padding=1),
                                dict(stride=(1, 3), padding=((0, 2), (1, 0)), dilation=2, groups=2),
                                dict(stride=2, padding="same")])
def test_finite_differences(kw):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 4, 3))
    w = rng.standard_normal((4, 1, 3, 2))
    b = rng.standard_normal(w.shape[1] * kw.get("groups", 1))
    go = rng.standard_normal(tconv.conv_transpose(x, w, b, **kw).shape)
    gx, gw, gb = tconv.conv_transpose_vjp(go, x, w, b, **kw)
    eps = 1e-6
    for arr, grad in ((x, gx), (w, gw), (b, gb)):
        for idx in [tuple(rng.integers(0, s) for s in arr.shape) for _ in range(5)]:
            old = arr[idx]
            arr[idx] = old + eps
            up = _loss_ct(x, w, b, go, **kw)
            arr[idx] = old - eps
            dn = _loss_ct(x, w, b, go, **kw)
            arr[idx] = old
            assert abs((up - dn) / (2 * eps) - grad[idx]) < 1e-6 * max(1.0, abs(grad[idx]))


def test_unbatched_and_no_bias():
    x = np.ones((2, 5))
    w = np.ones((2, 3, 3))
    gx, gw, gb = tconv.conv_transpose_vjp(np.ones((3, 7)), x, w)
    assert gx.shape == (2, 5) and gw.shape == (2, 3, 3) and gb is None


BAD = [
    (lambda: tconv.conv_transpose_vjp(np.ones((1, 3, 8)), np.ones((1, 2, 5)), np.ones((2, 3, 3))),
     "grad_output has shape (1, 3, 8) but the forward output has shape (1, 3, 7)"),
    (lambda: tconv.conv_vjp(np.ones((1, 2, 4)), np.ones((1, 3, 5)), np.ones((2, 3, 3))),
     "grad_output has shape (1, 2, 4) but the forward output has shape (1, 2, 3)"),
    (lambda: tconv.conv_vjp(np.ones((1, 3, 3)), np.ones((1, 6, 5)), np.ones((3, 3, 3)), groups=2),
     "groups=2 must divide out_channels"),
    (lambda: tconv.conv_transpose_vjp(np.ones((1, 3, 7), bool), np.ones((1, 2, 5)), np.ones((2, 3, 3))),
     "grad_output has boolean dtype"),
    (lambda: tconv.conv_transpose_vjp(np.ones((1, 3, 7)), np.ones((1, 2, 5)), np.ones((2, 3, 3)), stride=0),
     "stride=0 must be positive"),
]


@pytest.mark.parametrize("i", range(len(BAD)))
def test_grad_errors(i):
    fn, frag = BAD[i]
    with pytest.raises((ValueError, TypeError)) as info:
        fn()
    assert frag in str(info.value)


@pytest.mark.parametrize("method", sorted(tconv.ALGORITHMS))
@given(case=cases())
def test_weight_gradient_of_every_algorithm_matches_autograd(method, case):
    """weight_grad is a registry operation: every algorithm's, against torch.autograd."""
    x, w, _ = case.arrays()
    xb = x if case.batch is not None else x[None]
    out = tconv.conv_transpose(xb, w, **case.kwargs())
    go = np.random.default_rng(case.seed + 5).standard_normal(out.shape).astype(case.dtype)
    geom = tconv.conv_transpose_geometry(w.shape, case.in_shape, case.stride, case.padding,
                                         case.output_padding, case.dilation, case.groups)
    if not registry_supports(method, geom, case.dtype, "weight_grad"):
        return
    _, tw, _ = _torch_ct_grads(case, x, w, None, go if case.batch is not None else go[0])
    gw = tconv.ALGORITHMS[method].weight_grad(xb, go, geom)
    assert gw.dtype == case.dtype
    close(gw, tw, case.dtype, method)
    # and method= reaches the weight gradient of the public VJP
    _, gw2, _ = tconv.conv_transpose_vjp(go if case.batch is not None else go[0], x, w, **case.kwargs(),
                                         method=method)
    close(gw2, tw, case.dtype, f"vjp method={method}")
