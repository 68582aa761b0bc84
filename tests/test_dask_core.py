"""tconv.dask: the halo formula by brute force, laziness, graph size, the cluster, bad input,
ConvOperator on Dask vectors and the chunked explain."""

import pickle
import subprocess
import sys

import dask.array as da
import numpy as np
import pytest
from dask.callbacks import Callback

import tconv
from tconv.core.geometry import block_input_range


def test_import_tconv_does_not_import_dask():
    code = "import sys, tconv, tconv.dask; print('dask' in sys.modules, 'dask.array' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


# -- the halo formula, against the non-zero pattern of the explicit matrix
@pytest.mark.parametrize("s", [1, 2, 3, 4])
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("k", [1, 2, 3, 5, 7])
def test_block_input_range_brute_force(s, d, k):
    rng = np.random.default_rng(100 * s + 10 * d + k)
    m = 9  # conv_transpose input length
    for lo, hi in [(0, 0), tuple(int(v) for v in rng.integers(0, 3, 2))]:
        full = (m - 1) * s + d * (k - 1) + 1
        if lo + hi >= full:
            continue
        g = tconv.conv_transpose_geometry((1, 1, k), (m,), s, ((lo, hi),), dilation=d)
        # C (conv: x -> y) with a ones kernel: C[j, p] != 0 iff output p of conv_transpose reads input j
        reads = tconv.conv_matrix(np.ones((1, 1, k)), g.x_shape, s, ((lo, hi),), d).toarray() != 0
        assert reads.shape == (m, g.x_shape[0])
        n = g.x_shape[0]
        for a in range(n):
            for e in range(a + 1, n + 1):
                j = np.flatnonzero(reads[:, a:e].any(axis=1))
                r0, r1 = block_input_range(g, 0, a, e, transpose=True)
                if j.size:  # every input the block reads lies in the range ...
                    assert r0 <= j.min() and j.max() < r1, (a, e, j, r0, r1)
                    if d == 1 and 0 <= r0 and r1 <= m:  # ... and for dilation 1 its ends are read
                        assert (r0, r1) == (j.min(), j.max() + 1)
                # conv direction: output block [j0, j1) of conv reads the x cells of this range
                if e <= m and a < m:
                    p = np.flatnonzero(reads[a:e].any(axis=0))
                    c0, c1 = block_input_range(g, 0, a, e, transpose=False)
                    if p.size:
                        assert c0 <= p.min() and p.max() < c1
                        if d == 1 and 0 <= c0 and c1 <= n:
                            assert (c0, c1) == (p.min(), p.max() + 1)
        # the DESIGN statement: an uncropped-output block following input block [b0, b1) needs
        # floor(d*(k-1)/s) extra input cells on the low side only
        g0 = tconv.conv_transpose_geometry((1, 1, k), (m,), s, 0, dilation=d)
        for b0 in range(m):
            for b1 in range(b0 + 1, m + 1):
                r0, r1 = block_input_range(g0, 0, b0 * s, min(b1 * s, g0.x_shape[0]), transpose=True)
                assert r0 == b0 - (d * (k - 1)) // s
                assert r1 == b1 or (b1 == m and r1 == m)


# -- laziness: building the graph runs no task and never loads the input
class _Count(Callback):
    def __init__(self):
        super().__init__()
        self.n = 0

    def _pretask(self, key, dsk, state):
        self.n += 1


def _boom(block):
    raise AssertionError("an input chunk was computed")


def _untouchable(shape, chunks):
    return da.map_blocks(_boom, da.zeros(shape, chunks=chunks), dtype=np.float64)


def test_no_eager_compute():
    x = _untouchable((2, 3, 20, 20), (1, 2, 7, 6))
    w = np.ones((3, 2, 3, 3))
    with _Count() as c:
        y = tconv.conv_transpose(x, w, np.zeros(2), stride=2, padding=1)
        z = tconv.conv(y, w, stride=2, padding=1)
        op = tconv.ConvOperator(np.ones((2, 3, 3, 3)), (20, 20), padding=1, boundary="reflect")
        v = op @ x[0].reshape(-1)
        u = op.T @ v
        gx = tconv.conv_transpose2d(x, w, stride=2)
    assert c.n == 0
    assert all(isinstance(a, da.Array) for a in (y, z, v, u, gx))
    with pytest.raises(AssertionError, match="input chunk was computed"):
        y.compute(scheduler="synchronous")


