"""``tconv.ConvTranspose`` / ``tconv.Conv`` / ``tconv.from_torch`` against the PyTorch modules (forward,
``output_size`` at call time, ``padding_mode``, autograd), and the ONNX interop: ``tconv.onnx.ConvTranspose``
as a custom op in ``onnx.reference.ReferenceEvaluator`` and ``tconv.onnx.layers(model)``, against ONNX Runtime."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import tconv

torch.set_num_threads(1)

MODULES = [
    lambda: torch.nn.ConvTranspose1d(4, 6, 5, stride=3, padding=2, output_padding=1, groups=2, dilation=2),
    lambda: torch.nn.ConvTranspose2d(3, 4, (3, 2), stride=2, padding=(1, 0), bias=False),
    lambda: torch.nn.ConvTranspose3d(2, 2, 2, stride=(1, 2, 2), padding=(0, 1, 0)),
    lambda: torch.nn.Conv1d(4, 6, 3, stride=2, padding=2, groups=2, padding_mode="circular"),
    lambda: torch.nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect", dilation=(1, 2)),
    lambda: torch.nn.Conv2d(3, 4, 4, padding="same", padding_mode="replicate"),
    lambda: torch.nn.Conv3d(2, 3, 2, stride=2, padding=1, bias=False),
]


def _input(module, rng):
    nd = len(module.kernel_size)
    return rng.standard_normal((2, module.in_channels, *(7, 6, 5)[:nd]))


@pytest.mark.parametrize("make", MODULES, ids=range(len(MODULES)))
def test_from_torch_forward_and_vjp(make):
    torch.manual_seed(0)
    module = make().double()
    layer = tconv.from_torch(module)
    rng = np.random.default_rng(0)
    x = _input(module, rng)
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = module(xt)
    np.testing.assert_allclose(layer(x), yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    g = rng.standard_normal(tuple(yt.shape))
    params = [xt, module.weight] + ([module.bias] if module.bias is not None else [])
    want = torch.autograd.grad(yt, params, torch.from_numpy(g))
    got = layer.vjp(g, x)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-10, atol=1e-10)
    assert (got[2] is None) == (module.bias is None)
    assert layer.output_shape(x.shape[2:]) == tuple(yt.shape[2:])
    assert layer.explain(x.shape).choice in tconv.ALGORITHMS


def test_output_size_at_call_time_like_pytorch():
    torch.manual_seed(1)
    module = torch.nn.ConvTranspose2d(3, 2, 3, stride=3, padding=1).double()
    layer = tconv.from_torch(module)
    x = np.random.default_rng(2).standard_normal((1, 3, 4, 5))
    for size in [(10, 13), (11, 14), (12, 15)]:
        want = module(torch.from_numpy(x), output_size=list(size)).detach().numpy()
        np.testing.assert_allclose(layer(x, output_size=size), want, rtol=1e-12, atol=1e-12)
    with pytest.raises(tconv.TconvError, match="output_size=.* is out of range"):
        layer(x, output_size=(13, 13))


def test_padding_mode_transposed_layer_is_the_adjoint_of_the_conv_layer():
    w = np.random.default_rng(3).standard_normal((2, 3, 3, 3))
    conv = tconv.Conv(w, stride=2, padding=1, padding_mode="reflect")
    ct = tconv.ConvTranspose(w, stride=2, padding=1, padding_mode="reflect")
    x = np.random.default_rng(4).standard_normal((1, 3, 7, 8))
    y = np.random.default_rng(5).standard_normal(conv(x).shape)
    lhs, rhs = np.vdot(conv(x), y), np.vdot(x, ct(y, output_size=(7, 8)))
    assert abs(lhs - rhs) < 1e-10 * abs(lhs)


def test_repr():
    assert repr(tconv.from_torch(torch.nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1, output_padding=1))) == (
        "ConvTranspose(64, 32, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), output_padding=(1, 1), bias=True)")
    assert repr(tconv.Conv(np.ones((4, 1, 3)), groups=2, padding="same", padding_mode="circular")) == (
        "Conv(2, 4, kernel_size=(3,), padding='same', groups=2, bias=False, padding_mode='circular')")


@pytest.mark.parametrize("make, match", [
    (lambda: tconv.from_torch(torch.nn.Linear(2, 3)), "module=Linear must be nn.ConvTranspose1d/2d/3d"),
    (lambda: tconv.ConvTranspose(np.ones((2, 2, 3)), padding_mode="wrap"), "padding_mode='wrap' must be one of"),
    (lambda: tconv.ConvTranspose(np.ones((2, 2, 3)), np.ones(3)), r"bias has shape \(3,\); it must be \(2,\)"),
    (lambda: tconv.Conv(np.ones((3, 2, 3)), groups=2), "groups=2 must divide out_channels=3"),
    (lambda: tconv.Conv(np.ones((3, 2))), "needs a non-empty Conv weight"),
    (lambda: tconv.Conv(np.ones((3, 2, 3)), stride=(1, 2)), "stride=.* has 2 entries"),
])
def test_bad_input(make, match):
    with pytest.raises((tconv.TconvError, tconv.TconvTypeError), match=match):
        make()


# -- ONNX ---------------------------------------------------------------------------------------

def _model(rng, batch=2):
    """X -> ConvTranspose (group 2, 3 outputs per group, bias) -> Relu -> ConvTranspose (SAME_LOWER)
    -> ConvTranspose (output_shape), all weights initializers."""
    w1 = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b1 = rng.standard_normal(6).astype(np.float32)
    w2 = rng.standard_normal((6, 2, 2, 3)).astype(np.float32)
    w3 = rng.standard_normal((2, 1, 3, 3)).astype(np.float32)
    nodes = [
        helper.make_node("ConvTranspose", ["X", "W1", "B1"], ["Y1"], name="up1", group=2, strides=[2, 2],
                         pads=[1, 0, 0, 1], output_padding=[1, 0]),
        helper.make_node("Relu", ["Y1"], ["R1"]),
        helper.make_node("ConvTranspose", ["R1", "W2"], ["Y2"], name="up2", strides=[2, 1], auto_pad="SAME_LOWER"),
        helper.make_node("ConvTranspose", ["Y2", "W3"], ["Y"], name="up3", strides=[3, 2], dilations=[1, 2],
                         output_shape=[64, 26]),
    ]
    inits = [numpy_helper.from_array(a, n) for a, n in ((w1, "W1"), (b1, "B1"), (w2, "W2"), (w3, "W3"))]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [batch, 4, 5, 6])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def _ort(model, x, outputs=None):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(outputs, {"X": x})


def test_reference_evaluator_with_tconv_op_matches_onnxruntime():
    rng = np.random.default_rng(0)
    model = _model(rng)
    x = rng.standard_normal((2, 4, 5, 6)).astype(np.float32)
    want = _ort(model, x)[0]
    got = ReferenceEvaluator(model, new_ops=[tconv.onnx.ConvTranspose]).run(None, {"X": x})[0]
    assert got.shape == want.shape == (2, 1, 64, 26) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_layers_reads_every_conv_transpose_node():
    rng = np.random.default_rng(1)
    model = _model(rng)
    x = rng.standard_normal((2, 4, 5, 6)).astype(np.float32)
    ls = tconv.onnx.layers(model)
    assert list(ls) == ["up1", "up2", "up3"]
    assert all(isinstance(v, tconv.ConvTranspose) for v in ls.values())
    inter = onnx.helper.make_model(model.graph, opset_imports=model.opset_import)
    inter.graph.output.extend([helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("Y1", "Y2")])
    y1, y2, y = _ort(inter, x, ["Y1", "Y2", "Y"])
    np.testing.assert_allclose(ls["up1"](x), y1, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ls["up2"](np.maximum(y1, 0)), y2, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ls["up3"](y2), y, rtol=1e-4, atol=1e-4)
    assert ls["up1"].groups == 2 and ls["up1"].bias is not None and ls["up2"].bias is None


def test_layers_needs_constant_weights():
    node = helper.make_node("ConvTranspose", ["X", "W"], ["Y"], name="dyn")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 1, 3, 3]),
                                            helper.make_tensor_value_info("W", TensorProto.FLOAT, [1, 1, 2, 2])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)])
    with pytest.raises(tconv.TconvError, match="node 'dyn': its weight/bias must be initializers"):
        tconv.onnx.layers(helper.make_model(graph))
