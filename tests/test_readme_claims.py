"""The README's claims that are not figures of speed, checked (issue 21 item 15): what ONNX's own reference
does with grouped layers, that the Dask path takes the NumPy path's parameter forms, and that the import-time
figure comes from a command in the repository."""

import subprocess
import sys
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import tconv

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _grouped_model(w, b, group):
    ins = ["X", "W", "B"] if b is not None else ["X", "W"]
    node = helper.make_node("ConvTranspose", ins, ["Y"], group=group, strides=[2, 2])
    inits = [numpy_helper.from_array(w, "W")] + ([numpy_helper.from_array(b, "B")] if b is not None else [])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, w.shape[0], 5, 5])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_onnx_reference_claims_in_the_readme():
    """"raises a ValueError on ... several output channels per group, and adds the bias wrongly on a grouped
    layer with one output channel per group": what onnx.reference does, next to tconv's op and PyTorch."""
    assert "raises a `ValueError` on a `ConvTranspose` with `group > 1` and several output" in README
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 4, 5, 5)).astype(np.float32)
    several = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)  # group 2: 3 outputs per group
    b6 = rng.standard_normal(6).astype(np.float32)
    model = _grouped_model(several, b6, 2)
    with pytest.raises(ValueError):
        ReferenceEvaluator(model).run(None, {"X": x})
    want = torch.nn.functional.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(several), torch.from_numpy(b6),
                                                stride=2, groups=2).numpy()
    ours = ReferenceEvaluator(model, new_ops=[tconv.onnx.ConvTranspose]).run(None, {"X": x})[0]
    np.testing.assert_allclose(ours, want, atol=1e-5)
    depthwise = rng.standard_normal((4, 1, 3, 3)).astype(np.float32)
    b4 = rng.standard_normal(4).astype(np.float32)
    model = _grouped_model(depthwise, b4, 4)
    want = torch.nn.functional.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(depthwise), torch.from_numpy(b4),
                                                stride=2, groups=4).numpy()
    theirs = ReferenceEvaluator(model).run(None, {"X": x})[0]
    assert np.abs(theirs - want).max() > 0.1  # the reference's bias with groups
    ours = ReferenceEvaluator(model, new_ops=[tconv.onnx.ConvTranspose]).run(None, {"X": x})[0]
    np.testing.assert_allclose(ours, want, atol=1e-5)


RNG = np.random.default_rng(0)
X = RNG.standard_normal((2, 4, 9, 9))
W = RNG.standard_normal((4, 3, 3, 3))
FORMS = {
    "stride and padding": dict(stride=2, padding=1),
    "padding='same'": dict(stride=2, padding="same"),
    "(lo, hi) pairs": dict(stride=2, padding=((1, 0), (0, 2))),
    "output_padding": dict(stride=2, padding=1, output_padding=1),
    "output_size": dict(stride=2, padding=1, output_size=(18, 18)),
    "output_size one int": dict(stride=2, padding=1, output_size=18),
    "dilation": dict(dilation=2),
    "padding_mode": dict(padding=1, padding_mode="reflect"),
}


@pytest.mark.parametrize("name", FORMS)
def test_dask_takes_the_numpy_parameter_forms(name):
    kw = FORMS[name]
    want = tconv.conv_transpose(X, W, **kw)
    got = tconv.conv_transpose(da.from_array(X, chunks=(1, 2, 4, 4)), W, **kw)
    assert isinstance(got, da.Array)
    np.testing.assert_allclose(got.compute(), want, rtol=1e-12, atol=1e-12)


XL = X.transpose(0, 2, 3, 1)
CONVENTIONS = {
    "channels_last": lambda a: tconv.conv_transpose(a, W, stride=2, data_format="channels_last"),
    "weight_format": lambda a: tconv.conv_transpose(a, W.transpose(2, 3, 1, 0), stride=2, data_format="channels_last",
                                                    weight_format="keras"),
    "groups": lambda a: tconv.conv_transpose(a, W[:, :1], stride=2, groups=2, data_format="channels_last"),
    "complex": lambda a: tconv.conv_transpose(a + 1j * a, W, stride=2, data_format="channels_last"),
    "float16": lambda a: tconv.conv_transpose(a.astype(np.float16), W.astype(np.float16), stride=2,
                                              data_format="channels_last"),
    "out_dtype": lambda a: tconv.conv_transpose(a, W, stride=2, data_format="channels_last", out_dtype=np.float32),
    "unbatched": lambda a: tconv.conv_transpose(a[0], W, stride=2, data_format="channels_last"),
}


@pytest.mark.parametrize("name", CONVENTIONS)
def test_dask_takes_every_convention(name):
    f = CONVENTIONS[name]
    want = f(XL)
    got = f(da.from_array(XL, chunks=(1, 4, 4, 2)))
    assert isinstance(got, da.Array)
    got = got.compute()
    assert got.dtype == want.dtype
    tol = 1e-3 if want.dtype == np.float16 else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_import_time_figure_comes_from_a_command_in_the_repository():
    assert "`python benchmarks/import_time.py`" in README
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "import_time.py"), "--runs", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("import tconv: median ") and "over 1 fresh processes; whole process median" in proc.stdout


@pytest.mark.parametrize("figure, how", [
    ("`python benchmarks/onnx_reference_speedup.py` (one run, batch 1", "benchmarks/onnx_reference_speedup.py"),
    ("`python benchmarks/run.py --runs 2`", "benchmarks/run.py"),
    ("`make bench-dask`", "benchmarks/dask_volume.py"),
    ("tests/test_viz.py::test_streamed_animation_memory", "tests/test_viz.py"),
])
def test_every_measured_figure_names_its_command(figure, how):
    assert figure in README
    assert (ROOT / how).exists()
