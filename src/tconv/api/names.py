"""Mistyped keyword arguments: refuse them with the closest parameter name.

Every front end takes its own framework's names (PyTorch's ``stride``, ONNX's ``strides``, Keras's
``dilation_rate``, ...), and a name from the wrong framework is the commonest slip. :func:`checked_names`
wraps a public function (or a class's ``__init__``) so that an unknown keyword raises
:class:`~tconv.errors.TconvTypeError` naming it and the closest known name: the other frameworks'
spellings first, then the nearest spelling (:func:`difflib.get_close_matches`).

>>> @checked_names
... def f(x, strides=None, pads=None):
...     return strides
>>> f(1, stride=2)
Traceback (most recent call last):
...
tconv.errors.TconvTypeError: tconv.f() got an unknown argument stride=2; did you mean strides=? (known: x, strides, pads)
"""

from __future__ import annotations

import difflib
import functools
import inspect

from ..core.params import shown as _shown
from ..errors import TconvTypeError

__all__ = ["checked_names", "closest_name"]

#: the same parameter in the frameworks' vocabularies (PyTorch, ONNX, Keras, JAX/lax, tconv)
SYNONYMS = (
    ("stride", "strides", "window_strides"),
    ("padding", "pads", "padding_mode_amounts"),
    ("dilation", "dilations", "dilation_rate", "rhs_dilation"),
    ("groups", "group", "feature_group_count"),
    ("output_size", "output_shape"),
    ("weight", "W", "kernel", "rhs", "filters"),
    ("x", "X", "input", "lhs", "inputs"),
    ("bias", "B", "b"),
    ("padding_mode", "boundary"),
    ("kernel_size", "kernel_shape"),
)


def closest_name(name: str, known) -> str | None:
    """The parameter in ``known`` that ``name`` most likely meant, or None.

    >>> closest_name("stride", ["strides", "pads"]), closest_name("dilation_rate", ["dilation"])
    ('strides', 'dilation')
    """
    known = list(known)
    for group in SYNONYMS:
        if name in group or name.lower() in group:
            hits = [k for k in group if k in known]
            if hits:
                return hits[0]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return close[0] if close else None


def checked_names(fn):
    """``fn`` refusing unknown keyword arguments with the closest known name (see the module)."""
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return fn
    known = [n for n, p in params.items() if p.kind is not inspect.Parameter.POSITIONAL_ONLY and n != "self"]
    allowed = frozenset(known)
    module = fn.__module__.rsplit(".", 1)[-1] if ".frameworks." in fn.__module__ else ""
    label = f"tconv.{module + '.' if module else ''}{fn.__qualname__.replace('.__init__', '')}"

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not allowed.issuperset(kwargs):
            for name in kwargs:
                if name not in allowed:
                    near = closest_name(name, known)
                    hint = f"did you mean {near}=? " if near else ""
                    raise TconvTypeError(f"{label}() got an unknown argument {name}={_shown(kwargs[name])}; "
                                         f"{hint}(known: {', '.join(known)})")
        return fn(*args, **kwargs)

    return wrapper
