"""Every registered algorithm against PyTorch, over random geometries."""

import numpy as np
import pytest
from hypothesis import given
from reference import close, registry_supports, spec_pairs_transpose, torch_conv, torch_conv_transpose
from strategies import cases

import tconv

ALGOS = sorted(tconv.ALGORITHMS) + ["auto"]


@pytest.mark.parametrize("method", ALGOS)
@given(case=cases())
def test_conv_transpose_matches_torch(method, case):
    x, w, b = case.arrays()
    geom = tconv.conv_transpose_geometry(w.shape, case.in_shape, case.stride, case.padding,
                                         case.output_padding, case.dilation, case.groups)
    if not registry_supports(method, geom, case.dtype, "conv_transpose"):
        return
    x0, w0 = x.copy(), w.copy()
    got = tconv.conv_transpose(x, w, b, **case.kwargs(), method=method)
    xb = x if case.batch is not None else x[None]
    want = torch_conv_transpose(xb, w, b, case.stride, case.padding, case.output_padding,
                                case.groups, case.dilation)
    if case.batch is None:
        want = want[0]
    assert got.dtype == case.dtype
    close(got, want, case.dtype, f"{method} {case}")
    np.testing.assert_array_equal(x, x0)  # inputs never modified
    np.testing.assert_array_equal(w, w0)


@pytest.mark.parametrize("method", ALGOS)
@given(case=cases())
def test_conv_matches_torch(method, case):
    # conv's input is conv_transpose's output: run the forward on that shape
    x, w, b = case.arrays()
    out_shape = tconv.conv_transpose_output_shape(
        case.in_shape, case.kernel, case.stride,
        case.padding if case.padding != "same" else 0, 0, case.dilation)
    rng = np.random.default_rng(case.seed + 1)
    shape = (case.cout, *out_shape) if case.batch is None else (case.batch, case.cout, *out_shape)
    img = rng.standard_normal(shape).astype(case.dtype)
    wc = w  # conv weight (C_out=cin, C_in/g=cout/g, *k)
    bc = None if b is None else rng.standard_normal(case.cin).astype(case.dtype)
    geom = tconv.conv_geometry(wc.shape, out_shape, case.stride, case.padding, case.dilation, case.groups)
    if not registry_supports(method, geom, case.dtype, "conv"):
        return
    got = tconv.conv(img, wc, bc, stride=case.stride, padding=case.padding,
                     dilation=case.dilation, groups=case.groups, method=method)
    ib = img if case.batch is not None else img[None]
    want = torch_conv(ib, wc, bc, case.stride, case.padding, case.dilation, case.groups)
    if case.batch is None:
        want = want[0]
    assert got.dtype == case.dtype
    close(got, want, case.dtype, f"{method} {case}")


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_rank_checked_aliases(nd):
    rng = np.random.default_rng(nd)
    x = rng.standard_normal((2, 4) + (5,) * nd)
    w = rng.standard_normal((4, 3) + (3,) * nd)
    ct = getattr(tconv, f"conv_transpose{nd}d")(x, w, stride=2, padding=1, output_padding=1)
    close(ct, torch_conv_transpose(x, w, None, 2, 1, 1, 1, 1), np.float64)
    c = getattr(tconv, f"conv{nd}d")(ct, w, stride=2, padding=1)
    close(c, torch_conv(ct, w, None, 2, 1, 1, 1), np.float64)
    other = getattr(tconv, f"conv_transpose{nd % 3 + 1}d")
    with pytest.raises(ValueError, match="weight"):
        other(x, w)


def test_output_size_matches_torch():
    import torch

    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 5, 6))
    w = rng.standard_normal((2, 3, 3, 3))
    for size in [(13, 16), (14, 17), (15, 18)]:
        got = tconv.conv_transpose(x, w, stride=(3, 3), padding=1, output_size=size)
        m = torch.nn.ConvTranspose2d(2, 3, 3, stride=3, padding=1, bias=False).double()
        m.weight.data = torch.from_numpy(w)
        want = m(torch.from_numpy(x), output_size=list(size)).detach().numpy()
        close(got, want, np.float64)
    # the full (N, C, H, W) form is accepted too
    assert tconv.conv_transpose(x, w, stride=3, padding=1, output_size=(1, 3, 14, 17)).shape == (1, 3, 14, 17)


def test_same_is_input_times_stride_and_upper_split():
    x = np.ones((1, 1, 5))
    for k, s in [(4, 2), (3, 2), (1, 3), (5, 1), (2, 4)]:
        y = tconv.conv_transpose(x, np.ones((1, 1, k)), stride=s, padding="same")
        assert y.shape[-1] == 5 * s
        pairs = spec_pairs_transpose("same", 1, (k,), (s,), (1,), (0,))
        assert pairs[0][0] <= max(pairs[0][1], 0)  # the smaller half first


def test_integer_inputs_promote_and_float32_preserved():
    x = np.arange(8).reshape(1, 2, 4)
    w = np.ones((2, 1, 3), dtype=np.int32)
    assert tconv.conv_transpose(x, w).dtype == np.float64
    assert tconv.conv_transpose(x.astype(np.float32), w.astype(np.float32)).dtype == np.float32


def test_nan_and_inf_propagate_like_torch():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 2, 6, 6))
    x[0, 0, 2, 3] = np.nan
    x[0, 1, 4, 1] = np.inf
    w = rng.standard_normal((2, 2, 3, 3))
    want = torch_conv_transpose(x, w, None, 2, 1, 0, 1, 1)
    geom = tconv.conv_transpose_geometry(w.shape, x.shape[2:], stride=2, padding=1)
    for method in sorted(tconv.ALGORITHMS):
        if not registry_supports(method, geom, x.dtype, "conv_transpose"):  # native under TCONV_NATIVE=0
            continue
        got = tconv.conv_transpose(x, w, stride=2, padding=1, method=method)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=method)
        np.testing.assert_array_equal(np.isinf(got), np.isinf(want), err_msg=method)
        fin = np.isfinite(want)
        np.testing.assert_allclose(got[fin], want[fin], rtol=1e-10, atol=1e-10)


def test_empty_batch():
    y = tconv.conv_transpose(np.zeros((0, 2, 3, 3)), np.ones((2, 4, 2, 2)), stride=2)
    assert y.shape == (0, 4, 6, 6)


@pytest.mark.parametrize("n", [3, 5, 7])
def test_gemm_batch_chunks_including_a_partial_last_chunk(n):
    """Large kernels relative to the output force several batch chunks in the gemm algorithm."""
    from tconv.core.algorithms.gemm import chunk_size

    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, 3, 4, 4))
    w = rng.standard_normal((3, 5, 5, 5))
    geom = tconv.conv_transpose_geometry(w.shape, (4, 4), 1, 2)
    assert chunk_size(geom, n, 8) < n
    got = tconv.conv_transpose(x, w, padding=2, method="gemm")
    close(got, torch_conv_transpose(x, w, None, 1, 2, 0, 1, 1), np.float64)
    c = tconv.conv(got, w, padding=2, method="gemm")
    close(c, torch_conv(got, w, None, 1, 2, 1, 1), np.float64)
    go = rng.standard_normal(got.shape)
    _, gw, _ = tconv.conv_transpose_vjp(go, x, w, padding=2)
    import torch

    wt = torch.tensor(w, requires_grad=True)
    torch.nn.functional.conv_transpose2d(torch.tensor(x), wt, padding=2).backward(torch.tensor(go))
    close(gw, wt.grad.numpy(), np.float64)
