"""Fits ``native``'s cost constants (``tconv.core.algorithms.native._COSTS``) for the ISA in use.

Times ``native`` on one thread (``process_time``, best of ``--repeat``: CPU time is what the model
predicts, and it is steadier than wall time on a shared machine) over the suite's channel-heavy
layers and variations of them, then fits ``seconds = tiles / rate + pack_b * B + pack_a * A +
scatter * C + out * outputs + tile * micro-tiles + gemm * GEMMs + call`` (outputs: C's
elements, written once; micro-tiles: register tiles times depth blocks; the GEMMs whose B is read in
place, gemm.c's taps mode, count their tiles at their own rate, reported as ``TAPS_RATE``, and no B packing) by non-negative least squares on relative errors, and prints
the constants and each layer's measured and predicted time::

    python benchmarks/calibrate_native.py [--isa avx2] [--repeat 5]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from scipy.optimize import nnls

import tconv
from tconv.core import _native
from tconv.core.algorithms import gemm, native
from tconv.core.dispatch import cached_geometry
from tconv.core.geometry import conv_geometry, conv_transpose_geometry

#: (op, batch, c_in, c_out, kernel, stride, padding, dilation, spatial)
SHAPES = [
    ("conv_transpose", 16, 512, 256, 4, 2, 1, 1, (8, 8)), ("conv_transpose", 16, 64, 3, 4, 2, 1, 1, (32, 32)),
    ("conv_transpose", 4, 256, 128, 2, 2, 0, 1, (64, 64)), ("conv_transpose", 4, 256, 128, 16, 8, 4, 1, (2048,)),
    ("conv_transpose", 1, 64, 32, 2, 2, 0, 1, (32, 32, 32)), ("conv_transpose", 4, 64, 64, 3, 1, 2, 2, (64, 64)),
    ("conv", 4, 64, 64, 3, 1, 2, 2, (64, 64)), ("conv", 8, 64, 64, 3, 1, 1, 1, (56, 56)),
    ("conv_transpose", 8, 128, 64, 4, 2, 1, 1, (16, 16)), ("conv_transpose", 2, 32, 16, 3, 2, 1, 1, (32, 32)),
    ("conv_transpose", 1, 256, 256, 3, 1, 1, 1, (32, 32)), ("conv_transpose", 4, 16, 16, 5, 3, 1, 1, (40, 40)),
    ("conv", 2, 128, 256, 3, 2, 1, 1, (32, 32)), ("conv", 16, 32, 32, 1, 1, 0, 1, (32, 32)),
    ("conv", 1, 3, 64, 7, 2, 3, 1, (112, 112)), ("conv", 4, 256, 256, 3, 1, 1, 1, (14, 14)),
    ("conv_transpose", 2, 64, 32, 4, 4, 0, 1, (16, 16, 8)), ("conv_transpose", 8, 8, 8, 3, 1, 1, 1, (16, 16)),
    ("conv", 1, 8, 8, 3, 1, 1, 1, (8, 8)), ("conv_transpose", 1, 4, 4, 3, 2, 1, 1, (8, 8)),
    ("conv", 1, 1, 1, 3, 2, 1, 1, (512, 512)), ("conv_transpose", 1, 1, 1, 5, 1, 2, 1, (256, 256)),
    ("conv", 1, 4, 4, 5, 1, 2, 1, (128, 128)), ("conv_transpose", 1, 3, 3, 15, 2, 7, 1, (128, 128)),
]


def geometry(op, c_in, c_out, k, s, p, d, spatial):
    nd = len(spatial)
    if op == "conv":
        return cached_geometry(conv_geometry, (c_out, c_in, *(k,) * nd), spatial, s, p, d, 1)
    return cached_geometry(conv_transpose_geometry, (c_in, c_out, *(k,) * nd), spatial, s, p, 0, d, 1, None)


def features(geom, batch, op, itemsize=4):
    kern = _native.info()["kernels"]["float32"]
    mr, nr = kern["mr"], kern["nr"]
    f = np.zeros(9)
    shapes = native.gemm_shapes(geom, batch, op)
    for m, n, k, buffered in shapes:
        tiles = math.ceil(m / mr) * math.ceil(n / nr) * math.ceil(k / kern["kc"])
        flops = 2.0 * native.row_slots(m, kern) * math.ceil(n / nr) * nr * k
        in_place = native.reads_b_in_place(op, geom, m, kern)
        f += [flops * (not in_place), k * n * (not in_place), m * k, m * n * buffered, m * n, tiles, 1, 0,
              flops * in_place]
    f[7] = 1
    return f


#: the rate ``gemm``'s fit assumes for its products (``CORE_COSTS[...]["rate"]``)
GEMM_RATE = {"avx512": 153e9, "avx2": 93e9, "generic": 28.5e9}


def gemm_features(geom, batch, op):
    tiles, cols, side, calls, kernel_calls = gemm.core_gemm_work(geom, batch, op)
    return np.array([tiles + kernel_calls * native.native_tile_seconds() * GEMM_RATE[_native.get_isa()], cols, side,
                     calls, 1.0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--isa", default=None)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--method", default="native", choices=["native", "gemm"],
                    help="gemm: fit gemm's constants on the compiled core (CORE_COSTS), its rate fixed (GEMM_RATE)")
    args = ap.parse_args()
    if args.isa:
        _native.set_isa(args.isa)
    tconv.set_options(threads=1)
    rng = np.random.default_rng(0)
    rows, times, names = [], [], []
    for op, n, ci, co, k, s, p, d, sp in SHAPES:
        geom = geometry(op, ci, co, k, s, p, d, sp)
        x = rng.standard_normal((n, ci, *sp), dtype=np.float32)
        w = rng.standard_normal((co, ci, *(k,) * len(sp)) if op == "conv" else (ci, co, *(k,) * len(sp)), dtype=np.float32)
        fn = tconv.conv if op == "conv" else tconv.conv_transpose
        kw = dict(stride=s, padding=p, dilation=d, method=args.method)
        fn(x, w, **kw)
        best = math.inf
        for _ in range(args.repeat):
            t0 = time.process_time()
            reps = 0
            while time.process_time() - t0 < 0.05 or reps == 0:
                fn(x, w, **kw)
                reps += 1
            best = min(best, (time.process_time() - t0) / reps)
        rows.append(features(geom, n, op) if args.method == "native" else gemm_features(geom, n, op))
        times.append(best)
        names.append(f"{op[:6]} n{n} {ci}->{co} k{k} s{s} {'x'.join(map(str, sp))}")
    A, t = np.array(rows), np.array(times)
    if args.method == "gemm":  # per op: col2im and im2col are different passes
        fixed = A[:, 0] / GEMM_RATE[_native.get_isa()]  # the GEMM at a fixed rate; fit the rest
        ops = np.array([name.startswith("conv_t") for name in names])
        for label, sel in (("conv_transpose", ops), ("conv", ~ops)):
            coef, _ = nnls(A[sel, 1:] / t[sel, None], 1 - fixed[sel] / t[sel])
            print(f"gemm {label} on {_native.get_isa()}: cols={coef[0]:.2g}, side={coef[1]:.2g}, "
                  f"gemm={coef[2]:.2g}, call={coef[3]:.2g}")
            for name, tm, tp in zip(np.array(names)[sel], t[sel], fixed[sel] + A[sel, 1:] @ coef):
                print(f"  {name:40s} measured {tm * 1e3:9.3f} ms  model {tp * 1e3:9.3f} ms  ({tp / tm:.2f})")
        return
    coef, _ = nnls(A / t[:, None], np.ones(len(t)))  # relative errors
    rate = 1 / coef[0] if coef[0] > 0 else math.inf
    taps = (1 / coef[8]) / rate if coef[8] > 0 else math.inf
    print(f"isa {_native.get_isa()}: rate={rate:.3g}, pack_b={coef[1]:.2g}, pack_a={coef[2]:.2g}, "
          f"scatter={coef[3]:.2g}, out={coef[4]:.2g}, tile={coef[5]:.2g}, gemm={coef[6]:.2g}, call={coef[7]:.2g}; "
          f"B read in place: TAPS_RATE={taps:.2f} (of rate)")
    model = A @ coef
    for name, tm, tp in zip(names, t, model):
        print(f"  {name:40s} measured {tm * 1e3:9.3f} ms  model {tp * 1e3:9.3f} ms  ({tp / tm:.2f})")


if __name__ == "__main__":
    main()
