"""Array back ends: where a call goes whose arrays are not NumPy arrays (an extension point).

The core (the functional API, the VJPs, ``ConvOperator``) asks :func:`backend_for` whether one
of its arguments belongs to a registered back end; the package root registers the front ends
that handle other array types (``tconv.dask`` for ``dask.array.Array``), each loaded only when
such an array arrives. So the core never imports a front end, and ``import tconv`` imports no
Dask.

>>> import numpy as np
>>> backend_for(np.ones(3)) is None
True
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import TconvError

__all__ = ["register_backend", "backend_for"]

_BACKENDS: list[tuple[str, Callable[[object], bool], Callable[[], object]]] = []


def register_backend(name: str, matches: Callable[[object], bool], load: Callable[[], object]) -> None:
    """Send calls with an argument for which ``matches`` is true to the module ``load()`` returns."""
    _BACKENDS[:] = [b for b in _BACKENDS if b[0] != name] + [(name, matches, load)]


def backend_for(*values: object):
    """The loaded back-end module for the first registered back end one of ``values`` belongs to."""
    for _, matches, load in _BACKENDS:
        if any(v is not None and matches(v) for v in values):
            return load()
    return None


_CONVENTIONS: dict[str, Callable[[], object]] = {}


def register_conventions(load: Callable[[], object]) -> None:
    """The front end that removes one convention at a time (padding modes, layouts, complex and
    half-precision data) and calls the public function again: ``tconv.frontend``, registered by
    the package root."""
    _CONVENTIONS["load"] = load


def conventions():
    """The registered conventions front end (loaded on first use)."""
    return _CONVENTIONS["load"]()


def refuse_conventions(backend: object, **given: object) -> None:
    """A back end (Dask) takes the plain call only: say so instead of ignoring a convention."""
    plain = {"padding_mode": "zeros", "data_format": "channels_first", "weight_format": "torch", "out_dtype": None}
    for name, value in given.items():
        if value != plain[name]:
            raise TconvError(f"{name}={value!r} is not supported for {getattr(backend, '__name__', backend)} arrays; "
                             f"compute with NumPy arrays, or use {name}={plain[name]!r}")
