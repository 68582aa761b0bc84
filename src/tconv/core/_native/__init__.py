"""tconv's compiled core: packed GEMM micro-kernels and the direct convolutions (:func:`direct`,
:func:`im2col`, :func:`col2im`) per instruction set, and one thread pool.

The extension ``tconv.core._native._tconv`` is optional. When it did not build (no C compiler)
or ``TCONV_NATIVE=0`` is set, :func:`available` is ``False``, :func:`info` says why, and tconv
runs its NumPy/SciPy path. The instruction set is chosen once at import from cpuid (the best
of ``avx512``, ``avx2``, ``generic`` the CPU and the operating system support);
``TCONV_ISA=avx512|avx2|generic`` forces one, and a set the CPU lacks is refused with a
:class:`~tconv.errors.TconvError` at import. The pool's size comes from :func:`set_num_threads`,
else ``TCONV_NUM_THREADS``, else the CPUs this process may run on.

>>> import numpy as np
>>> from tconv.core import _native
>>> if _native.available():
...     c = _native.gemm(np.ones((3, 4), np.float32), np.ones((4, 5), np.float32))
...     print(c[0, 0], c.shape)
... else:
...     print(4.0, (3, 5))
4.0 (3, 5)
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from ...errors import TconvError, TconvTypeError

__all__ = ["available", "state", "info", "isas", "get_isa", "set_isa", "use_isa", "hold", "set_num_threads",
           "get_num_threads", "gemm", "fma_peak", "ISAS", "disabled", "direct", "brgemm", "im2col", "col2im",
           "release_scratch"]

#: every instruction set the extension is built for, best first
ISAS = ("avx512", "avx2", "generic")

_ext: Any = None
_reason: str | None = None

if os.environ.get("TCONV_NATIVE", "").strip() == "0":
    _reason = "disabled by TCONV_NATIVE=0"
else:
    try:
        _ext = importlib.import_module(f"{__name__}._tconv")
    except ImportError as exc:  # not built: no compiler at install time, or a partial checkout
        _reason = f"the extension tconv.core._native._tconv is not built ({exc})"


def _apply_env_isa() -> None:
    """``TCONV_ISA`` forces an instruction set; one that is unknown or missing is an error."""
    name = os.environ.get("TCONV_ISA", "").strip()
    if not name or _ext is None:
        return
    if name not in ISAS:
        raise TconvError(f"TCONV_ISA={name!r} is not an instruction set; use one of {', '.join(ISAS)}")
    if name not in _ext.isas():
        raise TconvError(f"TCONV_ISA={name!r}: this CPU lacks it (it runs {', '.join(_ext.isas())})")
    _ext.set_isa(name)


_apply_env_isa()


_switched_off = False  # disabled(): the NumPy fallbacks run although the extension is built


def available() -> bool:
    """``True`` when the compiled core is built and enabled.

    >>> isinstance(available(), bool)
    True
    """
    return _ext is not None and not _switched_off


def state() -> tuple:
    """What runs now, as one hashable tuple: ``(False,)`` without the extension, else whether it is
    switched off (:func:`disabled`), the instruction set and the pool's size (the caches of plans key
    on it, so :func:`set_isa` or :func:`set_num_threads` take effect at the next call).

    >>> state() == state()
    True
    """
    if _ext is None:
        return (False,)
    return (_switched_off, _ext.get_isa(), _ext.get_num_threads())


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Context manager: :func:`available` is ``False`` inside, so the algorithms run their NumPy
    fallbacks (as with ``TCONV_NATIVE=0``); process-wide, meant for tests and benchmarks (the
    planner's cache keys on :func:`state`, so plans made inside are made for the fallbacks).

    >>> with disabled():
    ...     available()
    False
    """
    global _switched_off
    before = _switched_off
    _switched_off = True
    try:
        yield
    finally:
        _switched_off = before


def _require() -> Any:
    if _ext is None:
        raise TconvError(f"the compiled core is unavailable: {_reason}")
    return _ext


def isas() -> list[str]:
    """The instruction sets this CPU (and its OS) can run, best first; ``[]`` when unavailable.

    >>> set(isas()) <= set(ISAS)
    True
    """
    return list(_ext.isas()) if _ext is not None else []


def get_isa() -> str | None:
    """The instruction set in use, or ``None`` when the compiled core is unavailable."""
    return _ext.get_isa() if _ext is not None else None


