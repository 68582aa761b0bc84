"""``tconv.keras.conv_transpose`` against Keras 3 itself (JAX backend), over random geometries,
both padding strings, with and without ``output_padding``, both data formats."""

import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tconv


@st.composite
def keras_cases(draw):
    nd = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, {1: 5, 2: 4, 3: 3}[nd])) for _ in range(nd))
    strides = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    if draw(st.booleans()):
        output_padding = None
    else:  # Keras's layers want output_padding < stride; its ops accept more (output extended)
        output_padding = tuple(draw(st.integers(0, s)) for s in strides)
    return dict(
        shape=tuple(draw(st.integers(1, {1: 7, 2: 5, 3: 3}[nd])) for _ in range(nd)),
        kernel=kernel, strides=strides, dilation_rate=dilation, output_padding=output_padding,
        padding=draw(st.sampled_from(["valid", "same", "SAME"])),
        data_format=draw(st.sampled_from(["channels_last", "channels_first"])),
        cin=draw(st.integers(1, 3)), cout=draw(st.integers(1, 3)), batch=draw(st.integers(1, 2)),
        seed=draw(st.integers(0, 2**31)),
    )


@given(keras_cases())
def test_matches_keras_ops(case):
    rng = np.random.default_rng(case["seed"])
    nd = len(case["kernel"])
    if case["data_format"] == "channels_last":
        shape = (case["batch"], *case["shape"], case["cin"])
    else:
        shape = (case["batch"], case["cin"], *case["shape"])
    x = rng.standard_normal(shape).astype(np.float32)
    k = rng.standard_normal((*case["kernel"], case["cout"], case["cin"])).astype(np.float32)
    kw = dict(strides=case["strides"], padding=case["padding"], output_padding=case["output_padding"],
              data_format=case["data_format"], dilation_rate=case["dilation_rate"])
    if min(tconv.keras.output_length(
            i, kk, s, d, case["padding"].lower(), None if case["output_padding"] is None else op)
            for i, kk, s, d, op in zip(case["shape"], case["kernel"], case["strides"], case["dilation_rate"],
                                       case["output_padding"] or (0,) * nd)) < 1:
        with pytest.raises(tconv.TconvError, match="empty output"):
            tconv.keras.conv_transpose(x, k, **kw)
        return
    want = np.asarray(keras.ops.conv_transpose(x, k, **kw))
    got = tconv.keras.conv_transpose(x, k, **kw)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * (1 + np.abs(want).max()))


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("output_padding", [None, 0, 1])
def test_matches_keras_layer_with_bias(padding, output_padding):
    """The Conv2DTranspose layer (kernel and bias set by hand) on a stride larger than the kernel."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 4, 3)).astype(np.float32)
    layer = keras.layers.Conv2DTranspose(4, (2, 3), strides=(3, 2), padding=padding, output_padding=output_padding)
    layer.build(x.shape)
    k = rng.standard_normal(layer.kernel.shape).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    layer.set_weights([k, b])
    want = np.asarray(layer(x))
    got = tconv.keras.conv_transpose(x, k, (3, 2), padding, output_padding, bias=b)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_valid_with_stride_beyond_kernel_differs_from_pytorch():
    """Keras's 'valid' extends the output by stride - k zeros; PyTorch's padding=0 does not."""
    x = np.ones((1, 1, 3))
    k = np.ones((2, 1, 1))
    got = tconv.keras.conv_transpose(x, k, 4, data_format="channels_first")
    torch_like = tconv.conv_transpose(x, np.moveaxis(k, (2, 1), (0, 1)), stride=4)
    assert got.shape == (1, 1, 12) and torch_like.shape == (1, 1, 10)
    np.testing.assert_array_equal(got[..., :10], torch_like)
    np.testing.assert_array_equal(got[..., 10:], 0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(padding="full"), "padding='full' must be 'valid' or 'same'"),
    (dict(padding=1), "must be the string 'valid' or 'same'"),
    (dict(data_format="NHWC"), "data_format='NHWC' must be one of channels_last, channels_first"),
    (dict(output_padding=-1), "output_padding"),
    (dict(strides=0), "strides=0 must be positive"),
    (dict(bias=np.ones(3)), r"bias has shape \(3,\); it must be \(2,\)"),
])
def test_bad_input(kwargs, match):
    with pytest.raises((tconv.TconvError, tconv.TconvTypeError), match=match):
        tconv.keras.conv_transpose(np.ones((1, 4, 4, 3)), np.ones((3, 3, 2, 3)), **kwargs)


def test_channel_mismatch_names_the_layout():
    with pytest.raises(tconv.TconvError, match=r"inputs has 4 channels \(channels_last\).*C_in=3"):
        tconv.keras.conv_transpose(np.ones((1, 4, 4, 4)), np.ones((3, 3, 2, 3)))
    with pytest.raises(tconv.TconvError, match="needs a 4-D batched input"):
        tconv.keras.conv_transpose(np.ones((4, 4, 3)), np.ones((3, 3, 2, 3)))
