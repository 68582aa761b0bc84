"""`make bench`: the layer suite (src/tconv/_bench/layers.py) against PyTorch and ONNX Runtime.

Writes benchmarks/results.md; see tconv.tools.bench.runner for what is measured and how.
"""

import sys
from pathlib import Path

from tconv.tools.bench.runner import main

if __name__ == "__main__":
    out = str(Path(__file__).resolve().parent / "results.md")
    sys.exit(main(["--out", out, *sys.argv[1:]]))