def set_isa(name: str) -> None:
    """Use the instruction set ``name`` (``"avx512"``, ``"avx2"`` or ``"generic"``) from now on.

    Process-wide: meant for tests and benchmarks. Raises :class:`TconvError` for a name that is
    not an instruction set or one this CPU lacks.

    >>> if available():
    ...     set_isa(isas()[-1]); print(get_isa()); set_isa(isas()[0])
    ... else:
    ...     print("generic")
    generic
    """
    ext = _require()
    if not isinstance(name, str) or name not in ISAS:
        raise TconvError(f"isa={name!r} is not an instruction set; use one of {', '.join(ISAS)}")
    if name not in ext.isas():
        raise TconvError(f"isa={name!r} is not supported by this CPU (it runs {', '.join(ext.isas())})")
    ext.set_isa(name)


@contextlib.contextmanager
def use_isa(name: str) -> Iterator[None]:
    """Context manager: :func:`set_isa` inside, the previous instruction set restored after."""
    before = get_isa()
    set_isa(name)
    try:
        yield
    finally:
        _ext.set_isa(before)


def hold():
    """Context manager for one call made of several parallel loops with serial work between them
    (the gemm algorithm's GEMMs and col2im): the pool's idle workers keep spinning until it exits
    instead of falling asleep between the loops (a sleeping worker takes tens of microseconds to
    wake, per loop); after it they spin briefly and sleep, as after any call.

    >>> with hold():
    ...     pass
    """
    return _Holding()


class _Holding:
    __slots__ = ("held",)

    def __enter__(self) -> None:
        self.held = available()
        if self.held:
            _ext.pool_hold(1)

    def __exit__(self, *exc) -> None:
        if self.held:
            _ext.pool_hold(-1)


def set_num_threads(n: int) -> None:
    """Size the thread pool (the calling thread counts as one); takes effect at the next call.

    >>> if available():
    ...     before = get_num_threads(); set_num_threads(1); print(get_num_threads()); set_num_threads(before)
    ... else:
    ...     print(1)
    1
    """
    ext = _require()
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TconvTypeError(f"threads={n!r} must be an int")
    if not 1 <= n <= 256:
        raise TconvError(f"threads={n}: need 1 <= threads <= 256")
    ext.set_num_threads(int(n))


def get_num_threads() -> int:
    """The pool's size (1 when the compiled core is unavailable)."""
    return _ext.get_num_threads() if _ext is not None else 1


def release_scratch() -> int:
    """Frees the calling thread's kept call buffers (the weights packed for a call, brgemm's input copy:
    up to 32 MiB each, kept so that the next call reuses them); returns the bytes freed (0 without the
    compiled core). The next call on this thread allocates them again.

    >>> release_scratch() >= 0
    True
    """
    return int(_ext.release_scratch()) if _ext is not None else 0


def info() -> dict[str, Any]:
    """What runs: availability, the instruction set chosen and those supported, the pool size,
    the register tiles and cache blocks, and why the core is unavailable when it is.

    >>> sorted(info())
    ['available', 'debug_build', 'isa', 'isas', 'kernels', 'reason', 'threads']
    """
    if _ext is None or _switched_off:
        return {"available": False, "isa": None, "isas": [], "threads": 1, "kernels": {},
                "debug_build": False, "reason": _reason or "switched off by tconv.core._native.disabled()"}
    return {"available": True, "isa": _ext.get_isa(), "isas": list(_ext.isas()),
            "threads": _ext.get_num_threads(),
            "kernels": {"float32": _ext.kernel_info("f"), "float64": _ext.kernel_info("d")},
            "debug_build": bool(_ext.debug_build), "reason": None}


def _check_matrix(name: str, x: Any) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise TconvTypeError(f"{name}: expected a numpy.ndarray, got {type(x).__name__}")
    if x.dtype not in (np.float32, np.float64):
        raise TconvTypeError(f"{name}: dtype {x.dtype} is not supported; use float32 or float64")
    if x.ndim != 2:
        raise TconvError(f"{name}: expected a 2-D array, got shape {x.shape}")
    if any(s % x.itemsize for s in x.strides):
        raise TconvError(f"{name}: strides {x.strides} are not multiples of the item size {x.itemsize}")
    return x


def gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None, *, alpha: float = 1.0,
         beta: float = 0.0, threads: int | None = None) -> np.ndarray:
    """``out = alpha * a @ b + beta * out`` with the packed micro-kernels of the current ISA.

    ``a`` (m, k), ``b`` (k, n) and ``out`` (m, n) are float32 or float64 arrays of one dtype, with
    any strides (transposed views included); ``beta`` is 0 (``out`` is not read, so NaN there does
    not propagate) or 1; ``out`` must not share memory with ``a`` or ``b``. ``threads=None`` uses
    the pool's size; small products run on the calling thread alone. The GIL is released.

    >>> import numpy as np
    >>> if available():
    ...     a = np.arange(6.0).reshape(2, 3); c = gemm(a, a.T); print(c.tolist())
    ... else:
    ...     print([[5.0, 14.0], [14.0, 50.0]])
    [[5.0, 14.0], [14.0, 50.0]]
    """
    ext = _require()
    a = _check_matrix("a", a)
    b = _check_matrix("b", b)
    if a.dtype != b.dtype:
        raise TconvTypeError(f"a, b: dtypes {a.dtype} and {b.dtype} differ; use one of float32, float64")
    if a.shape[1] != b.shape[0]:
        raise TconvError(f"a, b: shapes {a.shape} @ {b.shape} do not chain (a.shape[1] must equal b.shape[0])")
    if beta not in (0, 1) or isinstance(beta, bool):
        raise TconvError(f"beta={beta!r}: only 0 and 1 are supported")
    if not isinstance(alpha, (int, float, np.floating, np.integer)) or isinstance(alpha, bool):
        raise TconvTypeError(f"alpha={alpha!r} must be a real number")
    shape = (a.shape[0], b.shape[1])
    if out is None:
        if beta != 0:
            raise TconvError("beta=1 needs out= (the array to accumulate into)")
        out = np.empty(shape, a.dtype)
    else:
        _check_matrix("out", out)
        if out.dtype != a.dtype:
            raise TconvTypeError(f"out: dtype {out.dtype} differs from a's {a.dtype}")
        if out.shape != shape:
            raise TconvError(f"out: shape {out.shape}, the product has shape {shape}")
        if not out.flags.writeable:
            raise TconvError("out: the array is read-only")
        if out.size and (np.shares_memory(out, a) or np.shares_memory(out, b)):
            raise TconvError("out: must not share memory with a or b")
    if threads is None:
        threads = 0
    elif isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise TconvError(f"threads={threads!r}: need an int >= 1 (or None for the pool's size)")
    ext.gemm(a, b, out, float(alpha), float(beta), int(threads))
    return out


def fma_peak(dtype: Any = np.float32, threads: int = 1, seconds: float = 0.2) -> float:
    """The machine's FMA peak in GFLOP/s for the current ISA: independent FMA chains (enough to
    hide the latency on every FMA port), run on ``threads`` threads for about ``seconds``."""
    ext = _require()
    code = {np.dtype(np.float32): "f", np.dtype(np.float64): "d"}.get(np.dtype(dtype))
    if code is None:
        raise TconvTypeError(f"dtype={dtype!r}: use float32 or float64")
    iters = 1 << 16
    while True:
        t0 = time.perf_counter()
        flops, used = ext.fma_chain(code, iters, int(threads))
        dt = time.perf_counter() - t0
        if dt >= seconds or iters >= 1 << 40:
            return flops / dt / 1e9
        iters = int(iters * max(2.0, 1.2 * seconds / max(dt, 1e-6)))


# ---- the direct convolutions and im2col/col2im (issue 19) ----

_ACC = {"float32": 0, "float32-wide": 1, "float64": 2}
_OPS = {"conv_transpose": "t", "conv": "c", "weight_grad": "w"}


def _check_5d(name: str, x: Any, dtype: np.dtype | None, ndim: int = 5, write: bool = False) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise TconvTypeError(f"{name}: expected a numpy.ndarray, got {type(x).__name__}")
    if x.dtype not in (np.float32, np.float64) or (dtype is not None and x.dtype != dtype):
        want = dtype if dtype is not None else "float32 or float64"
        raise TconvTypeError(f"{name}: dtype {x.dtype}, need {want}")
    if x.ndim != ndim:
        raise TconvError(f"{name}: expected {ndim} dimensions, got shape {x.shape}")
    if not x.flags.c_contiguous:
        raise TconvError(f"{name}: the array must be C-contiguous")
    if write and not x.flags.writeable:
        raise TconvError(f"{name}: the array is read-only")
    return x


_LIMIT = 2**61


