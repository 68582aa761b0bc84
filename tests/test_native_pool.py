"""The compiled core's thread pool: fork safety (multiprocessing and a bare os.fork after a
call), and no thread left spinning once a call has returned."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from native_support import native_required  # noqa: F401  (autouse fixture)

from tconv.core import _native


def _product(seed: int) -> float:
    """A 2-thread GEMM in a (forked) worker, checked against NumPy there."""
    rng = np.random.default_rng(seed)
    a, b = rng.random((256, 300)), rng.random((300, 200))
    c = _native.gemm(a, b, threads=2)
    return float(np.abs(c - a @ b).max())


def test_multiprocessing_pool_after_a_call():
    _product(0)  # the parent's pool is up and its workers exist
    with multiprocessing.get_context("fork").Pool(2) as pool:
        errs = pool.map(_product, range(4), chunksize=1)
    assert max(errs) < 1e-10, errs
    assert _product(1) < 1e-10  # and the parent's pool still works


def test_os_fork_after_a_call():
    _product(0)
    pid = os.fork()
    if pid == 0:  # the child: compute with a fresh pool and leave without running pytest's exit code
        code = 1
        try:
            code = 0 if _product(2) < 1e-10 else 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            raise AssertionError("the forked child hung (deadlock in the inherited pool?)")
        time.sleep(0.01)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status


def _cpu_during_sleep_after(code: str) -> float:
    """Process CPU time over a 0.3 s sleep after ``code`` (a fresh process, OpenBLAS on one thread, so
    that only tconv's pool could spin)."""
    code += "\nc0 = time.process_time(); time.sleep(0.3); print(time.process_time() - c0)\n"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", TCONV_NUM_THREADS="2")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    return float(proc.stdout.strip())


def test_no_thread_spins_after_a_call():
    """Process CPU time over a 0.3 s sleep right after a 2-thread call stays near zero (measured in a
    fresh process with OpenBLAS on one thread, so that only tconv's pool could spin)."""
    code = textwrap.dedent("""
        import time, numpy as np
        from tconv.core import _native
        a = np.random.default_rng(0).random((600, 600)).astype(np.float32)
        for _ in range(3):
            _native.gemm(a, a, threads=2)
    """)
    used = _cpu_during_sleep_after(code)
    assert used < 0.03, f"{used:.3f} s of CPU during a 0.3 s sleep after the call: a thread kept spinning"


@pytest.mark.parametrize("method", ["gemm", "native"])
def test_no_thread_spins_after_a_held_call(method):
    """gemm and native hold the pool awake for the length of one call (their loops have serial work
    between them); once the call returns, and after an exception inside a hold, the workers sleep."""
    code = textwrap.dedent(f"""
        import time, numpy as np, tconv
        from tconv.core import _native
        rng = np.random.default_rng(0)
        x = rng.random((8, 64, 16, 16)).astype(np.float32); w = rng.random((64, 32, 4, 4)).astype(np.float32)
        for _ in range(3):
            tconv.conv_transpose(x, w, stride=2, padding=1, method={method!r})
        try:
            with _native.hold():
                raise ValueError
        except ValueError:
            pass
    """)
    used = _cpu_during_sleep_after(code)
    assert used < 0.03, f"{used:.3f} s of CPU during a 0.3 s sleep after the call: a thread kept spinning"


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="steering needs two CPUs to choose from")
def test_steered_workers_get_their_cpus_back():
    """A worker asleep when a job comes is woken with the owner's CPU taken out of its mask (so that
    the kernel cannot place it on the owner's busy core); once awake it restores its mask. After
    pauses long enough for the workers to sleep, every thread may again use every CPU the process may."""
    code = textwrap.dedent("""
        import glob, os, time, numpy as np
        from tconv.core import _native
        a = np.random.default_rng(0).random((400, 400)).astype(np.float32)
        want = sorted(os.sched_getaffinity(0))
        for _ in range(4):
            time.sleep(0.05)  # past the workers' spin and yield phases: they sleep
            _native.gemm(a, a, threads=2)
        time.sleep(0.05)
        masks = {}
        for task in glob.glob("/proc/self/task/*"):
            tid = int(task.rsplit("/", 1)[1])
            masks[tid] = sorted(os.sched_getaffinity(tid))
        assert len(masks) >= 2, masks
        assert all(m == want for m in masks.values()), (want, masks)
        print("ok")
    """)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", TCONV_NUM_THREADS="2")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_repeated_calls_reuse_their_buffers():
    """A call's own buffers (the weights packed per call, brgemm's channels-last copy of the input)
    are kept per thread between calls (``scratch.h``), so that a network's layers, called again and
    again, do not fault those pages in anew. Counted in a fresh process with glibc's mmap threshold
    fixed at 64 KiB (every larger ``malloc`` is then a fresh mapping): after a warm-up, the page faults
    of a round of calls stay below the pages of the outputs plus a quarter of the pages of those
    buffers (freeing and mapping them each call faulted all of them: about 5,900 pages a round)."""
    code = textwrap.dedent("""
        import resource, numpy as np, tconv
        rng = np.random.default_rng(0)
        calls, buffers = [], 0
        for c_in, k, s, n in ((1026, 1024, 256, 224), (513, 512, 128, 300), (2052, 1024, 256, 100)):
            x, w = rng.random((1, c_in, n), np.float32), rng.random((c_in, 1, k), np.float32)
            calls.append(lambda x=x, w=w, s=s: tconv.conv_transpose(x, w, stride=s, method="native"))
            buffers += w.nbytes                  # its weights, packed per call
        for b, c in ((4, 64), (2, 96)):
            x, w = rng.random((b, c, 64, 64), np.float32), rng.random((c, c, 3, 3), np.float32)
            calls.append(lambda x=x, w=w: tconv.conv_transpose(x, w, padding=2, dilation=2, method="brgemm"))
            buffers += b * c * 68 * 68 * 4      # the input's channels-last copy with its margins
        outputs = sum(f().nbytes for f in calls)  # the warm-up
        for f in calls:
            f()
        r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(4):
            for f in calls:
                f()
        faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0) / 4
        print(faults, outputs // 4096, buffers // 4096)
    """)
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", TCONV_NUM_THREADS="2")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    faults, output_pages, buffer_pages = map(float, proc.stdout.split())
    assert faults < output_pages + buffer_pages / 4, (faults, output_pages, buffer_pages)


