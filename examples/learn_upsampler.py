"""Learn a transposed-convolution kernel by gradient descent, in pure NumPy + tconv.

The target is bilinear 2x upsampling, which is exactly a transposed convolution with
stride 2, padding 1 and the 4x4 kernel ``outer(h, h)``, ``h = [1/4, 3/4, 3/4, 1/4]``. We draw
random low-resolution images, upsample them with the true kernel (plus a little noise),
start from a random kernel and minimise the mean squared error with plain gradient
descent, using ``tconv.conv_transpose_vjp`` for the gradient (momentum, step from a
power-iteration estimate of the Lipschitz constant).

Run: ``python examples/learn_upsampler.py [--steps 300]``
"""

from __future__ import annotations

import argparse

import numpy as np

import tconv

H = np.array([0.25, 0.75, 0.75, 0.25])
BILINEAR = np.outer(H, H)[None, None]  # (C_in=1, C_out=1, 4, 4)
GEOM = dict(stride=2, padding=1)


def make_data(n: int = 32, size: int = 16, noise: float = 1e-3, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1, size, size))
    y = tconv.conv_transpose(x, BILINEAR, **GEOM)
    return x, y + noise * rng.standard_normal(y.shape)


def loss_and_grad(w, x, y):
    r = tconv.conv_transpose(x, w, **GEOM) - y
    loss = 0.5 * float(np.mean(r**2))
    _, gw, _ = tconv.conv_transpose_vjp(r / r.size, x, w, **GEOM)
    return loss, gw


def lipschitz(x, iters: int = 20, seed: int = 1) -> float:
    """Largest eigenvalue of the loss Hessian in w (power iteration on J^T J / size)."""
    v = np.random.default_rng(seed).standard_normal(BILINEAR.shape)
    lam = 1.0
    for _ in range(iters):
        out = tconv.conv_transpose(x, v, **GEOM)
        _, hv, _ = tconv.conv_transpose_vjp(out / out.size, x, v, **GEOM)
        lam = float(np.linalg.norm(hv))
        v = hv / lam
    return lam


def train(steps: int = 300, n: int = 32, size: int = 16, seed: int = 0, log_every: int = 50,
          verbose: bool = True):
    x, y = make_data(n, size, seed=seed)
    w = 0.1 * np.random.default_rng(seed + 1).standard_normal(BILINEAR.shape)
    lr, beta = 1.0 / lipschitz(x), 0.9
    velocity = np.zeros_like(w)
    history = []
    for step in range(steps + 1):
        loss, gw = loss_and_grad(w, x, y)
        history.append(loss)
        if verbose and step % log_every == 0:
            err = np.max(np.abs(w - BILINEAR))
            print(f"step {step:4d}  loss {loss:.3e}  max |w - bilinear| {err:.2e}")
        velocity = beta * velocity - lr * gw
        w = w + velocity
    return w, history


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    a = ap.parse_args(argv)
    w, hist = train(a.steps)
    np.set_printoptions(precision=4, suppress=True)
    print(f"loss {hist[0]:.3e} -> {hist[-1]:.3e}")
    print("recovered kernel:\n", w[0, 0])
    print("bilinear kernel:\n", BILINEAR[0, 0])
    print(f"max abs error {np.max(np.abs(w - BILINEAR)):.2e}")


if __name__ == "__main__":
    main()
