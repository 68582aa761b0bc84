"""ONNX ConvTranspose: every backend node case, the pytorch-converted cases, ONNX Runtime,
and the group/bias cases where ONNX's reference implementation is wrong (checked against PyTorch)."""

import os
import warnings

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper
from reference import close, torch_conv_transpose

import tconv
from tconv.core import _native

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from onnx.backend.test.case.node import collect_testcases
    from onnx.backend.test.loader import load_model_tests

    NODE_CASES = collect_testcases("ConvTranspose")
PT_CASES = [c for c in load_model_tests(kind="pytorch-converted") if "ConvTranspose" in c.name]


def _attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def test_node_cases_were_collected():
    names = {c.name for c in NODE_CASES}
    assert {"test_convtranspose", "test_convtranspose_autopad_same", "test_convtranspose_group_2"} <= names
    assert len(NODE_CASES) >= 10 and len(PT_CASES) >= 2


@pytest.mark.parametrize("method", sorted(tconv.ALGORITHMS))
@pytest.mark.parametrize("case", NODE_CASES, ids=lambda c: c.name)
def test_onnx_node_case(case, method):
    node = case.model.graph.node[0]
    inputs, outputs = case.data_sets[0]
    attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in _attrs(node).items()}
    if method in ("native", "brgemm") and not _native.available():  # TCONV_NATIVE=0: refused, saying why
        with pytest.raises(tconv.TconvError, match="compiled core is unavailable"):
            tconv.onnx.conv_transpose(*inputs, **attrs, method=method)
        return
    got = tconv.onnx.conv_transpose(*inputs, **attrs, method=method)
    # fft's float32 transforms round relative to the output's scale, not entry by entry (an exact 0
    # comes back as ~1e-8 of the largest entry)
    atol = 1e-6 * (max(1.0, float(np.abs(outputs[0]).max())) if method == "fft" else 1.0)
    np.testing.assert_allclose(got, outputs[0], rtol=1e-5, atol=atol)
    assert got.dtype == outputs[0].dtype


@pytest.mark.parametrize("case", PT_CASES, ids=lambda c: c.name)
def test_pytorch_converted_case(case):
    model = onnx.load(os.path.join(case.model_dir, "model.onnx"))
    node = [n for n in model.graph.node if n.op_type == "ConvTranspose"][0]
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    ds = os.path.join(case.model_dir, "test_data_set_0")
    x = numpy_helper.to_array(onnx.load_tensor(os.path.join(ds, "input_0.pb")))
    want = numpy_helper.to_array(onnx.load_tensor(os.path.join(ds, "output_0.pb")))
    args = [x] + [init[name] for name in node.input[1:]]
    got = tconv.onnx.conv_transpose(*args, **_attrs(node))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def _ort(x, w, b, **attrs):
    import onnxruntime as ort

    inputs = ["X", "W"] + (["B"] if b is not None else [])
    node = helper.make_node("ConvTranspose", inputs, ["Y"], **attrs)
    vi = [helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in inputs]
    graph = helper.make_graph([node], "g", vi, [helper.make_tensor_value_info("Y", onnx.TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {"X": x, "W": w} | ({"B": b} if b is not None else {})
    return sess.run(None, feed)[0]


ORT_CASES = [
    dict(strides=[2, 2], pads=[1, 0, 2, 1]),
    dict(strides=[3, 2], dilations=[2, 1], output_padding=[1, 1]),
    dict(strides=[2, 2], output_shape=[12, 11]),
    dict(strides=[2, 2], auto_pad="VALID"),
    dict(group=2, strides=[2, 1], pads=[1, 1, 1, 1]),
]


@pytest.mark.parametrize("attrs", ORT_CASES, ids=str)
def test_against_onnxruntime(attrs):
    rng = np.random.default_rng(1)
    g = attrs.get("group", 1)
    x = rng.standard_normal((2, 4, 5, 6)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(3 * g).astype(np.float32)
    close(tconv.onnx.conv_transpose(x, w, b, **attrs), _ort(x, w, b, **attrs), np.float32)


@pytest.mark.parametrize("group,c,m_per_group", [(2, 4, 3), (3, 6, 2), (4, 4, 1)])
def test_groups_and_bias_where_the_reference_is_wrong(group, c, m_per_group):
    rng = np.random.default_rng(group)
    x = rng.standard_normal((2, c, 4, 5))
    w = rng.standard_normal((c, m_per_group, 3, 3))
    b = rng.standard_normal(group * m_per_group)
    got = tconv.onnx.conv_transpose(x, w, b, group=group, strides=[2, 2], pads=[1, 1, 1, 1])
    close(got, torch_conv_transpose(x, w, b, 2, 1, 0, group, 1), np.float64)
