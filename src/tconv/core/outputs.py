"""Large outputs recycled once their caller has dropped them (no array data of its own otherwise).

glibc maps a block of 32 MiB or more afresh on every allocation, and the kernel zeroes each of its
pages at first touch: for an output of that size, written once by the compiled core, the zeroing is
as much as 14% of the call (L3, a 33 MiB output; ``clear_page_erms`` in ``perf``), and ONNX Runtime,
whose arena keeps its buffers, does not pay it. Smaller blocks come back from malloc's free lists
already touched, so only outputs of at least :data:`RECYCLE_MIN` bytes go through here.

:func:`empty` returns a view of a kept byte buffer when no array still refers to it (its reference
count is back to the cache's own: the caller dropped the output and every view of it), else a new
buffer, kept while the kept bytes stay within :data:`RECYCLE_MAX_BYTES`. The result is
``np.empty``'s (uninitialised; the algorithms write every element), except that it is a view
(``out.base`` is the buffer). :func:`release` frees the buffers no array uses.

>>> a = empty((1024, 8192), np.float32)       # 32 MiB: a kept buffer
>>> a.shape, a.dtype.name
((1024, 8192), 'float32')
>>> b = empty((1024, 8192), np.float32)       # a is alive: another buffer
>>> np.shares_memory(a, b)
False
>>> p = a.__array_interface__["data"][0]; del a
>>> empty((8192, 1024), np.float32).__array_interface__["data"][0] == p   # a's buffer again
True
>>> release()
"""

from __future__ import annotations

import math
import os
import sys
import threading

import numpy as np

from . import _native

__all__ = ["empty", "release", "RECYCLE_MIN", "RECYCLE_MAX_BYTES"]

#: outputs at least this large are recycled (glibc's largest mmap threshold, 32 MiB)
RECYCLE_MIN = 32 << 20
#: the most bytes kept in all (buffers in use included)
RECYCLE_MAX_BYTES = 256 << 20

_LOCK = threading.Lock()
_KEPT: list[np.ndarray] = []   # 1-D uint8 buffers


def _after_fork_in_child() -> None:
    """A forked child starts with no kept buffers and a fresh lock (a thread of the parent may have
    held it at the fork: the child must not wait for a thread it does not have)."""
    global _LOCK
    _LOCK = threading.Lock()
    _KEPT.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _free(i: int) -> bool:
    """Whether nothing but the cache refers to ``_KEPT[i]`` (the list and getrefcount's argument)."""
    return sys.getrefcount(_KEPT[i]) <= 2


def empty(shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialised array of ``shape`` and ``dtype``, recycled when large (see the module)."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < RECYCLE_MIN:
        return np.empty(shape, dtype)
    with _LOCK:
        for i in range(len(_KEPT)):
            if _KEPT[i].nbytes == nbytes and _free(i):
                return _KEPT[i].view(dtype).reshape(shape)
        kept = sum(b.nbytes for b in _KEPT)
        for i in reversed(range(len(_KEPT))):  # make room: drop unused buffers of other sizes
            if kept + nbytes <= RECYCLE_MAX_BYTES:
                break
            if _free(i):
                kept -= _KEPT.pop(i).nbytes
        if kept + nbytes > RECYCLE_MAX_BYTES:
            return np.empty(shape, dtype)
        buf = np.empty(nbytes, np.uint8)
        _KEPT.append(buf)
        return buf.view(dtype).reshape(shape)


def release() -> None:
    """Frees the kept buffers that no array uses, and the calling thread's kept call buffers of the
    compiled core (:func:`tconv.core._native.release_scratch`)."""
    with _LOCK:
        used = [i for i in range(len(_KEPT)) if not _free(i)]
        _KEPT[:] = [_KEPT[i] for i in used]
    _native.release_scratch()
