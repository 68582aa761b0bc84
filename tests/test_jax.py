"""``tconv.jax.conv_transpose`` against ``jax.lax.conv_transpose`` itself, over random geometries,
layouts (``dimension_numbers`` strings and permutations), ``transpose_kernel`` and every padding
form: 'SAME', 'VALID', explicit pairs (negative and beyond the kernel included) and
``use_consistent_padding``."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tconv

LAYOUTS = {
    1: [None, ("NCH", "OIH", "NCH"), ("NHC", "HOI", "NCH"), ("HNC", "IOH", "NHC")],
    2: [None, ("NCHW", "OIHW", "NCHW"), ("NHWC", "HWIO", "NHWC"), ("NWHC", "OHWI", "NCWH"), "perm"],
    3: [None, ("NCHWD", "OIHWD", "NCHWD"), ("NDHWC", "DHWIO", "NDHWC")],
}
CONSISTENT = "use_consistent_padding" in inspect.signature(jax.lax.conv_transpose).parameters


def _shape_in(spec, sizes):
    return tuple(sizes[c] for c in spec)


@st.composite
def jax_cases(draw):
    nd = draw(st.integers(1, 3))
    letters = "HWD"[:nd]
    kernel = {c: draw(st.integers(1, {1: 5, 2: 4, 3: 3}[nd])) for c in letters}
    spatial = {c: draw(st.integers(1, {1: 7, 2: 5, 3: 3}[nd])) for c in letters}
    strides = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    dilation = draw(st.one_of(st.none(), st.tuples(*[st.integers(1, 3)] * nd)))
    layout = draw(st.sampled_from(LAYOUTS[nd]))
    d = dilation or (1,) * nd
    form = draw(st.sampled_from(["SAME", "VALID", "pairs", "consistent"] if CONSISTENT else ["SAME", "VALID", "pairs"]))
    if form in ("SAME", "VALID"):
        padding = form
    else:
        k_eff = [dd * (kernel[c] - 1) + 1 for dd, c in zip(d, letters)]
        lo_bound = 0 if form == "consistent" else -3
        padding = tuple((draw(st.integers(lo_bound, k + 2)), draw(st.integers(lo_bound, k + 2))) for k in k_eff)
    return dict(nd=nd, letters=letters, kernel=kernel, spatial=spatial, strides=strides, dilation=dilation,
                layout=layout, padding=padding, consistent=form == "consistent",
                transpose_kernel=draw(st.booleans()), cin=draw(st.integers(1, 3)), cout=draw(st.integers(1, 3)),
                batch=draw(st.integers(1, 2)), seed=draw(st.integers(0, 2**31)))


@given(jax_cases())
def test_matches_lax_conv_transpose(case):
    rng = np.random.default_rng(case["seed"])
    letters = case["letters"]
    layout = case["layout"]
    if layout is None or layout == "perm":
        lhs_spec, rhs_spec = ("N" + letters + "C", letters + "IO") if layout is None else ("NCHW", "OIHW")
    else:
        lhs_spec, rhs_spec = layout[0], layout[1]
    # transpose_kernel=True reads the kernel as the forward conv's: its 'O' axis holds the inputs
    o_size, i_size = (case["cin"], case["cout"]) if case["transpose_kernel"] else (case["cout"], case["cin"])
    lhs = rng.standard_normal(_shape_in(lhs_spec, {"N": case["batch"], "C": case["cin"], **case["spatial"]}))
    rhs = rng.standard_normal(_shape_in(rhs_spec, {"O": o_size, "I": i_size, **case["kernel"]}))
    lhs, rhs = lhs.astype(np.float32), rhs.astype(np.float32)
    if layout == "perm":  # lax.ConvDimensionNumbers: three permutation tuples
        dn = jax.lax.conv_dimension_numbers(lhs.shape, rhs.shape, ("NCHW", "OIHW", "NCHW"))
    else:
        dn = layout
    kw = dict(rhs_dilation=case["dilation"], dimension_numbers=dn, transpose_kernel=case["transpose_kernel"])
    if case["consistent"]:
        kw["use_consistent_padding"] = True
    args = (lhs, rhs, case["strides"], case["padding"])
    try:
        want = np.asarray(jax.lax.conv_transpose(*args, **kw))
    except ValueError as exc:  # JAX refuses: so must tconv, with its own message
        assert "negative padding" in str(exc).lower(), exc
        with pytest.raises(tconv.TconvError, match="negative padding|empty output"):
            tconv.jax.conv_transpose(*args, **kw)
        return
    if 0 in want.shape:
        with pytest.raises(tconv.TconvError, match="empty output"):
            tconv.jax.conv_transpose(*args, **kw)
        return
    got = tconv.jax.conv_transpose(*args, **kw)
    assert got.shape == want.shape and got.dtype == np.float32
    tol = dict(rtol=1e-4, atol=1e-4 * (1 + np.abs(want).max()))
    if not np.allclose(got, want, **tol) and not case["consistent"] and case["padding"] not in ("SAME", "VALID"):
        # XLA's convolution with negative explicit padding sometimes disagrees with JAX's own definition
        # (pad/crop the dilated input, then a VALID convolution): then tconv must equal that definition,
        # computed by JAX with lax.pad, and JAX must indeed disagree with itself
        explicit = _lax_explicit(lhs, rhs, case["strides"], case["padding"], kw)
        assert not np.allclose(want, explicit, **tol), "tconv differs from lax.conv_transpose"
        want = explicit
    if not np.allclose(got, want, **tol) and case["batch"] > 1:
        # XLA (jax 0.10.2) sometimes computes a batched conv_transpose wrongly where each sample alone is right
        # (found by hypothesis: 1-D, kernel 3, padding ((3, 1),), consistent padding, batch 2: sample 0 differs,
        # and in a busy process sample 1 held 1e33): then tconv must equal JAX sample by sample, and JAX must
        # indeed disagree with itself
        n_axis = lhs_spec.index("N") if isinstance(lhs_spec, str) else 0
        one = [np.asarray(jax.lax.conv_transpose(np.take(lhs, [i], axis=n_axis), *args[1:], **kw))
               for i in range(case["batch"])]
        per_sample = np.concatenate(one, axis=n_axis)
        assert not np.allclose(want, per_sample, **tol), "tconv differs from lax.conv_transpose"
        want = per_sample
    np.testing.assert_allclose(got, want, **tol)


def _lax_explicit(lhs, rhs, strides, pairs, kw):
    """``lax.conv_transpose`` written out: ``lax.pad`` (interior zeros, negative pads crop), then a VALID conv."""
    dn = jax.lax.conv_dimension_numbers(lhs.shape, rhs.shape, kw["dimension_numbers"] or
                                        ("N" + "HWD"[:len(strides)] + "C", "HWD"[:len(strides)] + "IO",
                                         "N" + "HWD"[:len(strides)] + "C"))
    config = [(0, 0, 0)] * lhs.ndim
    for ax, s, (lo, hi) in zip(dn.lhs_spec[2:], strides, pairs):
        config[ax] = (lo, hi, s - 1)
    padded = jax.lax.pad(jnp.asarray(lhs), jnp.float32(0), config)
    k = jnp.asarray(rhs)
    if kw["transpose_kernel"]:
        k = jnp.flip(k, axis=tuple(dn.rhs_spec[2:])).swapaxes(dn.rhs_spec[0], dn.rhs_spec[1])
    return np.asarray(jax.lax.conv_general_dilated(padded, k, (1,) * len(strides), "VALID",
                                                   rhs_dilation=kw["rhs_dilation"], dimension_numbers=dn))


def test_negative_padding_follows_the_definition():
    """The case where XLA's negative padding disagreed with JAX's own definition (found by hypothesis)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 2)).astype(np.float32)
    w = rng.standard_normal((4, 2, 1)).astype(np.float32)
    got = tconv.jax.conv_transpose(x, w, (1,), ((-1, 1),), dimension_numbers=("NHC", "HIO", "NHC"))
    xp = np.concatenate([x[:, 1:], np.zeros((2, 1, 2), np.float32)], axis=1)  # crop 1 before, 1 zero after
    by_hand = np.stack([np.einsum("ntc,tco->no", xp[:, j:j + 4], w) for j in range(2)], axis=1)
    np.testing.assert_allclose(got, by_hand, rtol=1e-5, atol=1e-5)
    kw = dict(rhs_dilation=None, dimension_numbers=("NHC", "HIO", "NHC"), transpose_kernel=False)
    np.testing.assert_allclose(_lax_explicit(x, w, (1,), ((-1, 1),), kw), by_hand, rtol=1e-5, atol=1e-5)


