"""What new users tripped on (issue 21, items 1-8): errors that name the fix, one meaning per name."""

import io

import numpy as np
import onnx
import pytest
import torch
from onnx.reference import ReferenceEvaluator

import tconv

CT = tconv.conv_transpose


# -- 1. a permutation of the shapes that would match is named ---------------------------------------

@pytest.mark.parametrize("call, fragment", [
    (lambda: CT(np.ones((1, 16, 16, 8)), np.ones((8, 4, 3, 3))), 'did you mean data_format="channels_last"?'),
    (lambda: CT(np.ones((1, 64, 16, 16)), np.ones((4, 4, 32, 64))), 'did you mean weight_format="keras"?'),
    (lambda: CT(np.ones((1, 32, 16, 16)), np.ones((4, 4, 32, 64))), 'did you mean weight_format="jax"?'),
    (lambda: CT(np.ones((1, 16, 16, 64)), np.ones((4, 4, 32, 64))),
     'did you mean data_format="channels_last", weight_format="keras"?'),
    (lambda: CT(np.ones((1, 16, 16, 64)), np.ones((4, 4, 32, 64)), data_format="channels_last"),
     'did you mean weight_format="keras"?'),
    (lambda: CT(np.ones((1, 3, 16, 16)), np.ones((8, 3, 4, 4))),
     "this looks like a conv weight (C_out, C_in/groups, *k) = (8, 3, ...); conv_transpose takes (C_in, C_out/groups, *k)"),
    (lambda: tconv.conv(np.ones((1, 8, 16, 16)), np.ones((8, 3, 4, 4))),
     "this looks like a conv_transpose weight (C_in, C_out/groups, *k)"),
    (lambda: tconv.conv(np.ones((1, 16, 16, 3)), np.ones((8, 3, 3, 3))), 'did you mean data_format="channels_last"?'),
])
def test_channel_mismatch_names_the_fix(call, fragment):
    with pytest.raises(tconv.TconvError) as info:
        call()
    assert "channels" in str(info.value) and fragment in str(info.value)


def test_channel_mismatch_without_a_fix_has_no_hint():
    with pytest.raises(tconv.TconvError) as info:
        CT(np.ones((1, 5, 6, 6)), np.ones((4, 3, 3, 3)))
    assert str(info.value) == "input of shape (1, 5, 6, 6) has 5 channels but weight.shape[0] (in_channels) is 4"


# -- 2. a mistyped parameter name: the closest one, in every front end ------------------------------

X, W = np.ones((1, 2, 5, 5), np.float32), np.ones((2, 3, 3, 3), np.float32)


@pytest.mark.parametrize("call, fragment", [
    (lambda: tconv.onnx.conv_transpose(X, W, stride=2), "tconv.onnx.conv_transpose() got an unknown argument stride=2; "
     "did you mean strides=?"),
    (lambda: tconv.onnx.conv_transpose(X, W, padding=1), "did you mean pads=?"),
    (lambda: tconv.onnx.conv_transpose(X, W, groups=1), "did you mean group=?"),
    (lambda: CT(X, W, strides=2), "tconv.conv_transpose() got an unknown argument strides=2; did you mean stride=?"),
    (lambda: CT(X, W, dilation_rate=2), "did you mean dilation=?"),
    (lambda: CT(X, W, output_shape=(7, 7)), "did you mean output_size=?"),
    (lambda: CT(X, W, paddin=1), "did you mean padding=?"),
    (lambda: tconv.conv(X, W[:, :2], group=1), "tconv.conv() got an unknown argument group=1; did you mean groups=?"),
    (lambda: tconv.conv_transpose_vjp(X, X, W, strides=1), "did you mean stride=?"),
    (lambda: tconv.keras.conv_transpose(X, W, stride=2), "tconv.keras.conv_transpose() got an unknown argument "
     "stride=2; did you mean strides=?"),
    (lambda: tconv.keras.conv_transpose(X, W, dilation=2), "did you mean dilation_rate=?"),
    (lambda: tconv.jax.conv_transpose(X, W, stride=2), "did you mean strides=?"),
    (lambda: tconv.jax.conv_transpose(X, W, dilation=2), "did you mean rhs_dilation=?"),
    (lambda: tconv.ConvTranspose(W, strides=2), "tconv.ConvTranspose() got an unknown argument strides=2; "
     "did you mean stride=?"),
    (lambda: tconv.Conv(W, dilations=2), "did you mean dilation=?"),
    (lambda: tconv.ConvOperator(W, (5, 5), boundry="reflect"), "did you mean boundary=?"),
    (lambda: tconv.conv_matrix(W, (5, 5), strides=1), "did you mean stride=?"),
    (lambda: CT(X, W, bogus=np.ones((300, 300))), "bogus=<array of shape (300, 300), dtype float64>"),
])
def test_unknown_argument_names_the_closest(call, fragment):
    with pytest.raises(tconv.TconvTypeError) as info:
        call()
    assert isinstance(info.value, TypeError) and fragment in str(info.value)
    assert "(known: " in str(info.value)


