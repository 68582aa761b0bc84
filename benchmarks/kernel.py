"""`make bench-kernel`: the compiled core's SGEMM/DGEMM against NumPy's matmul and the FMA peak.

For each thread count a fresh process runs (OpenBLAS and tconv's pool both sized to that count
through OPENBLAS_NUM_THREADS / TCONV_NUM_THREADS, so NumPy is measured on the same threads).
In it, for each size and dtype, tconv and NumPy are timed in blocks of back-to-back calls, the
blocks interleaved (tconv, NumPy, tconv, ...), and the FMA peak (independent FMA chains in the
extension, for the ISA in use) is measured between the rounds, each after a 0.25 s pause (NumPy's
OpenBLAS workers spin-wait after its calls, and would share the cores). Reported: the median of the
block rates and their spread (min-max), the ratio tconv/NumPy of the medians, and tconv's median
as a % of the median FMA peak. On a shared machine the absolute figures are noisy; the ratios,
measured side by side, are the figures to compare.

    python benchmarks/kernel.py                      # 1 and 2 threads, float32 and float64
    python benchmarks/kernel.py --threads 1 --sizes 2048 --dtypes float32 --rounds 7
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

#: seconds of idle before our block and the FMA probe (OpenBLAS's workers spin about 0.1 s after a call)
SETTLE_S = 0.25

DEFAULT_SIZES = ["2048", "1024", "512", "4096x256x1152", "256x4096x576"]


def parse_size(text: str) -> tuple[int, int, int]:
    """``"2048"`` -> (2048, 2048, 2048); ``"MxNxK"`` -> (M, N, K)."""
    parts = [int(p) for p in text.lower().split("x")]
    return (parts[0],) * 3 if len(parts) == 1 else tuple(parts)  # type: ignore[return-value]


def block_rate(fn, flops: float, min_seconds: float) -> float:
    """GFLOP/s of one block: back-to-back calls for at least ``min_seconds``, the median call."""
    times = []
    start = time.perf_counter()
    while not times or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return flops / statistics.median(times) / 1e9


def measure(args: argparse.Namespace) -> list[dict]:
    """Runs inside the per-thread-count child process."""
    from tconv.core import _native

    if args.isa:
        _native.set_isa(args.isa)
    threads = args.child
    rows = []
    for dtype_name in args.dtypes:
        dtype = np.dtype(dtype_name)
        peaks = []
        for size in args.sizes:
            m, n, k = parse_size(size)
            rng = np.random.default_rng(0)
            a = rng.standard_normal((m, k)).astype(dtype)
            b = rng.standard_normal((k, n)).astype(dtype)
            c = np.empty((m, n), dtype)
            flops = 2.0 * m * n * k
            ours, theirs = [], []
            _native.gemm(a, b, c, threads=threads)  # warm: scratch buffers, the pool, caches
            np.matmul(a, b, out=c)
            def tconv_call(a=a, b=b, c=c):
                _native.gemm(a, b, c, threads=threads)

            def numpy_call(a=a, b=b, c=c):
                np.matmul(a, b, out=c)

            for _ in range(args.rounds):
                # after NumPy's block its OpenBLAS workers spin-wait ~0.1 s: a pause past that before
                # our block and the probe (without it the 2-thread peak read 245-460 GFLOP/s on a Zen 5)
                time.sleep(SETTLE_S)
                ours.append(block_rate(tconv_call, flops, args.block))
                theirs.append(block_rate(numpy_call, flops, args.block))
                time.sleep(SETTLE_S)
                peaks.append(_native.fma_peak(dtype, threads=threads, seconds=0.1))
            rows.append({"size": f"{m}x{n}x{k}", "dtype": dtype_name, "threads": threads, "isa": _native.get_isa(),
                         "ours": ours, "numpy": theirs})
        peak = statistics.median(peaks)
        for row in rows:
            if row["dtype"] == dtype_name:
                row["peak"] = peak
                row["peak_spread"] = (min(peaks), max(peaks))
    return rows


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} [{min(values):.0f}-{max(values):.0f}]"


def report(rows: list[dict]) -> str:
    out = ["| size MxNxK | dtype | threads | ISA | tconv GFLOP/s | NumPy GFLOP/s | tconv/NumPy | "
           "FMA peak GFLOP/s | tconv % of peak |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ours, theirs = statistics.median(r["ours"]), statistics.median(r["numpy"])
        ratios = [o / t for o, t in zip(r["ours"], r["numpy"])]
        out.append(f"| {r['size']} | {r['dtype']} | {r['threads']} | {r['isa']} | {spread(r['ours'])} | "
                   f"{spread(r['numpy'])} | {ours / theirs:.2f} [{min(ratios):.2f}-{max(ratios):.2f}] | "
                   f"{r['peak']:.0f} [{r['peak_spread'][0]:.0f}-{r['peak_spread'][1]:.0f}] | "
                   f"{100 * ours / r['peak']:.0f}% |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--sizes", nargs="+", default=DEFAULT_SIZES, help="N (for NxNxN) or MxNxK")
    p.add_argument("--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    p.add_argument("--rounds", type=int, default=5, help="interleaved blocks per library")
    p.add_argument("--block", type=float, default=0.4, help="seconds per block")
    p.add_argument("--isa", default=None, help="avx512, avx2 or generic (default: the best the CPU runs)")
    p.add_argument("--json", default=None, help="also write the raw block rates here")
    p.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is not None:
        print(json.dumps(measure(args)))
        return 0
    from tconv.core import _native

    if not _native.available():
        print(f"the compiled core is unavailable: {_native.info()['reason']}", file=sys.stderr)
        return 1
    rows = []
    for t in args.threads:
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(t), OMP_NUM_THREADS=str(t), MKL_NUM_THREADS=str(t),
                   TCONV_NUM_THREADS=str(t))
        cmd = [sys.executable, __file__, "--child", str(t), "--rounds", str(args.rounds), "--block", str(args.block),
               "--sizes", *args.sizes, "--dtypes", *args.dtypes] + (["--isa", args.isa] if args.isa else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
        rows += json.loads(proc.stdout.strip().splitlines()[-1])
    info = _native.info()
    print(f"tconv compiled core: ISA {args.isa or info['isa']} (supported: {', '.join(info['isas'])}), "
          f"tiles {info['kernels']}; {os.cpu_count()} CPUs; median [min-max] over {args.rounds} interleaved blocks")
    print(report(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
