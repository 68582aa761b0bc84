"""``tconv.dask``: the Dask front end, :mod:`tconv.api.dask`, under its public name (loaded on
first import, so ``import tconv`` imports no Dask)."""

import sys

from .api import dask as _dask

sys.modules[__name__] = _dask
