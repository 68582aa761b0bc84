"""``ConvOperator`` matvec / rmatvec per boundary mode against ``zeros`` (issue 20: within 1.3x).

A 5x5 PSF on a 512x512 float64 image, ``padding="same"``; each mode timed in blocks of
``--calls`` back-to-back calls, the modes interleaved block by block, ``--rounds`` rounds; prints
the median time per call and the ratio to ``zeros`` with its spread (min-max over rounds).
The machine is shared: read the ratios.

    python benchmarks/boundary_speed.py [--size 512] [--k 5] [--rounds 7] [--calls 10]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import tconv
from tconv.core.padding import BOUNDARIES


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--calls", type=int, default=10)
    a = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    psf = rng.standard_normal((a.k, a.k))
    ops = {m: tconv.ConvOperator(psf, (a.size, a.size), padding="same", boundary=m) for m in BOUNDARIES}
    x = rng.standard_normal(a.size * a.size)
    times = {(m, d): [] for m in BOUNDARIES for d in ("matvec", "rmatvec")}
    for op in ops.values():  # warm-up
        op.rmatvec(op.matvec(x))
    for _ in range(a.rounds):
        for m, op in ops.items():
            for d in ("matvec", "rmatvec"):
                f = getattr(op, d)
                t = time.perf_counter()
                for _ in range(a.calls):
                    f(x)
                times[(m, d)].append((time.perf_counter() - t) / a.calls)
    for d in ("matvec", "rmatvec"):
        z = np.array(times[("zeros", d)])
        for m in BOUNDARIES:
            t = np.array(times[(m, d)])
            r = t / z
            print(f"{d:<8} {m:<10} {np.median(t) * 1e3:7.3f} ms  x{np.median(r):.2f} of zeros "
                  f"({r.min():.2f}-{r.max():.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
