"""Normalising user parameters into canonical per-axis tuples (no array data here)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from ..errors import TconvError, TconvTypeError

PadSpec = int | str | Sequence[int] | Sequence[Sequence[int]]


def _is_int(v: object) -> bool:
    """A Python or NumPy integer, or a 0-d integer array (``np.array(2)``); never a bool."""
    if isinstance(v, np.ndarray):
        return v.ndim == 0 and v.dtype.kind in "iu"
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _type_name(v: object) -> str:
    return type(v).__name__


def shown(value: object, limit: int = 60) -> str:
    """``value`` as a message shows it: arrays (and tensors) by shape and dtype, never their contents;
    anything else by its ``repr``, cut at ``limit`` characters.

    >>> shown(np.zeros((512, 512))), shown((1, 2)), shown(list(range(100)))[-8:]
    ('<array of shape (512, 512), dtype float64>', '(1, 2)', '15, ...]')
    """
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if shape is not None and dtype is not None and not isinstance(value, np.generic):
        if len(tuple(shape)) == 0:
            return f"{type(value).__name__}({value.item()!r})" if hasattr(value, "item") else repr(value)
        return f"<{type(value).__name__} of shape {tuple(shape)}, dtype {dtype}>".replace("ndarray", "array")
    text = repr(value)
    if len(text) > limit:
        cut = text[:limit - 5].rsplit(",", 1)[0] if "," in text[:limit - 5] else text[:limit - 5]
        text = cut + ", ..." + text[-1] if text[-1] in ")]}" else text[:limit - 3] + "..."
    return text


def as_int(name: str, value: object, minimum: int | None = None) -> int:
    """``value`` as a Python int, rejecting bools, floats and strings."""
    if not _is_int(value):
        raise TconvTypeError(f"{name}={shown(value)} must be an int, got {_type_name(value)}")
    v = int(value)  # type: ignore[arg-type]
    if minimum is not None and v < minimum:
        rule = "positive" if minimum == 1 else f">= {minimum}"
        raise TconvError(f"{name}={v} must be {rule}")
    return v


def per_axis(name: str, value: object, nd: int, minimum: int) -> tuple[int, ...]:
    """An int or a sequence of ``nd`` ints, as a tuple of ``nd`` ints >= ``minimum``."""
    if _is_int(value):
        return (as_int(name, value, minimum),) * nd
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        raise TconvTypeError(
            f"{name}={shown(value)} must be an int or a sequence of {nd} ints, got {_type_name(value)}"
        )
    items = [int(v) if _is_int(v) else v for v in value]
    # a 1-D int array is parameter values; any other array is data: shape and dtype only
    text = shown(value) if isinstance(value, np.ndarray) and (value.ndim != 1 or value.dtype.kind not in "iu") else (
        shown(tuple(items)))
    if len(items) != nd:
        raise TconvError(
            f"{name}={text} has {len(items)} entries but there "
            f"{'is 1 spatial axis' if nd == 1 else f'are {nd} spatial axes'}; "
            f"give one int or {nd} ints"
        )
    out = []
    for v in items:
        if not _is_int(v):
            raise TconvTypeError(
                f"{name}={text} must contain ints, got {shown(v)} ({_type_name(v)})"
            )
        out.append(int(v))
    for v in out:
        if v < minimum:
            rule = "positive" if minimum == 1 else f">= {minimum}"
            raise TconvError(f"{name}={tuple(out)!r}: every entry must be {rule}")
    return tuple(out)


def parse_padding(value: object, nd: int) -> str | tuple[tuple[int, int], ...]:
    """``"valid"``, ``"same"`` or one non-negative ``(lo, hi)`` pair per axis."""
    if isinstance(value, str):
        v = value.lower()
        if v not in ("valid", "same"):
            raise TconvError(
                f"padding={shown(value)} is not a known padding string; use 'valid', 'same', "
                "an int, one int per axis or one (lo, hi) pair per axis"
            )
        return v
    if _is_int(value):
        p = as_int("padding", value, 0)
        return ((p, p),) * nd
    if not isinstance(value, (Sequence, np.ndarray)) or isinstance(value, bytes):
        raise TconvTypeError(
            f"padding={shown(value)} must be an int, a sequence, 'valid' or 'same', "
            f"got {_type_name(value)}"
        )
    items = list(value)
    if len(items) != nd:
        raise TconvError(
            f"padding={shown(value)} has {len(items)} entries but there "
            f"{'is 1 spatial axis' if nd == 1 else f'are {nd} spatial axes'}; "
            "give one int or one (lo, hi) pair per axis"
        )
    pairs = []
    for item in items:
        if _is_int(item):
            lo = hi = item
        elif isinstance(item, (Sequence, np.ndarray)) and not isinstance(item, (str, bytes)) and len(item) == 2:
            lo, hi = item
        elif is_number(item):
            raise TconvTypeError(
                f"padding={shown(value)} must contain ints, got {shown(item)} ({_type_name(item)})"
            )
        else:
            raise TconvError(
                f"padding={shown(value)}: entry {shown(item)} must be an int or a (lo, hi) pair"
            )
        for v in (lo, hi):
            if not _is_int(v):
                raise TconvTypeError(
                    f"padding={shown(value)} must contain ints, got {shown(v)} ({_type_name(v)})"
                )
            if v < 0:
                raise TconvError(f"padding={shown(value)}: padding must be >= 0, got {int(v)}")
        pairs.append((int(lo), int(hi)))
    return tuple(pairs)


def as_float_array(name: str, value: object) -> np.ndarray:
    """An array of float32 or float64; integers (and float16) are promoted.

    Complex, boolean, object and string arrays are rejected.
    """
    arr = read_array(name, value)
    kind = arr.dtype.kind
    if kind == "c":
        raise TconvTypeError(f"{name} has complex dtype {arr.dtype}; only real arrays are supported")
    if kind == "b":
        raise TconvTypeError(f"{name} has boolean dtype; give a numeric array")
    if kind in "iu":
        return arr.astype(np.float64)
    if kind == "f":
        if arr.dtype in (np.float32, np.float64):
            return arr
        # float16 computes in float32; byte-swapped ('>f4') float32/float64 keep their precision
        return arr.astype(np.float32 if arr.dtype.itemsize <= 4 else np.float64)
    raise TconvTypeError(f"{name} has non-numeric dtype {arr.dtype}; give a real numeric array")


def shape_standin(shape, dtype) -> np.ndarray:
    """An array of ``shape`` and ``dtype`` that takes no memory (a broadcast zero): the shape checks of
    the core's setup run on it without reading the data (a Dask array's, which stays lazy).

    >>> shape_standin((2, 3), np.float32).strides
    (0, 0)
    """
    return np.broadcast_to(np.zeros((), dtype), shape)


def read_array(name: str, value: object) -> np.ndarray:
    """``np.asarray(value)`` (no copy where NumPy needs none), with a clear error for what it
    cannot read: ``None``, a tensor that requires grad, ragged nested lists, a masked array with
    masked entries (they have no value). Subclasses (``np.matrix``, ``np.memmap``, a masked array
    without masked entries) are read as plain ndarrays (a view)."""
    if type(value) is np.ndarray:
        return value
    if isinstance(value, np.ma.MaskedArray):
        masked = int(np.ma.getmaskarray(value).sum())
        if masked:
            raise TconvTypeError(f"{name} is a masked array with {masked} masked entries, which have no value; "
                                 f"fill them first (e.g. {name}.filled(0))")
        return np.asarray(value.data)
    if isinstance(value, np.ndarray):
        return np.asarray(value)
    if value is None:
        raise TconvTypeError(f"{name} is None; give an array")
    try:
        return np.asarray(value)
    except (ValueError, TypeError, RuntimeError) as exc:
        hint = " (a tensor that requires grad: pass tensor.detach())" if hasattr(value, "requires_grad") else ""
        raise TconvTypeError(
            f"{name} of type {type(value).__name__} could not be read as a NumPy array{hint}: {exc}"
        ) from None


def is_number(v: object) -> bool:
    return isinstance(v, numbers.Number)
