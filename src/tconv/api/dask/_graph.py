"""Task graphs: one task per output block (per channel part), partial sums tree-reduced.

Tasks read the input chunks overlapping their input range (block + halo) directly, so any
chunking works: chunks smaller than the halo, uneven last chunks, one chunk. The weight (and
bias) enter the graph once, as one key each, which every task references.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, replace

import numpy as np

from ...core.geometry import ConvGeometry
from ._plan import AxisBlock, ChannelBlock, axis_block, bounds, channel_blocks, default_out_chunks

__all__ = ["apply", "weight_gradient_graph", "SPLIT_EVERY"]

SPLIT_EVERY = 4  # fan-in of the tree reductions

Region = tuple[tuple[int, int], ...]  # (start, stop) per axis


def pieces(chunks: tuple[tuple[int, ...], ...], region: Region):
    """The chunks overlapping ``region``: ``(block index, slices in the chunk, slices in the region)``."""
    per_axis = []
    for sizes, (a, e) in zip(chunks, region):
        b = bounds(sizes)
        first = bisect.bisect_right(b, a) - 1
        hits = []
        for i in range(first, len(sizes)):
            c0, c1 = b[i], b[i + 1]
            if c0 >= e:
                break
            s0, s1 = max(a, c0), min(e, c1)
            if s1 > s0:
                hits.append((i, slice(s0 - c0, s1 - c0), slice(s0 - a, s1 - a)))
        per_axis.append(hits)
    for combo in itertools.product(*per_axis):
        yield (tuple(h[0] for h in combo), tuple(h[1] for h in combo), tuple(h[2] for h in combo))


@dataclass(frozen=True, eq=False)
class Gather:
    """How one task assembles its input region from chunks (opaque to Dask)."""

    shape: tuple[int, ...]
    places: tuple[tuple[tuple[slice, ...], tuple[slice, ...]], ...]
    dtype: np.dtype

    def __call__(self, parts) -> np.ndarray:
        if len(parts) == 1 and all(d.stop - d.start == n for d, n in zip(self.places[0][1], self.shape)):
            return np.asarray(parts[0][self.places[0][0]], dtype=self.dtype)
        out = np.empty(self.shape, self.dtype)
        for (src, dst), part in zip(self.places, parts):
            out[dst] = part[src]
        return out


def gather_task(name: str, chunks, region: Region, dtype) -> tuple[list, Gather]:
    keys, places = [], []
    for idx, src, dst in pieces(chunks, region):
        keys.append((name, *idx))
        places.append((src, dst))
    return keys, Gather(tuple(e - a for a, e in region), tuple(places), np.dtype(dtype))


@dataclass(frozen=True, eq=False)
class BlockCall:
    """One output block (or a partial sum of one): the NumPy path on the gathered region."""

    gather: Gather | None  # None: an empty block (zeros)
    out_shape: tuple[int, ...]
    transpose: bool
    params: dict
    pads: tuple[tuple[int, int], ...]
    zeros: tuple[tuple[int, int], ...]
    w0: tuple[int, int]
    w1: tuple[int, int]
    bias: tuple[int, int] | None  # output channel range of the bias to add

    def __call__(self, weight, bias, *parts) -> np.ndarray:
        from ...core.dispatch import Call, forward

        dtype = weight.dtype
        if self.gather is None:
            out = np.zeros(self.out_shape, dtype)
        else:
            w = weight[self.w0[0]:self.w0[1], self.w1[0]:self.w1[1]]
            call = Call("conv_transpose" if self.transpose else "conv", padding=self.pads, **self.params)
            out = forward(call, self.gather(parts), w, None)
            if any(z != (0, 0) for z in self.zeros):
                out = np.pad(out, ((0, 0), (0, 0), *self.zeros))
        if self.bias is not None:
            out += bias[self.bias[0]:self.bias[1]].reshape((1, -1) + (1,) * (out.ndim - 2))
        return out


def tree_sum(*parts):
    out = parts[0].copy()
    for p in parts[1:]:
        out += p
    return out


def tree(dsk: dict, root: tuple, keys: list) -> None:
    """Sum ``keys`` into ``dsk[root]`` with a tree of fan-in ``SPLIT_EVERY`` (one key: moved there)."""
    if len(keys) == 1:
        dsk[root] = dsk.pop(keys[0])
        return
    level = 0
    while len(keys) > SPLIT_EVERY:
        nxt = []
        for i in range(0, len(keys), SPLIT_EVERY):
            group = keys[i:i + SPLIT_EVERY]
            k = (f"{root[0]}-sum{level}", i // SPLIT_EVERY, *root[1:])
            dsk[k] = (tree_sum, *group) if len(group) > 1 else dsk.pop(group[0])
            nxt.append(k)
        keys, level = nxt, level + 1
    dsk[root] = (tree_sum, *keys)


def constant_key(dsk: dict, what: str, value: np.ndarray | None):
    """``value`` as one graph key (None stays None)."""
    if value is None:
        return None
    from dask.base import tokenize

    key = f"tconv-{what}-{tokenize(value)}"
    dsk[key] = value
    return key


def spatial_blocks(geom: ConvGeometry, out_chunks, transpose: bool) -> list[list[AxisBlock]]:
    return [[axis_block(geom, ax, a, e, transpose) for a, e in zip(bounds(c), bounds(c)[1:])]
            for ax, c in enumerate(out_chunks)]


def apply(x, weight: np.ndarray, bias: np.ndarray | None, geom: ConvGeometry, *, transpose: bool,
          method: str = "auto", out_batch_chunks=None, out_spatial_chunks=None):
    """``conv_transpose`` (``transpose=True``) or ``conv`` of the batched Dask array ``x`` with
    ``geom``, as a lazy Dask array. ``weight`` and ``bias`` are NumPy arrays of the result's dtype."""
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    dtype = weight.dtype
    nd = geom.nd
    if out_spatial_chunks is None:
        out_spatial_chunks = tuple(default_out_chunks(geom, ax, x.chunks[2 + ax], transpose) for ax in range(nd))
    batch_chunks = tuple(out_batch_chunks or x.chunks[0])
    name = "tconv-" + ("conv_transpose" if transpose else "conv") + "-" + tokenize(
        x, weight, bias, geom, transpose, method, batch_chunks, out_spatial_chunks)
    dsk: dict = {}
    wkey, bkey = constant_key(dsk, "weight", weight), constant_key(dsk, "bias", bias)
    cblocks: list[ChannelBlock] = channel_blocks(geom, x.chunks[1], transpose)
    sblocks = spatial_blocks(geom, out_spatial_chunks, transpose)
    params = dict(stride=geom.stride, dilation=geom.dilation, method=method)
    for bi, (n0, n1) in enumerate(zip(bounds(batch_chunks), bounds(batch_chunks)[1:])):
        for ci, cb in enumerate(cblocks):
            for sidx in itertools.product(*(range(len(b)) for b in sblocks)):
                axb = [sblocks[ax][i] for ax, i in enumerate(sidx)]
                out_shape = (n1 - n0, cb.out_stop - cb.out_start, *(b.size for b in axb))
                empty = any(b.empty for b in axb)
                part_keys = []
                for pi, part in enumerate(cb.parts):
                    call = BlockCall(
                        None, out_shape, transpose, dict(params, groups=part.groups),
                        tuple(b.pad for b in axb), tuple(b.zeros for b in axb), part.w0, part.w1,
                        (cb.out_start, cb.out_stop) if bias is not None and pi == 0 else None)
                    keys: list = []
                    if not empty:
                        region = ((n0, n1), (part.in_start, part.in_stop), *((b.in_start, b.in_stop) for b in axb))
                        keys, gather = gather_task(x.name, x.chunks, region, dtype)
                        call = replace(call, gather=gather)
                    k = (f"{name}-part", pi, bi, ci, *sidx)
                    dsk[k] = (call, wkey, bkey, *keys)
                    part_keys.append(k)
                    if empty:
                        break  # zeros (plus the bias) need no sum
                tree(dsk, (name, bi, ci, *sidx), part_keys)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[x])
    chunks = (batch_chunks, tuple(cb.out_stop - cb.out_start for cb in cblocks), *out_spatial_chunks)
    return da.Array(graph, name, chunks, dtype=dtype, meta=np.empty((0,) * (nd + 2), dtype))


