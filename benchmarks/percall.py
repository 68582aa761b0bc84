"""Where the microseconds of a tiny call go (issue 19, item 2): the T1 row, stage by stage.

``python benchmarks/percall.py [--repeat 9]``: each stage timed alone in blocks of back-to-back calls, the
stages interleaved over ``--repeat`` rounds; the best and the median block. The stages of a cache hit add
up to about the whole call. The C entry's rows need the compiled core; PyTorch (2 threads, as the suite)
is timed when installed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import tconv
from tconv.core import _native, callcache
from tconv.core.dispatch import Call, forward
from tconv.tools.bench.layers import TINY


def block_ns(fn, calls: int) -> float:
    """Mean nanoseconds per call of one block of ``calls`` back-to-back calls."""
    t = time.perf_counter_ns()
    for _ in range(calls):
        fn()
    return (time.perf_counter_ns() - t) / calls


def stages(x, w, kw) -> list[tuple[str, object, int]]:
    """(name, function, calls per block) of every stage of T1 measured alone."""
    args = ("conv_transpose", x, w, None, kw.get("stride", 1), kw.get("padding", 0), 0, 1, 1, None, "auto")
    for _ in range(2):  # noted, then planned
        tconv.conv_transpose(x, w, **kw)
    key = callcache.key(*args)
    plan = callcache.lookup(key)
    out_shape = plan(x, w, None).shape
    out = [("the public call (a cache hit)", lambda: tconv.conv_transpose(x, w, **kw), 20000),
           ("  without the keyword-name check (checked_names)", lambda: tconv.conv_transpose.__wrapped__(x, w, **kw),
            20000),
           ("  the cache key (types, shapes, strides, options, core state)", lambda: callcache.key(*args), 20000),
           ("  the look-up (hash and compare of the key)", lambda: callcache.lookup(key), 20000),
           ("  the prepared call (np.empty + the C entry)", lambda: plan(x, w, None), 20000),
           ("    np.empty of the output", lambda: np.empty(out_shape, np.float32), 20000)]
    if _native.available():
        ext = _native._ext
        one = ext.direct_plan("t", (1,) * 5, (1,) * 5, (1,) * 5, (1, 1, 1, 1, 1, 1, 1, 0, 0, 0), 0, False)
        a1, o1 = np.ones((1, 1, 1, 1), np.float32), np.empty((1, 1, 1, 1), np.float32)
        s, p = kw.get("stride", 1), kw.get("padding", 0)
        t1 = ext.direct_plan("t", (1, *x.shape[1:2], 1, *x.shape[2:]), (*w.shape[:2], 1, *w.shape[2:]),
                             (1, out_shape[1], 1, *out_shape[2:]), (1, 1, s, s, 1, 1, 1, 0, p, p), 0, False)
        o = np.empty(out_shape, np.float32)
        out += [("    the C entry on T1 (direct_run: buffers, checks, the kernel)", lambda: ext.direct_run(t1, x, w, o, None, 1),
                 20000),
                ("    the C entry's fixed cost (the same on a 1x1 plan)", lambda: ext.direct_run(one, a1, a1, o1, None, 1),
                 20000)]
    call = Call("conv_transpose", kw.get("stride", 1), kw.get("padding", 0))
    out.append(("the full path without the cache (dispatch.forward)", lambda: forward(call, x, w, None), 3000))

    def first():
        callcache.clear()
        tconv.conv_transpose(x, w, **kw)

    def first_two():
        first()
        tconv.conv_transpose(x, w, **kw)

    out.append(("a key's first call (the chain and the full path; the key noted)", first, 1000))
    out.append(("a key's first two calls (the second also builds and stores the plan)", first_two, 1000))
    try:
        import torch
        import torch.nn.functional as F

        torch.set_num_threads(2)
        xt, wt = torch.from_numpy(x), torch.from_numpy(w)
        out.append(("PyTorch F.conv_transpose2d (2 threads)", lambda: F.conv_transpose2d(xt, wt, **kw), 20000))
    except ImportError:
        pass
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=9, help="rounds; every stage is timed once per round")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal(TINY.x_shape).astype(np.float32)
    w = rng.standard_normal(TINY.w_shape).astype(np.float32)
    kw = {k: v for k, v in TINY.kwargs.items() if k in ("stride", "padding")}
    rows = stages(x, w, kw)
    times: list[list[float]] = [[] for _ in rows]
    for _ in range(a.repeat):  # interleaved: every stage sees the same load
        for i, (_, fn, calls) in enumerate(rows):
            fn()
            times[i].append(block_ns(fn, calls))
    print(f"T1 {TINY.name}: x {TINY.x_shape}, weight {TINY.w_shape}, {kw}; per call: best [median] of {a.repeat} "
          "interleaved blocks")
    for (name, _, _), t in zip(rows, times):
        print(f"{min(t) / 1e3:8.2f} us [{float(np.median(t)) / 1e3:6.2f}]  {name}")


if __name__ == "__main__":
    main()
