"""``gemm``'s overlap-add path (1-D, a long hop: the inverse STFT) against PyTorch and the float64
scatter reference: crops, ``output_padding``, groups, batches, a kernel that is not a whole number
of hops, float32 and float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tconv
from tconv.core.algorithms.gemm import overlap_add
from tconv.core.geometry import conv_transpose_geometry

# (batch, c_in, c_out, positions, kernel, stride, padding, output_padding, groups)
CASES = [
    (1, 1026, 1, 224, 1024, 256, 0, 0, 1),  # L10, the inverse STFT
    (2, 6, 4, 9, 40, 16, 3, 5, 2),          # crop, output_padding, groups, 2.5 hops
    (3, 4, 2, 5, 17, 16, 0, 0, 1),          # one tap past a hop
    (1, 3, 3, 7, 32, 16, 20, 0, 3),         # a crop longer than a hop, depthwise
    (2, 2, 1, 1, 16, 16, 0, 15, 1),         # one position, output_padding up to a hop
    (1, 5, 2, 12, 64, 16, 7, 3, 1),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_overlap_add_matches_peers(case, dtype):
    n, ci, co, t, k, s, p, op, g = case
    rng = np.random.default_rng(sum(case))
    y = rng.standard_normal((n, ci, t)).astype(dtype)
    w = rng.standard_normal((ci, co // g, k)).astype(dtype)
    kw = dict(stride=s, padding=p, output_padding=op, groups=g)
    geom = conv_transpose_geometry(w.shape, (t,), **kw)
    assert overlap_add(geom)
    got = tconv.conv_transpose(y, w, method="gemm", **kw)
    ref = tconv.conv_transpose(y.astype(np.float64), w.astype(np.float64), method="scatter", **kw)
    peer = torch.nn.functional.conv_transpose1d(torch.from_numpy(y), torch.from_numpy(w), **kw).numpy()
    assert got.shape == ref.shape == peer.shape and got.dtype == dtype
    scale = np.abs(ref).max()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert np.abs(got - ref).max() <= tol * scale
    assert np.abs(got - peer).max() <= tol * scale


def test_short_hops_keep_the_general_col2im():
    assert overlap_add(conv_transpose_geometry((4, 2, 16), (10,), stride=16))
    assert not overlap_add(conv_transpose_geometry((4, 2, 8), (10,), stride=4))  # a short hop
    assert not overlap_add(conv_transpose_geometry((4, 2, 8), (10,), stride=16))  # kernel < hop
    assert not overlap_add(conv_transpose_geometry((4, 2, 32), (10,), stride=16, dilation=2))
    assert not overlap_add(conv_transpose_geometry((4, 2, 1, 32), (1, 10), stride=(1, 16)))  # 2-D