def _check_params(params: Any) -> tuple[int, ...]:
    """(groups, s0, s1, s2, d0, d1, d2, lo0, lo1, lo2) as Python ints in range."""
    if type(params) is tuple and len(params) == 10:  # the per-call path: a geometry's ints, checked in a loop
        for i, v in enumerate(params):
            if type(v) is not int or not ((v >= 1 if i == 0 else 1 <= v < _LIMIT) if i < 7 else -_LIMIT < v < _LIMIT):
                break
        else:
            return params
    if not isinstance(params, (tuple, list)) or len(params) != 10:
        raise TconvError(f"params={params!r}: need (groups, 3 strides, 3 dilations, 3 pads)")
    if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in params):
        raise TconvTypeError(f"params={params!r}: every entry must be an int")
    out = tuple(int(v) for v in params)
    if out[0] < 1 or any(not 1 <= v < 2**61 for v in out[1:7]) or any(abs(v) >= 2**61 for v in out[7:]):
        raise TconvError(f"params={out}: need groups >= 1, 1 <= strides, dilations < 2**61, |pads| < 2**61")
    return out


def _check_threads(threads: int | None) -> int:
    if threads is None:
        return 0
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or not 1 <= threads <= 256:
        raise TconvError(f"threads={threads!r}: need an int from 1 to 256 (or None for the pool's size)")
    return int(threads)


def direct(op: str, a: np.ndarray, b: np.ndarray, out: np.ndarray, params: tuple[int, ...], *,
           wide: bool = False, threads: int | None = None) -> np.ndarray:
    """One direct convolution on the canonical 3-D form, written into ``out`` (fully overwritten).

    ``op`` is ``"conv_transpose"`` (``a`` = y ``(N, Cy, m0, m1, m2)``, ``b`` = w
    ``(Cy, Cx/groups, k0, k1, k2)``, ``out`` = x ``(N, Cx, n0, n1, n2)``), ``"conv"`` (``a`` = x,
    ``b`` = w, ``out`` = y) or ``"weight_grad"`` (``a`` = y, ``b`` = x, ``out`` = w); ``params`` is
    ``(groups, s0, s1, s2, d0, d1, d2, lo0, lo1, lo2)`` (x-side position ``p = j*s + t*d - lo``).
    All float32 or all float64, C-contiguous; ``wide=True`` sums float32 data in float64 (the
    weight gradient always does). ``threads=None``: the pool's size. The GIL is released.

    >>> import numpy as np
    >>> if available():
    ...     out = np.empty((1, 1, 1, 1, 4)); p = (1, 1, 1, 2, 1, 1, 1, 0, 0, 0)
    ...     print(direct("conv_transpose", np.ones((1, 1, 1, 1, 2)), np.ones((1, 1, 1, 1, 2)), out, p).ravel())
    ... else:
    ...     print(np.ones(4))
    [1. 1. 1. 1.]
    """
    ext = _require()
    code, a, b, out, params = _direct_args(op, a, b, out, params, _OPS)
    acc = "float64" if a.dtype == np.float64 else ("float32-wide" if wide else "float32")
    ext.direct(code, a, b, out, params, _ACC[acc], _check_threads(threads))
    return out


def brgemm(op: str, a: np.ndarray, b: np.ndarray, out: np.ndarray, params: tuple[int, ...], *,
           threads: int | None = None) -> np.ndarray:
    """``conv`` or ``conv_transpose`` as :func:`direct` takes them (the same arrays and ``params``),
    computed by ``brgemm.c``: a channels-last copy of the input, read in place by the register tiles,
    against the weights packed once per call; float32 sums in float32. ``out`` is fully overwritten.

    >>> import numpy as np
    >>> if available():
    ...     out = np.empty((1, 1, 1, 1, 4)); p = (1, 1, 1, 2, 1, 1, 1, 0, 0, 0)
    ...     print(brgemm("conv_transpose", np.ones((1, 1, 1, 1, 2)), np.ones((1, 1, 1, 1, 2)), out, p).ravel())
    ... else:
    ...     print(np.ones(4))
    [1. 1. 1. 1.]
    """
    ext = _require()
    code, a, b, out, params = _direct_args(op, a, b, out, params, _BRGEMM_OPS)
    ext.brgemm(code, a, b, out, params, _ACC["float64" if a.dtype == np.float64 else "float32"],
               _check_threads(threads))
    return out


_BRGEMM_OPS = {"conv_transpose": "t", "conv": "c"}


