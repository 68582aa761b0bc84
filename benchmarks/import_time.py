"""How long ``import tconv`` takes in a new process: the figure the README quotes.

Runs ``python -c "import tconv"`` in ``--runs`` fresh processes (the default 9) and prints the median
time of the import statement itself (measured inside the process with ``time.perf_counter``) and of
the whole process (interpreter start included), with the machine and the versions it ran on.

    python benchmarks/import_time.py
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

PROBE = "import time; t = time.perf_counter(); import tconv; print(time.perf_counter() - t)"


def measure(runs: int) -> tuple[list[float], list[float]]:
    """(import seconds, process seconds) of ``runs`` fresh processes."""
    inner, outer = [], []
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONSTARTUP",)}
    for _ in range(runs):
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, env=env)
        outer.append(time.perf_counter() - t)
        inner.append(float(out.stdout.strip().splitlines()[-1]))
    return inner, outer


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=9, help="fresh processes (default %(default)s)")
    args = ap.parse_args(argv)
    inner, outer = measure(args.runs)
    import numpy
    import scipy

    print(f"import tconv: median {statistics.median(inner) * 1e3:.0f} ms (min {min(inner) * 1e3:.0f}, max "
          f"{max(inner) * 1e3:.0f}) over {args.runs} fresh processes; whole process median "
          f"{statistics.median(outer) * 1e3:.0f} ms")
    print(f"on {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"NumPy {numpy.__version__}, SciPy {scipy.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
