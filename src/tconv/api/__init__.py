"""What users call. Imports ``tconv.core`` (and ``tconv.errors``), never ``tconv.tools``.

The public functions (:mod:`~tconv.api.functional`, :mod:`~tconv.api.grad`), the conventions
chain (:mod:`~tconv.api.conventions`), the framework front ends (:mod:`~tconv.api.frameworks`),
``ConvOperator``, the layers, ``conv_matrix``, ``explain``, ``testing`` and Dask
(:mod:`~tconv.api.dask`).
"""
