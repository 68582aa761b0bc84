"""What the machine offers, probed in one place: CPU features, the BLAS rate the cost
models use, and tconv's thread policy and threading layer.

* **BLAS rate.** The planner must choose the same algorithm for the same geometry every
  time on one machine, so its GEMM rate is not timed on each start (timing noise flipped
  choices between processes): it is looked up from the OpenBLAS kernel family in use and
  the number of threads, a table fitted on this project's machines. ``explain(...,
  measure=True)`` times the real algorithms instead, when asked.
* **Threads.** :func:`threads_for` is the one rule for how many threads a call gets: one
  below :data:`MIN_WORK_PER_THREAD` multiply-adds per thread, at most the CPUs this process may
  use (or ``tconv.set_options(threads=...)``). The numba kernels run on numba's threads with a
  threading layer that is safe after ``fork()`` and under concurrent calls: Intel TBB (the
  ``tbb`` wheel, loaded from the environment); where it is missing, numba's ``workqueue``
  layer (fork-safe) with the parallel calls serialised by a lock (it is not thread-safe). GNU
  OpenMP, which kills a forked child that uses it, is never loaded by tconv.

>>> threads_for(10)
1
>>> cpu_count() >= 1
True
"""

from __future__ import annotations

import os
import sys
import threading
from functools import cache

from .options import thread_cap

__all__ = ["cpu_count", "cpu_has_avx512", "blas_rates", "threads_for", "parallel_rows",
           "threading_layer", "MIN_WORK_PER_THREAD", "native_summary"]

#: multiply-adds below which a second thread costs more than it saves (~40-100 us of work)
MIN_WORK_PER_THREAD = 1 << 19


def cpu_count() -> int:
    """CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@cache
def cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_avx512() -> bool:
    return "avx512f" in cpu_flags()


# float32 GEMM FLOP/s per thread by OpenBLAS kernel family (2-core VMs of this project:
# SkylakeX ~450 GFLOP/s on 2 cores, Haswell/Zen kernels ~240); float64 is half
_PER_THREAD_F32 = {"skylakex": 2.2e11, "cooperlake": 2.2e11, "sapphirerapids": 2.2e11,
                   "haswell": 1.2e11, "zen": 1.2e11}
_DEFAULT_F32 = 6e10


@cache
def blas_rates() -> dict[int, float]:
    """Deterministic GEMM FLOP/s for float32 (key 4) and float64 (key 8) used by the cost models."""
    from .blas import blas_core

    per = _PER_THREAD_F32.get(blas_core().lower(), _DEFAULT_F32)
    threads = cpu_count()
    env = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
    if env and env.strip().isdigit() and int(env) > 0:
        threads = min(threads, int(env))
    f32 = per * threads
    return {4: f32, 8: f32 / 2}


def threads_for(work: float) -> int:
    """How many threads a call with ``work`` multiply-adds (or comparable units) gets."""
    cap = thread_cap() or cpu_count()
    return int(max(1, min(cap, work // MIN_WORK_PER_THREAD)))


def _load_tbb() -> bool:
    """Make Intel TBB's library (from the ``tbb`` wheel, in this environment's ``lib``) loadable."""
    import ctypes
    import glob

    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
        for path in sorted(glob.glob(os.path.join(prefix, "lib", "libtbb.so.12*"))):
            try:
                ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
                return True
            except OSError:
                continue
    return False


@cache
def threading_layer() -> str:
    """The numba threading layer tconv uses: ``"tbb"``, or ``"workqueue"`` (calls serialised)."""
    import numba

    wanted = os.environ.get("TCONV_THREADING_LAYER", "").lower()  # "workqueue" forces the fallback
    layer = "workqueue" if wanted == "workqueue" else ("tbb" if _load_tbb() else "workqueue")
    try:
        if layer == "tbb":
            from numba.np.ufunc import tbbpool  # noqa: F401  (fails if libtbb does not load)
    except ImportError:
        layer = "workqueue"
    numba.config.THREADING_LAYER = layer
    return layer


_SERIAL = threading.Lock()  # the workqueue layer accepts one parallel call at a time


def _reset_after_fork() -> None:
    global _SERIAL
    _SERIAL = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)


def parallel_rows(kernel, rows: int, threads: int, *args) -> None:
    """Run ``kernel(*args, 0, rows)`` (a numba ``prange`` kernel over ``rows`` work items) on
    ``threads`` of numba's threads (the count is thread-local, so concurrent calls do not
    disturb each other)."""
    import numba

    compile_notice(kernel)
    layer = threading_layer()
    threads = max(1, min(threads, rows, numba.config.NUMBA_NUM_THREADS))
    old = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        if layer == "workqueue":
            with _SERIAL:
                kernel(*args, 0, rows)
        else:
            kernel(*args, 0, rows)
    finally:
        numba.set_num_threads(old)


def native_summary() -> str:
    """One line on the compute back end, for ``explain``."""
    from .blas import blas_info

    return (f"BLAS: {blas_info()}; cost model GEMM rate {blas_rates()[4] / 1e9:.0f} GFLOP/s float32 "
            f"({cpu_count()} CPUs); threads: numba's ({threading_layer()} layer), up to {thread_cap() or cpu_count()}")


_NOTICE: dict[str, object] = {"given": False, "checked": set()}


def compile_notice(kernel) -> None:
    """Say once on stderr when a kernel is about to be compiled with no on-disk cache (the
    first use on a machine), instead of a silent pause."""
    checked: set = _NOTICE["checked"]  # type: ignore[assignment]
    if _NOTICE["given"] or kernel in checked:
        return
    checked.add(kernel)
    if kernel.signatures:
        return
    try:
        index = kernel._cache._cache_file._index_path  # numba's on-disk index of this kernel
    except AttributeError:
        return
    if not os.path.exists(index):
        _NOTICE["given"] = True
        print("tconv: compiling its numba kernels, once per machine (about 10-20 s; cached on disk)",
              file=sys.stderr, flush=True)
