"""examples/dask_landweber.py runs (small) and its Dask iteration is the NumPy one."""

import dask.array as da
import numpy as np
from reference import load_example


def test_dask_landweber_small(capsys):
    ex = load_example("dask_landweber")
    r = ex.run(size=24, iters=12, chunk=8, verbose=True)
    res = r["residuals"]
    assert all(b <= a * (1 + 1e-12) for a, b in zip(res, res[1:]))  # Landweber: the residual never grows
    assert res[-1] < 0.5 * res[0]
    assert r["error"] < r["error_adjoint"]
    assert "Landweber" in capsys.readouterr().out
    # the same iteration with NumPy vectors (the NumPy operator is tested against PyTorch)
    A, y = r["A"], r["y"]
    x = np.zeros(A.shape[1])
    for _ in range(12):
        x = x + r["tau"] * (A.T @ (y - A @ x))
    np.testing.assert_allclose(r["x"], x, rtol=1e-10, atol=1e-12)
    assert isinstance(A @ da.from_array(x, chunks=500), da.Array)
