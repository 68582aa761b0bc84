"""The core: numbers in, numbers out. Imports only ``tconv.core`` and ``tconv.errors``.

Parameter normalisation (:mod:`~tconv.core.params`), options and the memory guard
(:mod:`~tconv.core.options`), shape arithmetic (:mod:`~tconv.core.geometry`), tap tables
(:mod:`~tconv.core.taps`), BLAS and machine probing, the sparse ``C_K``
(:mod:`~tconv.core.sparse`), the padding operator (:mod:`~tconv.core.padding`), the algorithm
registry (:mod:`~tconv.core.algorithms`), the planner, the plain dispatch
(:mod:`~tconv.core.dispatch`) and the compiled extension (:mod:`~tconv.core._native`).
"""
