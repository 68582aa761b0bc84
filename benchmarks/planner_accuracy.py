"""How often ``method="auto"`` picks the measured-fastest algorithm, per operation, on the suite.

For every layer of the benchmark suite and every operation (``conv_transpose``, ``conv``,
``weight_grad``): the cost model's choice (``tconv.explain``), then every runnable candidate timed
on the real shapes (``tconv.explain(..., measure=True)``, best of 3), and the time the model's
choice loses to the fastest. Writes ``benchmarks/planner-accuracy.md``.

    python benchmarks/planner_accuracy.py
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import tconv
from tconv.core.machine import native_summary
from tconv.tools.bench.layers import SUITE


def main() -> int:
    rows, hits, total = [], 0, 0
    for layer in SUITE:
        for op in ("conv_transpose", "conv", "weight_grad"):
            shape = layer.x_shape
            if op == "conv":  # conv's input is conv_transpose's output
                g = tconv.conv_transpose_geometry(layer.w_shape, layer.input, layer.stride, layer.pad, 0,
                                                  layer.dilation, layer.groups)
                shape = (layer.n, g.x_channels, *g.x_shape)
            model = tconv.explain(shape, layer.w_shape, op=op, **layer.kwargs)
            measured = tconv.explain(shape, layer.w_shape, op=op, measure=True, **layer.kwargs)
            times = {c.name: c.seconds for c in measured.candidates if c.reason is None}
            best = min(times, key=times.get)
            loss = times[model.choice] / times[best]
            hits += model.choice == best
            total += 1
            rows.append(f"| {layer.id} | {op} | {model.choice} | {best} | "
                        + ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in sorted(times.items())) + f" | {loss:.2f}x |")
            print(rows[-1], flush=True)
    text = "\n".join([
        "# Planner accuracy (`python benchmarks/planner_accuracy.py`)", "",
        f"{platform.processor() or platform.machine()}, Python {sys.version.split()[0]}; "
        f"{native_summary()}", "",
        f"auto picked the measured-fastest candidate in {hits} of {total} (layer, operation) cases.", "",
        "| layer | operation | auto | fastest | measured (best of 3) | auto / fastest |",
        "|---|---|---|---|---|---|", *rows, ""])
    Path(__file__).with_name("planner-accuracy.md").write_text(text)
    print(f"{hits}/{total}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