def _direct_args(op, a, b, out, params, ops):
    """:func:`direct`'s and :func:`brgemm`'s arguments checked: ``(code, a, b, out, params)``."""
    code = ops.get(op) if isinstance(op, str) else None
    if code is None:
        raise TconvError(f"op={op!r}: use one of {', '.join(ops)}")
    a = _check_5d("a", a, None)
    b = _check_5d("b", b, a.dtype)
    out = _check_5d("out", out, a.dtype, write=True)
    groups = _check_params(params)[0]
    y, x, w = {"t": (a, out, b), "c": (out, a, b), "w": (a, b, out)}[code]
    if y.shape[0] != x.shape[0]:
        raise TconvError(f"batch: the y side has {y.shape[0]} samples, the x side {x.shape[0]}")
    if w.shape[0] != y.shape[1] or y.shape[1] % groups or w.shape[1] * groups != x.shape[1]:
        raise TconvError(f"channels: y side {y.shape[1]}, x side {x.shape[1]}, weight {w.shape[:2]}, "
                         f"groups {groups}: the weight must be (y side, x side / groups)")
    if out.size and (np.shares_memory(out, a) or np.shares_memory(out, b)):
        raise TconvError("out: must not share memory with the inputs")
    return code, a, b, out, _check_params(params)


def _check_cols(x: np.ndarray, cols: np.ndarray, n_first: int, write_x: bool) -> int:
    x = _check_5d("x" if not write_x else "out", x, None, write=write_x)
    cols = _check_5d("cols", cols, x.dtype, ndim=8, write=not write_x)
    if isinstance(n_first, bool) or not isinstance(n_first, (int, np.integer)):
        raise TconvTypeError(f"n_first={n_first!r} must be an int")
    if cols.shape[0] != x.shape[1]:
        raise TconvError(f"cols: {cols.shape[0]} channels, the image has {x.shape[1]}")
    if not 0 <= n_first <= x.shape[0] - cols.shape[4]:
        raise TconvError(f"n_first={n_first} with {cols.shape[4]} samples: beyond the batch of {x.shape[0]}")
    if x.size and cols.size and np.shares_memory(x, cols):
        raise TconvError("x, cols: must not share memory")
    return int(n_first)


def im2col(x: np.ndarray, cols: np.ndarray, n_first: int, params: tuple[int, ...], *,
           threads: int | None = 1) -> np.ndarray:
    """``cols[c, t0, t1, t2, b, j] = x[n_first + b, c, j*s + t*d - lo]`` (zero out of range):
    ``x`` ``(N, C, n0, n1, n2)``, ``cols`` ``(C, k0, k1, k2, B, m0, m1, m2)``, fully overwritten;
    ``params`` as for :func:`direct` (groups ignored)."""
    ext = _require()
    n_first = _check_cols(x, cols, n_first, write_x=False)
    ext.im2col(x, cols, n_first, _check_params(params), _check_threads(threads))
    return cols


def col2im(cols: np.ndarray, out: np.ndarray, n_first: int, params: tuple[int, ...], *,
           threads: int | None = 1) -> np.ndarray:
    """The adjoint of :func:`im2col`: ``out[n_first + b, c, p] = sum_t cols[c, t, b, j]`` over the
    ``(t, j)`` with ``p = j*s + t*d - lo``; the planes ``n_first .. n_first + B`` of ``out``
    are overwritten, the others untouched."""
    ext = _require()
    n_first = _check_cols(out, cols, n_first, write_x=True)
    ext.col2im(cols, out, n_first, _check_params(params), _check_threads(threads))
    return out


def compact(flat: np.ndarray, lead: int, padded: tuple[int, int, int], lo: tuple[int, int, int],
            shape: tuple[int, int, int]) -> np.ndarray:
    """Move the interior ``[lo, lo + shape)`` of the ``lead`` padded volumes ``padded`` stored in the
    C-contiguous, writable 1-D ``flat`` to its front, in C order (``flat`` is overwritten)."""
    ext = _require()
    if not isinstance(flat, np.ndarray) or flat.ndim != 1 or not flat.flags.c_contiguous or not flat.flags.writeable:
        raise TconvTypeError("compact: flat must be a writable C-contiguous 1-D array")
    nums = [int(lead), *map(int, padded), *map(int, lo), *map(int, shape)]
    if len(nums) != 10 or min(nums) < 0 or any(a + n > p for a, n, p in zip(lo, shape, padded)):
        raise TconvError(f"compact: interior {tuple(lo)} + {tuple(shape)} does not fit in {tuple(padded)}")
    if lead * math.prod(padded) > flat.size:
        raise TconvError(f"compact: {lead} volumes of {tuple(padded)} exceed the buffer of {flat.size} elements")
    ext.compact(flat, *nums, flat.itemsize)
    return flat
