"""``jax.lax.conv_transpose`` semantics, in NumPy (JAX itself is not needed).

``lax.conv_transpose`` is a convolution of the stride-dilated input (``lhs_dilation=strides``)
with the kernel as given, which differs from PyTorch/ONNX/Keras in two ways:

* the kernel is NOT flipped unless ``transpose_kernel=True`` (with it, the kernel is read as the
  forward convolution's kernel, ``O`` and ``I`` swapped, as Keras does): without the flip the
  result is the true transposed convolution of the spatially flipped kernel;
* explicit ``padding=[(lo, hi), ...]`` pads the dilated input (jax-ml/jax#14337): the output is
  the uncropped transposed convolution cropped by ``k_eff - 1 - lo`` before and
  ``k_eff - 1 - hi`` after (``k_eff = d * (k - 1) + 1``); padding beyond ``k_eff - 1`` extends
  the output with zeros. ``"SAME"`` gives ``input * stride`` outputs and ``"VALID"``
  ``(input - 1) * stride + max(k_eff, stride)``. ``use_consistent_padding=True`` (newer JAX) reads
  pairs as PyTorch's crops instead.

The default layouts are JAX's: ``('NHC', 'HIO', 'NHC')``, ``('NHWC', 'HWIO', 'NHWC')``,
``('NHWDC', 'HWDIO', 'NHWDC')``; ``dimension_numbers`` takes the same strings (or three
permutation tuples, as ``lax.ConvDimensionNumbers``).

>>> import numpy as np
>>> lhs = np.array([1.0, 2.0, 3.0]).reshape(1, 3, 1)     # NHC
>>> rhs = np.array([1.0, 10.0]).reshape(2, 1, 1)          # HIO
>>> conv_transpose(lhs, rhs, (1,), "VALID")[0, :, 0].tolist()   # no flip: correlation
[10.0, 21.0, 32.0, 3.0]
>>> conv_transpose(lhs, rhs, (1,), "VALID", transpose_kernel=True)[0, :, 0].tolist()
[1.0, 12.0, 23.0, 30.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...core.params import _is_int, as_float_array, per_axis, shown
from ...core.window import conv_transpose_window
from ...errors import TconvError, TconvTypeError
from ..names import checked_names

__all__ = ["conv_transpose", "lax_padding", "dimension_permutations", "DEFAULT_DIMENSION_NUMBERS"]

DEFAULT_DIMENSION_NUMBERS = {
    2: ("NC", "IO", "NC"),
    3: ("NHC", "HIO", "NHC"),
    4: ("NHWC", "HWIO", "NHWC"),
    5: ("NHWDC", "HWDIO", "NHWDC"),
}


def lax_padding(k_eff: int, s: int, padding: str) -> tuple[int, int]:
    """``(lo, hi)`` padding of the dilated input for ``"SAME"``/``"VALID"`` (JAX's
    ``_conv_transpose_padding``), on one axis with dilated kernel size ``k_eff``.

    >>> lax_padding(3, 2, "SAME"), lax_padding(2, 3, "VALID")
    ((2, 1), (1, 2))
    """
    if padding == "SAME":
        pad_len = k_eff + s - 2
        lo = k_eff - 1 if s > k_eff - 1 else -(-pad_len // 2)
    else:
        pad_len = k_eff + s - 2 + max(k_eff - s, 0)
        lo = k_eff - 1
    return lo, pad_len - lo


def dimension_permutations(dimension_numbers, ndim: int) -> tuple[tuple[int, ...], ...]:
    """``(lhs_perm, rhs_perm, out_perm)``: for each operand the axes of ``(N, C, *spatial)``,
    ``(O, I, *spatial)`` and ``(N, C, *spatial)``; spatial axes in the kernel spec's order (as JAX).

    >>> dimension_permutations(("NCHW", "OIHW", "NCHW"), 4)
    ((0, 1, 2, 3), (0, 1, 2, 3), (0, 1, 2, 3))
    >>> dimension_permutations(None, 4)
    ((0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2))
    """
    if dimension_numbers is None:
        if ndim not in DEFAULT_DIMENSION_NUMBERS:
            raise TconvError(f"dimension_numbers=None: JAX has no default layout for {ndim}-D operands")
        dimension_numbers = DEFAULT_DIMENSION_NUMBERS[ndim]
    specs = tuple(dimension_numbers) if isinstance(dimension_numbers, (list, tuple)) else None
    if specs is None or len(specs) != 3:
        raise TconvTypeError(
            f"dimension_numbers={shown(dimension_numbers)} must be three layout strings such as "
            "('NHWC', 'HWIO', 'NHWC') or three axis permutations"
        )
    if all(isinstance(sp, str) for sp in specs):
        lhs, rhs, out = specs
        for sp, (a, b) in zip(specs, (("N", "C"), ("O", "I"), ("N", "C"))):
            if len(sp) != ndim or sp.count(a) != 1 or sp.count(b) != 1 or len(set(sp)) != len(sp):
                raise TconvError(
                    f"dimension_numbers={shown(dimension_numbers)}: {sp!r} must have {ndim} distinct letters "
                    f"including {a!r} and {b!r} exactly once"
                )
        spatial = [c for c in rhs if c not in "OI"]
        if {c for c in lhs if c not in "NC"} != set(spatial) or {c for c in out if c not in "NC"} != set(spatial):
            raise TconvError(f"dimension_numbers={shown(dimension_numbers)} must use the same spatial letters in all three")
        return (
            (lhs.index("N"), lhs.index("C"), *(lhs.index(c) for c in spatial)),
            (rhs.index("O"), rhs.index("I"), *(rhs.index(c) for c in spatial)),
            (out.index("N"), out.index("C"), *(out.index(c) for c in spatial)),
        )
    perms = []
    for sp in specs:
        if not isinstance(sp, (list, tuple)) or sorted(sp) != list(range(ndim)):
            raise TconvError(
                f"dimension_numbers={shown(dimension_numbers)}: each permutation must order the axes 0..{ndim - 1}"
            )
        perms.append(tuple(int(v) for v in sp))
    return tuple(perms)


def _crops(padding, k_eff, strides, dilated, use_consistent_padding: bool) -> list[tuple[int, int]]:
    nd = len(k_eff)
    if isinstance(padding, str):
        if padding not in ("SAME", "VALID"):
            raise TconvError(
                f"padding={shown(padding)}: lax.conv_transpose accepts 'SAME' or 'VALID' (upper case) "
                "or one (lo, hi) pair per spatial axis"
            )
        pads = [lax_padding(k, s, padding) for k, s in zip(k_eff, strides)]
        return [(k - 1 - lo, k - 1 - hi) for k, (lo, hi) in zip(k_eff, pads)]
    if not isinstance(padding, (list, tuple)) or len(padding) != nd or not all(
        isinstance(p, (list, tuple)) and len(p) == 2 and all(_is_int(v) for v in p) for p in padding
    ):
        raise TconvError(
            f"padding={shown(padding)} must be 'SAME', 'VALID' or {nd} (lo, hi) pairs of ints, one per spatial axis"
        )
    if use_consistent_padding:  # PyTorch's meaning: crops of the uncropped output
        return [(int(lo), int(hi)) for lo, hi in padding]
    for ax, (n, pair) in enumerate(zip(dilated, padding)):
        if n + pair[0] + pair[1] < 0:  # JAX's own rule
            raise TconvError(
                f"padding={shown(padding)}: the negative padding {tuple(pair)} on spatial axis {ax} removes more "
                f"than the stride-dilated input's {n} positions"
            )
    return [(k - 1 - int(lo), k - 1 - int(hi)) for k, (lo, hi) in zip(k_eff, padding)]


@checked_names
def conv_transpose(
    lhs: np.ndarray,
    rhs: np.ndarray,
    strides: Sequence[int],
    padding: str | Sequence[tuple[int, int]],
    rhs_dilation: Sequence[int] | None = None,
    dimension_numbers=None,
    transpose_kernel: bool = False,
    use_consistent_padding: bool = False,
    *,
    method: str = "auto",
) -> np.ndarray:
    """``jax.lax.conv_transpose(lhs, rhs, strides, padding, rhs_dilation, dimension_numbers,
    transpose_kernel)``, computed by :func:`tconv.conv_transpose` (no groups in JAX's API).

    >>> import numpy as np
    >>> lhs = np.ones((1, 1, 2, 2)); rhs = np.ones((1, 1, 3, 3))
    >>> conv_transpose(lhs, rhs, (2, 2), "SAME", dimension_numbers=("NCHW", "OIHW", "NCHW")).shape
    (1, 1, 4, 4)
    """
    x = as_float_array("lhs", lhs)
    k = as_float_array("rhs", rhs)
    if x.ndim != k.ndim or x.ndim < 3:
        raise TconvError(
            f"lhs has shape {x.shape} and rhs {k.shape}; both need the same rank, with at least one spatial axis"
        )
    nd = x.ndim - 2
    lhs_perm, rhs_perm, out_perm = dimension_permutations(dimension_numbers, x.ndim)
    x_cf = np.transpose(x, lhs_perm)
    k_oi = np.transpose(k, rhs_perm)  # (O, I, *kernel) in the spatial order of the kernel spec
    if transpose_kernel:
        w = k_oi  # the forward conv's kernel: O holds the transposed conv's inputs; flip undone
    else:
        w = np.flip(k_oi.swapaxes(0, 1), axis=tuple(range(2, nd + 2)))
    if x_cf.shape[1] != w.shape[0]:
        which = "O" if transpose_kernel else "I"
        raise TconvError(
            f"lhs has {x_cf.shape[1]} feature channels but rhs {k.shape} has {w.shape[0]} on its {which!r} "
            f"axis (transpose_kernel={transpose_kernel}); they must be equal"
        )
    s = per_axis("strides", strides, nd, 1)
    d = per_axis("rhs_dilation", (1,) * nd if rhs_dilation is None else rhs_dilation, nd, 1)
    k_eff = [dd * (kk - 1) + 1 for kk, dd in zip(w.shape[2:], d)]
    dilated = [(i - 1) * ss + 1 for i, ss in zip(x_cf.shape[2:], s)]
    crops = _crops(padding, k_eff, s, dilated, use_consistent_padding)
    y = conv_transpose_window(x_cf, w, s, d, crops, method=method)
    return np.transpose(y, np.argsort(out_perm))