# -- 3. ConvOperator: which side, which shape; messages never print array contents -------------------

def test_operator_adjoint_side_says_which_shape():
    A = tconv.ConvOperator(np.ones((2, 1, 3, 3)), (6, 6), padding=1)
    for call in (lambda: A.T @ np.ones(10), lambda: A.H.matvec(np.ones(36)), lambda: A.T.matmat(np.ones((7, 2)))):
        with pytest.raises(tconv.TconvError) as info:
            call()
        msg = str(info.value)
        assert "given to the adjoint A.T / A.H" in msg and "dimension mismatch" not in msg
        assert "the adjoint side (conv_transpose" in msg and "C_out * prod(output_shape) = 2 * 6*6 = 72 entries" in msg
    with pytest.raises(tconv.TconvError, match=r"x has shape \(72,\) \(dtype float64\); the forward side \(conv, "
                       r"A @ x\) takes vectors of C_in \* prod\(input_shape\) = 1 \* 6\*6 = 36 entries"):
        A @ np.ones(72)
    with pytest.raises(tconv.TconvError, match=r"y has shape \(5, 5\) .*give \(72,\) or \(72, k\)"):
        A.rmatvec(np.ones((5, 5)))


@pytest.mark.parametrize("call", [
    lambda img: tconv.ConvOperator(np.ones((1, 1, 3, 3)), img),
    lambda img: tconv.conv_transpose_output_shape(img, 3),
    lambda img: CT(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), stride=img),
    lambda img: CT(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), padding=img),
    lambda img: CT(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), output_size=img),
    lambda img: tconv.conv_matrix(np.ones((1, 1, 3, 3)), img),
])
def test_messages_show_shape_and_dtype_never_contents(call):
    img = np.full((64, 64), 0.123456)
    with pytest.raises((tconv.TconvError, TypeError)) as info:
        call(img)
    msg = str(info.value)
    assert "0.123" not in msg and len(msg) < 400
    assert "(64, 64)" in msg


# -- 4. output_size as one int ------------------------------------------------------------------------

def test_output_size_takes_one_int_for_every_axis():
    assert CT(np.ones((1, 1, 8)), np.ones((1, 1, 3)), stride=2, output_size=18).shape == (1, 1, 18)
    assert CT(np.ones((1, 1, 8, 8)), np.ones((1, 1, 3, 3)), stride=2, output_size=18).shape == (1, 1, 18, 18)
    layer = tconv.ConvTranspose(np.ones((1, 1, 3, 3)), stride=2)
    assert layer(np.ones((1, 1, 8, 8)), output_size=np.int64(18)).shape == (1, 1, 18, 18)
    with pytest.raises(tconv.TconvError, match=r"output_size=\(20, 20\) is out of range on axis 0: .* between 17 "
                       "and 18"):
        CT(np.ones((1, 1, 8, 8)), np.ones((1, 1, 3, 3)), stride=2, output_size=20)


# -- 5. one meaning per name: explain's direction, conv_matrix's input_shape ------------------------

