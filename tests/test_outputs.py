"""Large outputs are recycled only once nothing refers to them (tconv.core.outputs): an output the
caller keeps, or any view of it, is never overwritten by a later call; the kept bytes stay bounded."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import tconv
from tconv.core import outputs


@pytest.fixture(autouse=True)
def _fresh():
    outputs.release()
    yield
    outputs.release()


def _big_call():
    """A conv_transpose whose output (4 x 8 x 512 x 520 float32, 34 MB) is above RECYCLE_MIN."""
    rng = np.random.default_rng(0)
    y = rng.standard_normal((4, 2, 256, 260)).astype(np.float32)
    w = rng.standard_normal((2, 8, 2, 2)).astype(np.float32)
    return y, w


def test_an_output_in_use_is_never_recycled():
    y, w = _big_call()
    first = tconv.conv_transpose(y, w, stride=2)
    assert first.nbytes >= outputs.RECYCLE_MIN
    keep = first.copy()
    view = first[:, :1]
    del first
    second = tconv.conv_transpose(2 * y, w, stride=2)      # the view keeps the first buffer alive
    np.testing.assert_array_equal(view, keep[:, :1])
    assert not np.shares_memory(view, second)
    np.testing.assert_allclose(second, 2 * keep, rtol=1e-6, atol=1e-5)
    del view, keep
    p = second.__array_interface__["data"][0]
    del second
    third = tconv.conv_transpose(y, w, stride=2)
    others = [b.__array_interface__["data"][0] for b in outputs._KEPT]
    assert third.__array_interface__["data"][0] in others and p in others


def test_threads_get_distinct_buffers():
    y, w = _big_call()
    want = tconv.conv_transpose(y, w, stride=2)
    got: list = [None] * 4
    scale = [1.0, 2.0, -1.0, 0.5]

    def work(i):
        got[i] = tconv.conv_transpose(scale[i] * y, w, stride=2)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        np.testing.assert_allclose(got[i], scale[i] * want, rtol=1e-6, atol=1e-5)
        for j in range(i):
            assert not np.shares_memory(got[i], got[j])


def test_the_kept_bytes_stay_bounded_and_small_outputs_are_plain():
    small = outputs.empty((10, 10), np.float64)
    assert small.base is None and not outputs._KEPT
    held = [outputs.empty((outputs.RECYCLE_MIN // 4,), np.float32) for _ in range(12)]  # 12 x 32 MiB, all in use
    assert sum(b.nbytes for b in outputs._KEPT) <= outputs.RECYCLE_MAX_BYTES
    assert len({a.__array_interface__["data"][0] for a in held}) == 12
    del held
    outputs.release()
    assert not outputs._KEPT


def test_a_forked_child_starts_with_a_fresh_cache_even_if_the_lock_was_held():
    """A thread of the parent may hold the cache's lock at the fork: the child gets a fresh lock and no
    kept buffers, and its large calls work."""
    import os

    y, w = _big_call()
    want = tconv.conv_transpose(y, w, stride=2)
    outputs._LOCK.acquire()  # as if another thread were inside empty() at the fork
    try:
        pid = os.fork()
        if pid == 0:  # the child: exit code 0 only if a large call works and matches
            ok = False
            try:
                ok = not outputs._KEPT and np.allclose(tconv.conv_transpose(y, w, stride=2), want, atol=1e-5)
            finally:
                os._exit(0 if ok else 1)
    finally:
        outputs._LOCK.release()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
