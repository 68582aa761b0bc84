"""``tconv.testing.adjoint_audit`` on a correct pair (PyTorch's forward and its autograd VJP, and a
``ConvOperator``) and on classic wrong adjoints: the flipped kernel with a reflect boundary, and a
stride-phase bug."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import tconv

adjoint_audit = tconv.testing.adjoint_audit


rng = np.random.default_rng(0)
PSF = rng.random((5, 5)) + 0.1


def torch_forward(x):
    """PyTorch: reflect padding by 2, then a valid conv with PSF ("same", reflect)."""
    t = F.pad(torch.tensor(x)[None, None], (2, 2, 2, 2), mode="reflect")
    return F.conv2d(t, torch.tensor(PSF)[None, None])[0, 0].numpy()


def torch_vjp(y):
    x = torch.zeros((1, 1, *y.shape), dtype=torch.float64, requires_grad=True)
    F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), torch.tensor(PSF)[None, None]).backward(torch.tensor(y)[None, None])
    return x.grad[0, 0].numpy()


def flipped_kernel_adjoint(y):
    """The classic wrong adjoint: correlate with the flipped PSF, with the same reflect boundary."""
    t = F.pad(torch.tensor(y)[None, None], (2, 2, 2, 2), mode="reflect")
    return F.conv2d(t, torch.tensor(PSF[::-1, ::-1].copy())[None, None])[0, 0].numpy()


def test_correct_pairs_pass():
    a = adjoint_audit(torch_forward, torch_vjp, (12, 11), rng=1)
    assert a.passed and a.dot_error < 1e-12 and a.max_difference is None
    assert "passes" in str(a)
    A = tconv.ConvOperator(PSF, (12, 11), stride=2, padding=2, boundary="symmetric")
    b = adjoint_audit(lambda x: (A @ x.ravel()).reshape(A.output_shape), lambda y: A.rmatvec(y.ravel()).reshape(12, 11),
                      (12, 11), rng=2)
    assert b.passed


def test_flipped_kernel_with_reflect_boundary_is_found_at_the_boundary():
    a = adjoint_audit(torch_forward, flipped_kernel_adjoint, (14, 13), rng=3)
    assert not a.passed and a.dot_error > 1e-6
    assert a.max_difference > 0 and a.rows > 0
    # every differing row lies within the kernel's half width (2) of the edge, on all four sides
    assert a.edge_distance[1] <= 2
    assert set(a.sides) == {"axis 0 lo", "axis 0 hi", "axis 1 lo", "axis 1 hi"}
    assert "boundary bug" in str(a)
    # the interior is right: the explicit check agrees with PyTorch's VJP there
    y = np.zeros((14, 13))
    y[7, 6] = 1
    np.testing.assert_allclose(flipped_kernel_adjoint(y), torch_vjp(y), atol=1e-12)


W = np.array([1.0, 2.0, 3.0, 4.0])


def strided_forward(x):  # y[j] = sum_t W[t] x[2j + t], valid
    return np.array([W @ x[2 * j:2 * j + 4] for j in range((x.size - 4) // 2 + 1)])


def strided_adjoint(y, swap=False):
    x = np.zeros(2 * (y.size - 1) + 4)
    w = W.copy()
    if swap:  # the bug: the even phase's taps in the wrong order
        w[[0, 2]] = w[[2, 0]]
    for j, v in enumerate(y):
        x[2 * j:2 * j + 4] += w * v
    return x


def test_stride_phase_bug_is_found_in_one_phase():
    assert adjoint_audit(strided_forward, strided_adjoint, (20,), rng=4).passed
    a = adjoint_audit(strided_forward, lambda y: strided_adjoint(y, swap=True), (20,), rng=4)
    assert not a.passed
    assert a.stride == (2,)
    assert a.phases[0][1] == 0 and a.phases[0][0] > 0, a.phases  # only even input cells differ
    assert "phase 0" in str(a)


def test_errors_and_large_grids():
    with pytest.raises(tconv.TconvError, match="adjoint returned shape"):
        adjoint_audit(torch_forward, lambda y: y[:-1], (8, 8))
    a = adjoint_audit(torch_forward, flipped_kernel_adjoint, (80, 80), rng=5)
    assert not a.passed and a.max_difference is None and "smaller shape" in str(a)