def test_explain_prints_the_direction_of_the_operation():
    first = str(tconv.explain((16, 512, 8, 8), (512, 256, 4, 4), stride=2, padding=1)).splitlines()[0]
    assert first.startswith("operation: conv_transpose; input 512x8x8 -> output 256x16x16, kernel (4, 4)")
    first = str(tconv.explain((16, 256, 16, 16), (512, 256, 4, 4), stride=2, padding=1, op="conv")).splitlines()[0]
    assert first.startswith("operation: conv; input 256x16x16 -> output 512x8x8")


def test_explain_takes_the_arrays_of_the_call_as_well_as_their_shapes():
    """A user who has the arrays passes them (it once raised NumPy's "truth value of an array is
    ambiguous"): their shapes are used, and the input's dtype unless ``dtype`` says otherwise."""
    x, w = np.zeros((2, 6, 8, 8)), np.zeros((6, 3, 4, 4), np.float32)
    by_arrays = tconv.explain(x, w, stride=2, padding=1)
    by_shapes = tconv.explain(x.shape, w.shape, stride=2, padding=1, dtype="float64")
    assert str(by_arrays) == str(by_shapes) and by_arrays.dtype == "float64"
    assert tconv.explain(x, w, stride=2, padding=1, dtype="float32").dtype == "float32"
    for bad in ("abc", 5, (2, 6.0, 8, 8)):  # neither a shape nor an array: named as given
        with pytest.raises(tconv.TconvTypeError, match=r"x_shape=.* must be a shape \(a tuple of ints\) or an array"):
            tconv.explain(bad, w)


def test_conv_matrix_says_which_input_shape_it_takes():
    with pytest.raises(tconv.TconvError) as info:
        tconv.conv_matrix(np.ones((1, 1, 3, 3)), (2, 2))
    assert ("conv_matrix's input_shape=(2, 2) is conv's input, the transposed convolution's output; if (2, 2) is the "
            "transposed convolution's input, pass its output shape (4, 4) instead") in str(info.value)
    assert tconv.conv_matrix(np.ones((1, 1, 3, 3)), (4, 4)).shape == (4, 16)


# -- 6. padding_mode= on ConvOperator -----------------------------------------------------------------

def test_operator_takes_padding_mode():
    w = np.arange(9.0).reshape(1, 1, 3, 3)
    a = tconv.ConvOperator(w, (5, 5), padding=1, padding_mode="reflect")
    b = tconv.ConvOperator(w, (5, 5), padding=1, boundary="reflect")
    assert a.boundary == a.padding_mode == "reflect"
    np.testing.assert_array_equal(a.todense(), b.todense())
    x = np.random.default_rng(0).standard_normal((1, 1, 5, 5))
    np.testing.assert_allclose(a @ x.ravel(), tconv.conv(x, w, padding=1, padding_mode="reflect").ravel())
    with pytest.raises(tconv.TconvError, match="padding_mode='reflect' and boundary='circular' were both given"):
        tconv.ConvOperator(w, (5, 5), padding=1, padding_mode="reflect", boundary="circular")
    with pytest.raises(tconv.TconvError, match="padding_mode='mirror' must be one of zeros, reflect"):
        tconv.ConvOperator(w, (5, 5), padding=1, padding_mode="mirror")


# -- 7. ONNX layers keep output_padding ------------------------------------------------------------------

def _export(module, x):
    buf = io.BytesIO()
    torch.onnx.export(module, x, buf, dynamo=False)
    return onnx.load_from_string(buf.getvalue())


def test_onnx_layers_keep_output_padding():
    torch.manual_seed(0)
    m = torch.nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1)
    x = torch.randn(1, 4, 7, 7)
    (layer,) = tconv.onnx.layers(_export(m, x)).values()
    assert repr(layer) == repr(tconv.from_torch(m)) == ("ConvTranspose(4, 2, kernel_size=(3, 3), stride=(2, 2), "
                                                        "padding=(1, 1), output_padding=(1, 1), bias=True)")
    assert layer(x.numpy(), output_size=(13, 13)).shape == (1, 2, 13, 13)
    with torch.no_grad():
        np.testing.assert_allclose(layer(x.numpy()), m(x).numpy(), atol=1e-5)
        np.testing.assert_allclose(layer(x.numpy(), output_size=(13, 13)), m(x, output_size=(13, 13)).numpy(),
                                   atol=1e-5)


