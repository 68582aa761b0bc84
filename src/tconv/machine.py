"""What the machine offers, probed in one place: CPU features, the BLAS rate the cost
models use, and tconv's thread policy and pool.

* **BLAS rate.** The planner must choose the same algorithm for the same geometry every
  time on one machine, so its GEMM rate is not timed on each start (timing noise flipped
  choices between processes): it is looked up from the OpenBLAS kernel family in use and
  the number of threads, a table fitted on this project's machines. :func:`measure_rates`
  times the real GEMM when asked (``explain(..., measure=True)``).
* **Threads.** One pool of tconv's own (plain threads that sleep on a queue: nothing spins
  after a call). :func:`threads_for` is the one rule for how many threads a call gets: none
  beyond the calling thread below :data:`MIN_WORK_PER_THREAD` multiply-adds per thread, at
  most the CPUs this process may use (or ``tconv.set_options(threads=...)``). The numba
  kernels release the GIL and run on row ranges, so the pool needs no OpenMP: after
  ``os.fork()`` the child simply starts a new pool (``os.register_at_fork``).

>>> threads_for(10)
1
>>> cpu_count() >= 1
True
"""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np

from .options import thread_cap

__all__ = ["cpu_count", "cpu_has_avx512", "blas_rates", "measure_rates", "threads_for", "parallel_rows",
           "MIN_WORK_PER_THREAD", "native_summary"]

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


def measure_rates() -> dict[int, float]:
    """Time tconv's BLAS GEMM now (about 2 ms): FLOP/s for float32 (4) and float64 (8)."""
    import time

    from .blas import gemm_cm

    rates = {}
    for dt in (np.float32, np.float64):
        n = 384
        a = np.ones((n, n), dt)
        c = np.empty((n, n), dt)
        best = float("inf")
        for _ in range(5):
            t = time.perf_counter()
            gemm_cm(False, False, n, n, n, a, 0, n, a, 0, n, c, 0, n)
            best = min(best, time.perf_counter() - t)
        rates[np.dtype(dt).itemsize] = 2 * n**3 / max(best, 1e-9)
    return rates


def threads_for(work: float) -> int:
    """How many threads a call with ``work`` multiply-adds (or comparable units) gets."""
    cap = thread_cap() or cpu_count()
    return int(max(1, min(cap, work // MIN_WORK_PER_THREAD)))


_POOL: dict[str, object] = {"executor": None, "size": 0}
_POOL_LOCK = threading.Lock()


def _forget_pool_in_child() -> None:
    # the parent's worker threads do not exist in a forked child: start afresh there
    _POOL["executor"], _POOL["size"] = None, 0
    global _POOL_LOCK
    _POOL_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_in_child)


def _executor(workers: int) -> ThreadPoolExecutor:
    with _POOL_LOCK:
        ex = _POOL["executor"]
        if ex is None or _POOL["size"] < workers:
            old = ex
            ex = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tconv")
            _POOL["executor"], _POOL["size"] = ex, workers
            if old is not None:
                old.shutdown(wait=False)  # type: ignore[attr-defined]
        return ex  # type: ignore[return-value]


def parallel_rows(kernel, rows: int, threads: int, *args) -> None:
    """Run ``kernel(*args, r0, r1)`` over ``[0, rows)`` split into ``threads`` ranges: the calling
    thread takes the first range, tconv's pool the others. ``kernel`` must release the GIL
    (numba ``nogil=True``) and write disjoint outputs per row."""
    compile_notice(kernel)
    threads = max(1, min(threads, rows))
    if threads == 1:
        kernel(*args, 0, rows)
        return
    bounds = [rows * i // threads for i in range(threads + 1)]
    ex = _executor(threads - 1)
    futures = [ex.submit(kernel, *args, bounds[i], bounds[i + 1]) for i in range(1, threads)]
    try:
        kernel(*args, bounds[0], bounds[1])
    finally:
        for f in futures:
            f.result()


def native_summary() -> str:
    """One line on the compute back end, for ``explain``."""
    from .blas import blas_info

    return (f"BLAS: {blas_info()}; cost model GEMM rate {blas_rates()[4] / 1e9:.0f} GFLOP/s float32 "
            f"({cpu_count()} CPUs); threads: tconv's pool, up to {thread_cap() or cpu_count()}")


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
