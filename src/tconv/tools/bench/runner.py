"""``tconv bench`` / ``make bench``: the layer suite, tconv side by side with PyTorch and ONNX Runtime.

For every layer: check tconv's float32 result against PyTorch (and float64), then time
tconv, ``torch.nn.functional.conv_transpose*d`` (``torch.set_num_threads(2)``) and ONNX
Runtime's ConvTranspose (one-node model, ``intra_op_num_threads=2``) in one process,
interleaved in blocks (each block: one warm-up call, then timed calls; a pause between
blocks lets the previous library's spinning worker threads go idle). Prints medians,
ratios, GFLOP/s against the machine's SGEMM rate measured in the same run (NumPy matmul
of the layer's GEMM shape), tconv's peak extra memory, the planner's choice and the
weight-gradient timings next to ``torch.autograd``.

The orchestrating call runs the suite twice in fresh processes: in the environment as
given, and with ``OPENBLAS_CORETYPE`` removed (OpenBLAS then picks its kernels itself) or,
where it was unset, set to ``SkylakeX`` on CPUs with AVX-512. The variable is read when
NumPy loads OpenBLAS, so only a fresh process can change it. These machines set
``OPENBLAS_CORETYPE=Haswell``, which halves SGEMM on their AVX-512 EPYC cores (AVX2
kernels); both tables go to ``benchmarks/results.md``.

Usage: ``tconv bench [--rounds 5] [--layers L1,L2] [--out results.md]`` (needs the test extras:
``torch`` and ``onnxruntime``); ``make bench`` runs ``benchmarks/run.py``, which calls this.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from ...core.machine import cpu_has_avx512


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# ----------------------------------------------------------------------------- one run
def run_suite(rounds: int, layer_ids: list[str] | None) -> dict:
    import numpy as np
    import onnxruntime as ort
    import torch
    from onnx import TensorProto, helper

    from tconv.core.algorithms._kernels import release_workspace
    from tconv.core.blas import blas_info
    from tconv.tools.bench.layers import SUITE

    from ...api import explain as _explain
    from ...api import functional as _fn
    from ...core import geometry as _geometry
    torch.set_num_threads(2)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.inter_op_num_threads = 1
    tfn = {1: torch.nn.functional.conv_transpose1d, 2: torch.nn.functional.conv_transpose2d,
           3: torch.nn.functional.conv_transpose3d}

    def ort_session(layer):
        node = helper.make_node("ConvTranspose", ["X", "W"], ["Y"], strides=[layer.stride] * layer.nd,
                                pads=[layer.pad] * (2 * layer.nd), dilations=[layer.dilation] * layer.nd,
                                group=layer.groups)
        graph = helper.make_graph(
            [node], "bench",
            [helper.make_tensor_value_info("X", TensorProto.FLOAT, list(layer.x_shape)),
             helper.make_tensor_value_info("W", TensorProto.FLOAT, list(layer.w_shape))],
            [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])

    def block(fn, calls):
        fn()  # warm-up, discarded
        out = []
        for _ in range(calls):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
        return out

    def sgemm_rate(m, k, n, g):
        a = np.random.default_rng(0).standard_normal((g, m, k)).astype(np.float32)
        b = np.random.default_rng(1).standard_normal((g, k, n)).astype(np.float32)
        ts = block(lambda: np.matmul(a, b), 5)
        return 2 * g * m * k * n / float(np.median(ts))

    rows = []
    later = []
    for layer in SUITE:
        if layer_ids and layer.id not in layer_ids:
            continue
        rng = np.random.default_rng(0)
        x = rng.standard_normal(layer.x_shape).astype(np.float32)
        w = (rng.standard_normal(layer.w_shape) / np.sqrt(layer.w_shape[0] * np.prod(layer.w_shape[2:]))).astype(
            np.float32)
        xt, wt = torch.from_numpy(x), torch.from_numpy(w)
        tf = tfn[layer.nd]
        sess = ort_session(layer)
        # correctness before timing: float32 vs PyTorch, and vs float64
        ours = _fn.conv_transpose(x, w, **layer.kwargs)
        ref = tf(xt, wt, **layer.kwargs).numpy()
        ref64 = tf(xt.double(), wt.double(), **layer.kwargs).numpy()
        scale = float(np.max(np.abs(ref64)))
        err_torch = float(np.max(np.abs(ours - ref))) / scale
        err_64 = float(np.max(np.abs(ours - ref64))) / scale
        err_ort = float(np.max(np.abs(sess.run(None, {"X": x, "W": w})[0] - ref64))) / scale
        if err_64 > 1e-4:
            raise SystemExit(f"{layer.id}: tconv float32 result is off by {err_64:.2e} relative to float64")
        geom = _geometry.conv_transpose_geometry(w.shape, layer.input, layer.stride, layer.pad, 0,
                                             layer.dilation, layer.groups)
        plan = _explain.explain(layer.x_shape, layer.w_shape, **layer.kwargs)
        # peak extra memory of one call (workspace released first, so it is counted)
        import tracemalloc

        release_workspace()
        tracemalloc.start()
        _fn.conv_transpose(x, w, **layer.kwargs)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out_bytes = ours.nbytes
        kw = layer.kwargs
        fns = {
            "tconv": lambda x=x, w=w, kw=kw: _fn.conv_transpose(x, w, **kw),
            "torch": lambda xt=xt, wt=wt, tf=tf, kw=kw: tf(xt, wt, **kw),
            "ort": lambda sess=sess, x=x, w=w: sess.run(None, {"X": x, "W": w}),
        }
        times = {k: [] for k in fns}
        for _ in range(rounds):
            for name, fn in fns.items():
                times[name] += block(fn, 3)
                time.sleep(0.15)
        med = {k: float(np.median(v)) for k, v in times.items()}
        rows.append(dict(
            id=layer.id, name=layer.name, times=med, choice=plan.choice,
            scratch=max(0, peak - out_bytes) / out_bytes,
            err_torch=err_torch, err_64=err_64, err_ort=err_ort,
            estimates={c.name: c.seconds for c in plan.candidates if c.reason is None},
        ))
        later.append(dict(layer=layer, x=x, xt=xt, wt=wt, tf=tf, geom=geom, out_shape=ours.shape))
        print(f"{layer.id:>3} {layer.name:<26} tconv {med['tconv'] * 1e3:8.2f} ms  torch {med['torch'] * 1e3:8.2f} ms"
              f"  ort {med['ort'] * 1e3:8.2f} ms  x{med['torch'] / med['tconv']:5.2f} vs torch"
              f"  x{med['ort'] / med['tconv']:5.2f} vs ort  [{plan.choice}]", flush=True)
    # weight gradient: tconv's vs torch.autograd (x fixed, w requires grad)
    for row, item in zip(rows, later):
        row["err_grad"], row["grad"] = _grad_timings(item, rounds, block)
    # the machine's SGEMM rate on each layer's GEMM shape (cols = W^T y, per group), NumPy matmul
    big = sgemm_rate(2048, 2048, 2048, 1)
    for row, item in zip(rows, later):
        geom, n = item["geom"], item["layer"].n
        K = int(np.prod(geom.kernel))
        M = int(np.prod(geom.y_shape))
        rate = sgemm_rate(geom.x_channels // geom.groups * K, geom.y_channels // geom.groups, n * M, geom.groups)
        row["sgemm"] = rate / 1e9
        row["gflops"] = 2 * geom.macs(n) / row["times"]["tconv"] / 1e9
    return dict(rows=rows, blas=blas_info(), sgemm_2048=big / 1e9, numpy=np.__version__,
                torch=torch.__version__, ort=ort.__version__, cpu=_cpu(),
                coretype=os.environ.get("OPENBLAS_CORETYPE", ""))


def _grad_timings(item: dict, rounds: int, block) -> tuple[float, dict]:
    """Relative error and median times of tconv's weight gradient and torch.autograd's."""
    import numpy as np
    import torch

    from tconv.core.dispatch import weight_gradient

    layer, x, xt, wt, tf, geom = (item[k] for k in ("layer", "x", "xt", "wt", "tf", "geom"))
    go = np.random.default_rng(1).standard_normal(item["out_shape"]).astype(np.float32)
    got = torch.from_numpy(go)
    wg = wt.clone().requires_grad_(True)

    def ours():
        return weight_gradient(x, go, geom)

    def theirs():
        return torch.autograd.grad(tf(xt, wg, **layer.kwargs), wg, got)[0]

    gw, tw = ours(), theirs().numpy()
    err = float(np.max(np.abs(gw - tw))) / max(float(np.max(np.abs(tw))), 1e-30)
    times = {"tconv": [], "torch": []}
    for _ in range(max(2, rounds // 2)):
        times["tconv"] += block(ours, 2)
        time.sleep(0.15)
        times["torch"] += block(theirs, 2)
        time.sleep(0.15)
    return err, {k: float(np.median(v)) for k, v in times.items()}


# ----------------------------------------------------------------------------- reporting
def _geo(values):
    import math

    return math.exp(sum(math.log(v) for v in values) / len(values))


def table(res: dict) -> str:
    rows = res["rows"]
    head = ("| layer | tconv ms | torch ms | ORT ms | vs torch | vs ORT | tconv GFLOP/s | SGEMM GFLOP/s (layer shape) "
            "| % of SGEMM | extra memory / output | algorithm | wgrad tconv ms | wgrad torch ms | wgrad vs torch |")
    lines = [head, "|" + "---|" * 14]
    for r in rows:
        t = r["times"]
        g = r["grad"]
        lines.append(
            f"| {r['id']} {r['name']} | {t['tconv'] * 1e3:.2f} | {t['torch'] * 1e3:.2f} | {t['ort'] * 1e3:.2f} "
            f"| {t['torch'] / t['tconv']:.2f}x | {t['ort'] / t['tconv']:.2f}x | {r['gflops']:.0f} | {r['sgemm']:.0f} "
            f"| {100 * r['gflops'] / r['sgemm']:.0f}% | {r['scratch']:.2f}x | {r['choice']} "
            f"| {g['tconv'] * 1e3:.2f} | {g['torch'] * 1e3:.2f} | {g['torch'] / g['tconv']:.2f}x |")
    vt = [r["times"]["torch"] / r["times"]["tconv"] for r in rows]
    vo = [r["times"]["ort"] / r["times"]["tconv"] for r in rows]
    vg = [r["grad"]["torch"] / r["grad"]["tconv"] for r in rows]
    lines.append("")
    lines.append(f"geometric mean: **{_geo(vt):.2f}x vs PyTorch**, **{_geo(vo):.2f}x vs ONNX Runtime**; "
                 f"lowest layer vs PyTorch {min(vt):.2f}x ({rows[vt.index(min(vt))]['id']}); "
                 f"weight gradient geometric mean {_geo(vg):.2f}x vs torch.autograd")
    worst = max(max(r["err_64"], r["err_torch"]) for r in rows)
    lines.append(f"correctness before timing: max relative error of tconv float32 vs PyTorch / float64: {worst:.1e}; "
                 f"weight gradient vs torch.autograd: {max(r['err_grad'] for r in rows):.1e}")
    return "\n".join(lines)


def main(argv=None) -> int:
    try:
        import onnxruntime  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        print(f"tconv bench: error: needs PyTorch and ONNX Runtime ({exc}); install tconv[test]", file=sys.stderr)
        return 2
    ap = argparse.ArgumentParser(prog="tconv bench",
                                 description="tconv layer benchmark vs PyTorch and ONNX Runtime",
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="examples:\n  tconv bench\n  tconv bench --rounds 3 --layers L1,L9 --out r.md")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--layers", default="")
    ap.add_argument("--out", default="results.md")
    ap.add_argument("--quick", action="store_true",
                    help="one BLAS configuration and no first-call measurement (a smoke run)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    ids = [s for s in a.layers.split(",") if s]
    if a.worker:
        print(json.dumps(run_suite(a.rounds, ids)))
        return 0
    given = os.environ.get("OPENBLAS_CORETYPE")
    configs = [(f"environment as given (OPENBLAS_CORETYPE={given or 'unset'})", None)]
    if a.quick:
        pass
    elif given:
        configs.append(("OPENBLAS_CORETYPE unset: OpenBLAS picks its kernels itself", "unset"))
    elif cpu_has_avx512():
        configs.append(("OPENBLAS_CORETYPE=SkylakeX (AVX-512 kernels)", "SkylakeX"))
    sections = []
    first = {"import": float("nan"), "first": float("nan")} if a.quick else _first_call()
    for title, extra in configs:
        print(f"\n== {title} ==", flush=True)
        env = dict(os.environ)
        if extra == "unset":
            env.pop("OPENBLAS_CORETYPE", None)
        elif extra:
            env["OPENBLAS_CORETYPE"] = extra
        proc = subprocess.run([sys.executable, "-m", "tconv.tools.bench.runner", "--worker", "--rounds", str(a.rounds),
                               "--layers", a.layers], env=env, stdout=subprocess.PIPE, text=True)
        if proc.returncode:
            return proc.returncode
        lines = proc.stdout.strip().splitlines()
        for ln in lines[:-1]:
            print(ln)
        res = json.loads(lines[-1])
        t = table(res)
        print(t)
        sections.append((title, res, t))
    res0 = sections[0][1]
    header = [
        "# tconv benchmark results",
        "",
        f"- CPU: {res0['cpu']} ({os.cpu_count()} cores), Python {platform.python_version()}",
        f"- NumPy {res0['numpy']}; BLAS: {res0['blas']}; PyTorch {res0['torch']} (2 threads); "
        f"ONNX Runtime {res0['ort']} (intra_op_num_threads=2)",
        f"- in a new process: `import tconv` {first['import']:.2f} s; import + first calls through every "
        f"compiled kernel {first['first']:.2f} s (no JIT: nothing is compiled at first use)",
        "- medians of interleaved blocks (`python benchmarks/run.py`); ratios > 1 mean tconv is faster; these VMs "
        "swing by 30-50% between runs on single layers, so compare ratios within one run",
        *([f"- the shell that ran this exported OPENBLAS_CORETYPE={given}; it is read when NumPy loads OpenBLAS, "
           "so each configuration below ran in a fresh process"] if given else []),
        "",
    ]
    body = []
    for title, res, t in sections:
        body += [f"## {title}", "", f"BLAS core: {res['blas']}; SGEMM 2048^3: {res['sgemm_2048']:.0f} GFLOP/s", "", t, ""]
    Path(a.out).write_text("\n".join(header + body))
    print(f"\nwrote {a.out}")
    return 0


def _first_call() -> dict:
    """Seconds, in a new process, for ``import tconv`` and for import + first conv_transpose, conv
    and VJP through the direct and gemm kernels."""
    code = ("import time; t=time.perf_counter(); import numpy as np, tconv; i=time.perf_counter()-t; "
            "x=np.ones((2,3,5,5),np.float32); w=np.ones((3,2,3,3),np.float32); "
            "y=[tconv.conv_transpose(x,w,stride=2,method=m) for m in ('direct','gemm')][0]; "
            "[tconv.conv(y,w,stride=2,method=m) for m in ('direct','gemm')]; "
            "tconv.conv_transpose_vjp(y,x,w,stride=2); print(i, time.perf_counter()-t)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"first-call measurement failed: {proc.stderr.strip()[-500:]}")
    imp, first = (float(v) for v in proc.stdout.split())
    return {"import": imp, "first": first}


if __name__ == "__main__":
    raise SystemExit(main())