def test_release_frees_the_kept_call_buffers():
    """``tconv.core.outputs.release()`` also frees the calling thread's kept call buffers: after a call
    that packed 23 MiB of weights (kept, under the 32 MiB limit), the process's resident memory drops by
    about that much (not measured under AddressSanitizer, which holds freed memory back); a second
    release frees nothing, and the next call keeps them again."""
    code = textwrap.dedent("""
        import os, numpy as np, tconv
        from tconv.core import _native, outputs
        def rss():
            return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        rng = np.random.default_rng(0)
        x, w = rng.random((1, 6000, 64), np.float32), rng.random((6000, 1, 1024), np.float32)
        want = tconv.conv_transpose(x, w, stride=256, method="gemm")
        got = tconv.conv_transpose(x, w, stride=256, method="native")
        before = rss()
        outputs.release()
        dropped = before - rss()
        again = _native.release_scratch()
        after = tconv.conv_transpose(x, w, stride=256, method="native")
        err = max(float(np.abs(got - want).max()), float(np.abs(after - want).max())) / float(np.abs(want).max())
        print(w.nbytes, dropped, again, _native.release_scratch(), err)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, TCONV_NUM_THREADS="2"))
    assert proc.returncode == 0, proc.stderr
    weights, dropped, again, third, err = map(float, proc.stdout.split())
    assert again == 0 and third > 0.8 * weights  # release() left nothing to free; the next call kept them again
    if "libasan" not in os.environ.get("LD_PRELOAD", ""):  # AddressSanitizer holds freed memory back (make sanitize)
        assert dropped > 0.8 * weights, (dropped, weights)  # the packed weights: about the weight's size
    assert err < 1e-5
