"""``tconv.explain(..., chunks=...)``: the chunked plan from shapes alone (no Dask needed)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...core.geometry import ConvGeometry, block_input_range, conv_transpose_geometry
from ._graph import SPLIT_EVERY
from ._plan import axis_block, bounds, channel_blocks, default_out_chunks, normalize_chunks

__all__ = ["ChunkPlan", "explain_chunks"]



def _sum_tasks(parts: int) -> int:
    """Tasks a tree of fan-in SPLIT_EVERY adds to sum ``parts`` partial results."""
    n = 0
    while parts > 1:
        groups = -(-parts // SPLIT_EVERY)
        n += groups if parts > SPLIT_EVERY else 1
        parts = groups if parts > SPLIT_EVERY else 1
    return n


@dataclass(frozen=True)
class ChunkPlan:
    """What ``tconv.conv_transpose`` does with a Dask input of ``x_chunks`` (print it).

    ``block_shape`` is a typical (middle) output block; ``task_bytes`` counts for one of its
    tasks the input chunks it reads (whole, as Dask holds them), the gathered input block with
    its halo, the output block, the chosen algorithm's scratch and the weight.
    """

    geometry: ConvGeometry
    x_chunks: tuple[tuple[int, ...], ...]
    out_chunks: tuple[tuple[int, ...], ...]
    halo: tuple[tuple[int, int], ...]  # per spatial axis: extra input cells (before, after) a typical block reads
    block_shape: tuple[int, ...]  # the largest output block
    block_algorithm: str  # method="auto" on that block
    task_bytes: int  # estimated peak memory of one task
    tasks: int
    dtype: str

    def __str__(self) -> str:
        g = self.geometry
        fmt = lambda c: "x".join(map(str, c))  # noqa: E731
        mem = (f"{self.task_bytes / 2**20:.1f} MiB" if self.task_bytes >= 2**20
               else f"{self.task_bytes / 2**10:.1f} KiB")
        lines = [
            f"chunked conv_transpose: input {fmt(sum(c) for c in self.x_chunks)} -> output "
            f"{fmt(sum(c) for c in self.out_chunks)}, kernel {g.kernel}, stride {g.stride}, dilation {g.dilation}, "
            f"groups {g.groups}, {self.dtype}",
            f"{'axis':<10}{'input chunks':<24}{'halo (before, after)':<22}output chunks",
        ]
        names = ["batch", "channel"] + [f"spatial{i}" for i in range(g.nd)]
        for ax, (ic, oc) in enumerate(zip(self.x_chunks, self.out_chunks)):
            halo = "-" if ax < 2 else f"{self.halo[ax - 2]}"
            lines.append(f"{names[ax]:<10}{_short(ic):<24}{halo:<22}{_short(oc)}")
        lines += [
            f"typical output block {fmt(self.block_shape)}: method='auto' picks {self.block_algorithm!r}",
            f"estimated peak memory per task: {mem} (input chunks read + gathered block with halo "
            "+ output block + algorithm scratch + weight)",
            f"tasks: {self.tasks} (blocks, channel partial sums and their tree sums, the weight key)",
        ]
        return "\n".join(lines)


def _short(chunks: tuple[int, ...]) -> str:
    if len(set(chunks[:-1])) <= 1 and len(chunks) > 2:
        return f"{len(chunks)} x {chunks[0]}" + (f" (last {chunks[-1]})" if chunks[-1] != chunks[0] else "")
    return str(chunks)


def explain_chunks(geom: ConvGeometry, x_shape, chunks, dtype: str = "float32") -> ChunkPlan:
    """The chunked plan of ``conv_transpose`` with ``geom`` on an input ``x_shape`` chunked by
    ``chunks`` (any spec of ``tconv.dask``: an int block size per spatial axis, or per-axis entries).

    >>> import tconv
    >>> p = tconv.explain((1, 1, 512, 512, 512), (1, 1, 4, 4, 4), stride=2, padding=1, chunks=128)
    >>> p.halo, p.block_shape, p.tasks
    (((1, 0), (1, 0), (1, 0)), (1, 1, 256, 256, 256), 65)
    """
    from ...core.planner import plan

    x_shape = tuple(int(v) for v in x_shape)
    nd = geom.nd
    x_chunks = normalize_chunks(chunks, x_shape, nd)
    itemsize = np.dtype(dtype).itemsize
    out_sp = tuple(default_out_chunks(geom, ax, x_chunks[2 + ax], True) for ax in range(nd))
    cblocks = channel_blocks(geom, x_chunks[1], True)
    out_chunks = (x_chunks[0], tuple(c.out_stop - c.out_start for c in cblocks), *out_sp)
    # a typical block: a middle one on every axis (the first and last carry the crop)
    idx = [len(c) // 2 for c in out_sp]
    axb = [axis_block(geom, ax, bounds(out_sp[ax])[i], bounds(out_sp[ax])[i + 1], True) for ax, i in enumerate(idx)]
    halo = []
    for ax in range(nd):
        b = bounds(x_chunks[2 + ax])
        i = min(len(b) - 2, len(b) // 2 - 1 if len(b) > 2 else 0)  # a middle input chunk
        start = min(max(b[i] * geom.stride[ax] - geom.pad_lo[ax], 0), geom.x_shape[ax] - 1)
        stop = min(max(b[i + 1] * geom.stride[ax] - geom.pad_lo[ax], start + 1), geom.x_shape[ax])
        lo, hi = block_input_range(geom, ax, start, stop, transpose=True)
        halo.append((max(b[i] - lo, 0), max(hi - b[i + 1], 0)))
    cb = max(cblocks, key=lambda c: c.out_stop - c.out_start)
    part = cb.parts[0]
    nb = max(x_chunks[0])
    block_shape = (nb, cb.out_stop - cb.out_start, *(b.size for b in axb))
    region = tuple(max(b.in_stop - b.in_start, 1) for b in axb)
    wshape = (part.w0[1] - part.w0[0], part.w1[1] - part.w1[0], *geom.kernel)
    bgeom = conv_transpose_geometry(wshape, region, geom.stride, tuple(b.pad for b in axb), 0, geom.dilation,
                                    part.groups)
    p = plan(bgeom, nb, np.dtype(dtype).name)
    scratch = next(c.scratch_bytes for c in p.candidates if c.name == p.choice)
    region_bytes = nb * (part.in_stop - part.in_start) * math.prod(region) * itemsize
    read = nb * (part.in_stop - part.in_start) * itemsize  # the input chunks the block touches
    for ax, b in enumerate(axb):
        cb_ = bounds(x_chunks[2 + ax])
        read *= sum(e - a for a, e in zip(cb_, cb_[1:]) if a < b.in_stop and e > b.in_start) or 1
    task_bytes = read + region_bytes + math.prod(block_shape) * itemsize + scratch + math.prod(geom.weight_shape) * itemsize
    nblocks = math.prod(len(c) for c in out_sp) * len(x_chunks[0])
    tasks = 1 + sum(nblocks * (len(c.parts) + _sum_tasks(len(c.parts))) for c in cblocks)
    return ChunkPlan(geom, x_chunks, out_chunks, tuple(halo), block_shape, p.choice, int(task_bytes), tasks,
                     np.dtype(dtype).name)

