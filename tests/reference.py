"""Peers for the tests: PyTorch computations for every parameter form tconv accepts.

Asymmetric, 'same' and 'valid' paddings are mapped onto PyTorch by computing the
uncropped output (padding 0) and cropping/extending it with the pads of the spec,
written here independently of tconv's geometry code.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)

TORCH_CT = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
TORCH_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def spec_pairs_transpose(padding, nd, k, s, d, op):
    if padding == "valid":
        return [(0, 0)] * nd
    if padding == "same":
        out = []
        for ki, si, di, ai in zip(k, s, d, op):
            total = di * (ki - 1) + 1 - si + ai
            out.append((total // 2, total - total // 2) if total >= 0 else (0, total))
        return out
    if isinstance(padding, int):
        return [(padding, padding)] * nd
    return [(p, p) if isinstance(p, int) else tuple(p) for p in padding]


def spec_pairs_conv(padding, nd, i, k, s, d):
    if padding == "valid":
        return [(0, 0)] * nd
    if padding == "same":
        out = []
        for ii, ki, si, di in zip(i, k, s, d):
            o = -(-ii // si)
            total = max((o - 1) * si + di * (ki - 1) + 1 - ii, 0)
            out.append((total // 2, total - total // 2))
        return out
    if isinstance(padding, int):
        return [(padding, padding)] * nd
    return [(p, p) if isinstance(p, int) else tuple(p) for p in padding]


def torch_conv_transpose(x, w, b, stride, padding, output_padding, groups, dilation):
    nd = w.ndim - 2
    s, d, op = (tuple(v) if not isinstance(v, int) else (v,) * nd for v in (stride, dilation, output_padding))
    xt, wt = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(w))
    bt = None if b is None else torch.from_numpy(b)
    if isinstance(padding, int) or (not isinstance(padding, str) and all(isinstance(p, int) for p in padding)):
        return TORCH_CT[nd](xt, wt, bt, stride=s, padding=padding, output_padding=op,
                            groups=groups, dilation=d).numpy()
    pairs = spec_pairs_transpose(padding, nd, w.shape[2:], s, d, op)
    full = TORCH_CT[nd](xt, wt, None, stride=s, padding=0, groups=groups, dilation=d)
    # crop lo/hi, then extend with output_padding (or the negative 'same' hi) zeros at the end
    pad_arg = []
    for (lo, hi), a in reversed(list(zip(pairs, op))):
        pad_arg += [-lo, a - hi]
    out = F.pad(full, pad_arg)
    if bt is not None:
        out = out + bt.reshape((1, -1) + (1,) * nd)
    return out.numpy()


def torch_conv(x, w, b, stride, padding, dilation, groups):
    nd = w.ndim - 2
    s, d = (tuple(v) if not isinstance(v, int) else (v,) * nd for v in (stride, dilation))
    xt, wt = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(w))
    bt = None if b is None else torch.from_numpy(b)
    pairs = spec_pairs_conv(padding, nd, x.shape[-nd:], w.shape[2:], s, d)
    pad_arg = []
    for lo, hi in reversed(pairs):
        pad_arg += [lo, hi]
    return TORCH_CONV[nd](F.pad(xt, pad_arg), wt, bt, stride=s, padding=0, dilation=d, groups=groups).numpy()


def close(a, b, dtype, what=""):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"{what}: shapes {a.shape} vs {b.shape}"
    scale = max(1.0, float(np.max(np.abs(b))) if b.size else 1.0)
    tol = 1e-10 if np.dtype(dtype) == np.float64 else 1e-4
    err = float(np.max(np.abs(a - b))) / scale if a.size else 0.0
    assert err <= tol, f"{what}: relative error {err:.3g} > {tol:g}"


def registry_supports(method, geom, dtype, op) -> bool:
    """Whether ``method`` runs ``op`` on ``geom``; an unsupported case is counted in conftest."""
    from conftest import UNSUPPORTED

    import tconv

    if method == "auto":
        return True
    reason = tconv.ALGORITHMS[method].supports(geom, np.dtype(dtype), op)
    if reason is not None:
        key = f"{method}/{op}"
        UNSUPPORTED[key] = UNSUPPORTED.get(key, 0) + 1
        return False
    return True


def load_example(name: str):
    """Import ``examples/<name>.py`` as a module (the examples are scripts, not a package)."""
    import importlib.util
    import pathlib
    import sys

    folder = pathlib.Path(__file__).resolve().parents[1] / "examples"
    spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(folder))  # as when the script runs: its folder's modules (photo.py) import
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(folder))
    return mod


def torch_ct_grads(case, x, w, b, go):
    """autograd of conv_transpose in torch, mapping every padding form like the parity tests."""
    nd = case.nd
    s, d, op = (case.per_axis(v) for v in (case.stride, case.dilation, case.output_padding))
    xt = torch.tensor(x if case.batch is not None else x[None], requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = None if b is None else torch.tensor(b, requires_grad=True)
    pairs = spec_pairs_transpose(case.padding, nd, case.kernel, s, d, op)
    full = TORCH_CT[nd](xt, wt, None, stride=s, padding=0, groups=case.groups, dilation=d)
    pad_arg = []
    for (lo, hi), a in reversed(list(zip(pairs, op))):
        pad_arg += [-lo, a - hi]
    out = torch.nn.functional.pad(full, pad_arg)
    if bt is not None:
        out = out + bt.reshape((1, -1) + (1,) * nd)
    gt = torch.tensor(go if case.batch is not None else go[None])
    out.backward(gt)
    gx = xt.grad.numpy() if case.batch is not None else xt.grad.numpy()[0]
    return gx, wt.grad.numpy(), None if bt is None else bt.grad.numpy()


def long_float32_reduction_errors(method: str) -> list[tuple[str, float, float]]:
    """A 18432-term float32 reduction (2048 channels x 3x3, offset data) through ``method``, as conv
    and as conv_transpose: ``(function, tconv's error, PyTorch's float32 error)`` against float64,
    relative to the largest output (the accuracy bound the tests hold: tconv within 2x PyTorch's)."""
    import tconv

    rng = np.random.default_rng(0)
    x = (1e4 + rng.standard_normal((1, 2048, 5, 5))).astype(np.float32)
    w = rng.standard_normal((3, 2048, 3, 3)).astype(np.float32)
    out = []
    for fn, tfn in ((tconv.conv, F.conv2d), (tconv.conv_transpose, F.conv_transpose2d)):
        wt = w if fn is tconv.conv else np.ascontiguousarray(w.transpose(1, 0, 2, 3))
        ref = tfn(torch.tensor(x, dtype=torch.float64), torch.tensor(wt, dtype=torch.float64), padding=1).numpy()
        scale = np.abs(ref).max()
        torch_err = np.abs(tfn(torch.tensor(x), torch.tensor(wt), padding=1).numpy() - ref).max() / scale
        err = np.abs(fn(x, wt, padding=1, method=method) - ref).max() / scale
        out.append((fn.__name__, float(err), float(torch_err)))
    return out
