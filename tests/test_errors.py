"""Bad input: a ValueError/TypeError whose message names the parameter, the value and the rule."""

import numpy as np
import pytest

import tconv

X = np.ones((2, 4, 5, 5))
W = np.ones((4, 3, 3, 3))  # conv_transpose: C_in=4, C_out=3
CT = tconv.conv_transpose
CV = tconv.conv

BAD = [
    # (callable, kwargs, exception, message fragments)
    (lambda: CT(np.ones((5, 5)), W), ValueError, ["input has shape (5, 5)", "4-D batched"]),
    (lambda: CT(np.ones((1, 2, 3, 4, 5, 6)), W), ValueError, ["input has shape"]),
    (lambda: CT(X, np.ones((4, 3))), ValueError, ["weight has shape (4, 3)"]),
    (lambda: CT(X, np.ones((4, 0, 3, 3))), ValueError, ["every axis must be non-empty"]),
    (lambda: CT(np.ones((2, 5, 5, 5)), W), ValueError, ["input of shape (2, 5, 5, 5) has 5 channels", "in_channels) is 4"]),
    (lambda: CT(X, np.ones((4, 1, 3, 3)), groups=3), ValueError, ["groups=3 must divide in_channels=4"]),
    (lambda: CV(np.ones((1, 8, 5, 5)), np.ones((6, 8, 3, 3)), groups=4), ValueError, ["groups=4 must divide out_channels=6"]),
    (lambda: CV(np.ones((1, 6, 5, 5)), np.ones((4, 4, 3, 3)), groups=2), ValueError, ["input of shape (1, 6, 5, 5) has 6 channels", "= 8"]),
    (lambda: CT(X, W, stride=0), ValueError, ["stride=0 must be positive"]),
    (lambda: CT(X, W, stride=(1, -2)), ValueError, ["stride=(1, -2)", "positive"]),
    (lambda: CT(X, W, dilation=0), ValueError, ["dilation=0 must be positive"]),
    (lambda: CT(X, W, groups=0), ValueError, ["groups=0 must be positive"]),
    (lambda: CT(X, W, padding=-1), ValueError, ["padding=-1 must be >= 0"]),
    (lambda: CT(X, W, padding=((1, -1), 0)), ValueError, ["padding=((1, -1), 0)", ">= 0"]),
    (lambda: CT(X, W, stride=2, output_padding=2), ValueError, ["output_padding=(2, 2)", "max(stride, dilation)"]),
    (lambda: CT(X, W, output_padding=1), ValueError, ["output_padding=(1, 1)", "smaller than max(stride, dilation)"]),
    (lambda: CT(X, W, stride=(1, 2, 3)), ValueError, ["stride=(1, 2, 3) has 3 entries", "2 spatial axes"]),
    (lambda: CT(X, W, padding=(1, 2, 3)), ValueError, ["padding=(1, 2, 3) has 3 entries"]),
    (lambda: CT(X, W, stride=2.0), TypeError, ["stride=2.0 must be an int", "float"]),
    (lambda: CT(X, W, stride=True), TypeError, ["stride=True must be an int", "bool"]),
    (lambda: CT(X, W, groups=1.5), TypeError, ["groups=1.5 must be an int"]),
    (lambda: CT(X, W, padding=(1.0, 1)), TypeError, ["padding=(1.0, 1) must contain ints"]),
    (lambda: CT(X, W, padding="full"), ValueError, ["padding='full' is not a known padding string", "'valid', 'same'"]),
    (lambda: CT(X, W, output_size=(30, 30)), ValueError, ["output_size=(30, 30) is out of range", "between 7 and 7"]),
    (lambda: CT(X, W, stride=2, output_size=(13,)), ValueError, ["output_size=(13,) must have 2 spatial entries"]),
    (lambda: CT(X, W, stride=2, output_padding=1, output_size=(12, 12)), ValueError, ["give only one"]),
    (lambda: tconv.onnx.conv_transpose(X + 0j, W), TypeError, ["X has complex dtype"]),  # ONNX: real types only
    (lambda: CT(X, W.astype(bool)), TypeError, ["weight has boolean dtype"]),
    (lambda: CT(np.array([["a"]]), W), TypeError, ["input has non-numeric dtype"]),
    (lambda: CT(X, W, bias=np.ones(4)), ValueError, ["bias has shape (4,)", "(3,)"]),
    (lambda: CT(X, W, padding=5), ValueError, ["empty output on spatial axis 0"]),
    (lambda: CV(np.ones((1, 3, 2, 2)), np.ones((4, 3, 3, 3))), ValueError, ["empty output on spatial axis 0", "dilated kernel extent 3"]),
    (lambda: CT(X, W, method="fastest"), ValueError, ["method='fastest' is not a known algorithm", "gemm", "scatter"]),
    (lambda: tconv.conv_transpose1d(X, W), ValueError, ["conv_transpose1d needs a 3-D weight"]),
    (lambda: tconv.conv2d(np.ones((1, 3, 4)), np.ones((1, 3, 2))), ValueError, ["conv2d needs a 4-D weight"]),
    (lambda: CT(np.ones((1, 4, 0, 3)), W), ValueError, ["spatial axes must be non-empty"]),
    (lambda: tconv.conv_transpose_output_padding((8,), (30,), 3, stride=2), ValueError, ["output_size=(30,) cannot be reached", "[0, 1]"]),
    (lambda: tconv.onnx.conv_transpose(X, W, auto_pad="SAME"), ValueError, ["auto_pad='SAME' must be one of"]),
    (lambda: tconv.onnx.conv_transpose(X, W, pads=[1, 1]), ValueError, ["pads=[1, 1] must have 4 entries"]),
    (lambda: tconv.onnx.conv_transpose(X, W, kernel_shape=[2, 2]), ValueError, ["kernel_shape=[2, 2] does not match"]),
    (lambda: tconv.onnx.conv_transpose(X, W, B=np.ones(2)), ValueError, ["B has shape (2,)"]),
    (lambda: tconv.onnx.conv_transpose(X, W, strides=[0, 1]), ValueError, ["strides=(0, 1)", "positive"]),
]


@pytest.mark.parametrize("i", range(len(BAD)))
def test_bad_input_message(i):
    fn, exc, fragments = BAD[i]
    with pytest.raises(exc) as info:
        fn()
    assert isinstance(info.value, tconv.TconvError)
    for frag in fragments:
        assert frag in str(info.value), f"{frag!r} not in {str(info.value)!r}"


def test_numpy_integer_scalars_accepted():
    y = CT(X, W, stride=np.int64(2), padding=(np.int32(1), 1), dilation=np.uint8(1))
    assert y.shape == CT(X, W, stride=2, padding=1).shape


@pytest.mark.parametrize("method", ["zero_insertion", "gemm", "auto"])
def test_masked_arrays_are_read_as_their_data_or_refused(method):
    import numpy.ma as ma

    x, w, g = np.ones((1, 2, 5)), np.ones((2, 3, 3)), np.ones((1, 3, 7))
    plain = tconv.conv_transpose_vjp(g, x, w, method=method)
    unmasked = tconv.conv_transpose_vjp(ma.masked_array(g), ma.masked_array(x), w, method=method)
    for a, b in zip(plain[:2], unmasked[:2]):
        assert type(b) is np.ndarray
        np.testing.assert_array_equal(a, b)
    mask = np.zeros(x.shape, bool)
    mask[0, 1, 2] = True
    with pytest.raises(tconv.TconvTypeError, match=r"input is a masked array with 1 masked entries.*filled\(0\)"):
        tconv.conv_transpose_vjp(g, ma.masked_array(x, mask=mask), w, method=method)
