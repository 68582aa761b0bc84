"""What the machine offers, probed in one place: CPU features, the BLAS rate the cost
models use, tconv's thread policy, and which compiled core runs.

* **BLAS rate.** The planner must choose the same algorithm for the same geometry every
  time on one machine, so its GEMM rate is not timed on each start (timing noise flipped
  choices between processes): it is looked up from the OpenBLAS kernel family in use and
  the number of threads, a table fitted on this project's machines. ``explain(...,
  measure=True)`` times the real algorithms instead, when asked.
* **Threads.** :func:`threads_for` is the one rule for how many threads a call gets: one
  below :data:`MIN_WORK_PER_THREAD` multiply-adds per thread, at most the CPUs this process may
  use (or ``tconv.set_options(threads=...)``). The compiled kernels run on tconv's own pthread
  pool (``tconv/core/_native/src/pool.c``: the caller takes part, workers sleep after a short
  spin, a forked child starts a fresh pool; a second concurrent caller runs on its own thread),
  which this count sizes per call. No JIT, no OpenMP, no TBB.

>>> threads_for(10)
1
>>> cpu_count() >= 1
True
"""

from __future__ import annotations

import os
from functools import cache

from .options import thread_cap

__all__ = ["cpu_count", "cpu_has_avx512", "blas_rates", "threads_for", "compiled_core", "cost_state",
           "MIN_WORK_PER_THREAD", "native_summary", "last_level_cache_bytes"]

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


#: the last-level cache assumed where the system does not say (these 2-core VMs show 32 MiB of L3)
DEFAULT_LLC_BYTES = 32 << 20


@cache
def last_level_cache_bytes() -> int:
    """Bytes of the largest data or unified cache of CPU 0 (Linux sysfs), else :data:`DEFAULT_LLC_BYTES`.

    >>> last_level_cache_bytes() >= 1 << 16
    True
    """
    best = 0
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for entry in os.listdir(base):
            if not entry.startswith("index"):
                continue
            with open(f"{base}/{entry}/type") as f:
                if f.read().strip() == "Instruction":
                    continue
            with open(f"{base}/{entry}/size") as f:
                text = f.read().strip().upper()
            scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
            best = max(best, int(text.rstrip("KMG") or 0) * scale)
    except (OSError, ValueError):
        return DEFAULT_LLC_BYTES
    return best or DEFAULT_LLC_BYTES


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


def cost_state() -> tuple:
    """What the cost models read that can change while the process runs, as one hashable tuple: the
    options (``threads``, ``max_bytes`` and their environment variables), the CPUs this process may
    use, and the compiled core's state (on or off, instruction set, pool size).  The planner's caches
    key on it: after ``tconv.set_options(threads=1)`` a shape is planned again for one thread.

    >>> cost_state() == cost_state()
    True
    """
    from . import _native
    from .options import state

    return (state(), cpu_count(), _native.state())


def compiled_core() -> str:
    """What runs the direct kernels and im2col/col2im: ``"native avx512"`` (``avx2``,
    ``generic``: the compiled core and its instruction set) or ``"NumPy fallback (why)"``."""
    from . import _native

    if _native.available():
        return f"native {_native.get_isa()}"
    return f"NumPy fallback ({_native.info()['reason']})"


def native_summary() -> str:
    """One line on the compute back end, for ``explain``."""
    from . import _native
    from .blas import blas_info

    threads = f"threads: tconv's pool, up to {thread_cap() or cpu_count()} per call"
    if _native.available():
        kern = _native.info()["kernels"]["float32"]
        return (f"BLAS: {blas_info()}, used only without the compiled core; compiled core: {compiled_core()} "
                f"(every GEMM: float32 register tile {kern['mr']}x{kern['nr']}); {threads}")
    return (f"BLAS: {blas_info()}; cost model GEMM rate {blas_rates()[4] / 1e9:.0f} GFLOP/s float32 "
            f"({cpu_count()} CPUs); compiled core: {compiled_core()}; {threads}")
