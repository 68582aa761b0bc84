"""Boundary modes without a full pad: a convolution whose padding copies the image (``reflect``,
``replicate``, ``circular``, ``symmetric``) as the zero-padded one plus its border.

With ``A = C P`` (pad, then a valid convolution) and ``C_Z`` the same convolution with zero padding,
only the outputs whose window reaches a margin differ: ``A = C_Z + R_b (C P - C_Z)``, ``R_b`` keeping
those border outputs. So ``A x`` is the zero-padded convolution of ``x`` with its border slabs
recomputed from padded slabs a few rows deep (one disjoint box of outputs each), and, since ``C P - C_Z = C D`` with ``D`` the padding's
margins alone, ``A^T y = C_Z^T y + D^T C^T R_b^T y``: the zero-padded transpose of ``y``, plus the
transposed convolution of each border strip of ``y`` with its margin cells folded onto the pixels they
copy. No pass over the whole image beyond the kernels' own; the adjoint is exact by construction.

>>> import numpy as np
>>> from tconv.core.geometry import conv_geometry
>>> from tconv.core.padding import Boundary
>>> g = conv_geometry((1, 1, 3), (6,), 1, "same")
>>> plan = BorderPlan(g, Boundary("circular", g.pads, g.x_shape))
>>> plan.forward(np.arange(6.0).reshape(1, 1, 6), np.ones((1, 1, 3)), "direct").tolist()
[[[6.0, 3.0, 6.0, 9.0, 12.0, 9.0]]]
"""

from __future__ import annotations

from functools import reduce

import numpy as np

from ..errors import TconvError
from .geometry import ConvGeometry, conv_geometry
from .padding import Boundary
from .planner import choose, plan

__all__ = ["BorderPlan", "MAX_BORDER_SHARE", "MAX_STRIP_CELLS"]

#: above this share of border outputs (a small image against a wide kernel) the pad-then-convolve path
#: runs instead (it is then no dearer)
MAX_BORDER_SHARE = 0.25
#: what the pad-then-convolve path pays beyond its convolution: seconds per byte of the padded input
#: written (a 512^2 float64 pad: 0.26 ms for 2.1 MB), and what each slab call of this path costs beyond
#: its kernel (the slicing, the transposes, the call: about 30 us)
PAD_S_PER_BYTE = 1.2e-10
SLAB_CALL_S = 3e-5
#: at most this many padded cells in the border slabs (their tables are kept: 16 bytes per margin cell);
#: a larger operator (a volume's faces) keeps the padded path
MAX_STRIP_CELLS = 1 << 22


