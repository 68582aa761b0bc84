"""``tconv bench`` / ``make bench``: the suite, tconv side by side with PyTorch and ONNX Runtime.

For every row of :data:`tconv.tools.bench.layers.SUITE` (transposed convolutions ``L*``,
convolutions ``F*``/``R1``, float32 unless marked): check tconv's result against PyTorch and
float64, then time tconv, PyTorch (``torch.set_num_threads(2)``) and ONNX Runtime (one-node
model, ``intra_op_num_threads=2``; float32 only: its CPU kernels have no float64) in one process,
each library in blocks of back-to-back calls (one warm-up call, then timed calls), the blocks
interleaved, a pause between blocks so the previous library's worker threads go idle. Every row
also times the weight gradient against ``torch.autograd``. Extra rows: ``T1`` (a tiny call: the
per-call overhead), and a NumPy matmul right after a tconv call against the same matmul alone
(threads left busy after a call). Reported per row: medians, the ratio to the better of PyTorch and
ONNX Runtime (> 1: tconv is faster), GFLOP/s, and % of NumPy's SGEMM 2048^3 timed in the same interleaving as the row.

The orchestrating call runs the whole suite ``--runs`` times (default 3), each in a fresh
process, and reports each ratio's median over the runs and its spread (min-max): these machines
are noisy, single absolute times mean little. ``--openblas-both`` adds one run with the other
``OPENBLAS_CORETYPE`` setting (removed where set, ``SkylakeX`` on AVX-512 CPUs where unset; read
when NumPy loads OpenBLAS, so only a fresh process can change it).

Usage: ``tconv bench [--runs 3] [--rounds 5] [--layers L1,F2,T1] [--out results.md]`` (needs the
test extras: ``torch`` and ``onnxruntime``); ``make bench`` runs ``benchmarks/run.py``, which calls this.
"""

from __future__ import annotations

import argparse
import json
import math
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


def _block(fn, calls: int, inner: int = 1) -> list[float]:
    """One block: a warm-up call, then ``calls`` timed calls (each the mean of ``inner`` back-to-back calls)."""
    fn()
    out = []
    for _ in range(calls):
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        out.append((time.perf_counter() - t) / inner)
    return out


def _interleaved(fns: dict, rounds: int, calls: int = 3, inner: int = 1, pause: float = 0.15) -> dict:
    """Median seconds per library, blocks interleaved over ``rounds``."""
    import numpy as np

    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            times[name] += _block(fn, calls, inner)
            time.sleep(pause)
    return {k: float(np.median(v)) for k, v in times.items()}


