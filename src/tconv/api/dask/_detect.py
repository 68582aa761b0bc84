"""Is this a Dask array? Answered without importing Dask (``import tconv`` stays light)."""

from __future__ import annotations

import sys

__all__ = ["is_dask_array"]


def is_dask_array(value: object) -> bool:
    """True for a ``dask.array.Array``; never imports Dask (none can exist before it is imported).

    >>> import numpy as np
    >>> is_dask_array(np.ones(3))
    False
    """
    module = sys.modules.get("dask.array")
    return module is not None and isinstance(value, module.Array)
