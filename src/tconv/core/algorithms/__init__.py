"""The registry of algorithms. Every registered algorithm computes ``conv``,
``conv_transpose`` and ``weight_grad`` for every geometry it supports, and the test-suite
runs each one against the same references (PyTorch, ONNX, the sparse matrix, the
dot-product test).

>>> sorted(ALGORITHMS)
['brgemm', 'direct', 'fft', 'gemm', 'matrix', 'native', 'scatter', 'zero_insertion']
>>> sorted(name for name, a in ALGORITHMS.items() if a.reference)
['matrix', 'scatter', 'zero_insertion']
"""

from __future__ import annotations

from . import brgemm, direct, fft, gemm, matrix, native, scatter, zero_insertion  # noqa: F401  (registration)
from ._base import (
    ALGORITHMS,
    OPERATIONS,
    SCRATCH_FACTOR,
    SMALL_SCRATCH_BYTES,
    Algorithm,
    check_operation,
    get_algorithm,
    register,
)

__all__ = ["ALGORITHMS", "OPERATIONS", "SCRATCH_FACTOR", "SMALL_SCRATCH_BYTES", "Algorithm",
           "check_operation", "get_algorithm", "register"]
