"""Where the microseconds of a tiny call go (issue 19, item 2): the T1 row, stage by stage.

``python benchmarks/percall.py [--repeat 9]``: each stage timed alone in blocks of back-to-back calls,
best block of ``--repeat``; the stages of a cache hit add up to about the whole call. Needs the compiled
core; PyTorch (2 threads, as the suite) is timed when installed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import tconv
from tconv.core import _native, callcache
from tconv.core.dispatch import Call, forward
from tconv.tools.bench.layers import TINY


def best_ns(fn, calls: int = 20000, repeat: int = 9) -> float:
    """Best mean nanoseconds per call over ``repeat`` blocks of ``calls`` calls."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter_ns() - t) / calls)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=9)
    a = ap.parse_args()
    r = a.repeat
    rng = np.random.default_rng(0)
    x = rng.standard_normal(TINY.x_shape).astype(np.float32)
    w = rng.standard_normal(TINY.w_shape).astype(np.float32)
    kw = TINY.kwargs
    args = ("conv_transpose", x, w, None, kw.get("stride", 1), kw.get("padding", 0), 0, 1, 1, None, "auto")
    rows = []
    whole = best_ns(lambda: tconv.conv_transpose(x, w, **kw), repeat=r)
    rows.append(("the public call (a cache hit)", whole))
    rows.append(("  the keyword-name check (checked_names wrapper)",
                 whole - best_ns(lambda: tconv.conv_transpose.__wrapped__(x, w, **kw), repeat=r)))
    key = callcache.key(*args)
    rows.append(("  the cache key (types, shapes, strides, options, core state)",
                 best_ns(lambda: callcache.key(*args), repeat=r)))
    rows.append(("  the look-up (hash and compare of the key)", best_ns(lambda: callcache.lookup(key), repeat=r)))
    plan = callcache.lookup(key)
    rows.append(("  the prepared call", best_ns(lambda: plan(x, w, None), repeat=r)))
    out_shape = tconv.conv_transpose(x, w, **kw).shape
    rows.append(("    np.empty of the output", best_ns(lambda: np.empty(out_shape, np.float32), repeat=r)))
    if _native.available():
        ext = _native._ext
        one = ext.direct_plan("t", (1,) * 5, (1,) * 5, (1,) * 5, (1, 1, 1, 1, 1, 1, 1, 0, 0, 0), 0, False)
        a1 = np.ones((1, 1, 1, 1), np.float32)
        o1 = np.empty_like(a1)
        rows.append(("    the C entry's fixed cost (3 buffers, checks, GIL release; a 1x1 plan)",
                     best_ns(lambda: ext.direct_run(one, a1, a1, o1, None, 1), repeat=r)))
    call = Call("conv_transpose", kw.get("stride", 1), kw.get("padding", 0))
    rows.append(("the full path without the cache (dispatch.forward: validation, geometry, planner, kernel)",
                 best_ns(lambda: forward(call, x, w, None), calls=5000, repeat=r)))

    def miss():
        callcache.clear()
        tconv.conv_transpose(x, w, **kw)

    rows.append(("a first call (cache cleared: the chain, the full path, the plan built and stored)",
                 best_ns(miss, calls=2000, repeat=r)))
    try:
        import torch
        import torch.nn.functional as F

        torch.set_num_threads(2)
        xt, wt = torch.from_numpy(x), torch.from_numpy(w)
        rows.append(("PyTorch F.conv_transpose2d (2 threads)", best_ns(lambda: F.conv_transpose2d(xt, wt, **kw), repeat=r)))
    except ImportError:
        pass
    print(f"T1 {TINY.name}: x {TINY.x_shape}, weight {TINY.w_shape}, {kw}; best of {r} blocks")
    for name, ns in rows:
        print(f"{ns / 1e3:8.2f} us  {name}")


if __name__ == "__main__":
    main()
