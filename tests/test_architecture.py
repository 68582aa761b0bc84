"""The architecture, checked from the code itself: the import graph of ``src/tconv`` (read from
each module's own import statements) has no circle and no import that runs upward; every
algorithm honours the registry's contract for every operation; ``import tconv`` stays light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tconv
from tconv.algorithms import OPERATIONS

SRC = Path(tconv.__file__).resolve().parent

# lower layers first; a module may import only from its own layer or below
LAYERS = [
    {"tconv.errors", "tconv._params", "tconv.backends", "tconv.frontend_check", "tconv.core"},
    {"tconv.options", "tconv.geometry", "tconv.complexconv", "tconv.halfprec"},
    {"tconv.taps", "tconv.blas", "tconv.layout"},
    {"tconv.machine"},
    {"tconv.matrix"},
    {"tconv.algorithms"},  # the package and everything in it
    {"tconv.planner"},
    {"tconv.functional"},
    {"tconv.grad", "tconv.operator", "tconv.testing", "tconv.seed", "tconv.boundary", "tconv.crop"},
]
FRONT = len(LAYERS)  # everything else: front ends (viz, cli, bench, ...) and the package root


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, name: str) -> set[str]:
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "tconv"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "tconv":
                continue
            out.add(mod)
            for a in node.names:  # "from . import x" imports the module x
                if (SRC.parent / (mod.replace(".", "/") + "/" + a.name + ".py")).exists() or \
                        (SRC.parent / (mod.replace(".", "/") + "/" + a.name)).is_dir():
                    out.add(f"{mod}.{a.name}")
    # importing a.b.c from outside a.b runs the __init__ of a.b: count that edge too
    closed = set()
    for m in out:
        parts = m.split(".")
        closed |= {p for p in (".".join(parts[:i]) for i in range(2, len(parts) + 1))
                   if p == m or not (name + ".").startswith(p + ".")}
    return closed - {name}


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p, _module_name(p)) for p in SRC.rglob("*.py")}


def _layer(mod: str) -> int:
    for i, group in enumerate(LAYERS):
        if any(mod == g or mod.startswith(g + ".") for g in group):
            return i
    return FRONT


def test_no_import_runs_upward():
    upward = [(m, t) for m, targets in _graph().items() for t in targets
              if t != "tconv" and _layer(t) > _layer(m)]
    assert not upward, f"imports from a lower layer to a higher one: {upward}"


def test_no_import_circle():
    graph = _graph()
    graph = {m: {t for t in ts if t in graph and t != "tconv"} for m, ts in graph.items() if m != "tconv"}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph.get(m, ())):
            if state.get(t) == 1:
                return stack[stack.index(t):] + [t]
            if t not in state and (cycle := visit(t)):
                return cycle
        state[m] = 2
        stack.pop()
        return None

    for m in sorted(graph):
        if m not in state:
            cycle = visit(m)
            assert cycle is None, f"import circle: {' -> '.join(cycle)}"


def test_the_graph_is_read_from_real_imports():
    graph = _graph()
    assert "tconv.taps" in graph["tconv.matrix"] and "tconv.algorithms" in graph["tconv.planner"]
    assert "tconv.machine" in graph["tconv.algorithms.direct"]


def test_import_tconv_is_light():
    code = ("import sys, tconv; heavy = [m for m in ('tconv._bench', 'tconv.cli', 'tconv.viz', 'torch', "
            "'onnxruntime', 'matplotlib', 'dask') if m in sys.modules]; print(heavy)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr


GEOMS = [
    tconv.conv_transpose_geometry((4, 3, 3, 3), (6, 7), stride=2, padding=1),
    tconv.conv_transpose_geometry((2, 2, 5), (9,), stride=3, dilation=2, groups=2),
    tconv.conv_geometry((4, 2, 2, 2, 2), (5, 6, 4), stride=2, padding="same", groups=2),
    tconv.conv_transpose_geometry((1, 1, 2, 2, 2, 2), (3, 3, 3, 3)),
]


@pytest.mark.parametrize("name", sorted(tconv.ALGORITHMS))
@pytest.mark.parametrize("op", OPERATIONS)
@pytest.mark.parametrize("gi", range(len(GEOMS)))
def test_cost_and_scratch_contract(name, op, gi):
    algo, geom = tconv.ALGORITHMS[name], GEOMS[gi]
    if algo.supports(geom, np.dtype(np.float32), op) is not None:
        assert isinstance(algo.supports(geom, np.dtype(np.float32), op), str)
        return
    costs = [algo.cost(geom, b, 4, op) for b in (1, 2, 8, 64)]
    scratch = [algo.scratch_bytes(geom, b, 4, op) for b in (1, 2, 8, 64)]
    assert all(np.isfinite(c) and c > 0 for c in costs), costs
    assert costs == sorted(costs), f"cost not monotone in batch: {costs}"
    assert all(isinstance(s, (int, np.integer)) and s >= 0 for s in scratch), scratch
    assert scratch == sorted(scratch), f"scratch not monotone in batch: {scratch}"


def test_every_algorithm_declares_its_operations_and_role():
    for name, algo in tconv.ALGORITHMS.items():
        assert set(algo.operations) <= set(OPERATIONS) and algo.operations, name
        for op in algo.operations:
            assert callable(getattr(algo, op)), (name, op)
    refs = {n for n, a in tconv.ALGORITHMS.items() if a.reference}
    assert {"scatter", "matrix"} <= refs and "gemm" not in refs and "direct" not in refs
    for op in OPERATIONS:
        p = tconv.planner.plan(GEOMS[0], 4, "float32", op)
        assert p.choice not in refs and p.op == op
