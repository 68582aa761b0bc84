"""The per-call cache: a repeated plain call goes public function -> one dict look-up -> one prepared call.

Everything a plain ``conv`` / ``conv_transpose`` call works out before its kernel runs depends only on
what :func:`key` collects: the arrays' types, dtypes, shapes and strides, the parameters as given
(their types too), the options (:func:`tconv.core.options.state`) and the compiled core's state (on or
off, instruction set, pool size). A call whose key has no plan runs the whole path (the conventions
chain, validation, the geometry, the planner, the memory guard); the second such call with one key then
has :func:`remember` store what that path decided as one prepared callable
(:meth:`~tconv.core.algorithms.Algorithm.prepare`: the chosen algorithm with its shape-only work done,
e.g. the direct kernels' geometry checked once in C), and every later call with the key runs only that.
Building a plan costs about as much as the full path, so a key seen only once (shapes that never
repeat) is only noted, not planned.

Only what the full path would accept unchanged comes here (:func:`key` returns ``None`` otherwise, and
the caller takes the full path): NumPy ndarrays (not subclasses) of one native float32 or float64
dtype; parameters that are ints, strings, ``None`` or tuples of ints (or of ``(lo, hi)`` int pairs).
A key is stored only after its call went through validation without an error, so invalid input
always reaches the validation and raises the same :class:`~tconv.TconvError` text. Calls whose memory
guard depends on the memory available at call time (result plus scratch above
:data:`~tconv.core.options.ALWAYS_FITS`, or a limit set with ``max_bytes`` / ``TCONV_MAX_BYTES``) and
empty batches are not stored.

The cache holds at most :data:`MAX_PLANS` entries (the oldest goes first; the keys noted once, at
most four times as many, are forgotten together when full); look-ups and inserts are
single dict operations (safe with many threads calling at once, no lock a fork could leave held);
:func:`clear` empties it. Results are bit-identical to the full path's.

>>> import numpy as np
>>> clear(); x, w = np.ones((1, 1, 4), np.float32), np.ones((1, 1, 3), np.float32)
>>> k = key("conv_transpose", x, w, None, 2, 1, 0, 1, 1, None, "auto")
>>> k is not None, key("conv_transpose", x, w, None, 2.0, 1, 0, 1, 1, None, "auto")
(True, None)
"""

from __future__ import annotations

import numpy as np

from . import _native
from . import options as _options
from .algorithms import Algorithm
from .dispatch import Call, setup
from .planner import choose, output_bytes

__all__ = ["key", "lookup", "remember", "clear", "size", "MAX_PLANS"]

#: the most plans kept (a network's layers times the shapes it sees)
MAX_PLANS = 512

_PLANS: dict = {}
_SEEN: dict = {}  # keys met once (an ordered set)
_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
_NDARRAY = np.ndarray
_LEAF = (int, str, type(None))


def _param_ok(v) -> bool:
    """``v`` keys exactly what validation reads of it: an int, a string, None, or a tuple of ints or
    of int pairs (not bools, floats or NumPy integers, which compare equal to ints)."""
    t = type(v)
    if t in _LEAF:
        return True
    if t is not tuple:
        return False
    for i in v:
        if type(i) is not int and not (type(i) is tuple and all(type(j) is int for j in i)):
            return False
    return True


def key(op: str, x, weight, bias, stride, padding, output_padding, groups, dilation, output_size,
        method) -> tuple | None:
    """The cache key of a plain call (channels first, PyTorch weights, zero padding, default dtype),
    or ``None`` when the call must take the full path (see the module)."""
    if type(x) is not _NDARRAY or type(weight) is not _NDARRAY:
        return None
    dt = x.dtype
    if (dt is not _F32 and dt is not _F64) or weight.dtype is not dt:
        return None
    if bias is None:
        bk = None
    elif type(bias) is _NDARRAY and bias.dtype is dt:
        bk = (bias.shape, bias.strides)
    else:
        return None
    # ints first (the common case, one type test each), then the other forms
    if not ((type(stride) is int or _param_ok(stride)) and (type(padding) is int or _param_ok(padding))
            and (type(output_padding) is int or _param_ok(output_padding)) and type(groups) is int
            and (type(dilation) is int or _param_ok(dilation)) and (output_size is None or _param_ok(output_size))
            and type(method) is str):
        return None
    ext = _native._ext  # _native.state(), inline
    return (op, dt is _F64, x.shape, x.strides, weight.shape, weight.strides, bk, stride, padding, output_padding,
            groups, dilation, output_size, method, _options.state(),
            (False,) if ext is None else (_native._switched_off, ext.get_isa(), ext.get_num_threads()))


#: ``lookup(k)``: the prepared call for key ``k`` (a callable ``(x, weight, bias) -> result``), or None
lookup = _PLANS.get


def _contiguous(*arrays) -> bool:
    return all(a is None or a.flags.c_contiguous for a in arrays)


def remember(k: tuple, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, call: Call) -> None:
    """After ``call`` on these arrays went through the full path without an error: note key ``k`` the
    first time, store its prepared call the second (nothing is stored when that path's decisions are not
    a function of ``k``)."""
    if k not in _SEEN:  # the first call with this key: noted only
        if len(_SEEN) >= 4 * MAX_PLANS:
            _SEEN.clear()
        _SEEN[k] = None
        return
    _SEEN.pop(k, None)
    if _options.state() != k[-2] or _native.state() != k[-1]:
        return  # the options changed while the call ran
    limit_set = k[-2][0] is not None or k[-2][3] is not None
    xa, w, b, batched, geom = setup(call, x, weight, bias)
    n, op = xa.shape[0], call.op
    if n == 0 or limit_set:
        return
    algo = choose(call.method, geom, n, xa.dtype, op)
    nbytes = output_bytes(geom, n, xa.dtype.itemsize, op) + algo.scratch_bytes(geom, n, xa.dtype.itemsize, op)
    if nbytes > _options.ALWAYS_FITS:
        return
    if _contiguous(xa, w, b):
        run = algo.prepare(op, geom, n, xa.dtype)
    else:  # the default: the algorithm's own run, which takes any strides
        run = Algorithm.prepare(algo, op, geom, n, xa.dtype)
    if batched:
        plan = run
    else:
        def plan(x, weight, bias, run=run):
            return run(x[None], weight, bias)[0]
    if len(_PLANS) >= MAX_PLANS:
        try:
            del _PLANS[next(iter(_PLANS))]
        except (KeyError, RuntimeError, StopIteration):  # another thread evicted it first
            pass
    _PLANS[k] = plan


def clear() -> None:
    """Forget every prepared call and noted key (each key takes the full path again, twice)."""
    _PLANS.clear()
    _SEEN.clear()


def size() -> int:
    """How many prepared calls are kept."""
    return len(_PLANS)
