"""``conv_transpose``, ``conv`` and their VJPs on Dask arrays.

Validation runs first, on shapes only, through the NumPy path's own setup (with a zero-byte
stand-in for the input), so a bad call raises the same :class:`~tconv.TconvError` before any
task is built. Results are lazy Dask arrays, except ``grad_weight`` / ``grad_bias``, which
are tree reductions computed to NumPy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...core.dispatch import Call, setup
from ...core.params import PadSpec, as_float_array, shape_standin
from ...errors import TconvError, TconvTypeError
from ._detect import is_dask_array
from ._graph import apply, weight_gradient_graph
from ._plan import normalize_chunks

__all__ = ["conv", "conv_transpose", "conv_transpose_vjp", "conv_vjp", "forward", "vjp"]

IntOrSeq = int | Sequence[int]


def _check_constants(weight, bias) -> None:
    for name, value in (("weight", weight), ("bias", bias)):
        if is_dask_array(value):
            raise TconvTypeError(
                f"{name} is a Dask array {value!r}; {name} must be a NumPy array (only the input and "
                "grad_output may be Dask arrays: the weight enters every block whole)")


def _float_dtype(name: str, x) -> np.dtype:
    """The dtype the NumPy path would compute ``x`` in (same errors), from the dtype alone."""
    return as_float_array(name, np.empty(0, dtype=x.dtype)).dtype


def _as_dask(name: str, x, chunks, nd: int):
    """``x`` as a Dask array with known chunks (a NumPy input needs ``chunks``)."""
    import dask.array as da

    if not is_dask_array(x):
        if chunks is None:
            raise TconvError(f"{name} is a NumPy array; give chunks= (e.g. chunks=64) to compute it chunked")
        arr = np.asarray(x)
        return da.from_array(arr, chunks=normalize_chunks(chunks, arr.shape, nd))
    _check_known(name, x)
    if chunks is not None:
        x = x.rechunk(normalize_chunks(chunks, x.shape, nd, x.chunks))
    return x


def _check_known(name: str, x) -> None:
    if not is_dask_array(x):
        return
    for ax, c in enumerate(x.chunks):
        if any(np.isnan(v) for v in c):
            raise TconvError(
                f"{name} has unknown chunk sizes on axis {ax} ({c}); call {name}.compute_chunk_sizes() "
                "first (the halo of every block is planned from the chunk sizes)")


def _setup(call: Call, x, weight, bias, chunks):
    """Validated ``(batched Dask input, weight, bias, batched, geometry)`` of a call on ``x``."""
    _check_constants(weight, bias)
    _check_known("input", x)
    nd = np.ndim(weight) - 2 if np.ndim(weight) >= 3 else 1
    dt = np.result_type(_float_dtype("input", x), *(as_float_array(n, v) for n, v in
                                                    (("weight", weight), ("bias", bias)) if v is not None))
    _, w, b, batched, geom = setup(call, shape_standin(x.shape, dt), weight, bias)
    xd = _as_dask("input", x, chunks, nd)
    return (xd if batched else xd[None]), w, b, batched, geom


def _out_chunks(spec, xb, spatial: tuple[int, ...], nd: int):
    """Explicit spatial output chunks from an ``out_chunks`` spec (None: follow the input)."""
    if spec is None:
        return None
    return normalize_chunks(spec, (xb.shape[0], 1, *spatial), nd)[2:]


def _check_method(method: str, geom, dtype, *ops: str) -> None:
    """An explicit method must exist and run every block's operations: say so now, not inside a
    task (the memory guard applies per block, inside the tasks)."""
    if method != "auto":
        from ...core.algorithms import get_algorithm

        algo = get_algorithm(method)
        for op in ops:
            reason = algo.supports(geom, np.dtype(dtype), op)
            if reason is not None:
                raise TconvError(f"method={method!r} cannot run this geometry: {reason}")


def forward(call: Call, x, weight, bias, *, chunks=None, out_chunks=None):
    """``conv`` or ``conv_transpose`` (``call.op``) of a Dask array, plain (the bottom of the
    conventions chain for Dask arrays): every output block is the core dispatch on its input
    block plus halo."""
    xb, w, b, batched, geom = _setup(call, x, weight, bias, chunks)
    _check_method(call.method, geom, w.dtype, call.op)
    transpose = call.op == "conv_transpose"
    spatial = geom.x_shape if transpose else geom.y_shape
    out = apply(xb, w, b, geom, transpose=transpose, method=call.method,
                out_spatial_chunks=_out_chunks(out_chunks, xb, spatial, geom.nd))
    return out if batched else out[0]


def conv_transpose(
    x,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: IntOrSeq = 1,
    padding: PadSpec = 0,
    output_padding: IntOrSeq = 0,
    groups: int = 1,
    dilation: IntOrSeq = 1,
    *,
    output_size: Sequence[int] | None = None,
    method: str = "auto",
    chunks=None,
    out_chunks=None,
):
    """:func:`tconv.conv_transpose` of a Dask array, lazily, block by block.

    ``x`` is a ``dask.array.Array`` (or a NumPy array together with ``chunks``); ``chunks``
    rechunks the input first (see :func:`tconv.dask._plan.normalize_chunks`). Output chunks
    follow the input's (``stride`` times their size; the crop falls on the first and last
    blocks) unless ``out_chunks`` (same forms, spatial axes) sets them, e.g. regular chunks
    for a Zarr store; a chunked channel axis is summed over.

    >>> import numpy as np
    >>> y = conv_transpose(np.ones((1, 1, 6)), np.ones((1, 1, 3)), stride=2, chunks=2)
    >>> y.chunks[2], y.compute()[0, 0].tolist()
    ((4, 4, 5), [1.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 1.0])
    """
    call = Call("conv_transpose", stride, padding, output_padding, groups, dilation, output_size, method)
    return forward(call, x, weight, bias, chunks=chunks, out_chunks=out_chunks)


def conv(
    x,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: IntOrSeq = 1,
    padding: PadSpec = 0,
    dilation: IntOrSeq = 1,
    groups: int = 1,
    *,
    method: str = "auto",
    chunks=None,
    out_chunks=None,
):
    """:func:`tconv.conv` of a Dask array, lazily, block by block (output chunks: the input's / ``stride``,
    or ``out_chunks``).

    >>> import numpy as np
    >>> conv(np.arange(6.0)[None], np.ones((1, 1, 2)), chunks=3).compute().tolist()
    [[1.0, 3.0, 5.0, 7.0, 9.0]]
    """
    return forward(Call("conv", stride, padding, 0, groups, dilation, None, method), x, weight, bias,
                   chunks=chunks, out_chunks=out_chunks)


def vjp(call: Call, grad_output, x, weight, bias):
    """The VJP of a plain ``call`` with Dask ``grad_output`` and ``x`` (see :func:`conv_transpose_vjp`)."""
    import dask
    import dask.array as da

    if not is_dask_array(x):
        x = da.from_array(np.asarray(x))
    if not is_dask_array(grad_output):
        grad_output = da.from_array(np.asarray(grad_output))
    xb, w, b, batched, geom = _setup(call, x, weight, bias, None)
    method = call.method
    transpose = call.op == "conv_transpose"
    n = xb.shape[0]
    expected = (n, geom.x_channels, *geom.x_shape) if transpose else (n, geom.y_channels, *geom.y_shape)
    want = expected if batched else expected[1:]
    gdt = _float_dtype("grad_output", grad_output)
    _check_known("grad_output", grad_output)
    if tuple(grad_output.shape) != want:
        raise TconvError(f"grad_output has shape {tuple(grad_output.shape)} but the forward output has shape {want}")
    dtype = np.result_type(gdt, w.dtype)
    w = w.astype(dtype, copy=False)
    _check_method(method, geom, dtype, "conv", "conv_transpose", "weight_grad")
    gb_ = grad_output if batched else grad_output[None]
    # grad_x: the other direction of the same geometry, chunked like x
    gx = apply(gb_, w, None, geom, transpose=not transpose, method=method,
               out_batch_chunks=xb.chunks[0], out_spatial_chunks=xb.chunks[2:])
    if gx.chunks[1] != xb.chunks[1]:
        gx = gx.rechunk({1: xb.chunks[1]})
    y_side, x_side = (xb, gb_) if transpose else (gb_, xb)
    gw = weight_gradient_graph(y_side, x_side, geom, dtype, method)
    if b is None:
        (gw,) = dask.compute(gw)
        gb = None
    else:
        gw, gb = dask.compute(gw, gb_.sum(axis=(0, *range(2, gb_.ndim)), dtype=dtype))
    return (gx if batched else gx[0]), gw, gb


def conv_transpose_vjp(
    grad_output,
    x,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: IntOrSeq = 1,
    padding: PadSpec = 0,
    output_padding: IntOrSeq = 0,
    groups: int = 1,
    dilation: IntOrSeq = 1,
    *,
    output_size: Sequence[int] | None = None,
    method: str = "auto",
):
    """:func:`tconv.conv_transpose_vjp` with Dask ``grad_output`` and ``x``: ``grad_x`` lazy and
    chunked like ``x``; ``grad_weight`` and ``grad_bias`` tree reductions over the blocks,
    computed to NumPy.

    >>> import numpy as np, dask.array as da
    >>> x = da.ones((1, 1, 6), chunks=2)
    >>> gx, gw, gb = conv_transpose_vjp(da.ones((1, 1, 7), chunks=3), x, np.ones((1, 1, 2)), np.zeros(1))
    >>> gx.chunks == x.chunks, gw.tolist(), gb.tolist()
    (True, [[[6.0, 6.0]]], [7.0])
    """
    call = Call("conv_transpose", stride, padding, output_padding, groups, dilation, output_size, method)
    return vjp(call, grad_output, x, weight, bias)


def conv_vjp(
    grad_output,
    x,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: IntOrSeq = 1,
    padding: PadSpec = 0,
    dilation: IntOrSeq = 1,
    groups: int = 1,
    *,
    method: str = "auto",
):
    """:func:`tconv.conv_vjp` with Dask ``grad_output`` and ``x`` (results as :func:`conv_transpose_vjp`)."""
    return vjp(Call("conv", stride, padding, 0, groups, dilation, None, method), grad_output, x, weight, bias)
