"""Deblurring a photograph with a 31x31 PSF: tconv.ConvOperator and PyLops' Convolve2D, side by side.

Grace Hopper (shipped inside matplotlib's wheel: nothing is downloaded) is blurred with a 31x31
Gaussian PSF and noise is added, ``y = A x + noise``, ``A`` the "same" convolution with zero
boundaries. The same PyLops solver (``pylops.optimization.basic.cgls`` with Tikhonov damping)
deblurs it twice: once with ``A = tconv.ConvOperator(psf, shape, padding="same")`` (``method="auto"``
picks the ``fft`` algorithm for a PSF this large) and once with PyLops' own
``pylops.signalprocessing.Convolve2D``; we print the PSNR of each and the time per iteration
(one ``A`` and one ``A^T`` per CGLS iteration). PyLops convolves (flips the kernel) and tconv
correlates, so tconv gets the flipped PSF: the two operators are the same matrix.

Run: ``python examples/deblur.py [--size 512] [--iters 30] [--k 31]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from photo import gaussian, load_photo, psnr  # examples/photo.py

import tconv


def gaussian_psf(k: int = 31, sigma: float = 4.0) -> np.ndarray:
    return gaussian(k, sigma)


def operators(psf: np.ndarray, shape: tuple[int, int]):
    """The blur as a tconv ``ConvOperator`` and as PyLops' ``Convolve2D`` (the same matrix)."""
    import pylops

    k0, k1 = psf.shape
    # PyLops' offset k // 2 of a convolution is the flipped kernel's padding (k - 1 - k // 2, k // 2)
    ours = tconv.ConvOperator(psf[::-1, ::-1].copy(), shape, padding=((k0 - 1 - k0 // 2, k0 // 2),
                                                                     (k1 - 1 - k1 // 2, k1 // 2)))
    theirs = pylops.signalprocessing.Convolve2D(shape, h=psf, offset=(k0 // 2, k1 // 2), dtype="float64")
    return ours, theirs


def run(size: int = 512, k: int = 31, sigma: float = 4.0, noise: float = 0.01, damp: float = 0.05,
        iters: int = 30, seed: int = 0) -> dict:
    from pylops.optimization.basic import cgls

    x_true = load_photo(size)
    psf = gaussian_psf(k, sigma)
    ours, theirs = operators(psf, (size, size))
    rng = np.random.default_rng(seed)
    y = ours @ x_true.ravel()
    y = y + noise * rng.standard_normal(y.shape)
    res = {"size": size, "k": k, "iters": iters, "psnr_observed": psnr(y.reshape(size, size), x_true)}
    for name, op in (("tconv", ours), ("pylops", theirs)):
        op @ y  # warm-up (the kernel's transform is computed once per operator)
        t0 = time.perf_counter()
        x = cgls(op, y, x0=np.zeros_like(y), niter=iters, damp=damp, tol=0)[0]
        res[f"seconds_per_iter_{name}"] = (time.perf_counter() - t0) / iters
        res[f"psnr_{name}"] = psnr(x.reshape(size, size), x_true)
        res[f"x_{name}"] = x
    res["max_difference"] = float(np.max(np.abs(res["x_tconv"] - res["x_pylops"])))
    res["method"] = tconv.explain((1, 1, size, size), (1, 1, k, k), op="conv", padding="same",
                                  dtype="float64").choice
    return res


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--k", type=int, default=31)
    ap.add_argument("--sigma", type=float, default=4.0)
    ap.add_argument("--noise", type=float, default=0.01)
    ap.add_argument("--damp", type=float, default=0.05)
    ap.add_argument("--iters", type=int, default=30)
    a = ap.parse_args(argv)
    r = run(a.size, a.k, a.sigma, a.noise, a.damp, a.iters)
    print(f"photo {a.size}x{a.size}, {a.k}x{a.k} Gaussian PSF (sigma {a.sigma}), noise sigma {a.noise}: "
          f"observed PSNR {r['psnr_observed']:.2f} dB")
    for name in ("tconv", "pylops"):
        print(f"  CGLS ({name:>6}), damp={a.damp}, {a.iters} iterations: PSNR {r[f'psnr_{name}']:.2f} dB, "
              f"{r[f'seconds_per_iter_{name}'] * 1e3:.1f} ms per iteration")
    print(f"  tconv ran method={r['method']!r}; the two solutions differ by at most {r['max_difference']:.1e}; "
          f"tconv / PyLops time per iteration: {r['seconds_per_iter_tconv'] / r['seconds_per_iter_pylops']:.2f}x")


if __name__ == "__main__":
    main()
