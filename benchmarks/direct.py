"""The direct layers (issue 19) against PyTorch and ONNX Runtime, and tconv's first use.

In one process, for each layer (float32): tconv (``method="auto"`` and ``method="direct"``),
PyTorch (2 threads) and ONNX Runtime (2 intra-op threads) are timed in blocks of back-to-back
calls (the median call of each block), the blocks interleaved (tconv, torch, ort, tconv, ...) for
``--rounds`` rounds; each result is checked against PyTorch first. Reported per layer: the median
call of each library over the rounds, and the ratio peer / tconv per round as median [min-max]
(> 1: tconv faster). Then, in fresh processes: ``import tconv`` and import + a first L1-sized call
(median [min-max] of ``--starts`` processes). On a shared machine the absolute times are noisy;
the ratios, measured side by side, are the figures to compare.

    python benchmarks/direct.py
    python benchmarks/direct.py --rounds 9 --layers L4,L10 --starts 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import numpy as np

LAYERS = {  # id: (name, x shape, weight shape (torch layout), stride, padding, groups)
    "L4": ("FCN depthwise 2x", (1, 21, 128, 128), (21, 1, 4, 4), 2, 1, 21),
    "L5": ("single channel k3", (1, 1, 1024, 1024), (1, 1, 3, 3), 1, 0, 1),
    "L6": ("single channel k7 s3", (1, 1, 512, 512), (1, 1, 7, 7), 3, 0, 1),
    "L10": ("inverse STFT (k1024 s256)", (1, 1026, 224), (1026, 1, 1024), 256, 0, 1),
    "V3": ("single-channel volume k3 s2", (1, 1, 64, 64, 64), (1, 1, 3, 3, 3), 2, 1, 1),
}


def block(fn, min_seconds: float) -> float:
    """The median call of back-to-back calls for at least ``min_seconds``."""
    times = []
    start = time.perf_counter()
    while not times or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def ort_session(x_shape, w, stride, pad, groups):
    import onnxruntime as ort
    from onnx import TensorProto, helper

    nd = len(x_shape) - 2
    node = helper.make_node("ConvTranspose", ["X", "W"], ["Y"], strides=[stride] * nd, pads=[pad] * (2 * nd),
                            group=groups)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
                              initializer=[helper.make_tensor("W", TensorProto.FLOAT, w.shape, w.ravel())])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.inter_op_num_threads = 1
    so.log_severity_level = 4
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def spread(values) -> str:
    return f"{statistics.median(values):.2f}x [{min(values):.2f}-{max(values):.2f}]"


def libraries(x, w, s, p, g, torch_call, sess) -> dict:
    """The four calls timed for one layer."""
    import tconv

    return {
        "auto": lambda: tconv.conv_transpose(x, w, stride=s, padding=p, groups=g),
        "direct": lambda: tconv.conv_transpose(x, w, stride=s, padding=p, groups=g, method="direct"),
        "torch": torch_call,
        "ort": lambda: sess.run(None, {"X": x})[0],
    }


def bench_layers(ids, rounds: int, min_seconds: float) -> list[str]:
    import torch

    import tconv

    torch.set_num_threads(2)
    fns = {1: torch.nn.functional.conv_transpose1d, 2: torch.nn.functional.conv_transpose2d,
           3: torch.nn.functional.conv_transpose3d}
    rng = np.random.default_rng(0)
    lines = ["| layer | tconv auto | tconv direct | PyTorch | ONNX Runtime | vs PyTorch | vs ORT | vs the better peer |",
             "|---|---|---|---|---|---|---|---|"]
    for lid in ids:
        name, xs, ws, s, p, g = LAYERS[lid]
        x = rng.standard_normal(xs).astype(np.float32)
        w = rng.standard_normal(ws).astype(np.float32)
        xt, wt = torch.from_numpy(x), torch.from_numpy(w)
        tfn = fns[len(xs) - 2]
        sess = ort_session(xs, w, s, p, g)
        libs = libraries(x, w, s, p, g, lambda: tfn(xt, wt, stride=s, padding=p, groups=g), sess)  # noqa: B023
        want = libs["torch"]().numpy()
        for key in ("auto", "direct", "ort"):
            got = np.asarray(libs[key]())
            err = np.abs(got - want).max() / np.abs(want).max()
            if err > 1e-4:
                raise SystemExit(f"{lid} {key}: relative error {err:.2e} against PyTorch")
        times: dict[str, list[float]] = {k: [] for k in libs}
        for _ in range(rounds):
            for key, fn in libs.items():
                times[key].append(block(fn, min_seconds))
        vs_t = [t / a for t, a in zip(times["torch"], times["auto"])]
        vs_o = [o / a for o, a in zip(times["ort"], times["auto"])]
        best = [min(t, o) / a for t, o, a in zip(times["torch"], times["ort"], times["auto"])]
        med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        choice = tconv.explain(xs, ws, stride=s, padding=p, groups=g).choice
        lines.append(f"| {lid} {name} | {med['auto']:.3f} ms ({choice}) | {med['direct']:.3f} ms | "
                     f"{med['torch']:.3f} ms | {med['ort']:.3f} ms | {spread(vs_t)} | {spread(vs_o)} | {spread(best)} |")
        print(lines[-1], flush=True)
    return lines


FIRST_CALL = ("import time; t = time.perf_counter(); import numpy as np, tconv; i = time.perf_counter() - t; "
              "x = np.ones((16, 512, 8, 8), np.float32); w = np.ones((512, 256, 4, 4), np.float32); "
              "tconv.conv_transpose(x, w, stride=2, padding=1); "
              "tconv.conv_transpose(np.ones((1, 21, 128, 128), np.float32), np.ones((21, 1, 4, 4), np.float32), "
              "stride=2, padding=1, groups=21); print(i, time.perf_counter() - t)")


def first_use(starts: int) -> list[str]:
    imp, first = [], []
    for _ in range(starts):
        out = subprocess.run([sys.executable, "-c", FIRST_CALL], capture_output=True, text=True, check=True)
        a, b = (float(v) for v in out.stdout.split())
        imp.append(a)
        first.append(b)
    fmt = lambda v: f"{statistics.median(v):.3f} s [{min(v):.3f}-{max(v):.3f}]"  # noqa: E731
    return [f"- `import tconv` in a new process: {fmt(imp)} ({starts} processes)",
            f"- import + a first L1-sized call + a first L4 call: {fmt(first)}"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--layers", default=",".join(LAYERS))
    ap.add_argument("--min-seconds", type=float, default=0.15)
    ap.add_argument("--starts", type=int, default=5)
    a = ap.parse_args(argv)
    import tconv
    from tconv.core.machine import compiled_core

    print(f"tconv compiled core: {compiled_core()}; rounds {a.rounds}, blocks of >= {a.min_seconds} s")
    lines = bench_layers([i for i in a.layers.split(",") if i], a.rounds, a.min_seconds)
    lines += [""] + first_use(a.starts)
    print("\n".join(lines[-2:]))
    del tconv
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
