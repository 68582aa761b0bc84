"""How much faster ONNX's reference evaluator runs ConvTranspose nodes with tconv's custom op.

    .venv/bin/python benchmarks/onnx_reference_speedup.py [--layers L2,L4,...] [--batch 1]

One single-node model per benchmark layer (tconv.tools.bench.layers.SUITE, float32, batch overridden by
--batch to keep ONNX's pure-Python reference short); each evaluator is run once after a warm-up
call on the same model, and its result is compared with ONNX Runtime's.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import tconv
from tconv.tools.bench.layers import SUITE


def model_for(layer, batch):
    nd = layer.nd
    attrs = dict(strides=[layer.stride] * nd, pads=[layer.pad] * 2 * nd, group=layer.groups,
                 dilations=[layer.dilation] * nd)
    w = np.random.default_rng(0).standard_normal(layer.w_shape).astype(np.float32)
    node = helper.make_node("ConvTranspose", ["X", "W"], ["Y"], **attrs)
    graph = helper.make_graph([node], layer.id, [helper.make_tensor_value_info("X", TensorProto.FLOAT,
                                                                               [batch, *layer.x_shape[1:]])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
                              initializer=[numpy_helper.from_array(w, "W")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def timed(fn):
    fn()
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--layers", default="L2,L4,L6,L7,L9")
    p.add_argument("--batch", type=int, default=1)
    args = p.parse_args()
    print(f"{'layer':<28}{'onnx reference':>16}{'with tconv op':>16}{'speed-up':>10}  max |diff| vs ORT (ref, tconv)")
    for layer in [la for la in SUITE if la.id in args.layers.split(",")]:
        model = model_for(layer, args.batch)
        x = np.random.default_rng(1).standard_normal((args.batch, *layer.x_shape[1:])).astype(np.float32)
        want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"X": x})[0]
        plain, with_tconv = ReferenceEvaluator(model), ReferenceEvaluator(model, new_ops=[tconv.onnx.ConvTranspose])
        t_ref, y_ref = timed(lambda: plain.run(None, {"X": x})[0])  # noqa: B023
        t_tc, y_tc = timed(lambda: with_tconv.run(None, {"X": x})[0])  # noqa: B023
        errs = f"{np.abs(y_ref - want).max():.1e}, {np.abs(y_tc - want).max():.1e}"
        print(f"{layer.id + ' ' + layer.name:<28}{t_ref * 1e3:>13.1f} ms{t_tc * 1e3:>13.2f} ms{t_ref / t_tc:>9.0f}x  {errs}")


if __name__ == "__main__":
    main()
