"""``data_format`` / ``weight_format`` on conv_transpose, conv, both VJPs, conv_matrix and ConvOperator:
results equal the channels-first / PyTorch-layout results exactly (those are tested against PyTorch
elsewhere), and Keras 3's own ``conv`` (channels_last, Keras kernels, groups) agrees."""

import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import cases

import tconv
from tconv.api.conventions.layout import from_channels_first, to_torch_weight, weight_spec

FORMATS = ["torch", "keras", "jax", "spec"]


def _spec_for(nd, op):
    """A made-up spec with the spatial axes between the channel axes (unlike every named one)."""
    sp = "DHW"[-nd:]
    return "O" + sp + "I" if op == "conv_transpose" else "I" + sp + "O"


def _in_format(w_torch, fmt, op):
    nd = w_torch.ndim - 2
    spec = weight_spec(_spec_for(nd, op) if fmt == "spec" else fmt, op, nd)
    first, second = ("I", "O") if op == "conv_transpose" else ("O", "I")
    torch_spec = first + second + "".join(c for c in spec if c not in "OI")
    return np.transpose(w_torch, [torch_spec.index(c) for c in spec]), (_spec_for(nd, op) if fmt == "spec" else fmt)


def _cl(a, nd):
    return from_channels_first(a, "channels_last", nd)


@given(cases(), st.sampled_from(FORMATS), st.sampled_from(["channels_last", "channels_first"]))
def test_conv_transpose_and_vjp_equal_channels_first_exactly(case, fmt, df):
    x, w, b = case.arrays()
    nd = case.nd
    want = tconv.conv_transpose(x, w, b, **case.kwargs())
    wf, name = _in_format(w, fmt, "conv_transpose")
    assert np.array_equal(to_torch_weight(wf, name, "conv_transpose"), w)
    xin = _cl(x, nd) if df == "channels_last" else x
    got = tconv.conv_transpose(xin, wf, b, **case.kwargs(), data_format=df, weight_format=name)
    assert np.array_equal(got, _cl(want, nd) if df == "channels_last" else want)
    g = np.random.default_rng(case.seed).standard_normal(want.shape).astype(want.dtype)
    gx, gw, gb = tconv.conv_transpose_vjp(g, x, w, b, **case.kwargs())
    gin = _cl(g, nd) if df == "channels_last" else g
    gx2, gw2, gb2 = tconv.conv_transpose_vjp(gin, xin, wf, b, **case.kwargs(), data_format=df, weight_format=name)
    assert np.array_equal(gx2, _cl(gx, nd) if df == "channels_last" else gx)
    assert np.array_equal(to_torch_weight(gw2, name, "conv_transpose"), gw) and gw2.shape == wf.shape
    assert (gb is None and gb2 is None) or np.array_equal(gb, gb2)


@given(cases(), st.sampled_from(FORMATS), st.sampled_from(["channels_last", "channels_first"]))
def test_conv_and_vjp_equal_channels_first_exactly(case, fmt, df):
    """The forward twin: conv's weight is (C_out, C_in/g, *k) = the transposed call's (C_in, C_out/g, *k) read back."""
    y, w, _ = case.arrays()
    nd = case.nd
    x = tconv.conv_transpose(y, w, **case.kwargs())  # a conv input of the right size
    kw = dict(stride=case.stride, padding=case.padding, dilation=case.dilation, groups=case.groups)
    if case.padding == "same":
        kw["padding"] = tconv.core.geometry.conv_padding_pairs("same", x.shape[-nd:], w.shape[2:],
                                                          case.per_axis(case.stride), case.per_axis(case.dilation))
    want = tconv.conv(x, w, **kw)
    wf, name = _in_format(w, fmt, "conv")
    xin = _cl(x, nd) if df == "channels_last" else x
    got = tconv.conv(xin, wf, **kw, data_format=df, weight_format=name)
    assert np.array_equal(got, _cl(want, nd) if df == "channels_last" else want)
    gx, gw, _ = tconv.conv_vjp(want, x, w, **kw)
    gin = _cl(want, nd) if df == "channels_last" else want
    gx2, gw2, _ = tconv.conv_vjp(gin, xin, wf, **kw, data_format=df, weight_format=name)
    assert np.array_equal(gx2, _cl(gx, nd) if df == "channels_last" else gx)
    assert np.array_equal(to_torch_weight(gw2, name, "conv"), gw)