@dataclass(frozen=True, eq=False)
class WeightGradCall:
    """One block's share of ``dW``: the y-side block against its x-side region (+ halo)."""

    y_gather: Gather
    x_gather: Gather
    n_y: int  # how many of the parts are y-side chunks
    geom: ConvGeometry
    method: str = "auto"

    def __call__(self, *parts) -> np.ndarray:
        from ...core.dispatch import weight_gradient

        return weight_gradient(self.y_gather(parts[:self.n_y]), self.x_gather(parts[self.n_y:]), self.geom,
                               self.method)


def weight_gradient_graph(y_side, x_side, geom: ConvGeometry, dtype, method: str = "auto"):
    """``dW`` (one chunk, ``geom.weight_shape``) summed over the blocks of ``y_side`` in a tree.

    ``y_side`` is the batched y-side Dask array (``conv``'s output gradient or
    ``conv_transpose``'s input), ``x_side`` the x-side one; each task correlates one y-side
    block (all channels) with the x-side cells its windows read.
    """
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    from ...core.geometry import conv_geometry

    name = "tconv-weight-grad-" + tokenize(y_side, x_side, geom, dtype)
    dsk: dict = {}
    spatial = [[(a, e) for a, e in zip(bounds(c), bounds(c)[1:])] for c in y_side.chunks[2:]]
    batch = list(zip(bounds(y_side.chunks[0]), bounds(y_side.chunks[0])[1:]))
    keys = []
    for bi, (n0, n1) in enumerate(batch):
        for sidx in itertools.product(*(range(len(s)) for s in spatial)):
            axb = [axis_block(geom, ax, *spatial[ax][i], False) for ax, i in enumerate(sidx)]
            if any(b.empty for b in axb):
                continue  # its windows read only padding: no contribution
            y_region = ((n0, n1), (0, geom.y_channels), *(spatial[ax][i] for ax, i in enumerate(sidx)))
            x_region = ((n0, n1), (0, geom.x_channels), *((b.in_start, b.in_stop) for b in axb))
            ykeys, yg = gather_task(y_side.name, y_side.chunks, y_region, dtype)
            xkeys, xg = gather_task(x_side.name, x_side.chunks, x_region, dtype)
            bgeom = conv_geometry(geom.weight_shape, tuple(b.in_stop - b.in_start for b in axb), geom.stride,
                                  tuple(b.pad for b in axb), geom.dilation, geom.groups)
            k = (f"{name}-block", bi, *sidx)
            dsk[k] = (WeightGradCall(yg, xg, len(ykeys), bgeom, method), *ykeys, *xkeys)
            keys.append(k)
    out_key = (name,) + (0,) * (geom.nd + 2)
    if keys:
        tree(dsk, out_key, keys)
    else:
        dsk[out_key] = np.zeros(geom.weight_shape, dtype)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[y_side, x_side])
    return da.Array(graph, name, tuple((n,) for n in geom.weight_shape), dtype=dtype,
                    meta=np.empty((0,) * (geom.nd + 2), dtype))
