"""Data and kernel layouts (``data_format``, ``weight_format``): a front-end conversion to the
canonical channels-first arrays and PyTorch weight layout, and back.

``data_format="channels_first"`` is ``(N, C, *spatial)`` (or unbatched ``(C, *spatial)``),
``"channels_last"`` is ``(N, *spatial, C)`` (or ``(*spatial, C)``). ``weight_format`` names the
kernel layout as a spec string of ``O`` (output channels), ``I`` (input channels, per group for
``conv``) and one letter per spatial axis, in the order of the spatial axes; or a name:

* ``"torch"``: conv_transpose ``IOHW`` = ``(C_in, C_out/g, *k)``; conv ``OIHW`` = ``(C_out, C_in/g, *k)``;
* ``"keras"``: conv_transpose ``HWOI`` = ``(*k, C_out, C_in)``; conv ``HWIO`` = ``(*k, C_in/g, C_out)``;
* ``"jax"``: ``HWIO`` for both = ``(*k, C_in, C_out)`` (conv: ``(*k, C_in/g, C_out)``).

(``"jax"`` is the layout of Flax/``lax`` kernels; the flip of ``lax.conv_transpose`` is a semantic
difference handled by :func:`tconv.jax.conv_transpose`, not a layout.) Every conversion is a NumPy
view (``moveaxis``/``transpose``): no copy here. The algorithms then read C-contiguous arrays, so a
channels-last input or a permuted kernel is copied once by the algorithm's own
``ascontiguousarray`` (as a channels-first input that is not contiguous would be); the output is
returned as a channels-last view of the channels-first result, without a copy. Results are the
channels-first results exactly (the same arithmetic on the same values).

>>> import numpy as np, tconv
>>> x = np.random.default_rng(0).standard_normal((1, 5, 5, 3))       # NHWC
>>> k = np.random.default_rng(1).standard_normal((3, 3, 2, 3))       # keras (kH, kW, C_out, C_in)
>>> y = tconv.conv_transpose(x, k, stride=2, data_format="channels_last", weight_format="keras")
>>> ref = tconv.conv_transpose(x.transpose(0, 3, 1, 2), k.transpose(3, 2, 0, 1), stride=2)
>>> y.shape, bool((y == ref.transpose(0, 2, 3, 1)).all())
((1, 11, 11, 2), True)
"""

from __future__ import annotations

import numpy as np

from ...core.params import shown
from ...errors import TconvError, TconvTypeError
from ..dask._detect import is_dask_array

__all__ = ["DATA_FORMATS", "WEIGHT_FORMATS", "weight_spec", "to_torch_weight", "from_torch_weight",
           "to_channels_first", "from_channels_first", "flat_permutation"]

DATA_FORMATS = ("channels_first", "channels_last")
WEIGHT_FORMATS = ("torch", "keras", "jax")


def check_data_format(value: object) -> str:
    if not isinstance(value, str) or value not in DATA_FORMATS:
        raise TconvError(f"data_format={shown(value)} must be one of {', '.join(DATA_FORMATS)}")
    return value


def _spatial_letters(nd: int) -> str:
    return "DHW"[-nd:] if nd <= 3 else "".join(chr(ord("a") + i) for i in range(nd))


def weight_spec(weight_format: object, op: str, nd: int) -> str:
    """The spec string of ``weight_format`` for ``op`` (``"conv"`` or ``"conv_transpose"``) with ``nd`` axes.

    >>> weight_spec("keras", "conv_transpose", 2), weight_spec("torch", "conv", 1), weight_spec("OHWI", "conv", 2)
    ('HWOI', 'OIW', 'OHWI')
    """
    sp = _spatial_letters(nd)
    named = {
        "torch": {"conv": "OI" + sp, "conv_transpose": "IO" + sp},
        "keras": {"conv": sp + "IO", "conv_transpose": sp + "OI"},
        "jax": {"conv": sp + "IO", "conv_transpose": sp + "IO"},
    }
    if not isinstance(weight_format, str):
        raise TconvTypeError(f"weight_format={shown(weight_format)} must be a string: one of {', '.join(WEIGHT_FORMATS)} "
                             "or a spec such as 'HWIO'")
    if weight_format in named:
        return named[weight_format][op]
    spec = weight_format
    if (len(spec) != nd + 2 or spec.count("O") != 1 or spec.count("I") != 1 or len(set(spec)) != len(spec)
            or not spec.isalpha()):
        raise TconvError(
            f"weight_format={shown(weight_format)} must be one of {', '.join(WEIGHT_FORMATS)} or a spec of {nd + 2} "
            f"distinct letters with 'O' and 'I' once and one letter per spatial axis (e.g. {named['jax'][op]!r})"
        )
    return spec


def _perm(spec: str, op: str) -> tuple[int, ...]:
    """Axes of a ``spec`` array in PyTorch's order for ``op``."""
    first, second = ("I", "O") if op == "conv_transpose" else ("O", "I")
    return (spec.index(first), spec.index(second), *(i for i, c in enumerate(spec) if c not in "OI"))


def _weight_nd(w: np.ndarray, weight_format: object) -> int:
    if w.ndim < 3:
        raise TconvError(f"weight has shape {w.shape}; with weight_format={shown(weight_format)} it needs two channel "
                         "axes and at least one kernel axis")
    return w.ndim - 2