@pytest.mark.parametrize("groups, padding, strides", [(1, "valid", 1), (2, "same", 2), (3, "same", 1), (1, "valid", 3)])
def test_conv_channels_last_keras_kernel_matches_keras(groups, padding, strides):
    rng = np.random.default_rng(groups)
    x = rng.standard_normal((2, 7, 6, 6)).astype(np.float32)
    k = rng.standard_normal((3, 2, 6 // groups, 3 * groups)).astype(np.float32)  # (kH, kW, C_in/g, C_out)
    want = np.asarray(keras.ops.conv(x, k, strides=strides, padding=padding, data_format="channels_last"))
    got = tconv.conv(x, k, stride=strides, padding=padding, groups=groups, data_format="channels_last",
                     weight_format="keras")
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_conv_matrix_and_operator_in_channels_last():
    rng = np.random.default_rng(0)
    k = rng.standard_normal((3, 3, 2, 4))  # keras conv kernel (kH, kW, C_in, C_out)
    x = rng.standard_normal((5, 6, 2))     # unbatched (H, W, C)
    y = tconv.conv(x, k, stride=2, padding=1, data_format="channels_last", weight_format="keras")
    C = tconv.conv_matrix(k, (5, 6), stride=2, padding=1, data_format="channels_last", weight_format="keras")
    np.testing.assert_allclose(C @ x.ravel(), y.ravel(), atol=1e-12)
    for boundary in ("zeros", "reflect"):
        A = tconv.ConvOperator(k, (5, 6), stride=2, padding=1, boundary=boundary, data_format="channels_last",
                               weight_format="keras")
        ref = tconv.conv(x, k, stride=2, padding=1, padding_mode=boundary, data_format="channels_last",
                         weight_format="keras")
        np.testing.assert_allclose(A.matvec(x.ravel()), ref.ravel(), atol=1e-12)
        v = rng.standard_normal(A.shape[0])
        np.testing.assert_allclose(A.rmatvec(v), A.tosparse().T @ v, atol=1e-12)
        assert tconv.testing.dottest(A, rng=1) < 1e-12
    # the adjoint: keras conv kernel (kH, kW, C_in, C_out) is the transposed kernel (kH, kW, C_out', C_in') as-is
    ct = tconv.conv_transpose(y, k, stride=2, padding=1, output_size=(5, 6), data_format="channels_last",
                              weight_format="keras")
    np.testing.assert_allclose(ct.ravel(), C.T @ y.ravel(), atol=1e-12)


@pytest.mark.parametrize("fn, kwargs, match", [
    (tconv.conv_transpose, dict(data_format="NHWC"), "data_format='NHWC' must be one of channels_first, channels_last"),
    (tconv.conv, dict(weight_format="tf"), "weight_format='tf' must be one of torch, keras, jax or a spec"),
    (tconv.conv, dict(weight_format="HWOO"), "'O' and 'I' once"),
    (tconv.conv, dict(weight_format=3), "weight_format=3 must be a string"),
    (tconv.conv_transpose, dict(weight_format="keras", data_format="channels_last"),
     r"input has 4 channels \(channels_last\) but the weight of shape \(4, 1, 3, 3\) read as weight_format='keras' "
     r"\(HWOI\) expects 3 input channels"),
])
def test_bad_layout_arguments(fn, kwargs, match):
    with pytest.raises((tconv.TconvError, tconv.TconvTypeError), match=match):
        fn(np.ones((1, 4, 4, 4)), np.ones((4, 1, 3, 3)), **kwargs)


def test_bad_layout_in_matrix_and_operator():
    with pytest.raises(tconv.TconvError, match="data_format='NCHW' must be one of"):
        tconv.conv_matrix(np.ones((1, 1, 3, 3)), (4, 4), data_format="NCHW")
    with pytest.raises(tconv.TconvError, match="data_format='x' must be one of"):
        tconv.ConvOperator(np.ones((1, 1, 3, 3)), (4, 4), data_format="x")
