"""The library's exceptions.

Every input check raises :class:`TconvError` (a :class:`ValueError`) or
:class:`TconvTypeError` (a :class:`TypeError` too), with a message that names
the parameter, the value given and the rule it breaks.
"""

from __future__ import annotations

__all__ = ["TconvError", "TconvTypeError"]


class TconvError(ValueError):
    """A bad value: wrong shape, out-of-range parameter, inconsistent channels."""


class TconvTypeError(TconvError, TypeError):
    """A value of the wrong type (a float where an int is needed, a complex array)."""