def _edges(geom: ConvGeometry) -> list[tuple[int, int]]:
    """Per axis ``(a, b)``: outputs ``[0, a)`` read the low margin, ``[b, n_out)`` the high one."""
    out = []
    for n, m, k, s, d, (lo, _) in zip(geom.x_shape, geom.y_shape, geom.kernel, geom.stride, geom.dilation, geom.pads):
        a = min(m, -(-lo // s))
        b = max(a, min(m, (lo + n - 1 - (k - 1) * d) // s + 1))
        out.append((a, b))
    return out


class BorderPlan:
    """``conv`` with ``boundary`` over the zero-padded geometry ``geom``, and its adjoint (real data).
    The slabs' index maps, geometries and margin masks are worked out once here; each call picks the
    slabs' algorithms once per batch size and dtype."""

    def __init__(self, geom: ConvGeometry, boundary: Boundary):
        self.geom = geom
        edges = _edges(geom)
        inner = np.prod([b - a for a, b in edges], dtype=np.float64)
        self.boxes, self._algos, self._weights = [], {}, (None, None)
        # the border outputs as disjoint boxes: axis j's low and high border over the interior of the
        # axes before it and the whole of the axes after it (each border output in one box)
        spans = []
        for j, (a, b) in enumerate(edges):
            for r in ((0, a), (b, geom.y_shape[j])):
                box = [edges[i] if i < j else (0, geom.y_shape[i]) for i in range(geom.nd)]
                box[j] = r
                if all(hi > lo for lo, hi in box):
                    spans.append((j, box))
        # the boxes' cell tables (two int64 per margin cell) are kept: bounded before they are built
        cells = sum(float(np.prod([p1 - p0 for p0, p1 in self._reach(box)])) for _, box in spans)
        self.built = cells <= MAX_STRIP_CELLS
        self.usable = self.built and inner >= (1 - MAX_BORDER_SHARE) * np.prod(geom.y_shape, dtype=np.float64)
        if not self.built:
            return
        src, nd, lead = boundary.src, geom.nd, (slice(None), slice(None))
        for j, box in spans:
            reach = self._reach(box)
            maps = [m[p0:p1] for m, (p0, p1) in zip(src, reach)]
            inside = [((np.arange(p0, p1) >= lo) & (np.arange(p0, p1) < lo + n)).reshape(
                      [-1 if i == ax else 1 for i in range(nd)])
                      for ax, ((p0, p1), (lo, _), n) in enumerate(zip(reach, geom.pads, geom.x_shape))]
            margin = ~reduce(np.logical_and, inside)  # a border box always reads some margin
            # (out slices, the padded slab as an index of x, its geometry and axis order, its fold)
            self.boxes.append((lead + tuple(slice(*r) for r in box), lead + np.ix_(*maps),
                               *self._oriented(j, tuple(p1 - p0 for p0, p1 in reach)),
                               _fold_groups(margin, maps, geom.x_shape)))

    def cheaper(self, method: str, dtype) -> bool:
        """Whether this path is estimated faster than padding the whole input and convolving it: the
        planner's estimates of the zero-padded call and of the slabs' against the padded call's plus the
        pad (a large kernel on the FFT: the slabs' direct convolutions cost more than the pad)."""
        dt = np.dtype(dtype)

        def est(geom):
            p = plan(geom, 1, dt.name, "conv")
            name = p.choice if method == "auto" else method
            return next((c.seconds for c in p.candidates if c.name == name), float("inf"))  # refused: inf

        g = self.geom
        padded = g.on_padded_input()
        pad = PAD_S_PER_BYTE * dt.itemsize * g.x_channels * float(np.prod(padded.x_shape))
        slabs = sum(est(geom) + SLAB_CALL_S for _, _, geom, _, _ in self.boxes)
        return est(g) + slabs < est(padded) + pad

    def _check_built(self) -> None:
        if not self.built:
            raise TconvError(f"the border slabs of {self.geom.x_shape} would hold more than {MAX_STRIP_CELLS} cells: "
                             "this plan was not built (pad, then convolve)")

    def _oriented(self, j: int, shape) -> tuple:
        """The valid geometry of a slab thin along axis ``j``, and the axis order it runs in: a slab thin
        along the last axis (two output cells per row) runs with its first and last axes swapped, so
        that the kernels' rows are long (a 508 x 2 strip: 121 us, as 2 x 508: 6 us)."""
        nd = self.geom.nd
        if nd < 2 or j != nd - 1:
            return self._valid(shape), None
        perm = (nd - 1, *range(1, nd - 1), 0)
        g = self.geom
        swapped = conv_geometry((*g.weight_shape[:2], *(g.kernel[p] for p in perm)), tuple(shape[p] for p in perm),
                                tuple(g.stride[p] for p in perm), 0, tuple(g.dilation[p] for p in perm), g.groups)
        return swapped, (0, 1, *(2 + p for p in perm))

    def _weight(self, w: np.ndarray, axes) -> np.ndarray:
        if axes is None:
            return w
        if self._weights[0] is not w:  # the swapped weight, kept for the operator's own weight
            self._weights = (w, np.ascontiguousarray(w.transpose(axes)))
        return self._weights[1]

    def _reach(self, box):
        """The padded-input range each axis of an output box reads: ``[i0 s, (i1 - 1) s + (k - 1) d + 1)``."""
        g = self.geom
        return tuple((i0 * s, (i1 - 1) * s + (k - 1) * d + 1)
                     for (i0, i1), s, k, d in zip(box, g.stride, g.kernel, g.dilation))

    def _valid(self, shape):
        g = self.geom
        return conv_geometry(g.weight_shape, shape, g.stride, 0, g.dilation, g.groups)

    def _run(self, method, op, a, w, geom):
        key = (method, op, id(geom), a.shape[0], a.dtype)
        algo = self._algos.get(key)
        if algo is None:
            if len(self._algos) > 256:
                self._algos.clear()
            algo = self._algos[key] = choose(method, geom, a.shape[0], a.dtype, op)
        return algo.run(op, a, w, geom)

    def forward(self, x: np.ndarray, w: np.ndarray, method: str) -> np.ndarray:
        """``A x`` for a batch ``x`` of shape ``(N, C_in, *input_shape)``."""
        self._check_built()
        y = self._run(method, "conv", x, w, self.geom)
        for out, idx, geom, axes, _ in self.boxes:
            slab = x[idx] if axes is None else x[idx].transpose(axes)
            part = self._run(method, "conv", np.ascontiguousarray(slab), self._weight(w, axes), geom)
            y[out] = part if axes is None else part.transpose(axes)
        return y

    def adjoint(self, y: np.ndarray, w: np.ndarray, method: str) -> np.ndarray:
        """``A^T y`` for a batch ``y`` of shape ``(N, C_out, *output_shape)``."""
        self._check_built()
        x = self._run(method, "conv_transpose", y, w, self.geom)
        flat = x.reshape(*x.shape[:2], -1)  # x is the kernel's own contiguous output: a view
        for box, _, geom, axes, groups in self.boxes:
            ys = y[box] if axes is None else y[box].transpose(axes)
            part = self._run(method, "conv_transpose", np.ascontiguousarray(ys), self._weight(w, axes), geom)
            cells = (part if axes is None else np.ascontiguousarray(part.transpose(axes))).reshape(*part.shape[:2], -1)
            order, starts, target = groups  # the margin cells onto the pixels they copy
            flat[:, :, target] += np.add.reduceat(cells[:, :, order], starts, axis=2)
        return x


def _fold_groups(margin: np.ndarray, maps: list, shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The margin cells of a slab (``margin``; ``maps``: per axis, the image index each slab position
    copies) as ``(cells, starts, targets)``: the cells' flat indices ordered by the pixel they copy, where
    each pixel's run starts, and the distinct pixels' flat indices (a corner's and a replicated edge's
    cells copy one pixel several times): one gather, one ``add.reduceat``, one fancy-indexed add."""
    cells = np.flatnonzero(margin)
    grids = np.unravel_index(cells, margin.shape)
    target = np.ravel_multi_index(tuple(m[g] for m, g in zip(maps, grids)), shape)
    order = np.argsort(target, kind="stable")
    target, cells = target[order], cells[order]
    starts = np.flatnonzero(np.r_[True, target[1:] != target[:-1]])
    return cells, starts, target[starts]