# -- the weight enters the graph once
def _task_bytes(arr):
    """Bytes of the task graph with every task pickled on its own (as schedulers ship them)."""
    g = dict(arr.__dask_graph__())
    return sum(len(pickle.dumps(v)) for v in g.values()), len(g)


def test_weight_enters_graph_once():
    w = np.random.default_rng(0).standard_normal((8, 8, 5, 5))  # 12.5 KiB
    x = da.zeros((1, 8, 64, 64), chunks=(1, 8, 32, 32))
    few_b, few_n = _task_bytes(tconv.conv_transpose(x, w, stride=2))
    many_b, many_n = _task_bytes(tconv.conv_transpose(x.rechunk((1, 8, 8, 8)), w, stride=2))
    assert many_n > few_n + 50
    per_task = (many_b - few_b) / (many_n - few_n)
    assert per_task < 2000, per_task  # small constants per task, no weight copy (12.8 kB)
    y = tconv.conv_transpose(x.rechunk((1, 8, 8, 8)), w, stride=2)
    holders = [k for k, v in dict(y.__dask_graph__()).items() if _holds_weight(v, w)]
    assert len(holders) == 1


def _holds_weight(task, w) -> bool:
    value = getattr(task, "value", task)  # a graph value: a Task/DataNode (.value) or the object itself
    return isinstance(value, np.ndarray) and value.shape == w.shape and np.array_equal(value, w)


# -- a cluster, unchanged code
def test_distributed_local_cluster():
    from distributed import Client, LocalCluster

    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 17, 13))
    w = rng.standard_normal((3, 4, 4, 3))
    b = rng.standard_normal(4)
    want = tconv.conv_transpose(x, w, b, stride=(2, 1), padding=((1, 2), (0, 1)))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1") as cluster, Client(cluster) as client:
        xd = da.from_array(x, chunks=(1, 2, 5, 4))
        y = tconv.conv_transpose(xd, w, b, stride=(2, 1), padding=((1, 2), (0, 1)))
        got = client.compute(y).result()
        workers = client.run(lambda: __import__("os").getpid())
    assert len(set(workers.values())) == 2
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


# -- bad input: the NumPy path's errors, before any task runs
def test_dask_weight_rejected():
    x = da.ones((1, 1, 8), chunks=4)
    with pytest.raises(tconv.TconvTypeError, match="weight is a Dask array"):
        tconv.conv_transpose(x, da.ones((1, 1, 3)))
    with pytest.raises(tconv.TconvTypeError, match="weight is a Dask array"):
        tconv.conv_transpose(np.ones((1, 1, 8)), da.ones((1, 1, 3)))
    with pytest.raises(tconv.TconvTypeError, match="bias is a Dask array"):
        tconv.conv(x, np.ones((1, 1, 3)), da.ones(1))


def test_unknown_chunk_sizes_rejected():
    x = da.ones((1, 1, 8), chunks=4)
    x = x[:, :, da.arange(8) >= 0]  # boolean indexing: unknown (nan) chunk sizes
    assert any(np.isnan(c) for c in x.chunks[2])
    with pytest.raises(tconv.TconvError, match="unknown chunk sizes"):
        tconv.conv_transpose(x, np.ones((1, 1, 3)))


@pytest.mark.parametrize("spec", ["banana", (1, 2), ((3, 3),), (0,), 1.5, (1, 1, 1, (2, 2))])
def test_unknown_chunks_spec_rejected(spec):
    with pytest.raises(tconv.TconvError, match="chunks="):
        tconv.dask.conv_transpose(np.ones((1, 1, 8)), np.ones((1, 1, 3)), chunks=spec)
    with pytest.raises(tconv.TconvError, match="chunks="):
        tconv.explain((1, 1, 8), (1, 1, 3), chunks=spec)