# ----------------------------------------------------------------------------- one run
class _Peers:
    """PyTorch's functions and ONNX Runtime sessions for a row."""

    def __init__(self):
        import onnxruntime as ort
        import torch

        torch.set_num_threads(2)
        self.torch, self.ort = torch, ort
        self.so = ort.SessionOptions()
        self.so.intra_op_num_threads = 2
        self.so.inter_op_num_threads = 1

    def torch_fn(self, layer):
        F = self.torch.nn.functional
        return getattr(F, f"{'conv_transpose' if layer.op == 'conv_transpose' else 'conv'}{layer.nd}d")

    def ort_session(self, layer):
        """A one-node model, or None where ONNX Runtime has no kernel (float64)."""
        if layer.dtype != "float32":
            return None
        from onnx import TensorProto, helper

        node = helper.make_node("ConvTranspose" if layer.op == "conv_transpose" else "Conv", ["X", "W"], ["Y"],
                                strides=[layer.stride] * layer.nd, pads=[layer.pad] * (2 * layer.nd),
                                dilations=[layer.dilation] * layer.nd, group=layer.groups)
        graph = helper.make_graph(
            [node], "bench",
            [helper.make_tensor_value_info("X", TensorProto.FLOAT, list(layer.x_shape)),
             helper.make_tensor_value_info("W", TensorProto.FLOAT, list(layer.w_shape))],
            [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        return self.ort.InferenceSession(model.SerializeToString(), self.so, providers=["CPUExecutionProvider"])


def _geometry(layer):
    from ...core import geometry

    if layer.op == "conv":
        return geometry.conv_geometry(layer.w_shape, layer.input, layer.stride, layer.pad, layer.dilation,
                                      layer.groups)
    return geometry.conv_transpose_geometry(layer.w_shape, layer.input, layer.stride, layer.pad, 0,
                                            layer.dilation, layer.groups)


def _row(layer, peers: _Peers, rounds: int) -> dict:
    import tracemalloc

    import numpy as np

    from ...api import explain as _explain
    from ...api import functional as _fn
    from ...core.algorithms._kernels import release_workspace

    torch = peers.torch
    dt = np.dtype(layer.dtype)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(layer.x_shape).astype(dt)
    fan = layer.w_shape[1 if layer.op == "conv" else 0] * math.prod(layer.w_shape[2:])
    w = (rng.standard_normal(layer.w_shape) / np.sqrt(fan)).astype(dt)
    xt, wt = torch.from_numpy(x), torch.from_numpy(w)
    tf = peers.torch_fn(layer)
    ours_fn = _fn.conv if layer.op == "conv" else _fn.conv_transpose
    kw = layer.kwargs
    sess = peers.ort_session(layer)
    # correctness before timing: against PyTorch in the same dtype and in float64
    ours = ours_fn(x, w, **kw)
    ref = tf(xt, wt, **kw).numpy()
    ref64 = tf(xt.double(), wt.double(), **kw).numpy()
    scale = float(np.max(np.abs(ref64)))
    err_torch = float(np.max(np.abs(ours - ref))) / scale
    err_64 = float(np.max(np.abs(ours - ref64))) / scale
    if err_64 > (1e-4 if dt == np.float32 else 1e-10):
        raise SystemExit(f"{layer.id}: tconv's {dt} result is off by {err_64:.2e} relative to float64")
    geom = _geometry(layer)
    op = layer.op
    plan = _explain.explain(layer.x_shape, layer.w_shape, op=op, dtype=dt.name, **kw)
    release_workspace()  # peak extra memory of one call, its workspace counted
    tracemalloc.start()
    ours_fn(x, w, **kw)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    fns = {"tconv": lambda: ours_fn(x, w, **kw), "torch": lambda: tf(xt, wt, **kw)}
    if sess is not None:
        fns["ort"] = lambda: sess.run(None, {"X": x, "W": w})
    if dt == np.float32:  # NumPy's SGEMM in the same interleaving: the row's % of SGEMM at the same moment
        a = _sgemm_operand()
        fns["sgemm"] = lambda: a @ a
    med = _interleaved(fns, rounds)
    sgemm = med.pop("sgemm", None)
    err_grad, grad = _grad_timings(layer, x, xt, wt, tf, geom, ours.shape, rounds)
    return dict(id=layer.id, name=layer.name, op=op, dtype=dt.name, channel_heavy=layer.channel_heavy,
                times=med, choice=plan.choice, scratch=(max(0, peak - ours.nbytes) + _c_scratch(plan)) / ours.nbytes,
                err_torch=err_torch, err_64=err_64, err_grad=err_grad, grad=grad,
                gflops=2 * geom.macs(layer.n) / med["tconv"] / 1e9,
                sgemm=None if sgemm is None else 2 * 2048**3 / sgemm / 1e9)


def _sgemm_operand():
    """The 2048 x 2048 float32 matrix of the SGEMM reference (``a @ a``)."""
    import numpy as np

    return np.random.default_rng(0).standard_normal((2048, 2048)).astype(np.float32)


def _c_scratch(plan) -> int:
    """The compiled core's own allocations (tables, packed weights, buffers, the channels-last copy:
    malloc, which tracemalloc does not see), as the planner estimates them for ``native`` and ``brgemm``;
    0 for the others, whose scratch is NumPy arrays (traced) or a few rows."""
    chosen = {c.name: c for c in plan.candidates}[plan.choice]
    return chosen.scratch_bytes if plan.choice in ("native", "brgemm") else 0


def _grad_timings(layer, x, xt, wt, tf, geom, out_shape, rounds: int) -> tuple[float, dict]:
    """Relative error and median times of tconv's weight gradient and ``torch.autograd``'s."""
    import numpy as np

    from ...core.dispatch import weight_gradient

    torch = sys.modules["torch"]
    go = np.random.default_rng(1).standard_normal(out_shape).astype(x.dtype)
    got = torch.from_numpy(go)
    wg = wt.clone().requires_grad_(True)
    y_side, x_side = (go, x) if layer.op == "conv" else (x, go)

    def ours():
        return weight_gradient(y_side, x_side, geom)

    def theirs():
        return torch.autograd.grad(tf(xt, wg, **layer.kwargs), wg, got)[0]

    gw, tw = ours(), theirs().numpy()
    err = float(np.max(np.abs(gw - tw))) / max(float(np.max(np.abs(tw))), 1e-30)
    return err, _interleaved({"tconv": ours, "torch": theirs}, max(2, rounds // 2), calls=2)


def _tiny_row(peers: _Peers, rounds: int) -> dict:
    """T1: microseconds per call of a tiny layer (blocks of 200 back-to-back calls)."""
    import numpy as np

    from ...api import functional as _fn
    from .layers import TINY

    rng = np.random.default_rng(0)
    x = rng.standard_normal(TINY.x_shape).astype(np.float32)
    w = rng.standard_normal(TINY.w_shape).astype(np.float32)
    xt, wt = peers.torch.from_numpy(x), peers.torch.from_numpy(w)
    tf, sess, kw = peers.torch_fn(TINY), peers.ort_session(TINY), TINY.kwargs
    fns = {"tconv": lambda: _fn.conv_transpose(x, w, **kw), "torch": lambda: tf(xt, wt, **kw),
           "ort": lambda: sess.run(None, {"X": x, "W": w})}
    return dict(id=TINY.id, name=TINY.name, times=_interleaved(fns, rounds, calls=3, inner=200, pause=0.05))


def _matmul_after_call(rounds: int, peers: _Peers) -> dict:
    """A NumPy matmul right after a tconv call (L1), and right after PyTorch's same call (the control:
    another library's threads on the same machine), against the same matmul after an idle pause.

    Each step follows a 0.25 s pause: longer than the spin-wait of OpenBLAS's own workers after the
    previous matmul (about 0.1 s), which would otherwise run beside the next call as a third thread on
    two cores. Returns the medians over the trials and how many trials took over twice the alone median.
    """
    import numpy as np

    from ...api import functional as _fn
    from .layers import SUITE

    layer = SUITE[0]
    rng = np.random.default_rng(0)
    x = rng.standard_normal(layer.x_shape).astype(np.float32)
    w = rng.standard_normal(layer.w_shape).astype(np.float32)
    xt, wt, tf = peers.torch.from_numpy(x), peers.torch.from_numpy(w), peers.torch_fn(layer)
    a = rng.standard_normal((512, 512)).astype(np.float32)
    before = {"tconv": lambda: _fn.conv_transpose(x, w, **layer.kwargs),
              "torch": lambda: tf(xt, wt, **layer.kwargs), "alone": lambda: None}
    times: dict = {k: [] for k in before}
    for _ in range(max(12, 4 * rounds)):
        for name, call in before.items():
            call()
            t = time.perf_counter()
            a @ a
            times[name].append(time.perf_counter() - t)
            time.sleep(0.25)
    alone = float(np.median(times["alone"]))
    out = {name: float(np.median(v)) for name, v in times.items()}
    out.update({f"{name}_slow": int(sum(t > 2 * alone for t in v)) for name, v in times.items()})
    out["trials"] = len(times["alone"])
    return out


def run_suite(rounds: int, layer_ids: list[str] | None) -> dict:
    import numpy as np

    from ...core.blas import blas_info
    from .layers import SUITE

    peers = _Peers()
    rows = []
    for layer in SUITE:
        if layer_ids and layer.id not in layer_ids:
            continue
        row = _row(layer, peers, rounds)
        rows.append(row)
        t = row["times"]
        print(f"{layer.id:>3} {layer.name:<32} tconv {t['tconv'] * 1e3:8.2f} ms  torch {t['torch'] * 1e3:8.2f} ms"
              + (f"  ort {t['ort'] * 1e3:8.2f} ms" if "ort" in t else "") + f"  [{row['choice']}]",
              file=sys.stderr, flush=True)
    tiny = _tiny_row(peers, rounds) if not layer_ids or "T1" in layer_ids else None
    after = _matmul_after_call(rounds, peers) if not layer_ids or "M1" in layer_ids else None
    a = _sgemm_operand()
    sgemm = 2 * 2048**3 / float(np.median(_block(lambda: a @ a, 5))) / 1e9
    return dict(rows=rows, tiny=tiny, after=after, blas=blas_info(), sgemm_2048=sgemm, numpy=np.__version__,
                torch=peers.torch.__version__, ort=peers.ort.__version__, cpu=_cpu(),
                coretype=os.environ.get("OPENBLAS_CORETYPE", ""))


# ----------------------------------------------------------------------------- reporting
def _geo(values):
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def _better(t: dict) -> float:
    """The better peer's time over tconv's (> 1: tconv is faster)."""
    return min(v for k, v in t.items() if k != "tconv") / t["tconv"]


def _spread(values, digits: int = 2, unit: str = "x") -> str:
    import statistics

    med = statistics.median(values)
    text = f"{med:.{digits}f}{unit}"
    return text if len(values) == 1 else f"{text} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


def table(runs: list[dict]) -> str:
    """The report of one or more runs of :func:`run_suite` (medians of the first run's times; every ratio
    as its median over the runs with the min-max spread)."""
    import statistics

    first = runs[0]
    sgemm = statistics.median(r["sgemm_2048"] for r in runs)
    head = ("| row | op, dtype | tconv ms | torch ms | ORT ms | vs better peer | vs torch | vs ORT | tconv GFLOP/s "
            "| % of SGEMM | algorithm | extra memory / output | wgrad tconv ms | wgrad torch ms | wgrad vs torch |")
    lines = [head, "|" + "---|" * 15]
    per_row = {}
    for i, r in enumerate(first["rows"]):
        same = [run["rows"][i] for run in runs]
        t, g = r["times"], r["grad"]
        better = [_better(x["times"]) for x in same]
        vt = [x["times"]["torch"] / x["times"]["tconv"] for x in same]
        vo = [x["times"]["ort"] / x["times"]["tconv"] for x in same if "ort" in x["times"]]
        vg = [x["grad"]["torch"] / x["grad"]["tconv"] for x in same]
        gflops = statistics.median(x["gflops"] for x in same)
        # % of SGEMM: per run the row's rate over the SGEMM timed in its own interleaving (the run's
        # closing SGEMM for runs recorded before that), the median over the runs with its spread
        pct = [100 * x["gflops"] / (x.get("sgemm") or run["sgemm_2048"]) for x, run in zip(same, runs)]
        per_row[r["id"]] = (statistics.median(better), statistics.median(vg), r)
        ort_ms = f"{t['ort'] * 1e3:.2f}" if "ort" in t else "-"
        lines.append(
            f"| {r['id']} {r['name']} | {r['op']}, {r['dtype']} | {t['tconv'] * 1e3:.2f} | {t['torch'] * 1e3:.2f} "
            f"| {ort_ms} | {_spread(better)} | {_spread(vt)} | {_spread(vo) if vo else '-'} | {gflops:.0f} "
            f"| {_spread(pct, 0, '%')} | {r['choice']} | {r['scratch']:.2f}x "
            f"| {g['tconv'] * 1e3:.2f} | {g['torch'] * 1e3:.2f} | {_spread(vg)} |")
    out = ["\n".join(lines), ""]
    heavy = [v[0] for v in per_row.values() if v[2]["channel_heavy"]]
    heavy_grad = [v[1] for v in per_row.values() if v[2]["channel_heavy"]]
    everything = [v[0] for v in per_row.values()]
    if everything:
        out.append(f"- vs the better peer, geometric mean over all rows: **{_geo(everything):.2f}x**; lowest row "
                   f"{min(everything):.2f}x ({min(per_row, key=lambda k: per_row[k][0])})")
        if heavy:
            out.append(f"- channel-heavy rows (issue 18's targets): **{_geo(heavy):.2f}x**, "
                       f"{sum(v >= 0.9 for v in heavy)}/{len(heavy)} at >= 0.9x; their weight gradients vs "
                       f"torch.autograd: {_geo(heavy_grad):.2f}x, {sum(v >= 0.9 for v in heavy_grad)}/{len(heavy_grad)} "
                       "at >= 0.9x")
        out.append(f"- weight gradient vs torch.autograd, geometric mean: {_geo([v[1] for v in per_row.values()]):.2f}x")
        worst = max(max(r["err_64"], r["err_torch"]) for r in first["rows"])
        out.append(f"- correctness before timing: max relative error vs PyTorch / float64: {worst:.1e}; weight "
                   f"gradient vs torch.autograd: {max(r['err_grad'] for r in first['rows']):.1e}")
    if first.get("tiny"):
        ts = [run["tiny"]["times"] for run in runs]
        t = first["tiny"]["times"]
        out.append(f"- T1 tiny call (1, 2->2, k3 s2 p1, 8x8): tconv {t['tconv'] * 1e6:.1f} us, torch "
                   f"{t['torch'] * 1e6:.1f} us, ORT {t['ort'] * 1e6:.1f} us per call; vs torch "
                   f"{_spread([x['torch'] / x['tconv'] for x in ts])}")
    if first.get("after"):
        ours = [run["after"]["tconv"] / run["after"]["alone"] for run in runs]
        theirs = [run["after"]["torch"] / run["after"]["alone"] for run in runs]
        slow = "; ".join(f"{r['after']['tconv_slow']}, {r['after']['torch_slow']} and {r['after']['alone_slow']}"
                         f" of {r['after']['trials']}" for r in runs)
        out.append(f"- a 512^2 NumPy matmul right after a tconv call (L1) takes {_spread(ours)} its time after an "
                   f"idle pause; right after PyTorch's same call (the control) {_spread(theirs)} (> 1: threads "
                   "left busy after the call, or the scheduler left BLAS's two threads on one core). Trials over "
                   f"twice the alone median, after tconv, after PyTorch and alone, per run: {slow}")
    inline = [x["sgemm"] for run in runs for x in run["rows"] if x.get("sgemm")]
    if inline:
        out.append(f"- NumPy SGEMM 2048^3 timed in each float32 row's interleaving (the % of SGEMM column, per run, "
                   f"median over the runs [min-max]): {statistics.median(inline):.0f} GFLOP/s [{min(inline):.0f}-"
                   f"{max(inline):.0f}] over the rows and runs; alone at the end of each run: {sgemm:.0f} GFLOP/s")
    else:
        out.append(f"- NumPy SGEMM 2048^3 in the same runs: {sgemm:.0f} GFLOP/s (the % of SGEMM column)")
    out.append("- extra memory / output: the NumPy allocations of one call (tracemalloc), plus, for native and brgemm, their C "
               "allocations (tables, packed weights, buffers) as the planner estimates them")
    return "\n".join(out)


def main(argv=None) -> int:
    try:
        import onnxruntime  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        print(f"tconv bench: error: needs PyTorch and ONNX Runtime ({exc}); install tconv[test]", file=sys.stderr)
        return 2
    ap = argparse.ArgumentParser(prog="tconv bench",
                                 description="tconv benchmark suite vs PyTorch and ONNX Runtime",
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="examples:\n  tconv bench\n  tconv bench --runs 1 --rounds 3 --layers L1,F2,T1 "
                                        "--out r.md")
    ap.add_argument("--runs", type=int, default=3, help="fresh processes, each the whole suite (default 3)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved blocks per library and row (default 5)")
    ap.add_argument("--layers", default="", help="rows to run (e.g. L1,F2,T1,M1); default all")
    ap.add_argument("--out", default="results.md")
    ap.add_argument("--openblas-both", action="store_true",
                    help="one more run with the other OPENBLAS_CORETYPE setting")
    ap.add_argument("--quick", action="store_true", help="one run, no first-call measurement (a smoke run)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    ids = [s for s in a.layers.split(",") if s]
    if a.worker:
        print(json.dumps(run_suite(a.rounds, ids)))
        return 0
    if a.runs < 1 or a.rounds < 1:
        print("tconv bench: error: --runs and --rounds must be >= 1", file=sys.stderr)
        return 2
    given = os.environ.get("OPENBLAS_CORETYPE")

    def worker(env) -> dict | None:
        proc = subprocess.run([sys.executable, "-m", "tconv.tools.bench.runner", "--worker", "--rounds",
                               str(a.rounds), "--layers", a.layers], env=env, stdout=subprocess.PIPE, text=True)
        return None if proc.returncode else json.loads(proc.stdout.strip().splitlines()[-1])

    runs = []
    for i in range(1 if a.quick else a.runs):
        print(f"\n== run {i + 1} of {1 if a.quick else a.runs} ==", file=sys.stderr, flush=True)
        res = worker(dict(os.environ))
        if res is None:
            return 1
        runs.append(res)
    sections = [(f"environment as given (OPENBLAS_CORETYPE={given or 'unset'}), {len(runs)} run(s)", runs)]
    if a.openblas_both and not a.quick:
        env = dict(os.environ)
        if given:
            env.pop("OPENBLAS_CORETYPE", None)
            title = "OPENBLAS_CORETYPE unset: OpenBLAS picks its kernels itself, 1 run"
        else:
            env["OPENBLAS_CORETYPE"] = "SkylakeX" if cpu_has_avx512() else "Haswell"
            title = f"OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE']}, 1 run"
        res = worker(env)
        if res is None:
            return 1
        sections.append((title, [res]))
    first = {"import": float("nan"), "first": float("nan")} if a.quick else _first_call()
    res0 = runs[0]
    header = [
        "# tconv benchmark results",
        "",
        f"- CPU: {res0['cpu']} ({os.cpu_count()} cores), Python {platform.python_version()}",
        f"- NumPy {res0['numpy']}; BLAS: {res0['blas']}; PyTorch {res0['torch']} (2 threads); "
        f"ONNX Runtime {res0['ort']} (intra_op_num_threads=2)",
        f"- in a new process: `import tconv` {first['import']:.2f} s; import + a first L1-sized call and first "
        f"calls through every kernel {first['first']:.2f} s (no JIT: nothing is compiled at first use)",
        "- `python benchmarks/run.py` (`make bench`): each library timed in blocks of back-to-back calls, blocks "
        "interleaved in one process; times are the first run's medians; every ratio is its median over the runs "
        "[min-max]; > 1 means tconv is faster. These machines are noisy: read the ratios, not the times.",
        "",
    ]
    body = []
    for title, rs in sections:
        t = table(rs)
        print(f"\n## {title}\n\n{t}")
        body += [f"## {title}", "", t, ""]
    Path(a.out).write_text("\n".join(header + body))
    print(f"\nwrote {a.out}", file=sys.stderr)
    return 0


def _first_call() -> dict:
    """Seconds, in a new process, for ``import tconv`` and for import + a first L1-sized conv_transpose
    and first conv_transpose, conv and VJP calls through the direct and gemm kernels."""
    code = ("import time; t=time.perf_counter(); import numpy as np, tconv; i=time.perf_counter()-t; "
            "x=np.ones((16,512,8,8),np.float32); w=np.ones((512,256,4,4),np.float32); "
            "tconv.conv_transpose(x,w,stride=2,padding=1); "
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
