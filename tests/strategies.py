"""Random geometries shared by the parity, adjoint and gradient tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st


@dataclass
class Case:
    nd: int
    batch: int | None  # None: unbatched
    cin: int  # conv_transpose input channels (= weight.shape[0])
    cout: int
    groups: int
    kernel: tuple
    stride: object
    dilation: object
    padding: object
    output_padding: object
    in_shape: tuple  # conv_transpose input spatial shape
    bias: bool
    dtype: type
    seed: int

    def per_axis(self, v):
        return v if isinstance(v, tuple) else (v,) * self.nd

    def arrays(self):
        rng = np.random.default_rng(self.seed)
        shape = (self.cin, *self.in_shape) if self.batch is None else (self.batch, self.cin, *self.in_shape)
        x = rng.standard_normal(shape).astype(self.dtype)
        w = rng.standard_normal((self.cin, self.cout // self.groups, *self.kernel)).astype(self.dtype)
        b = rng.standard_normal(self.cout).astype(self.dtype) if self.bias else None
        return x, w, b

    def kwargs(self):
        return dict(stride=self.stride, padding=self.padding, output_padding=self.output_padding,
                    groups=self.groups, dilation=self.dilation)


def _maybe_per_axis(draw, nd, lo, hi):
    if draw(st.booleans()):
        return draw(st.integers(lo, hi))
    return tuple(draw(st.integers(lo, hi)) for _ in range(nd))


@st.composite
def cases(draw, dims=(1, 2, 3), max_size=None):
    nd = draw(st.sampled_from(dims))
    groups = draw(st.integers(1, 3))
    cin = groups * draw(st.integers(1, 3))
    cout = groups * draw(st.integers(1, 3))
    kmax = {1: 5, 2: 4, 3: 3}[nd]
    kernel = tuple(draw(st.integers(1, kmax)) for _ in range(nd))
    stride = _maybe_per_axis(draw, nd, 1, 3)
    dilation = _maybe_per_axis(draw, nd, 1, 3)
    smax = max_size or {1: 9, 2: 6, 3: 4}[nd]
    in_shape = tuple(draw(st.integers(1, smax)) for _ in range(nd))
    s = stride if isinstance(stride, tuple) else (stride,) * nd
    d = dilation if isinstance(dilation, tuple) else (dilation,) * nd
    op = tuple(draw(st.integers(0, max(si, di) - 1)) for si, di in zip(s, d))
    if draw(st.booleans()):
        op = op[0] if len(set(op)) == 1 else op
    full = [(i - 1) * si + di * (k - 1) + 1 for i, si, di, k in zip(in_shape, s, d, kernel)]
    form = draw(st.sampled_from(["int", "per_axis", "pairs", "valid", "same"]))
    if form in ("int", "per_axis", "pairs"):
        # keep at least one output position on every axis
        limits = [(f - 1) // 2 for f in full]
        if form == "int":
            padding = draw(st.integers(0, min(limits)))
        elif form == "per_axis":
            padding = tuple(draw(st.integers(0, lim)) for lim in limits)
        else:
            padding = tuple(
                (draw(st.integers(0, lim)), draw(st.integers(0, lim))) for lim in limits
            )
    else:
        padding = form
    return Case(
        nd=nd,
        batch=draw(st.sampled_from([None, 1, 2])),
        cin=cin,
        cout=cout,
        groups=groups,
        kernel=kernel,
        stride=stride,
        dilation=dilation,
        padding=padding,
        output_padding=op,
        in_shape=in_shape,
        bias=draw(st.booleans()),
        dtype=draw(st.sampled_from([np.float32, np.float64])),
        seed=draw(st.integers(0, 2**31)),
    )