@pytest.mark.parametrize("op, kwargs", [
    ("conv_transpose", dict(groups=2)),
    ("conv_transpose", dict(stride=2, output_padding=2)),
    ("conv_transpose", dict(padding=5)),
    ("conv_transpose", dict(stride=2, output_size=(40,))),
    ("conv_transpose", dict(stride=0)),
    ("conv_transpose", dict(padding="middle")),
    ("conv", dict(padding=(1, 2))),
    ("conv", dict(groups=3)),
    ("conv", dict(dilation=9)),
    ("conv_transpose", dict(method="no-such-method")),
])
def test_invalid_parameters_same_error_before_any_task(op, kwargs):
    x = np.ones((2, 3, 8))
    w = np.ones((3, 3, 3))
    fn = getattr(tconv, op)
    with pytest.raises((tconv.TconvError, tconv.TconvTypeError)) as want:
        fn(x, w, **kwargs)
    with _Count() as c, pytest.raises(type(want.value)) as got:
        fn(_untouchable(x.shape, (1, 2, 3)), w, **kwargs)
    assert str(got.value) == str(want.value)
    assert c.n == 0


def test_grad_output_shape_mismatch():
    x = da.ones((1, 1, 8), chunks=4)
    with pytest.raises(tconv.TconvError, match="grad_output has shape"):
        tconv.conv_transpose_vjp(da.ones((1, 1, 9), chunks=3), x, np.ones((1, 1, 3)))


def test_unbatched_float32_and_rank_alias():
    x = np.random.default_rng(1).standard_normal((2, 9, 7)).astype(np.float32)
    w = np.random.default_rng(2).standard_normal((2, 3, 3, 2)).astype(np.float32)
    y = tconv.conv_transpose2d(da.from_array(x, chunks=(1, 2, 3)), w, stride=2, padding="same")
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.compute(), tconv.conv_transpose2d(x, w, stride=2, padding="same"), rtol=1e-5,
                               atol=1e-5)
    with pytest.raises(tconv.TconvError, match="conv_transpose3d needs a 5-D weight"):
        tconv.conv_transpose3d(da.from_array(x), w)


# -- ConvOperator on Dask vectors
@pytest.mark.parametrize("boundary", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", [1, ((2, 0), (1, 2)), "same"])
def test_operator_on_dask_vectors(boundary, padding):
    rng = np.random.default_rng(7)
    A = tconv.ConvOperator(rng.standard_normal((2, 3, 3, 4)), (9, 11), stride=2, padding=padding,
                           boundary=boundary)
    x, y = rng.standard_normal(A.shape[1]), rng.standard_normal(A.shape[0])
    xd, yd = da.from_array(x, chunks=17), da.from_array(y, chunks=7)
    X = rng.standard_normal((A.shape[1], 2))
    for got, want in [(A @ xd, A @ x), (A.matvec(xd), A @ x), (A.T @ yd, A.T @ y), (A.rmatvec(yd), A.rmatvec(y)),
                      (A.T.matvec(yd), A.T @ y), (A.matmat(da.from_array(X, chunks=(30, 1))), A.matmat(X))]:
        assert isinstance(got, da.Array)
        np.testing.assert_allclose(got.compute(), want, rtol=1e-12, atol=1e-12)
    # the dot test on the lazy pair
    assert abs(float(da.vdot(A @ xd, yd).compute()) - float(np.vdot(xd.compute(), (A.T @ yd).compute()))) < 1e-10
    with pytest.raises(tconv.TconvError, match="this operator of shape"):
        A.matvec(da.ones(A.shape[1] + 1))


# -- explain with chunks agrees with the graph that is built
def test_explain_chunks_matches_graph(capsys):
    w_shape = (4, 3, 3, 4)
    p = tconv.explain((2, 4, 30, 21), w_shape, stride=(2, 3), padding=1, chunks=(1, (1, 3), 7, 5))
    x = da.zeros((2, 4, 30, 21), chunks=p.x_chunks)
    y = tconv.conv_transpose(x, np.ones(w_shape), stride=(2, 3), padding=1)
    assert y.chunks == p.out_chunks
    assert len(y.dask.layers[y.name]) == p.tasks
    assert p.halo == ((1, 0), (1, 0))  # floor(d*(k-1)/s): floor(2/2), floor(3/3)
    assert p.block_algorithm in tconv.ALGORITHMS
    from tconv.tools.cli import main

    assert main(["explain", "--input", "30,21", "--kernel", "3,4", "--stride", "2,3", "--padding", "1",
                 "--channels", "4,3", "--batch", "2", "--chunks", "1,1,7,5"]) == 0
    out = capsys.readouterr().out
    assert "halo" in out and "tasks:" in out and "per task" in out
