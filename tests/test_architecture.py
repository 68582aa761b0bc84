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
from tconv.core.algorithms import OPERATIONS

SRC = Path(tconv.__file__).resolve().parent

# the layers are the folders, lowest first: a module may import its own folder's layer or lower ones
FOLDERS = ["tconv.errors", "tconv.core", "tconv.api", "tconv.tools"]
TOP = len(FOLDERS)  # the package root: re-exports and the public names (tconv.dask, tconv.viz, __main__)


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
    for i, folder in enumerate(FOLDERS):
        if mod == folder or mod.startswith(folder + "."):
            return i
    return TOP


def test_no_import_runs_upward():
    upward = [(m, t) for m, targets in _graph().items() for t in targets
              if t != "tconv" and _layer(t) > _layer(m)]
    assert not upward, f"imports from a lower layer to a higher one: {upward}"


def test_every_module_lives_in_a_layer_folder():
    graph = _graph()
    root = sorted(m for m in graph if _layer(m) == TOP and m != "tconv")
    assert root == ["tconv.__main__", "tconv.dask", "tconv.viz"], root
    assert len([m for m in graph if m.count(".") == 1 and m not in ("tconv.__main__",)]) <= 6 + 3  # + core, api, tools
    assert all(_layer(m) < TOP for m in graph if m.count(".") >= 2)


def test_no_hooks():
    """No module registers a callback with a module below it: the only ``register`` is the algorithm
    registry's (the one extension point), and no hook modules remain."""
    names = {Path(p).stem for p in SRC.rglob("*.py")}
    assert not names & {"backends", "frontend_check", "frontend"}
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text())
        defs = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        hooks = {d for d in defs if d.startswith("register")} - ({"register"} if path.parent.name == "algorithms" else set())
        assert not hooks, f"{path.relative_to(SRC)} defines {hooks}"


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
    assert "tconv.core.taps" in graph["tconv.core.sparse"] and "tconv.core.algorithms" in graph["tconv.core.planner"]
    assert "tconv.core.machine" in graph["tconv.core.algorithms.direct"]
    # an import inside a function counts
    assert "tconv.api.dask.linop" in graph["tconv.api.operator"]
    # the upward check would see a core module importing the api
    assert _layer("tconv.core.dispatch") < _layer("tconv.api.functional") < _layer("tconv.tools.cli")


def test_import_tconv_is_light():
    code = ("import sys, tconv; heavy = [m for m in ('tconv.tools.bench', 'tconv.tools.cli', 'tconv.viz', 'torch', "
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
        p = tconv.core.planner.plan(GEOMS[0], 4, "float32", op)
        assert p.choice not in refs and p.op == op


def test_public_paths_stay_as_they_were():
    code = ("import pickle, tconv.onnx, tconv.keras, tconv.jax, tconv.testing, tconv.dask, tconv.viz; "
            "from tconv.testing import dottest; from tconv.onnx import ConvTranspose; "
            "from tconv.dask import conv_transpose; from tconv.viz import animate, matrix, overlap; "
            "import tconv.api.frameworks.onnx as o, tconv.api.dask as d, tconv.tools.viz as v; "
            "assert tconv.onnx is o and tconv.dask is d and tconv.viz is v; "
            "assert pickle.loads(pickle.dumps(tconv.onnx.conv_transpose)) is o.conv_transpose; "
            "print(sorted(set(tconv.__all__) - set(dir(tconv))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr
    for argv in (["-m", "tconv", "--version"], ["-m", "tconv.tools.cli", "--version"]):
        proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0 and proc.stdout.startswith("tconv "), proc.stderr