def test_onnx_round_trip_of_a_real_model_matches_onnx_runtime():
    """A DCGAN-like generator exported by the default torch.onnx.export (which needs onnxscript), run by
    onnx.reference with tconv's ConvTranspose, against ONNX Runtime."""
    import onnxruntime as ort

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.ConvTranspose2d(8, 6, 4, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1, groups=2), torch.nn.ReLU(),
        torch.nn.ConvTranspose2d(4, 2, 3, stride=1, padding=2, dilation=2),
    ).eval()
    x = torch.randn(2, 8, 5, 5)
    buf = io.BytesIO()
    torch.onnx.export(model, (x,), buf)  # the default (dynamo) exporter: onnxscript
    proto = onnx.load_from_string(buf.getvalue())
    assert sum(n.op_type == "ConvTranspose" for n in proto.graph.node) == 3
    name = proto.graph.input[0].name
    ours = ReferenceEvaluator(proto, new_ops=[tconv.onnx.ConvTranspose]).run(None, {name: x.numpy()})[0]
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    theirs = sess.run(None, {name: x.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(theirs, model(x).numpy(), atol=1e-5)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


# -- 8. the layers take data_format and weight_format ------------------------------------------------------

@pytest.mark.parametrize("cls, op", [(tconv.ConvTranspose, "conv_transpose"), (tconv.Conv, "conv")])
def test_layers_take_data_and_weight_format(cls, op):
    rng = np.random.default_rng(0)
    k = rng.standard_normal((3, 3, 4, 4))  # keras: conv_transpose (*k, C_out, C_in), conv (*k, C_in, C_out)
    x = rng.standard_normal((2, 6, 6, 4))  # NHWC
    layer = cls(k, np.arange(4.0), stride=2, padding=1, weight_format="keras", data_format="channels_last")
    fn = getattr(tconv, op)
    want = fn(x, k, np.arange(4.0), stride=2, padding=1, weight_format="keras", data_format="channels_last")
    np.testing.assert_array_equal(layer(x), want)
    assert "data_format='channels_last'" in repr(layer)
    g = np.ones_like(want)
    gx, gw, gb = layer.vjp(g, x)
    vjp = getattr(tconv, f"{op}_vjp")
    rx, rw, rb = vjp(g, x, k, np.arange(4.0), stride=2, padding=1, weight_format="keras", data_format="channels_last")
    np.testing.assert_array_equal(gx, rx)
    np.testing.assert_array_equal(gw, rw)
    assert gw.shape == k.shape
    assert layer.output_shape((2, 6, 6, 4)) == want.shape[1:3]


@pytest.mark.parametrize("call, fragment", [
    (lambda: tconv.viz.animate(strides=2), "tconv.animate() got an unknown argument strides=2; did you mean stride=?"),
    (lambda: tconv.viz.overlap((4,), 3, dilations=2), "did you mean dilation=?"),
    (lambda: tconv.viz.matrix((2, 2), kernel_size=3), "did you mean kernel=?"),
])
def test_pictures_name_the_closest_argument(call, fragment):
    with pytest.raises(tconv.TconvTypeError) as info:
        call()
    assert fragment in str(info.value)


@pytest.mark.parametrize("call", [
    lambda a: tconv.keras.conv_transpose(np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 1)), padding=a),
    lambda a: tconv.keras.conv_transpose(np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 1)), data_format=a),
    lambda a: tconv.jax.conv_transpose(np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 1)), strides=(1, 1), padding=a),
    lambda a: tconv.onnx.conv_transpose(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), kernel_shape=a),
    lambda a: CT(np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 1)), data_format=a),
    lambda a: CT(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), padding_mode=a),
    lambda a: CT(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), out_dtype=a),
])
def test_front_ends_never_print_array_contents(call):
    img = np.full((64, 64), 0.123456)
    with pytest.raises((tconv.TconvError, TypeError)) as info:
        call(img)
    assert "0.123" not in str(info.value) and "(64, 64)" in str(info.value), str(info.value)