def _array(a):
    """``a`` as an array to take views of: NumPy and Dask arrays as they are, others converted
    (what cannot be converted is left to the core's checks, which say why)."""
    if isinstance(a, np.ndarray) or is_dask_array(a):
        return a
    try:
        return np.asarray(a)
    except (TypeError, ValueError, RuntimeError):
        return a


def to_torch_weight(weight, weight_format: object, op: str) -> np.ndarray:
    """``weight`` in ``weight_format`` as a view in PyTorch's layout for ``op``."""
    w = _array(weight)
    if weight_format == "torch":
        return w
    if getattr(w, "ndim", None) is None:
        raise TconvTypeError(f"weight of type {type(weight).__name__} is not an array")
    spec = weight_spec(weight_format, op, _weight_nd(w, weight_format))
    return np.transpose(w, _perm(spec, op))


def from_torch_weight(w: np.ndarray, weight_format: object, op: str) -> np.ndarray:
    """The inverse of :func:`to_torch_weight` (for weight gradients)."""
    if weight_format == "torch":
        return w
    spec = weight_spec(weight_format, op, w.ndim - 2)
    return np.transpose(w, np.argsort(_perm(spec, op)))


def to_channels_first(x, data_format: str, nd: int) -> np.ndarray:
    """A channels-first view of ``x`` (batched ``nd + 2`` or unbatched ``nd + 1`` axes)."""
    a = _array(x)
    if data_format == "channels_first" or getattr(a, "ndim", None) not in (nd + 1, nd + 2):
        return a  # wrong ranks are reported by the common checks
    return np.moveaxis(a, -1, a.ndim - nd - 1)


def from_channels_first(y: np.ndarray, data_format: str, nd: int) -> np.ndarray:
    if data_format == "channels_first":
        return y
    return np.moveaxis(y, y.ndim - nd - 1, -1)


def flat_permutation(channels: int, spatial, data_format: str) -> np.ndarray | None:
    """For vectors flattened in ``data_format``: position ``j`` holds channels-first entry ``perm[j]``."""
    if data_format == "channels_first":
        return None
    idx = np.arange(channels * int(np.prod(spatial))).reshape(channels, *spatial)
    return np.moveaxis(idx, 0, -1).ravel()


def _check_channels(x_cf: np.ndarray, w_t: np.ndarray, weight, op, nd, groups, data_format, weight_format, x=None):
    if x_cf.ndim not in (nd + 1, nd + 2):
        return
    c = x_cf.shape[x_cf.ndim - nd - 1]
    want = w_t.shape[0] if op == "conv_transpose" else w_t.shape[1] * groups
    if c != want:
        from ...core.dispatch import channel_hint

        spec = weight_spec(weight_format, op, nd)
        hint = channel_hint(np.shape(x), np.shape(weight), op, groups, data_format, weight_format)
        raise TconvError(
            f"input has {c} channels ({data_format}) but the weight of shape {np.shape(weight)} read as "
            f"weight_format={shown(weight_format)} ({spec}) expects {want} input channels{hint}"
        )


def forward(call, x, weight, bias, *, next, data_format="channels_first", weight_format="torch"):
    """The next stage on layout-converted views; the output back in ``data_format``."""
    df = check_data_format(data_format)
    w = to_torch_weight(weight, weight_format, call.op)
    nd = _weight_nd(w, weight_format)
    xc = to_channels_first(x, df, nd)
    _check_channels(xc, w, weight, call.op, nd, call.groups, df, weight_format, x)
    return from_channels_first(next(call, xc, w, bias), df, nd)


def vjp(call, grad_output, x, weight, bias, *, next, data_format="channels_first", weight_format="torch"):
    """The next stage's VJP on layout-converted views: ``grad_x`` in ``data_format``, ``grad_weight``
    in ``weight_format``."""
    df = check_data_format(data_format)
    w = to_torch_weight(weight, weight_format, call.op)
    nd = _weight_nd(w, weight_format)
    xc = to_channels_first(x, df, nd)
    _check_channels(xc, w, weight, call.op, nd, call.groups, df, weight_format, x)
    gx, gw, gb = next(call, to_channels_first(grad_output, df, nd), xc, w, bias)
    return from_channels_first(gx, df, nd), from_torch_weight(gw, weight_format, call.op), gb


def matrix(fn, weight, input_shape, stride, padding, dilation, groups, format, data_format, weight_format):
    """``conv_matrix`` with rows and columns in ``data_format`` order and the kernel read in ``weight_format``."""
    from ...core.geometry import conv_geometry

    df = check_data_format(data_format)
    w = to_torch_weight(weight, weight_format, "conv")
    _weight_nd(w, weight_format)
    c = fn(w, input_shape, stride, padding, dilation, groups, format="csr")
    if df == "channels_first":
        return c.asformat(format)
    g = conv_geometry(w.shape, input_shape, stride, padding, dilation, groups)
    px = flat_permutation(g.x_channels, g.x_shape, df)
    py = flat_permutation(g.y_channels, g.y_shape, df)
    return c[py][:, px].asformat(format)
