"""Block planning from shapes alone (no Dask here): which input cells, padding and weight
slice each output block of a chunked ``conv`` / ``conv_transpose`` needs.

A *direction* is ``transpose=True`` (``conv_transpose``: the geometry's y side to its x side)
or ``transpose=False`` (``conv``: x side to y side); both VJPs and ``ConvOperator`` use the
same two directions of one :class:`~tconv.core.geometry.ConvGeometry`.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate

from ...core.geometry import ConvGeometry, block_input_range

__all__ = ["AxisBlock", "ChannelBlock", "ChannelPart", "axis_block", "bounds", "channel_blocks",
           "default_out_chunks"]


def bounds(chunks: tuple[int, ...]) -> tuple[int, ...]:
    """Chunk sizes -> offsets ``(0, c0, c0 + c1, ..., total)``."""
    return (0, *accumulate(chunks))


@dataclass(frozen=True)
class AxisBlock:
    """One output block along one spatial axis and what computes it.

    The block's call reads input cells ``[in_start, in_stop)`` with padding ``pad`` and its
    result is extended by ``zeros`` cells (positions no tap reaches); ``empty`` blocks read
    nothing and are zero.
    """

    out_start: int
    out_stop: int
    in_start: int
    in_stop: int
    pad: tuple[int, int]
    zeros: tuple[int, int]

    @property
    def empty(self) -> bool:
        return self.in_start >= self.in_stop

    @property
    def size(self) -> int:
        return self.out_stop - self.out_start


def axis_block(geom: ConvGeometry, axis: int, start: int, stop: int, transpose: bool) -> AxisBlock:
    """The input range, padding and zero extension computing output cells ``[start, stop)``."""
    lo, hi = block_input_range(geom, axis, start, stop, transpose=transpose)
    size = geom.y_shape[axis] if transpose else geom.x_shape[axis]
    i0, i1 = max(lo, 0), min(hi, size)
    nothing = AxisBlock(start, stop, 0, 0, (0, 0), (0, 0))
    if i0 >= i1:
        return nothing
    if not transpose:
        # conv: the window range [lo, hi) is exactly (stop - start - 1) * s + D + 1 cells long
        return AxisBlock(start, stop, i0, i1, (i0 - lo, hi - i1), (0, 0))
    s, span = geom.stride[axis], geom.dilation[axis] * (geom.kernel[axis] - 1)
    full = (i1 - i0 - 1) * s + span + 1  # uncropped output of the block's inputs
    r0 = start + geom.pad_lo[axis] - i0 * s  # the wanted cells in that output's coordinates
    r1 = r0 + stop - start
    c0, c1 = max(r0, 0), min(r1, full)
    if c0 >= c1:  # only between-tap positions (stride > dilated kernel): zeros
        return nothing
    return AxisBlock(start, stop, i0, i1, (c0, full - c1), (c0 - r0, r1 - c1))


def default_out_chunks(geom: ConvGeometry, axis: int, in_chunks: tuple[int, ...], transpose: bool) -> tuple[int, ...]:
    """Output chunks that follow the input chunks (``stride`` times their size for
    ``conv_transpose``, ``1/stride`` for ``conv``); cropping lands on the first and last
    blocks and blocks cropped away entirely are dropped."""
    b = bounds(in_chunks)
    s, lo = geom.stride[axis], geom.pad_lo[axis]
    n = geom.x_shape[axis] if transpose else geom.y_shape[axis]
    if transpose:
        cuts = [min(max(v * s - lo, 0), n) for v in b[1:-1]]
    else:
        cuts = [min(max(-(-(v + lo) // s), 0), n) for v in b[1:-1]]
    edges = sorted({0, n, *cuts})
    return tuple(e - a for a, e in zip(edges, edges[1:]))


@dataclass(frozen=True)
class ChannelPart:
    """Input channels ``[in_start, in_stop)`` with the weight slice ``weight[w0[0]:w0[1], w1[0]:w1[1]]``
    and ``groups``: one call, giving all (or, summed with its siblings, part) of a channel block."""

    in_start: int
    in_stop: int
    w0: tuple[int, int]
    w1: tuple[int, int]
    groups: int


@dataclass(frozen=True)
class ChannelBlock:
    """Output channels ``[out_start, out_stop)``: the sum of its parts (one part: no sum)."""

    out_start: int
    out_stop: int
    parts: tuple[ChannelPart, ...]


def channel_blocks(geom: ConvGeometry, in_chunks: tuple[int, ...], transpose: bool) -> list[ChannelBlock]:
    """How input channel chunks map onto output channels.

    Chunks are split at group boundaries; a piece holding whole groups is a grouped call of
    its own (its output channels need nothing else), pieces inside one group are partial
    sums for that group's output channels, summed (a tree reduction) by the caller. One
    channel chunk (the default) gives one block.
    """
    g = geom.groups
    in_ch, out_ch = (geom.y_channels, geom.x_channels) if transpose else (geom.x_channels, geom.y_channels)
    cg, og = in_ch // g, out_ch // g
    pieces: list[tuple[int, int]] = []
    for a, e in zip(bounds(in_chunks), bounds(in_chunks)[1:]):
        first, last = -(-a // cg) * cg, e // cg * cg  # group boundaries inside [a, e]
        cuts = sorted({a, e, *(v for v in (first, last) if a < v < e)})
        pieces += list(zip(cuts, cuts[1:]))
    blocks: list[ChannelBlock] = []
    for a, e in pieces:
        if a % cg == 0 and e % cg == 0:  # whole groups a/cg .. e/cg
            g0, g1 = a // cg, e // cg
            w0, w1 = ((a, e), (0, og)) if transpose else ((g0 * og, g1 * og), (0, cg))
            blocks.append(ChannelBlock(g0 * og, g1 * og, (ChannelPart(a, e, w0, w1, g1 - g0),)))
            continue
        grp = a // cg
        w0, w1 = ((a, e), (0, og)) if transpose else ((grp * og, (grp + 1) * og), (a - grp * cg, e - grp * cg))
        part = ChannelPart(a, e, w0, w1, 1)
        last = blocks[-1] if blocks else None
        # the previous block is this group's (a whole group cannot precede a piece of itself)
        if last is not None and (last.out_start, last.out_stop) == (grp * og, (grp + 1) * og):
            blocks[-1] = ChannelBlock(last.out_start, last.out_stop, (*last.parts, part))
        else:
            blocks.append(ChannelBlock(grp * og, (grp + 1) * og, (part,)))
    return blocks


def normalize_chunks(spec, shape: tuple[int, ...], nd: int, current=None) -> tuple[tuple[int, ...], ...]:
    """A ``chunks=`` spec as explicit chunk sizes for every axis of ``shape``.

    ``spec``: an int (that block size on every spatial axis), or one entry per spatial axis
    (``nd`` entries) or per axis of the input (``len(shape)`` entries), each an int block
    size, ``-1``/``None`` (the whole axis) or a tuple of chunk sizes summing to the axis.
    Axes the spec does not name keep ``current`` (default: one chunk).

    >>> normalize_chunks(4, (1, 2, 10), 1)
    ((1,), (2,), (4, 4, 2))
    >>> normalize_chunks((None, 1, (3, 7)), (1, 2, 10), 1)
    ((1,), (1, 1), (3, 7))
    """
    from ...core.params import _is_int
    from ...errors import TconvError

    keep = list(current) if current is not None else [(n,) for n in shape]
    rule = (f"give an int block size, or one entry per spatial axis ({nd}) or per input axis ({len(shape)}), "
            "each an int, -1/None (whole axis) or a tuple of chunk sizes")
    keep_axis = object()
    if _is_int(spec):
        entries = [keep_axis] * (len(shape) - nd) + [int(spec)] * nd
    elif isinstance(spec, (tuple, list)) and len(spec) in (nd, len(shape)):
        entries = [keep_axis] * (len(shape) - len(spec)) + [-1 if e is None else e for e in spec]
    else:
        raise TconvError(f"chunks={spec!r} is not a chunks spec for an input of shape {shape}: {rule}")
    out = []
    for ax, (e, n) in enumerate(zip(entries, shape)):
        if e is keep_axis:
            out.append(tuple(keep[ax]))
        elif _is_int(e) and (int(e) == -1 or int(e) >= 1):
            size = n if int(e) == -1 else int(e)
            out.append((size,) * (n // size) + ((n % size,) if n % size else ()) if n else (0,))
        elif isinstance(e, (tuple, list)) and all(_is_int(v) and v >= 1 for v in e) and sum(e) == n:
            out.append(tuple(int(v) for v in e))
        else:
            raise TconvError(f"chunks={spec!r}: entry {e!r} for axis {ax} (size {n}) is not valid: {rule}")
    return tuple(out)
