"""The registry of algorithms. Every registered algorithm computes both ``conv`` and
``conv_transpose`` for every geometry it supports, and the test-suite runs each one
against the same references (PyTorch, ONNX, the sparse matrix, the dot-product test).

>>> sorted(ALGORITHMS)[:3]
['direct', 'gemm', 'matrix']
"""

from __future__ import annotations

from . import direct, gemm, matrix, scatter, zero_insertion  # noqa: F401  (registration)
from ._base import ALGORITHMS, Algorithm, get_algorithm, register

__all__ = ["ALGORITHMS", "Algorithm", "get_algorithm", "register"]