def test_default_layout_and_no_flip_against_tconv():
    """No flip by default: lax.conv_transpose(x, k) is tconv.conv_transpose with the flipped kernel."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5, 6, 3))  # NHWC
    k = rng.standard_normal((3, 2, 3, 4))  # HWIO
    got = tconv.jax.conv_transpose(x, k, (2, 1), "VALID")
    w = np.flip(np.transpose(k, (2, 3, 0, 1)), (2, 3))  # (C_in, C_out, kH, kW), flipped
    want = np.moveaxis(tconv.conv_transpose(np.moveaxis(x, -1, 1), w, stride=(2, 1)), 1, -1)
    np.testing.assert_allclose(got, want, atol=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    (dict(padding="same"), "accepts 'SAME' or 'VALID' \\(upper case\\)"),
    (dict(padding=[(1, 1)]), "must be 'SAME', 'VALID' or 2 \\(lo, hi\\) pairs"),
    (dict(padding=[(1, 1), (1.5, 1)]), "pairs of ints"),
    (dict(dimension_numbers=("NCHW", "OIHW")), "must be three layout strings"),
    (dict(dimension_numbers=("NCHW", "OIHX", "NCHW")), "same spatial letters"),
    (dict(dimension_numbers=("NCHW", "OOHW", "NCHW")), "'I' exactly once"),
    (dict(strides=(0, 1)), "strides=\\(0, 1\\): every entry must be positive"),
    (dict(rhs_dilation=(1, 1, 1)), "rhs_dilation=\\(1, 1, 1\\) has 3 entries"),
])
def test_bad_input(kwargs, match):
    args = dict(lhs=np.ones((1, 4, 4, 3)), rhs=np.ones((3, 3, 3, 2)), strides=(1, 1), padding="SAME")
    args.update(kwargs)
    with pytest.raises((tconv.TconvError, tconv.TconvTypeError), match=match):
        tconv.jax.conv_transpose(**args)


def test_channel_mismatch_names_the_kernel_axis():
    with pytest.raises(tconv.TconvError, match="lhs has 3 feature channels but rhs .* has 2 on its 'O' axis"):
        tconv.jax.conv_transpose(np.ones((1, 4, 4, 3)), np.ones((3, 3, 3, 2)), (1, 1), "SAME", transpose_kernel=True)


def test_window_outside_the_uncropped_output_is_zeros():
    """Padding that moves the whole output past the kernel's reach gives zeros (as JAX)."""
    lhs, rhs = np.ones((1, 2, 1), np.float32), np.ones((2, 1, 1), np.float32)
    want = np.asarray(jax.lax.conv_transpose(lhs, rhs, (1,), [(-2, 6)]))
    got = tconv.jax.conv_transpose(lhs, rhs, (1,), [(-2, 6)])
    assert got.shape == want.shape == (1, 5, 1)
    np.testing.assert_array_equal(got, want)
