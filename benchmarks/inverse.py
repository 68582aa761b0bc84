"""Inverse-problem rows of issue 20: tconv (``method="auto"``) against SciPy, PyTorch and PyLops.

Rows: ``conv`` of a 1024^2 float64 image with a 31x31 PSF (valid) and its adjoint (the full
``conv_transpose``); ``conv`` 2048^2 float32 15x15 ("same"); ``conv`` 128^3 float32 9^3 ("same");
``ConvOperator`` ``A^T A v`` ("same", zeros) 512^2 31x31 and 1024^2 9x9 against PyLops'
``Convolve2D``; blur (15x15) + decimate by 2 as one strided ``conv`` of a 1024^2 float64 image
against ``fftconvolve`` then slicing. Alternatives: ``scipy.signal.fftconvolve``,
``scipy.signal.oaconvolve``, PyTorch (``torch.set_num_threads`` = the CPU count), PyLops.

Timing: every library in blocks of ``--calls`` back-to-back calls (time per call = block / calls),
the libraries' blocks interleaved within a round, ``--rounds`` rounds. Per round the ratio is
(fastest alternative) / tconv: above 1 tconv is faster. Printed: the median time per call of each
library and the ratio's median with its spread (min-max over the rounds). Results are checked
against the alternatives before timing.

    python benchmarks/inverse.py [--rounds 5] [--calls 2] [--markdown benchmarks/results-inverse.md]
                                 [--rows adjoint conv] [--skip torch]

``--rows`` keeps the rows whose name contains one of the words; ``--skip`` leaves libraries out
(PyTorch's float64 large-kernel convolutions take seconds per call, and never the lead here).

The machine is 2 cores shared with other work: the spread says how much the load moved the ratio.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
import scipy.signal as ss

import tconv
from tconv.core.machine import cpu_count


def _torch():
    try:
        import torch
    except ImportError:  # pragma: no cover
        return None
    torch.set_num_threads(cpu_count())
    return torch


def _pylops():
    try:
        import pylops
    except ImportError:  # pragma: no cover
        return None
    return pylops


def rows():
    """``(name, {library: callable}, check)``: tconv first; ``check`` compares the results."""
    torch, pylops = _torch(), _pylops()
    rng = np.random.default_rng(0)
    out = []

    x = rng.standard_normal((1024, 1024))
    w = rng.standard_normal((31, 31))
    wf = w[::-1, ::-1].copy()
    libs = {"tconv": lambda: tconv.conv(x[None, None], w[None, None]),
            "fftconvolve": lambda: ss.fftconvolve(x, wf, mode="valid"),
            "oaconvolve": lambda: ss.oaconvolve(x, wf, mode="valid")}
    if torch:
        xt, wt = torch.from_numpy(x[None, None]), torch.from_numpy(w[None, None])
        libs["torch"] = lambda: torch.nn.functional.conv2d(xt, wt)
    out.append(("conv 1024^2 f64, 31x31, valid", libs))

    y = rng.standard_normal((994, 994))
    libs = {"tconv": lambda: tconv.conv_transpose(y[None, None], w[None, None]),
            "fftconvolve": lambda: ss.fftconvolve(y, w, mode="full"),
            "oaconvolve": lambda: ss.oaconvolve(y, w, mode="full")}
    if torch:
        yt = torch.from_numpy(y[None, None])
        libs["torch"] = lambda: torch.nn.functional.conv_transpose2d(yt, wt)
    out.append(("its adjoint (conv_transpose, full)", libs))

    x32 = rng.standard_normal((2048, 2048)).astype(np.float32)
    w32 = rng.standard_normal((15, 15)).astype(np.float32)
    libs = {"tconv": lambda: tconv.conv(x32[None, None], w32[None, None], padding=7),
            "fftconvolve": lambda: ss.fftconvolve(x32, w32[::-1, ::-1], mode="same"),
            "oaconvolve": lambda: ss.oaconvolve(x32, w32[::-1, ::-1], mode="same")}
    if torch:
        xt32, wt32 = torch.from_numpy(x32[None, None]), torch.from_numpy(w32[None, None])
        libs["torch"] = lambda: torch.nn.functional.conv2d(xt32, wt32, padding=7)
    out.append(("conv 2048^2 f32, 15x15, same", libs))

    v32 = rng.standard_normal((128, 128, 128)).astype(np.float32)
    k32 = rng.standard_normal((9, 9, 9)).astype(np.float32)
    libs = {"tconv": lambda: tconv.conv(v32[None, None], k32[None, None], padding=4),
            "fftconvolve": lambda: ss.fftconvolve(v32, k32[::-1, ::-1, ::-1], mode="same"),
            "oaconvolve": lambda: ss.oaconvolve(v32, k32[::-1, ::-1, ::-1], mode="same")}
    if torch:
        vt, kt = torch.from_numpy(v32[None, None]), torch.from_numpy(k32[None, None])
        libs["torch"] = lambda: torch.nn.functional.conv3d(vt, kt, padding=4)
    out.append(("conv 128^3 f32, 9^3, same", libs))

    for n, k in ((512, 31), (1024, 9)):
        psf = rng.random((k, k))
        A = tconv.ConvOperator(psf[::-1, ::-1].copy(), (n, n), padding=k // 2)
        v = rng.standard_normal(n * n)
        libs = {"tconv": lambda A=A, v=v: A.rmatvec(A.matvec(v))}
        if pylops:
            P = pylops.signalprocessing.Convolve2D((n, n), h=psf, offset=(k // 2, k // 2), dtype="float64")
            libs["pylops"] = lambda P=P, v=v: P.rmatvec(P.matvec(v))
        out.append((f"ConvOperator A^T A v, {n}^2, {k}x{k}, same, zeros", libs))

    xb = rng.random((1024, 1024))
    wb = rng.random((15, 15))
    libs = {"tconv": lambda: tconv.conv(xb[None, None], wb[None, None], stride=2, padding=7),
            "fftconvolve": lambda: ss.fftconvolve(xb, wb[::-1, ::-1], mode="same")[::2, ::2]}
    if torch:
        xbt, wbt = torch.from_numpy(xb[None, None]), torch.from_numpy(wb[None, None])
        libs["torch"] = lambda: torch.nn.functional.conv2d(xbt, wbt, stride=2, padding=7)
    out.append(("blur 15x15 + decimate by 2 (strided conv), 1024^2 f64", libs))
    return out


def _as_np(r):
    r = r.numpy() if hasattr(r, "numpy") else np.asarray(r)
    return np.squeeze(r)


def check(name, libs) -> float:
    """Max relative difference of every library's result from tconv's."""
    ref = _as_np(libs["tconv"]())
    worst = 0.0
    for lib, f in libs.items():
        got = _as_np(f())
        if got.shape != ref.shape:
            raise SystemExit(f"{name}: {lib} returned shape {got.shape}, tconv {ref.shape}")
        worst = max(worst, float(np.abs(got - ref).max() / np.abs(ref).max()))
    return worst


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=2)
    ap.add_argument("--markdown", default=None)
    ap.add_argument("--rows", nargs="*", default=None, help="keep rows whose name contains one of these")
    ap.add_argument("--skip", nargs="*", default=(), help="libraries to leave out (e.g. torch)")
    a = ap.parse_args(argv)
    lines = [f"{platform.processor() or platform.machine()}, {cpu_count()} CPUs, load average "
             f"{os.getloadavg()[0]:.1f} at the start; {a.rounds} rounds of blocks of {a.calls} calls"
             + (f"; left out: {', '.join(a.skip)}" if a.skip else ""),
             "", "| case | tconv | alternatives | fastest alternative / tconv (median, min-max) | max rel. diff |",
             "|---|---|---|---|---|"]
    print(lines[0], flush=True)
    for name, libs in rows():
        if a.rows and not any(r in name for r in a.rows):
            continue
        libs = {k: f for k, f in libs.items() if k not in a.skip}
        diff = check(name, libs)
        times = {lib: [] for lib in libs}
        for _ in range(a.rounds):
            for lib, f in libs.items():
                t = time.perf_counter()
                for _ in range(a.calls):
                    f()
                times[lib].append((time.perf_counter() - t) / a.calls)
        t_ours = np.array(times["tconv"])
        alts = {k: np.array(v) for k, v in times.items() if k != "tconv"}
        best = np.min(np.stack(list(alts.values())), axis=0)
        ratio = best / t_ours
        med = {k: float(np.median(v)) for k, v in times.items()}
        alt_text = ", ".join(f"{k} {med[k] * 1e3:.1f} ms" for k in alts)
        row = (f"| {name} | {med['tconv'] * 1e3:.1f} ms | {alt_text} | {np.median(ratio):.2f}x "
               f"({ratio.min():.2f}-{ratio.max():.2f}) | {diff:.1e} |")
        lines.append(row)
        print(row, flush=True)
    lines.append("")
    lines.append(f"load average {os.getloadavg()[0]:.1f} at the end")
    print(lines[-1])
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write("# Inverse-problem rows (`python benchmarks/inverse.py`)\n\n" + "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
